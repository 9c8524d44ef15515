import Foundation
import Glibc
public import HTTPTypes

/// Who the client is behind a load balancer or TLS proxy (`CONCERT_TRUSTED_PROXIES`: addresses
/// or CIDR blocks, comma-separated; none by default).
///
/// When the TCP peer is one of them, the client is the right-most address of `Forwarded`
/// (RFC 7239, its `for=` parameters) — or, without it, of `X-Forwarded-For` — that is not a
/// trusted proxy itself: each proxy appends the address it saw, so everything left of the last
/// untrusted hop may be the client's own invention. From any other peer those headers are
/// ignored: a client cannot choose the address its rate limit counts.
public struct TrustedProxies: Sendable, Equatable {
    /// One block: the address's bytes (4 or 16) and how many leading bits must match.
    struct Block: Sendable, Equatable {
        let bytes: [UInt8]
        let prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefix
            for (mine, theirs) in zip(bytes, address) where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if mine & mask != theirs & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    let blocks: [Block]

    /// No proxy is trusted: the client is always the TCP peer.
    public static let none = TrustedProxies(blocks: [])

    init(blocks: [Block]) { self.blocks = blocks }

    /// Parses `10.0.0.0/8, 192.168.1.7, ::1, fd00::/8`; throws a description of what is wrong.
    public init(parsing text: String) throws(TrustedProxiesSyntaxError) {
        var blocks: [Block] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let bytes = Self.bytes(of: String(parts[0])) else { throw TrustedProxiesSyntaxError(item: item) }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let given = Int(parts[1]), (0...prefix).contains(given) else { throw TrustedProxiesSyntaxError(item: item) }
                prefix = given
            }
            blocks.append(Block(bytes: bytes, prefix: prefix))
        }
        self.blocks = blocks
    }

    /// True when `address` (text) is a trusted proxy.
    public func trusts(_ address: String) -> Bool {
        guard !blocks.isEmpty, let bytes = Self.bytes(of: address) else { return false }
        return blocks.contains { $0.contains(bytes) }
    }

    /// The client's address for a request that came from `peer`.
    public func client(peer: String?, headers: HTTPFields) -> String? {
        guard let peer, trusts(peer) else { return peer }
        let hops: [String]
        if let forwarded = headers[values: .forwarded].nonEmpty {
            hops = forwarded.flatMap(Self.forwardedFor)
        } else {
            hops = headers[values: .xForwardedFor].flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        }
        // Right to left: the first hop that is not one of ours is the client as our proxies saw it.
        for hop in hops.reversed() where !trusts(hop) {
            return Self.bytes(of: hop) == nil ? peer : hop
        }
        return hops.first.flatMap { Self.bytes(of: $0) == nil ? nil : $0 } ?? peer
    }

    /// The `for=` addresses of one `Forwarded` field value, in order (quotes, brackets and ports removed).
    static func forwardedFor(_ value: String) -> [String] {
        value.split(separator: ",").compactMap { element in
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].lowercased() == "for" else { continue }
                var node = parts[1]
                if node.hasPrefix("\""), node.hasSuffix("\""), node.count >= 2 { node = String(node.dropFirst().dropLast()) }
                if node.hasPrefix("[") {
                    // [v6]:port
                    return node.dropFirst().split(separator: "]").first.map(String.init)
                }
                if node.filter({ $0 == ":" }).count == 1 { node = String(node.split(separator: ":")[0]) }
                return node
            }
            return nil
        }
    }

    /// The bytes of an IPv4 or IPv6 address in text, `nil` for anything else.
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, text, &v4) == 1 { return v4 }
        var bytes = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET6, text, &bytes) == 1 {
            // An IPv4 address mapped into IPv6 (::ffff:a.b.c.d) is that IPv4 address.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        }
        return nil
    }
}

/// A `CONCERT_TRUSTED_PROXIES` entry that is neither an address nor a CIDR block.
public struct TrustedProxiesSyntaxError: Error, CustomStringConvertible {
    public let item: String
    public var description: String { "must be IP addresses or CIDR blocks, comma-separated (e.g. 10.0.0.0/8, 192.168.1.7), got '\(item)'" }
}

extension HTTPField.Name {
    static let forwarded = HTTPField.Name("Forwarded")!
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}

extension Array {
    fileprivate var nonEmpty: Self? { isEmpty ? nil : self }
}
