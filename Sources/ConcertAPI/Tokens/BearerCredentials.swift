/// The credentials of an `Authorization: Bearer <credentials>` field (RFC 6750 §2.1): the scheme
/// in any case, spaces and tabs around the credentials dropped (RFC 9110's optional whitespace).
/// Read over UTF-8 bytes: Foundation's `trimmingCharacters` cost more than the token's check.
enum BearerCredentials {
    /// `nil` when the field is not the Bearer scheme followed by a space; otherwise what follows
    /// it, possibly empty.
    static func parse(_ field: String) -> String? {
        let utf8 = Substring(field).utf8
        let scheme = utf8.prefix(7)
        guard scheme.equalsIgnoringASCIICase("bearer ") else { return nil }
        return String(Substring(utf8[scheme.endIndex...].trimmingOptionalWhitespace))
    }
}
