/// A value in an AMQP field table (message headers, queue and exchange arguments).
public enum AMQPFieldValue: Sendable, Hashable {
    /// A boolean.
    case bool(Bool)
    /// An integer; encoded as a signed 64-bit integer, decoded from any integer width.
    case int(Int64)
    /// A floating-point number; encoded as a double, decoded from a float or a double.
    case double(Double)
    /// A UTF-8 string (long string).
    case string(String)
    /// A byte string.
    case bytes([UInt8])
    /// Seconds since the Unix epoch.
    case timestamp(UInt64)
    /// A nested field table.
    case table(AMQPTable)
    /// An array of field values.
    case array([AMQPFieldValue])
    /// No value; also what a field of a kind this client does not decode (a decimal, say) becomes.
    case void

    /// The value as an integer, whatever integer width the broker used.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The value as a string (UTF-8 strings and byte strings that are valid UTF-8).
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .bytes(let bytes): String(validating: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The value as a table.
    public var tableValue: AMQPTable? {
        if case .table(let value) = self { return value }
        return nil
    }

    /// The value as an array.
    public var arrayValue: [AMQPFieldValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// An AMQP field table: values by key; the order of the keys is not significant.
public typealias AMQPTable = [String: AMQPFieldValue]

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    /// A `string` value from a string literal.
    ///
    /// - Parameters:
    ///   - value: The literal's text.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An `int` value from an integer literal.
    ///
    /// - Parameters:
    ///   - value: The literal's value.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A `bool` value from a boolean literal.
    ///
    /// - Parameters:
    ///   - value: The literal's value.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
