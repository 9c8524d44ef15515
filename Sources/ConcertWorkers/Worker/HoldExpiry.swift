public import ConcertDomain
import ConcertPipeline
public import Foundation

/// The command that ends holds at their deadline: one message for many holds, published to the
/// partition's delayed queue by the worker that made them, or at once by the sweeper for holds
/// whose message was lost.
public enum HoldExpiry {
    /// The expiry command of `holds`, grouped by schedule (all of one partition; the first
    /// schedule's key routes it).
    public static func command(for holds: [(schedule: ScheduleKey, reservations: [UUID])], at time: Date) -> CommandEnvelope? {
        guard let first = holds.first else { return nil }
        return CommandEnvelope(
            id: id(of: holds.flatMap(\.reservations)),
            userId: UserID("system")!,
            partitionKey: first.schedule.partitionKey,
            command: .expireHold(.init(holds: holds.map { .init(partitionKey: $0.schedule.partitionKey, reservationIds: $0.reservations) })),
            submittedAt: time
        )
    }

    /// The id of the expiry message of a set of holds: derived from them, so that the message a
    /// redelivered batch publishes again is recognised as the same command (and needs no system
    /// call for randomness, as `UUID()` does). The holds are taken in the order of their text
    /// (`uuidString`, whose digits and dashes sort as the bytes do), compared as two big-endian
    /// words so that no text is formatted.
    public static func id(of holds: [UUID]) -> UUID {
        var low: UInt64 = 0xcbf2_9ce4_8422_2325
        var high: UInt64 = 0x6c62_272e_07bb_0142
        let ordered = holds.map { id in
            withUnsafeBytes(of: id.uuid) { bytes in
                (UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
        }.sorted(by: <)
        func mix(_ word: UInt64) {
            for shift in stride(from: 56, through: 0, by: -8) {
                let byte = UInt64(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
                low = (low ^ byte) &* 0x0000_0100_0000_01b3
                high = (high ^ byte) &* 0x0000_0100_0000_01b3 &+ 0x9e37_79b9
            }
        }
        for (first, second) in ordered {
            mix(first)
            mix(second)
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (8 * index))
        }
        bytes[6] = 0x80 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12],
                bytes[13], bytes[14], bytes[15]
            )
        )
    }
}
