import ConcertDomain
import Crypto
public import Foundation

/// Optional bot defence of token issue (`CONCERT_QUEUE_PROOF_OF_WORK_BITS`): before a token is
/// issued the client must have spent some CPU on a puzzle, so that a script cannot take a
/// thousand places for the cost of a thousand requests.
///
/// A challenge is text the API signs and need not remember: `concert.expires.salt.mac`, where
/// `expires` is a Unix time five minutes ahead, `salt` 16 random hex digits, and `mac` an
/// HMAC-SHA256 (a key derived from `CONCERT_TOKEN_SECRET`, so every API process checks every
/// other's) over the rest and the user's id: a challenge is worthless to any other user or
/// concert. A solution is a `nonce` (1–64 printable ASCII characters) such that
/// SHA-256(challenge ‖ nonce) starts with `bits` zero bits: finding one takes 2^bits hashes on
/// average, checking it one. A solved challenge may be used again until it expires; that buys
/// nothing, as a user's second issue returns the token of the first.
public struct ProofOfWork: Sendable {
    /// How many leading zero bits a solution's hash must have.
    let bits: Int
    /// How long a challenge can be solved and used.
    static let lifetime: TimeInterval = 300
    private let key: PreparedHMAC

    /// `nil` when `bits` is 0 (the defence is off).
    ///
    /// - Parameters:
    ///   - bits: How many leading zero bits a solution's hash must have.
    ///   - secret: `CONCERT_TOKEN_SECRET`, which the challenges' key is derived from.
    public init?(bits: Int, secret: String) {
        guard bits > 0 else { return nil }
        self.bits = bits
        key = PreparedHMAC(
            key: SymmetricKey(
                data: HMAC<SHA256>.authenticationCode(for: Data("concert proof of work v1".utf8), using: SymmetricKey(data: Data(secret.utf8)))
            )
        )
    }

    /// A new challenge for `user` and `concert`, and when it expires.
    func challenge(concert: ConcertID, user: UserID, now: Date) -> (text: String, expiresAt: Date) {
        let expires = Int64(now.timeIntervalSince1970 + Self.lifetime)
        let salt = String(UInt64.random(in: .min ... .max), radix: 16)
        let unsigned = "\(concert.rawValue).\(expires).\(salt)"
        return ("\(unsigned).\(mac(unsigned, user: user))", Date(timeIntervalSince1970: TimeInterval(expires)))
    }

    /// Why a solution was not accepted.
    enum Refusal: Equatable {
        /// No challenge and nonce were sent.
        case missing
        /// Not a challenge of this concert and user, or its signature is wrong.
        case notIssued
        /// Past its five minutes.
        case expired
        /// The hash does not start with enough zero bits (or the nonce is not 1–64 printable characters).
        case unsolved
    }

    /// `nil` when `nonce` solves `challenge` for `user` and `concert` at `now`.
    func refusal(challenge: String, nonce: String, concert: ConcertID, user: UserID, now: Date) -> Refusal? {
        let parts = challenge.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == String(concert.rawValue), let expires = Int64(parts[1]) else { return .notIssued }
        let unsigned = parts[0...2].joined(separator: ".")
        guard Self.equalInConstantTime(Array(parts[3].utf8), Array(mac(unsigned, user: user).utf8)) else { return .notIssued }
        guard now.timeIntervalSince1970 < TimeInterval(expires) else { return .expired }
        guard (1...64).contains(nonce.utf8.count), nonce.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return .unsolved }
        return Self.leadingZeroBits(SHA256.hash(data: Array(challenge.utf8) + Array(nonce.utf8))) >= bits ? nil : .unsolved
    }

    /// How many of the digest's first bits are zero.
    static func leadingZeroBits(_ digest: SHA256.Digest) -> Int {
        var count = 0
        for byte in digest {
            if byte == 0 {
                count += 8
                continue
            }
            return count + byte.leadingZeroBitCount
        }
        return count
    }

    private func mac(_ unsigned: String, user: UserID) -> String {
        key.code(for: Array("\(unsigned)|\(user.rawValue)".utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    private static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
