/// Events counted per time bucket since the start of a run: the throughput-over-time picture.
public struct Timeline: Sendable, Codable, Equatable {
    /// Bucket width in milliseconds.
    public let bucketMilliseconds: Int
    /// Events per bucket, from the start.
    public private(set) var counts: [Int] = []

    public init(bucket: Duration) {
        bucketMilliseconds = max(1, Int(bucket.milliseconds.rounded()))
    }

    /// Counts one event `nanoseconds` after the start.
    public mutating func add(atNanos nanoseconds: UInt64, count: Int = 1) {
        let index = Int(nanoseconds / UInt64(bucketMilliseconds) / 1_000_000)
        if index >= counts.count { counts += Array(repeating: 0, count: index - counts.count + 1) }
        counts[index] += count
    }

    /// Events per second in each bucket.
    public var ratesPerSecond: [Double] {
        counts.map { Double($0) * 1000 / Double(bucketMilliseconds) }
    }

    /// Every event.
    public var total: Int { counts.reduce(0, +) }
}
