/// The credentials of an `Authorization: Bearer <credentials>` field (RFC 6750 §2.1): the scheme
/// in any case, spaces and tabs around the credentials dropped (RFC 9110's optional whitespace).
/// Read over UTF-8 bytes: Foundation's `trimmingCharacters` cost more than the token's check.
enum BearerCredentials {
    /// `nil` when the field is not the Bearer scheme followed by a space; otherwise what follows
    /// it, possibly empty.
    static func parse(_ field: String) -> String? {
        let utf8 = Substring(field).utf8
        var index = utf8.startIndex
        for expected in "bearer ".utf8 {
            guard index < utf8.endIndex else { return nil }
            let byte = utf8[index]
            // ASCII letters compare case-insensitively; `| 0x20` maps no other byte onto one.
            guard byte == expected || (expected != UInt8(ascii: " ") && byte | 0x20 == expected) else { return nil }
            index = utf8.index(after: index)
        }
        var end = utf8.endIndex
        while index < end, isSpaceOrTab(utf8[index]) { index = utf8.index(after: index) }
        while end > index, isSpaceOrTab(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        return String(Substring(utf8[index..<end]))
    }

    private static func isSpaceOrTab(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
