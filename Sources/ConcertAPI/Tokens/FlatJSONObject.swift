import ConcertDomain
import ConcertWire

/// The members of a small, flat JSON object — a JWT's header or claims — read with `JSONByteReader`.
///
/// Member values are strings, integers, `true`, `false`, `null`, or arrays of strings, each in
/// the plainest form the reader takes. Anything else (an escape, a fraction or exponent, a nested
/// object, a repeated name, invalid UTF-8) makes the whole reading `nil`, and the caller decodes
/// the text with a full JSON decoder instead: this never gives an answer a full decoder would
/// not, it only declines.
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
        var reader = JSONByteReader(bytes)
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        if reader.take(UInt8(ascii: "}")) {
            guard reader.atEnd else { return nil }
            return
        }
        repeat {
            guard let name = reader.string(), reader.take(UInt8(ascii: ":")), let value = Self.value(&reader),
                members.updateValue(value, forKey: name) == nil
            else { return nil }
        } while reader.take(UInt8(ascii: ","))
        guard reader.take(UInt8(ascii: "}")), reader.atEnd else { return nil }
    }

    private static func value(_ reader: inout JSONByteReader) -> Value? {
        switch reader.peek() {
        case UInt8(ascii: "\"")?:
            return reader.string().map(Value.string)
        case UInt8(ascii: "[")?:
            _ = reader.take(UInt8(ascii: "["))
            var strings: [String] = []
            if reader.take(UInt8(ascii: "]")) { return .strings(strings) }
            repeat {
                guard let string = reader.string() else { return nil }
                strings.append(string)
            } while reader.take(UInt8(ascii: ","))
            return reader.take(UInt8(ascii: "]")) ? .strings(strings) : nil
        case UInt8(ascii: "t")?:
            return reader.expect("true") ? .boolean(true) : nil
        case UInt8(ascii: "f")?:
            return reader.expect("false") ? .boolean(false) : nil
        case UInt8(ascii: "n")?:
            return reader.expect("null") ? .null : nil
        default:
            return reader.integer().map(Value.integer)
        }
    }
}
