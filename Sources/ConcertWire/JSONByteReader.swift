import ConcertDomain
public import Foundation

/// Reads the plainest JSON byte by byte — the counterpart of `JSONText` for the hot paths that
/// read what they (or a token issuer) wrote: strings without escapes, integers of at most 18
/// digits, UUIDs and RFC 3339 UTC times to the second. Every read returns `nil` for anything
/// else, and callers then hand the whole text to a full JSON decoder: a reader never gives an
/// answer a decoder would not, it only declines.
public struct JSONByteReader {
    /// The text being read, UTF-8.
    public let bytes: [UInt8]
    /// The index in `bytes` of the next byte to read. A read that fails may leave it past whitespace or partway through a
    /// value (only `expect` never moves it on failure): a caller whose read failed gives up on the text.
    public private(set) var offset = 0

    /// A reader at the start of `bytes`.
    ///
    /// - Parameters:
    ///   - bytes: The JSON text, UTF-8.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Nothing but whitespace is left.
    /// Reading it skips the whitespace.
    public var atEnd: Bool {
        mutating get {
            skipWhitespace()
            return offset == bytes.count
        }
    }

    /// The next byte after whitespace, not consumed.
    ///
    /// - Returns: The byte, or `nil` when only whitespace is left.
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    /// Moves past spaces, tabs, line feeds and carriage returns.
    public mutating func skipWhitespace() {
        while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x09 || bytes[offset] == 0x0A || bytes[offset] == 0x0D {
            offset += 1
        }
    }

    /// Consumes `byte`, after whitespace, if it comes next.
    ///
    /// - Parameters:
    ///   - byte: The byte expected.
    /// - Returns: `true` when it was consumed; the whitespace before it is skipped either way.
    public mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard offset < bytes.count, bytes[offset] == byte else { return false }
        offset += 1
        return true
    }

    /// Consumes `literal` if the text continues with exactly it (no whitespace skipped).
    ///
    /// - Parameters:
    ///   - literal: The exact text expected.
    /// - Returns: `true` when it was consumed; otherwise `offset` is unchanged.
    public mutating func expect(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - offset >= count,
            literal.withUTF8Buffer({ $0.elementsEqual(bytes[offset..<offset + count]) })
        else { return false }
        offset += count
        return true
    }

    /// A string (after whitespace) without escapes or control characters, valid UTF-8.
    ///
    /// - Returns: The string, or `nil` when the next value is not such a string.
    public mutating func string() -> String? {
        guard let range = stringBytes() else { return nil }
        return String(validating: bytes[range], as: UTF8.self)
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits (after whitespace), not followed by a fraction or exponent.
    ///
    /// - Returns: The number, or `nil` when the next value is not such an integer.
    public mutating func integer() -> Int64? {
        skipWhitespace()
        let negative = offset < bytes.count && bytes[offset] == UInt8(ascii: "-")
        if negative { offset += 1 }
        let start = offset
        var value: Int64 = 0
        while offset < bytes.count, offset - start < 19, let digit = Self.digit(bytes[offset]) {
            // Wrapping: a 19th digit may overflow, and then the number is refused below anyway.
            value = value &* 10 &+ Int64(digit)
            offset += 1
        }
        let digits = offset - start
        guard digits > 0, digits <= 18, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") || bytes[offset] | 0x20 == UInt8(ascii: "e") { return nil }
        return negative ? -value : value
    }

    /// A string (after whitespace) holding a UUID's 36-character text, `8-4-4-4-12` hexadecimal digits of either case.
    ///
    /// - Returns: The UUID, or `nil` when the next value is not such a string.
    public mutating func uuid() -> UUID? {
        guard let range = stringBytes(), range.count == 36 else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &uuid) { output in
            var index = range.lowerBound
            for byte in 0..<16 {
                if byte == 4 || byte == 6 || byte == 8 || byte == 10 {
                    guard bytes[index] == UInt8(ascii: "-") else { return false }
                    index += 1
                }
                guard let high = Self.hexDigit(bytes[index]), let low = Self.hexDigit(bytes[index + 1]) else { return false }
                output[byte] = high << 4 | low
                index += 2
            }
            return true
        }
        return parsed ? UUID(uuid: uuid) : nil
    }

    /// A string holding an RFC 3339 UTC time to the second, `YYYY-MM-DDTHH:MM:SSZ`, as `RFC3339` writes it.
    ///
    /// Reads the string after whitespace; the date must exist and the time be at most `23:59:59`.
    ///
    /// - Returns: The time, or `nil` when the next value is not such a string (a fraction of a second or an offset
    ///   other than `Z` included).
    public mutating func time() -> Date? {
        guard let range = stringBytes(), range.count == 20 else { return nil }
        let start = range.lowerBound
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for index in start + from..<start + from + count {
                guard let digit = Self.digit(bytes[index]) else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard bytes[start + 4] == UInt8(ascii: "-"), bytes[start + 7] == UInt8(ascii: "-"), bytes[start + 10] == UInt8(ascii: "T"),
            bytes[start + 13] == UInt8(ascii: ":"), bytes[start + 16] == UInt8(ascii: ":"), bytes[start + 19] == UInt8(ascii: "Z"),
            let year = number(0, 4), let month = number(5, 2), let dayOfMonth = number(8, 2),
            let day = ScheduleDate(year: year, month: month, day: dayOfMonth),
            let hour = number(11, 2), hour < 24, let minute = number(14, 2), minute < 60, let second = number(17, 2), second < 60
        else { return nil }
        let seconds = day.daysSinceEpoch * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// The bytes between a string's quotes (after whitespace): no escapes, no control characters.
    private mutating func stringBytes() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = offset
        while offset < bytes.count, bytes[offset] != UInt8(ascii: "\"") {
            guard bytes[offset] >= 0x20, bytes[offset] != UInt8(ascii: "\\") else { return nil }
            offset += 1
        }
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return start..<offset
    }

    private static func digit(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
