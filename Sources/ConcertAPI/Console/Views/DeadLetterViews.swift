import ConcertStorage
import Foundation

/// The filter as the form shows it again.
struct FilterForm: Equatable {
    let reason: String
    let type: String
    let partition: String
    let since: String
}

/// Dead letters grouped by reason and type.
struct DeadLettersPage {
    var page: Page
    let filter: FilterForm
    let filtered: Bool
    let groups: [GroupRow]
}

struct GroupRow {
    let reason: String
    let type: String
    let count: Int
    let waiting: Int
    let lastSeen: String
    /// The group's page, with the filter.
    let link: String
    let csrf: String
    /// The group's identity (and the filter) as hidden inputs, already escaped.
    let hiddenFields: String

    init(group: ConsoleStore.DeadLetterGroup, filter: FilterForm, csrf: String) {
        reason = group.reason
        type = group.type ?? "(none)"
        count = group.count
        waiting = group.waiting
        lastSeen = ConsoleFormat.timestamp(group.lastSeenAt)
        var query = URLComponents()
        query.queryItems = Self.fields(reason: group.reason, type: group.type, filter: filter).map { URLQueryItem(name: $0.name, value: $0.value) }
        link = "/admin/console/dead-letters/group?" + (query.percentEncodedQuery ?? "")
        self.csrf = csrf
        hiddenFields = Self.hiddenFields(reason: group.reason, type: group.type, filter: filter)
    }

    static func hiddenFields(reason: String, type: String?, filter: FilterForm) -> String {
        fields(reason: reason, type: type, filter: filter).map { name, value in
            "<input type=\"hidden\" name=\"\(name)\" value=\"\(ConsoleResponse.escapeHTML(value))\">"
        }.joined()
    }

    /// A group's identity and the filter, as the fields of a link or a form.
    private static func fields(reason: String, type: String?, filter: FilterForm) -> [(name: String, value: String)] {
        var fields = [(name: "reason", value: reason)]
        if let type { fields.append(("type", type)) }
        if !filter.partition.isEmpty { fields.append(("partition", filter.partition)) }
        if !filter.since.isEmpty { fields.append(("since", filter.since)) }
        return fields
    }
}

/// One group's letters (the first 200).
struct GroupPage {
    var page: Page
    let reason: String
    let type: String
    let count: Int
    let letters: [LetterRow]
}

struct LetterRow {
    let id: Int64
    let messageId: String
    let routingKey: String
    let count: Int
    let lastSeen: String
    let replayed: String

    init(_ record: DeadLetterStore.Record) {
        id = record.id
        messageId = record.messageId
        routingKey = record.routingKey
        count = record.count
        lastSeen = ConsoleFormat.timestamp(record.lastSeenAt)
        replayed = ConsoleFormat.replayed(record)
    }
}

/// One letter: where it was going, why it stopped, its body and headers pretty-printed.
struct LetterPage {
    var page: Page
    let id: Int64
    let reason: String
    let type: String
    let messageId: String
    let exchange: String
    let routingKey: String
    let count: Int
    let firstSeen: String
    let lastSeen: String
    let replayed: String
    let body: String
    let headers: String
    let xDeath: String

    init(_ record: DeadLetterStore.Record) {
        page = Page(title: "Dead letter #\(record.id)")
        id = record.id
        reason = record.reason
        type = record.type ?? "(none)"
        messageId = record.messageId
        exchange = record.exchange.isEmpty ? "(default exchange)" : record.exchange
        routingKey = record.routingKey
        count = record.count
        firstSeen = ConsoleFormat.timestamp(record.firstSeenAt)
        lastSeen = ConsoleFormat.timestamp(record.lastSeenAt)
        replayed = ConsoleFormat.replayed(record)
        body = Self.pretty(Data(record.body)) ?? (record.bodyText ?? "(\(record.body.count) bytes, not UTF-8)")
        let headerObject = try? JSONSerialization.jsonObject(with: Data(record.headers.utf8))
        headers = Self.pretty(Data(record.headers.utf8)) ?? record.headers
        if let death = (headerObject as? [String: Any])?["x-death"],
            let data = try? JSONSerialization.data(withJSONObject: death, options: [.prettyPrinted, .sortedKeys])
        {
            xDeath = String(decoding: data, as: UTF8.self)
        } else {
            xDeath = "none: the worker dead-lettered it (the broker adds x-death when it does, e.g. at the delivery limit)"
        }
    }

    /// JSON with sorted keys and indentation, or `nil` when `data` is not JSON.
    static func pretty(_ data: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
        else { return nil }
        return String(decoding: pretty, as: UTF8.self)
    }
}

/// What may be done to a whole group.
enum GroupAction: String {
    case replay, discard

    /// How the page after it says what was done (`done=replayed-3`).
    var done: String { self == .replay ? "replayed" : "discarded" }
}

/// The question before a group action.
struct ConfirmPage {
    var page: Page
    let question: String
    let detail: String
    let action: String
    let verb: String
    let count: Int
    let hiddenFields: String
    let csrf: String

    init(_ action: GroupAction, count: Int, reason: String, type: String?, filter: FilterForm, csrf: String) {
        page = Page(title: "Confirm")
        let replay = action == .replay
        question = replay ? "Replay \(count) dead letter(s)?" : "Discard \(count) dead letter(s)?"
        detail =
            "Reason \(reason), type \(type ?? "(none)")"
            + (replay
                ? ": each is published again to where it was sent, and stays archived, marked replayed."
                : ": they are deleted from the archive for good.")
        self.action = "/admin/console/dead-letters/group/\(action.rawValue)"
        verb = replay ? "Replay" : "Discard"
        self.count = count
        hiddenFields = GroupRow.hiddenFields(reason: reason, type: type, filter: filter)
        self.csrf = csrf
    }
}
