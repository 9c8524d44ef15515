import ConcertPipeline
import ConcertStorage
import Foundation
import Hummingbird

/// The dead-letter pages: groups by reason and type, one group, one letter, and replay or
/// discard of a letter or of a whole group (after a page that says how many).
extension ConsolePages {
    func deadLetters(_ request: Request) async throws -> Response {
        let fields = try ConsoleForm.query(DeadLetterFields.self, of: request)
        let (filter, form) = try fields.filter()
        let (session, sessions) = try session(request)
        let csrf = sessions.csrfToken(for: session)
        let groups = try await console.store.deadLetterGroups(filter).map { group in
            GroupRow(group: group, filter: form, csrf: csrf)
        }
        var page = DeadLettersPage(page: Page(title: "Dead letters"), filter: form, filtered: filter != .init(), groups: groups)
        try signedIn(&page.page, request)
        page.page.onDeadLetters = true
        page.page.notice = fields.done.map(ConsoleFormat.notice)
        return render("dead-letters", page)
    }

    func deadLetterGroup(_ request: Request) async throws -> Response {
        let fields = try ConsoleForm.query(DeadLetterFields.self, of: request)
        guard let reason = fields.reason else { throw ConsoleRefusal(.badRequest, "Which group: reason is missing.") }
        let (filter, _) = try fields.withinGroup.filter()
        let ids = try await console.store.deadLetterIDs(reason: reason, type: fields.groupType, filter: filter)
        let letters = try await deadLetters.store.find(ids: Array(ids.prefix(200))).map(LetterRow.init)
        var page = GroupPage(
            page: Page(title: "Dead letters: \(reason)"),
            reason: reason,
            type: fields.groupType ?? "(none)",
            count: ids.count,
            letters: letters
        )
        try signedIn(&page.page, request)
        page.page.onDeadLetters = true
        return render("dead-letter-group", page)
    }

    func deadLetter(_ request: Request, id: Int64) async throws -> Response {
        guard let record = try await deadLetters.store.find(id) else { throw ConsoleRefusal(.notFound, "No dead letter #\(id).") }
        var page = LetterPage(record)
        try signedIn(&page.page, request)
        page.page.onDeadLetters = true
        page.page.notice = try ConsoleForm.query(DeadLetterFields.self, of: request).done.map(ConsoleFormat.notice)
        return render("dead-letter", page)
    }

    func letterAction(_ request: Request, id: Int64, action: String) async throws -> Response {
        _ = try await form(ActionForm.self, request)
        switch action {
        case "replay":
            guard try await replay(id) else { throw ConsoleRefusal(.notFound, "No dead letter #\(id).") }
            return ConsoleResponse.redirect("/admin/console/dead-letters/\(id)?done=replayed-1")
        case "discard":
            guard try await deadLetters.store.discard(id) else { throw ConsoleRefusal(.notFound, "No dead letter #\(id).") }
            return ConsoleResponse.redirect("/admin/console/dead-letters?done=discarded-1")
        default:
            throw ConsoleRefusal(.notFound, "No such action.")
        }
    }

    /// Replays (or discards) a whole group: first a page that says how many, then, confirmed, all of them.
    func groupAction(_ request: Request, action: String) async throws -> Response {
        guard let action = GroupAction(rawValue: action) else { throw ConsoleRefusal(.notFound, "No such action.") }
        let fields = try await form(DeadLetterFields.self, request)
        guard let reason = fields.reason else { throw ConsoleRefusal(.badRequest, "Which group: reason is missing.") }
        let (filter, form) = try fields.withinGroup.filter()
        let ids = try await console.store.deadLetterIDs(reason: reason, type: fields.groupType, filter: filter)
        guard fields.confirmed != nil else {
            let (session, sessions) = try session(request)
            var page = ConfirmPage(
                action,
                count: ids.count,
                reason: reason,
                type: fields.groupType,
                filter: form,
                csrf: sessions.csrfToken(for: session)
            )
            try signedIn(&page.page, request)
            page.page.onDeadLetters = true
            return render("confirm", page)
        }
        var done = 0
        for id in ids {
            if try await action == .replay ? replay(id) : deadLetters.store.discard(id) { done += 1 }
        }
        return ConsoleResponse.redirect("/admin/console/dead-letters?done=\(action.done)-\(done)")
    }

    private func replay(_ id: Int64) async throws -> Bool {
        do {
            return try await deadLetters.replay(id) != nil
        } catch let refusal as DeadLetterOperations.Unroutable {
            throw ConsoleRefusal(.conflict, "The broker refused letter #\(id)'s destination: \(refusal.reason)")
        }
    }
}
