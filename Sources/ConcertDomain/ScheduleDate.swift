/// A calendar date, `YYYY-MM-DD`, on which a concert plays.
public struct ScheduleDate: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// The year: 1…9999, unless made by `init(secondsSinceEpoch:)` from a time outside those years.
    public let year: Int
    /// The month, 1…12.
    public let month: Int
    /// The day of the month, from 1.
    public let day: Int

    /// `nil` unless it is a real date of the (proleptic) Gregorian calendar, years 0001–9999 —
    /// every date RFC 3339 / OpenAPI's `format: date` can write; one with no concert is simply not found.
    ///
    /// - Parameters:
    ///   - year: The year, 1…9999.
    ///   - month: The month, 1…12.
    ///   - day: The day of the month, from 1 to the month's last day.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day) else {
            return nil
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses exactly `YYYY-MM-DD`; `nil` for any other text and for a date `init?(year:month:day:)` refuses.
    ///
    /// - Parameters:
    ///   - text: The date's text: four, two and two ASCII digits separated by `-`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// Validates a request field or path segment.
    ///
    /// - Parameters:
    ///   - text: The value sent; `nil` when the request has none.
    ///   - field: The field's name, for the error.
    /// - Returns: The date.
    /// - Throws: `ValidationError` for `field`, "must be a date as YYYY-MM-DD", when `text` is `nil` or not a real date
    ///   written `YYYY-MM-DD`.
    public static func parse(_ text: String?, field: String = "date") throws(ValidationError) -> ScheduleDate {
        guard let text, let date = ScheduleDate(text) else {
            throw ValidationError(field: field, reason: "must be a date as YYYY-MM-DD")
        }
        return date
    }

    /// The UTC date `secondsSinceEpoch` falls on.
    ///
    /// - Parameters:
    ///   - secondsSinceEpoch: Seconds since 1970-01-01T00:00:00Z (negative before it).
    public init(secondsSinceEpoch: Int64) {
        // Days-to-civil from Howard Hinnant's date algorithms.
        let days = Int(secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400) + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01 (negative before it).
    public var daysSinceEpoch: Int64 {
        // Days-from-civil from Howard Hinnant's date algorithms.
        let year = month <= 2 ? self.year - 1 : self.year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return Int64(era * 146_097 + dayOfEra - 719_468)
    }

    /// The date as `YYYY-MM-DD`, zero-padded.
    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Orders dates by the calendar.
    ///
    /// - Parameters:
    ///   - lhs: A date.
    ///   - rhs: Another date.
    /// - Returns: `true` when `lhs` is the earlier.
    public static func < (lhs: ScheduleDate, rhs: ScheduleDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    /// Reads the date from a single `YYYY-MM-DD` string value.
    ///
    /// - Parameters:
    ///   - decoder: The decoder of the value.
    /// - Throws: `DecodingError` when the value is not a string or not a real date written `YYYY-MM-DD`.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = ScheduleDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected YYYY-MM-DD"))
        }
        self = date
    }

    /// Writes the date as a single `YYYY-MM-DD` string value.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Any error `encoder` throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
