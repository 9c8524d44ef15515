package import AMQPClient
import Foundation

extension Dictionary where Key == String, Value == AMQPFieldValue {
    /// The table as Foundation JSON values (for definitions files and archived headers).
    package var jsonObject: [String: Any] {
        [String: Any](uniqueKeysWithValues: map { (AMQPFieldValue.storable($0.key), $0.value.jsonValue) })
    }

    /// The table as a JSON text, keys sorted, that PostgreSQL's `jsonb` takes whatever the headers
    /// held: no NUL characters (`jsonb` refuses `\u0000`), non-finite numbers as strings.
    package var jsonText: String {
        guard let data = try? JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            // Unreachable with the values `jsonValue` makes; a letter is archived all the same.
            return #"{"x-concert-unreadable-headers":true}"#
        }
        return String(decoding: data, as: UTF8.self)
    }
}

extension AMQPFieldValue {
    package var jsonValue: Any {
        switch self {
        case .bool(let flag): flag
        case .int(let number): number
        case .double(let number): number.isFinite ? number : String(describing: number)
        case .string(let text): Self.storable(text)
        case .bytes(let bytes): String(validating: bytes, as: UTF8.self).map(Self.storable) ?? bytes.map(String.init).joined(separator: ",")
        case .timestamp(let seconds): seconds
        case .table(let table): table.jsonObject
        case .array(let values): values.map(\.jsonValue)
        case .void: NSNull()
        }
    }

    /// Text PostgreSQL can store: NUL characters (allowed in AMQP strings, refused by `text` and
    /// `jsonb`) become U+FFFD.
    package static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }
}
