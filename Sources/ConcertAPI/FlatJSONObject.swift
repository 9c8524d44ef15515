/// The members of a small, flat JSON object — a JWT's header or claims — read byte by byte.
///
/// Only the plainest JSON is read: member values that are strings without escapes, integers of at
/// most 18 digits, `true`, `false`, `null`, or arrays of such strings. Anything else (an escape, a
/// fraction or exponent, a nested object, a repeated name, invalid UTF-8) makes the whole reading
/// `nil`, and the caller decodes the text with a full JSON decoder instead: this never gives an
/// answer a full decoder would not, it only declines.
struct FlatJSONObject {
    enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case strings([String])
        case boolean(Bool)
        case null
    }

    private(set) var members: [String: Value] = [:]

    subscript(name: String) -> Value? { members[name] }

    init?(_ bytes: [UInt8]) {
        var reader = Reader(bytes: bytes)
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        if reader.take(UInt8(ascii: "}")) {
            guard reader.atEnd else { return nil }
            return
        }
        repeat {
            guard let name = reader.string(), reader.take(UInt8(ascii: ":")), let value = reader.value(),
                members.updateValue(value, forKey: name) == nil
            else { return nil }
        } while reader.take(UInt8(ascii: ","))
        guard reader.take(UInt8(ascii: "}")), reader.atEnd else { return nil }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool {
            mutating get {
                skipWhitespace()
                return offset == bytes.count
            }
        }

        mutating func skipWhitespace() {
            while offset < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[offset]) { offset += 1 }
        }

        /// Consumes `byte` (after whitespace) if it comes next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == byte else { return false }
            offset += 1
            return true
        }

        mutating func value() -> Value? {
            skipWhitespace()
            guard offset < bytes.count else { return nil }
            switch bytes[offset] {
            case UInt8(ascii: "\""):
                return string().map(Value.string)
            case UInt8(ascii: "["):
                offset += 1
                var strings: [String] = []
                if take(UInt8(ascii: "]")) { return .strings(strings) }
                repeat {
                    guard let string = string() else { return nil }
                    strings.append(string)
                } while take(UInt8(ascii: ","))
                return take(UInt8(ascii: "]")) ? .strings(strings) : nil
            case UInt8(ascii: "t"):
                return literal("true") ? .boolean(true) : nil
            case UInt8(ascii: "f"):
                return literal("false") ? .boolean(false) : nil
            case UInt8(ascii: "n"):
                return literal("null") ? .null : nil
            default:
                return integer().map(Value.integer)
            }
        }

        /// A string without escapes or control characters, valid UTF-8.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = offset
            while offset < bytes.count, bytes[offset] != UInt8(ascii: "\"") {
                guard bytes[offset] >= 0x20, bytes[offset] != UInt8(ascii: "\\") else { return nil }
                offset += 1
            }
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return String(validating: bytes[start..<offset], as: UTF8.self)
        }

        /// `-?(0|[1-9][0-9]*)` of at most 18 digits, not followed by a fraction or exponent.
        mutating func integer() -> Int64? {
            let negative = offset < bytes.count && bytes[offset] == UInt8(ascii: "-")
            if negative { offset += 1 }
            let start = offset
            var value: Int64 = 0
            while offset < bytes.count, offset - start < 19, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset]) {
                value = value * 10 + Int64(bytes[offset] - UInt8(ascii: "0"))
                offset += 1
            }
            let digits = offset - start
            guard digits > 0, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            if offset < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[offset]) { return nil }
            return negative ? -value : value
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard bytes.count - offset >= count,
                word.withUTF8Buffer({ $0.elementsEqual(bytes[offset..<offset + count]) })
            else { return false }
            offset += count
            return true
        }
    }
}
