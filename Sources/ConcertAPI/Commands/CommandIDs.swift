public import ConcertDomain
import Crypto
public import Foundation
import Synchronization

/// Command ids that prove they were handed out by an API process: no row is written when a
/// command is accepted, yet `GET /v1/commands/{id}` can still tell a pending command from an id
/// that was never accepted.
///
/// An id is an RFC 9562 version 8 UUID: 48 bits of Unix milliseconds (ids sort by time, which
/// keeps the commands table's primary key appending), 38 bits of a per-process counter that
/// starts at a random value, 4 bits naming the command's
/// type (so a pending command can be shown with it), and 32 bits of an HMAC-SHA256 over the rest
/// and the user's id, keyed with a key derived from `CONCERT_TOKEN_SECRET` (shared by every API
/// process): an id shows as pending only to the user it was minted for. A forged id is found out with probability 1 − 2⁻³²; finding one that
/// passes would only show its finder a "pending" command that does not exist.
public struct CommandIDs: Sendable {
    private let key: PreparedHMAC
    /// The 38 "random" bits: a counter from a random start. They only need to keep ids of one
    /// millisecond apart (the MAC, not these bits, is what cannot be guessed), and reading
    /// randomness from the kernel costs a system call per id.
    private let sequence: Sequence

    /// Derives the key from the waiting-room secret (a key of its own: a MAC is not a token signature).
    public init(secret: String) {
        key = PreparedHMAC(
            key: SymmetricKey(
                data: HMAC<SHA256>.authenticationCode(for: Data("concert command ids v1".utf8), using: SymmetricKey(data: Data(secret.utf8)))
            )
        )
        sequence = Sequence()
    }

    final class Sequence: Sendable {
        private let next = Atomic<UInt64>(UInt64.random(in: 0..<(1 << 38)))

        func take() -> UInt64 { next.add(1, ordering: .relaxed).oldValue }
    }

    /// A new id for a command of `type` submitted by `user`, now.
    public func mint(_ type: CommandType, for user: UserID, at now: Date = Date()) -> UUID {
        var bytes = [UInt8](repeating: 0, count: 16)
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        // 38 bits in the 4 + 8 + 6 + 4 + 8 + 8 bits around the version, variant and type fields.
        let counter = sequence.take()
        bytes[6] = 0x80 | UInt8(truncatingIfNeeded: counter >> 34) & 0x0F  // version 8
        bytes[7] = UInt8(truncatingIfNeeded: counter >> 26)
        bytes[8] = 0x80 | UInt8(truncatingIfNeeded: counter >> 20) & 0x3F  // variant 10
        bytes[9] = (Self.code(of: type) << 4) | UInt8(truncatingIfNeeded: counter >> 16) & 0x0F
        bytes[10] = UInt8(truncatingIfNeeded: counter >> 8)
        bytes[11] = UInt8(truncatingIfNeeded: counter)
        let mac = tag(bytes[0..<12], user: user)
        bytes.replaceSubrange(12..<16, with: mac)
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12],
                bytes[13], bytes[14], bytes[15]
            )
        )
    }

    /// True when `id` was minted by an API process with this secret for `user`.
    public func isGenuine(_ id: UUID, for user: UserID) -> Bool {
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        guard bytes[6] >> 4 == 8, bytes[8] >> 6 == 0b10 else { return false }
        // Compared in constant time: how long a refusal takes says nothing of how many bytes matched.
        let expected = tag(bytes[0..<12], user: user)
        var difference: UInt8 = 0
        for (mine, theirs) in zip(expected, bytes[12..<16]) { difference |= mine ^ theirs }
        return difference == 0
    }

    /// The type of the command of an id minted for `user`; `nil` for any other id.
    public func type(of id: UUID, for user: UserID) -> CommandType? {
        guard isGenuine(id, for: user) else { return nil }
        let code = withUnsafeBytes(of: id.uuid) { $0[9] } >> 4
        return CommandType.allCases.first { Self.code(of: $0) == code }
    }

    /// Each type's 4-bit tag (room for 16 types).
    private static func code(of type: CommandType) -> UInt8 {
        switch type {
        case .reserveSeat: 0
        case .pay: 1
        case .expireHold: 2
        case .setSeatMap: 3
        case .release: 4
        case .refund: 5
        case .cancelDate: 6
        }
    }

    private func tag(_ bytes: ArraySlice<UInt8>, user: UserID) -> [UInt8] {
        Array(key.code(for: Array(bytes) + Array(user.rawValue.utf8)).prefix(4))
    }
}
