import Foundation
import Testing

@testable import ConcertPipeline
@testable import ConcertWorkers

/// The id of a batch's expiry message, which must not change between builds: a batch redelivered
/// to a newer worker publishes an expiry the broker's consumers recognise as the same command.
struct ExpiryIDTests {
    /// The definition: the holds in the order of their `uuidString`, their bytes folded in.
    static func byDefinition(_ holds: [UUID]) -> UUID {
        var low: UInt64 = 0xcbf2_9ce4_8422_2325
        var high: UInt64 = 0x6c62_272e_07bb_0142
        for id in holds.sorted(by: { $0.uuidString < $1.uuidString }) {
            withUnsafeBytes(of: id.uuid) { bytes in
                for byte in bytes {
                    low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                    high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 0x9e37_79b9
                }
            }
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

    @Test func theIDIsTheDefinitionsWhateverTheOrderOfTheHolds() {
        var generator = SystemRandomNumberGenerator()
        for count in [0, 1, 2, 3, 17, 250] {
            // Ids sharing leading bytes too, so that the later bytes decide the order.
            let holds = (0..<count).map { index -> UUID in
                var bytes = UUID().uuid
                if index % 2 == 0 {
                    bytes.0 = 0xAB
                    bytes.1 = 0x0F
                    bytes.8 = UInt8.random(in: 0...255, using: &generator)
                }
                return UUID(uuid: bytes)
            }
            let expected = Self.byDefinition(holds)
            #expect(HoldExpiry.id(of: holds) == expected, "\(count) holds")
            #expect(HoldExpiry.id(of: holds.shuffled()) == expected, "\(count) holds, shuffled")
        }
        let one = UUID()
        #expect(HoldExpiry.id(of: [one]) != HoldExpiry.id(of: [one, UUID()]))
    }
}
