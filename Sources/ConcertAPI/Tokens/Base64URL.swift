import ExtrasBase64

/// Base64url without padding (RFC 4648 §5), as JWTs and the console's cookies use it, through
/// ExtrasBase64 (resolved already through jwt-kit; it works on bytes, without Foundation's
/// round trip through `Data` and the character replacements around it).
enum Base64URL {
    private static let encoding: Base64.EncodingOptions = [.base64UrlAlphabet, .omitPaddingCharacter]
    private static let decoding: Base64.DecodingOptions = [.base64UrlAlphabet, .omitPaddingCharacter]

    /// The text of `bytes`.
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64.encodeToString(bytes: bytes, options: encoding)
    }

    /// The text of `bytes` that are only a sequence (a MAC, a digest).
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Base64.encodeToString(bytes: Array(bytes), options: encoding)
    }

    /// The bytes of `text`; `nil` for a character outside the alphabet, padding, or a length no
    /// encoding has. (ExtrasBase64 would take a trailing `=` too: one text per token, so it is refused here.)
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard !text.contains(UInt8(ascii: "=")) else { return nil }
        return try? Base64.decode(bytes: text, options: decoding)
    }
}
