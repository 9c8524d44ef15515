/// Reading HTTP field values over their UTF-8 bytes: Foundation's trimming and case folding cost
/// more than the work the fields are read for (bearer credentials, `Prefer`).
extension Substring.UTF8View {
    /// Without the spaces and tabs at either end (RFC 9110's optional whitespace).
    var trimmingOptionalWhitespace: Substring.UTF8View {
        func isSpaceOrTab(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = firstIndex(where: { !isSpaceOrTab($0) }), let last = lastIndex(where: { !isSpaceOrTab($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }

    /// Equal to `lowercase`, ASCII letters in any case (`| 0x20` folds only a letter onto a letter;
    /// every other byte must match exactly).
    func equalsIgnoringASCIICase(_ lowercase: StaticString) -> Bool {
        lowercase.withUTF8Buffer { expected in
            count == expected.count
                && zip(self, expected).allSatisfy { byte, wanted in
                    byte == wanted || ((UInt8(ascii: "a")...UInt8(ascii: "z")).contains(wanted) && byte | 0x20 == wanted)
                }
        }
    }
}
