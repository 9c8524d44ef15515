import ConcertStorage
import Foundation

/// How the console writes times, ages and what was just done.
enum ConsoleFormat {
    /// `2026-12-03T13:05:09Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon)) + "Z"
    }

    /// `42 s ago` under two minutes, `7 min ago` after.
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        return seconds < 120 ? "\(seconds) s ago" : "\(seconds / 60) min ago"
    }

    /// The notice for a page reached after an action (`done=replayed-3`).
    static func notice(_ done: String) -> String {
        let parts = done.split(separator: "-")
        guard parts.count == 2, let count = Int(parts[1]) else { return "Done." }
        return parts[0] == "replayed" ? "Replayed \(count) letter(s)." : "Discarded \(count) letter(s)."
    }

    /// How often and when a letter was replayed.
    static func replayed(_ record: DeadLetterStore.Record) -> String {
        record.replayedAt.map { "\(record.replayCount)×, last \(timestamp($0))" } ?? "no"
    }
}

/// The layout's fields, which every page carries as `page` (Mustache looks names up through both).
struct Page {
    var title: String
    var error: String?
    var notice: String?
    var signedIn = false
    var csrf = ""
    var liveRefresh = false
    var onOverview = false
    var onCatalogue = false
    var onDeadLetters = false
    var onCommands = false

    init(title: String, error: String? = nil) {
        self.title = title
        self.error = error
    }
}

struct SignInPage {
    var page: Page
}
