import ConcertDomain
public import Foundation

/// Writes the JSON of the hot path by hand — command envelopes, results, acceptances — with
/// keys in sorted order and RFC 3339 UTC times, exactly as `JSONEncoder.commands` would, without
/// the encoder's allocations. Tests check that both agree. Members are written in the order they are added, so
/// callers add them in sorted key order; keys are written as they are, unescaped.
public struct JSONText: Sendable {
    /// The JSON written so far: the opening brace and the members, and after `finish()` the closing brace.
    public private(set) var text: String
    private var first = true

    /// Starts an object.
    ///
    /// - Parameters:
    ///   - capacity: How much room to reserve for the text, in UTF-8 bytes.
    public init(capacity: Int = 256) {
        text = "{"
        text.reserveCapacity(capacity)
    }

    /// A string member (escaped).
    ///
    /// - Parameters:
    ///   - key: The member's name, written unescaped.
    ///   - value: The string, escaped as `appendString` escapes it.
    public mutating func add(_ key: StaticString, _ value: String) {
        member(key)
        Self.appendString(value, to: &text)
    }

    /// A UUID member, lower-case (RFC 9562).
    ///
    /// - Parameters:
    ///   - key: The member's name, written unescaped.
    ///   - value: The UUID.
    public mutating func add(_ key: StaticString, _ value: UUID) {
        member(key)
        text += "\""
        text += value.lowercasedString
        text += "\""
    }

    /// An integer member.
    ///
    /// - Parameters:
    ///   - key: The member's name, written unescaped.
    ///   - value: The integer, in decimal.
    public mutating func add(_ key: StaticString, _ value: Int64) {
        member(key)
        text += String(value)
    }

    /// A time member, RFC 3339 UTC to the second.
    ///
    /// - Parameters:
    ///   - key: The member's name, written unescaped.
    ///   - value: The time, rounded down to the second.
    public mutating func add(_ key: StaticString, _ value: Date) {
        member(key)
        text += "\""
        text += RFC3339.string(value)
        text += "\""
    }

    /// A member whose value is JSON already.
    ///
    /// - Parameters:
    ///   - key: The member's name, written unescaped.
    ///   - value: The member's value as JSON text, written as it is (not checked).
    public mutating func add(_ key: StaticString, json value: String) {
        member(key)
        text += value
    }

    /// Ends the object and returns it.
    ///
    /// - Returns: The object's JSON, the final `text`.
    public mutating func finish() -> String {
        text += "}"
        return text
    }

    private mutating func member(_ key: StaticString) {
        if !first { text += "," }
        first = false
        text += "\""
        text += key.description
        text += "\":"
    }

    /// Appends `value` as a JSON string.
    ///
    /// Escapes `"`, `\` and control characters (`\n`, `\r` and `\t` as such, others as `\u` and four lower-case
    /// hexadecimal digits); every other character, `/` included, is written as it is.
    ///
    /// - Parameters:
    ///   - value: The string to write.
    ///   - text: The JSON text to append it to.
    public static func appendString(_ value: String, to text: inout String) {
        text += "\""
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            text += value
        } else {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}

/// RFC 3339 UTC times to the second (`2026-11-25T16:10:06Z`), as `JSONEncoder`'s `.iso8601` writes them.
public enum RFC3339 {
    /// The RFC 3339 text of `date` in UTC, rounded down to the second.
    ///
    /// - Parameters:
    ///   - date: The time.
    /// - Returns: The text, e.g. `2026-11-25T16:10:06Z`.
    public static func string(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let day = ScheduleDate(secondsSinceEpoch: seconds)
        let secondOfDay = Int(seconds - Int64((seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)) * 86_400)
        return "\(day)T\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
    }

    /// The time of an RFC 3339 text: `Z` or an offset, fractional seconds optional.
    ///
    /// - Parameters:
    ///   - text: The text, e.g. `2027-03-01T10:00:00+09:00`.
    /// - Returns: The time, or `nil` when the text is not an RFC 3339 time.
    public static func date(_ text: String) -> Date? {
        let whole = ISO8601DateFormatter()
        whole.formatOptions = [.withInternetDateTime]
        if let date = whole.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    private static func two(_ value: Int) -> String {
        value < 10 ? "0\(value)" : String(value)
    }
}

extension UUID {
    /// The RFC 9562 text form, lower-case.
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { buffer in
                var position = 0
                for (offset, byte) in bytes.enumerated() {
                    if offset == 4 || offset == 6 || offset == 8 || offset == 10 {
                        buffer[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    buffer[position] = hexDigits[Int(byte >> 4)]
                    buffer[position + 1] = hexDigits[Int(byte & 0x0F)]
                    position += 2
                }
                return position
            }
        }
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
