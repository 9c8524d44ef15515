import AMQPClient
import Foundation

extension Dictionary where Key == String, Value == AMQPFieldValue {
    /// The table as Foundation JSON values (for definitions files and archived headers).
    var jsonObject: [String: Any] {
        mapValues(\.jsonValue)
    }

    /// The table as a JSON text, keys sorted.
    var jsonText: String {
        // Plain JSON values only: serialisation cannot fail.
        let data = try! JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

extension AMQPFieldValue {
    var jsonValue: Any {
        switch self {
        case .bool(let flag): flag
        case .int(let number): number
        case .double(let number): number
        case .string(let text): text
        case .bytes(let bytes): String(validating: bytes, as: UTF8.self) ?? bytes.map(String.init).joined(separator: ",")
        case .timestamp(let seconds): seconds
        case .table(let table): table.jsonObject
        case .array(let values): values.map(\.jsonValue)
        case .void: NSNull()
        }
    }
}
