/// One concert on one date: the unit of seat inventory, and the partition key of its commands.
public struct ScheduleKey: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The concert.
    public let concertID: ConcertID
    /// The date it plays on.
    public let date: ScheduleDate

    /// The schedule of concert `concertID` on `date`.
    ///
    /// - Parameters:
    ///   - concertID: The concert.
    ///   - date: The date it plays on.
    public init(concertID: ConcertID, date: ScheduleDate) {
        self.concertID = concertID
        self.date = date
    }

    /// The command envelope's `partitionKey`, e.g. `concert-1/2026-12-24`.
    public var partitionKey: String { "concert-\(concertID)/\(date)" }

    /// The partition whose worker owns this schedule: a stable hash of the partition key modulo `count`.
    ///
    /// FNV-1a 64: stable across processes, builds and platforms (unlike `Hasher`).
    ///
    /// - Parameters:
    ///   - count: How many partitions there are; must be positive (the call traps otherwise).
    /// - Returns: The partition's index, in `0..<count`.
    public func partition(of count: Int) -> Int {
        precondition(count > 0)
        return Int(Self.fnv1a(partitionKey) % UInt64(count))
    }

    /// The partition key, e.g. `concert-1/2026-12-24`.
    public var description: String { partitionKey }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

extension ScheduleKey {
    /// Parses a partition key, `concert-<id>/<YYYY-MM-DD>`; `nil` unless the id is a positive integer and the date a real one.
    ///
    /// - Parameters:
    ///   - partitionKey: The key, as `partitionKey` writes it.
    public init?(partitionKey: String) {
        guard partitionKey.hasPrefix("concert-"), let slash = partitionKey.firstIndex(of: "/") else { return nil }
        let idText = partitionKey[partitionKey.index(partitionKey.startIndex, offsetBy: 8)..<slash]
        guard let raw = Int64(idText), let concert = ConcertID(raw),
            let date = ScheduleDate(String(partitionKey[partitionKey.index(after: slash)...]))
        else {
            return nil
        }
        self.init(concertID: concert, date: date)
    }
}
