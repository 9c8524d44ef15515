/// Several command envelopes of one partition in one message: each envelope as `encoded()` writes
/// it (JSON without a raw line break), one per line. The API sends the commands that arrive while
/// a partition's previous message waits for its confirm as one bundle, so the broker stores,
/// delivers and settles one message for all of them; the worker applies, deduplicates and
/// dead-letters each command on its own.
public enum CommandBundle {
    /// The message's `type`.
    public static let messageType = "concert.commands"
    /// The message's `content_type`: newline-delimited JSON.
    public static let contentType = "application/x-ndjson"

    /// The bundle's body: the encoded envelopes, one per line.
    public static func body(_ envelopes: some Sequence<[UInt8]>) -> [UInt8] {
        var body: [UInt8] = []
        for envelope in envelopes {
            if !body.isEmpty { body.append(UInt8(ascii: "\n")) }
            body.append(contentsOf: envelope)
        }
        return body
    }

    /// The lines of a bundle's body, each one envelope's bytes (empty lines skipped).
    public static func lines(_ body: [UInt8]) -> [[UInt8]] {
        body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map(Array.init)
    }
}
