import ConcertStorage
import Foundation
import Hummingbird

/// What the console's forms and links send, decoded by Hummingbird's `URLEncodedFormDecoder`
/// from a posted body or a page's query string (`+` is a space in both).
enum ConsoleForm {
    static let maximumBody = 64 * 1024

    static func decode<Form: Decodable>(_ type: Form.Type, from encoded: String) throws(ConsoleRefusal) -> Form {
        do {
            return try URLEncodedFormDecoder().decode(type, from: encoded)
        } catch {
            throw ConsoleRefusal(.badRequest, "The form's fields could not be read: send them URL-encoded, each name once.")
        }
    }

    /// The fields of a page's query string.
    static func query<Form: Decodable>(_ type: Form.Type, of request: Request) throws(ConsoleRefusal) -> Form {
        try decode(type, from: request.uri.query ?? "")
    }

    /// The fields of a posted form (at most 64 KiB).
    static func body<Form: Decodable>(_ type: Form.Type, of request: Request) async throws -> Form {
        var request = request
        return try decode(type, from: String(buffer: try await request.collectBody(upTo: maximumBody)))
    }
}

/// A posted form that carries the session's CSRF token.
protocol SignedForm: Decodable {
    var csrf: String? { get }
}

struct SignInForm: Decodable {
    var token: String?
}

/// A form whose only field is the CSRF token (sign-out, a letter's replay or discard).
struct ActionForm: SignedForm {
    var csrf: String?
}

/// The dead-letter pages' fields: the filter (reason, type, partition, since), a group's identity
/// (reason and type), what was just done (`replayed-3`), and on a group action its CSRF token and
/// whether it was confirmed.
struct DeadLetterFields: SignedForm, Equatable {
    var reason: String?
    var type: String?
    var partition: String?
    var since: String?
    var done: String?
    var csrf: String?
    var confirmed: String?

    /// The filter these fields ask for and the form that shows it again: 400 for what PostgreSQL
    /// cannot take (a NUL) or nobody types (control characters), a partition that is not a number
    /// or a time not in UTC `YYYY-MM-DDTHH:MM[:SS]`.
    func filter() throws(ConsoleRefusal) -> (ConsoleStore.DeadLetterFilter, FilterForm) {
        let reason = Self.given(reason)
        let type = Self.given(type)
        let partition = Self.given(partition)
        let since = Self.given(since)
        for (name, value) in [("Reason", reason), ("Type", type)]
        where value?.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) == true {
            throw ConsoleRefusal(.badRequest, "\(name): printable text, without control characters.")
        }
        var filter = ConsoleStore.DeadLetterFilter(reason: reason, type: type)
        if let partition {
            guard let number = Int(partition), number >= 0 else {
                throw ConsoleRefusal(.badRequest, "Partition: a partition number (0, 1, …), not \(partition).")
            }
            filter.partition = number
        }
        if let since {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = since.count > 16 ? "yyyy-MM-dd'T'HH:mm:ss" : "yyyy-MM-dd'T'HH:mm"
            guard let date = formatter.date(from: since) else {
                throw ConsoleRefusal(.badRequest, "Seen since: a UTC time as YYYY-MM-DDTHH:MM, not \(since).")
            }
            filter.since = date
        }
        return (filter, FilterForm(reason: reason ?? "", type: type ?? "", partition: partition ?? "", since: since ?? ""))
    }

    /// The filter within one group (its reason and type are the group's identity, not a filter).
    var withinGroup: DeadLetterFields { DeadLetterFields(partition: partition, since: since) }

    /// The group's type: `nil` for letters without one.
    var groupType: String? { type.flatMap { $0.isEmpty ? nil : $0 } }

    private static func given(_ value: String?) -> String? {
        value.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
    }
}

struct CommandsQuery: Decodable {
    var id: String?
    var user: String?
}

/// The box office's forms: a date to cancel (`concert`, `date`) or a reservation to refund
/// (`reservation`), first shown for confirmation, then posted with `confirmed`.
struct BoxOfficeForm: SignedForm {
    var csrf: String?
    var concert: String?
    var date: String?
    var reservation: String?
    var confirmed: String?
}
