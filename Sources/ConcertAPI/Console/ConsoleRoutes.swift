import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import NIOFoundationCompat

/// The operator console: HTML pages under `/admin/console`, rendered on the server, usable
/// without JavaScript (which only refreshes the overview). Signing in with the admin token sets a
/// signed, expiring `HttpOnly; SameSite=Strict` cookie; every form carries the session's CSRF token.
extension Router<APIRequestContext> {
    func addConsoleRoutes(_ services: APIServices) {
        guard let console = services.console else { return }
        let pages = ConsolePages(console: console, deadLetters: services.deadLetters)
        let open = group("/admin/console")
        open.get("/assets/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let data = console.assets[name] else {
                return ConsolePages.plain(.notFound, "No such file.")
            }
            var headers: HTTPFields = [.contentType: name.hasSuffix(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"]
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: data)))
        }
        open.get("/sign-in") { _, _ in pages.signIn() }
        open.post("/sign-in") { request, context in
            let client = services.clientAddress(request, context)
            if let seconds = services.failedSignIns?.retryAfter(client) {
                var refused = pages.signIn(error: "Too many failed attempts from this address; try again in \(seconds) s.", status: .tooManyRequests)
                refused.headers[.retryAfter] = String(seconds)
                return refused
            }
            let response = try await pages.signIn(request)
            if response.status == .unauthorized { services.failedSignIns?.failed(client) }
            return response
        }

        let signedIn = group("/admin/console").add(middleware: ConsoleAuthentication(sessions: console.sessions, store: console.store))
        signedIn.get("") { request, _ in try await pages.overview(request) }
        signedIn.get("/live") { request, _ in try await pages.live(request) }
        signedIn.post("/sign-out") { request, _ in try await pages.signOut(request) }
        signedIn.get("/dead-letters") { request, _ in try await pages.deadLetters(request) }
        signedIn.get("/dead-letters/group") { request, _ in try await pages.deadLetterGroup(request) }
        signedIn.post("/dead-letters/group/:action") { request, context in
            try await pages.groupAction(request, action: try context.parameters.require("action"))
        }
        signedIn.get("/dead-letters/:id") { request, context in try await pages.deadLetter(request, id: try Self.consoleID(context)) }
        signedIn.post("/dead-letters/:id/:action") { request, context in
            try await pages.letterAction(request, id: try Self.consoleID(context), action: try context.parameters.require("action"))
        }
        signedIn.get("/commands") { request, _ in try await pages.commands(request) }
    }

    static func consoleID(_ context: APIRequestContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw ConsolePages.Refusal(.notFound, "No such dead letter.") }
        return id
    }
}

/// Pages without a session: a GET goes to the sign-in page, anything else is refused.
/// A session signed out (in any API process) counts as none; every answer renews the session's idle time.
struct ConsoleAuthentication: RouterMiddleware {
    typealias Context = APIRequestContext
    let sessions: ConsoleSessions?
    let store: ConsoleStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let sessions else { return ConsolePages.plain(.serviceUnavailable, "The console is closed: CONCERT_ADMIN_TOKEN is not set.") }
        guard let session = ConsolePages.session(of: request, sessions), try await !store.isSessionRevoked(nonce: session.nonce) else {
            if request.method == .get || request.method == .head {
                return Response(status: .seeOther, headers: [.location: "/admin/console/sign-in"])
            }
            return ConsolePages.plain(.unauthorized, "Sign in first: this needs a console session.")
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let refusal as ConsolePages.Refusal {
            response = ConsolePages.plain(refusal.status, refusal.message)
        }
        // Signing out sets its own (clearing) cookie.
        if response.headers[.setCookie] == nil {
            response.headers[.setCookie] = ConsolePages.cookieHeader(sessions.renewed(session).cookie, sessions)
        }
        return response
    }
}

/// The console's handlers: they gather what a page shows and render its template.
struct ConsolePages: Sendable {
    let console: ConsoleServices
    let deadLetters: DeadLetterOperations

    /// A request refused with a status and a sentence for the operator.
    struct Refusal: Error {
        let status: HTTPResponse.Status
        let message: String
        init(_ status: HTTPResponse.Status, _ message: String) {
            self.status = status
            self.message = message
        }
    }

    // MARK: - Sessions

    static func session(of request: Request, _ sessions: ConsoleSessions) -> ConsoleSessions.Session? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == ConsoleSessions.cookieName, let session = sessions.session(fromCookie: String(parts[1])) {
                    return session
                }
            }
        }
        return nil
    }

    /// The session of a request that passed `ConsoleAuthentication`.
    func session(_ request: Request) throws -> (ConsoleSessions.Session, ConsoleSessions) {
        guard let sessions = console.sessions, let session = Self.session(of: request, sessions) else {
            throw Refusal(.unauthorized, "Sign in first: this needs a console session.")
        }
        return (session, sessions)
    }

    /// The fields of a posted form, after its CSRF token was checked: 403 without it.
    func form(_ request: Request) async throws -> [String: String] {
        let (session, sessions) = try session(request)
        let fields = try await Self.fields(request)
        guard let token = fields["csrf"], sessions.isValidCSRFToken(token, for: session) else {
            throw Refusal(.forbidden, "The form's CSRF token is missing or not this session's: reload the page and try again.")
        }
        return fields
    }

    static func fields(_ request: Request) async throws -> [String: String] {
        var request = request
        return formFields(String(buffer: try await request.collectBody(upTo: 64 * 1024)))
    }

    func signIn(error: String? = nil, status: HTTPResponse.Status = .ok) -> Response {
        let closed = console.sessions == nil ? "The console is closed: CONCERT_ADMIN_TOKEN is not set." : nil
        return render("sign-in", SignInPage(page: Page(title: "Sign in", error: error ?? closed)), status: status)
    }

    func signIn(_ request: Request) async throws -> Response {
        guard let sessions = console.sessions else { return signIn(status: .serviceUnavailable) }
        let fields = try await Self.fields(request)
        guard let token = fields["token"], sessions.isAdminToken(token) else {
            return signIn(error: "That is not the admin token.", status: .unauthorized)
        }
        let (_, cookie) = sessions.open()
        var headers: HTTPFields = [.location: "/admin/console"]
        headers[.setCookie] = Self.cookieHeader(cookie, sessions)
        return Response(status: .seeOther, headers: headers)
    }

    /// `Set-Cookie` for a session cookie: the browser keeps it until the session's end.
    static func cookieHeader(_ cookie: String, _ sessions: ConsoleSessions) -> String {
        "\(ConsoleSessions.cookieName)=\(cookie); Path=/admin/console; Max-Age=\(Int(sessions.lifetime)); HttpOnly; SameSite=Strict"
    }

    func signOut(_ request: Request) async throws -> Response {
        _ = try await form(request)
        let (session, _) = try session(request)
        // Everywhere: a copy of the cookie is refused by every API process from now on.
        try await console.store.revokeSession(nonce: session.nonce, until: session.expires)
        var headers: HTTPFields = [.location: "/admin/console/sign-in"]
        headers[.setCookie] = "\(ConsoleSessions.cookieName)=; Path=/admin/console; Max-Age=0; HttpOnly; SameSite=Strict"
        return Response(status: .seeOther, headers: headers)
    }

    // MARK: - Overview

    func overview(_ request: Request) async throws -> Response {
        var page = try await overviewPage()
        try signedIn(&page.page, request)
        page.page.onOverview = true
        page.page.liveRefresh = true
        return render("overview", page)
    }

    /// The overview's figures alone, for the live refresh.
    func live(_ request: Request) async throws -> Response {
        render("overview-live", try await overviewPage())
    }

    func overviewPage() async throws -> OverviewPage {
        async let facts = console.queueFacts()
        async let activity = console.store.scheduleActivity()
        async let timeline = console.store.commitTimeline()
        async let rooms = console.store.waitingRooms()
        async let outcomes = console.store.outcomes()
        async let waiting = console.store.deadLettersWaiting()
        let now = Date()
        let byPartition = Dictionary(grouping: try await activity) { entry in
            ScheduleKey(partitionKey: entry.partitionKey)?.partition(of: console.partitions) ?? -1
        }
        let queueFacts = await facts
        let partitions = (0..<console.partitions).map { number -> PartitionRow in
            let fact = queueFacts[PipelineTopology.partitionQueue(number)]
            let entries = byPartition[number] ?? []
            let latest = entries.compactMap(\.lastCommitAt).max()
            // One batch writes all its outcomes in one statement, so they share `completed_at`,
            // whichever schedules of the partition they belong to.
            let lastBatch = entries.filter { $0.lastCommitAt == latest }.reduce(0) { $0 + $1.lastBatchSize }
            return PartitionRow(
                number: number,
                ready: fact?.ready.map(String.init) ?? "?",
                unacked: fact?.unacknowledged.map(String.init) ?? "-",
                consumers: fact?.consumers.map(String.init) ?? "?",
                activeConsumer: fact?.activeConsumer ?? "-",
                rate: String(format: "%.1f", Double(entries.reduce(0) { $0 + $1.committedLastMinute }) / 60),
                lastCommit: latest.map { Self.ago($0, now: now) } ?? "none in the last hour",
                lastBatch: latest == nil ? "-" : String(lastBatch)
            )
        }
        return OverviewPage(
            page: Page(title: "Overview"),
            generatedAt: Self.timestamp(now),
            graph: Graph(counts: try await timeline),
            partitions: partitions,
            rooms: try await rooms.map(RoomRow.init),
            outcomes: try await outcomes.map { OutcomeRow(type: $0.type, outcome: $0.outcome, lastFiveMinutes: $0.lastFiveMinutes, lastHour: $0.lastHour) },
            deadLettersWaiting: try await waiting
        )
    }

    // MARK: - Dead letters

    static func filter(_ query: [String: String]) throws -> (ConsoleStore.DeadLetterFilter, FilterForm) {
        func value(_ name: String) -> String? { query[name].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } }
        for name in ["reason", "type"] where value(name)?.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) == true {
            throw Refusal(.badRequest, "\(name.capitalized): printable text, without control characters.")
        }
        var filter = ConsoleStore.DeadLetterFilter(reason: value("reason"), type: value("type"))
        if let text = value("partition") {
            guard let partition = Int(text), partition >= 0 else { throw Refusal(.badRequest, "Partition: a partition number (0, 1, …), not \(text).") }
            filter.partition = partition
        }
        if let text = value("since") {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = text.count > 16 ? "yyyy-MM-dd'T'HH:mm:ss" : "yyyy-MM-dd'T'HH:mm"
            guard let date = formatter.date(from: text) else { throw Refusal(.badRequest, "Seen since: a UTC time as YYYY-MM-DDTHH:MM, not \(text).") }
            filter.since = date
        }
        return (filter, FilterForm(reason: value("reason") ?? "", type: value("type") ?? "", partition: value("partition") ?? "", since: value("since") ?? ""))
    }

    /// The query string as a form encodes it (`+` for a space).
    static func query(_ request: Request) -> [String: String] {
        formFields(request.uri.query ?? "")
    }

    static func formFields(_ encoded: String) -> [String: String] {
        var components = URLComponents()
        components.percentEncodedQuery = encoded.replacingOccurrences(of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in components.queryItems ?? [] { fields[item.name] = item.value ?? "" }
        return fields
    }

    func deadLetters(_ request: Request) async throws -> Response {
        let query = Self.query(request)
        let (filter, form) = try Self.filter(query)
        let (session, sessions) = try session(request)
        let csrf = sessions.csrfToken(for: session)
        let groups = try await console.store.deadLetterGroups(filter).map { group in
            GroupRow(group: group, filter: form, csrf: csrf)
        }
        var page = DeadLettersPage(page: Page(title: "Dead letters"), filter: form, filtered: filter != .init(), groups: groups)
        try signedIn(&page.page, request)
        page.page.onDeadLetters = true
        page.page.notice = query["done"].map(Self.notice)
        return render("dead-letters", page)
    }

    func deadLetterGroup(_ request: Request) async throws -> Response {
        let query = Self.query(request)
        guard let reason = query["reason"] else { throw Refusal(.badRequest, "Which group: reason is missing.") }
        let type = query["type"].flatMap { $0.isEmpty ? nil : $0 }
        let (filter, _) = try Self.filter(query.filter { $0.key == "partition" || $0.key == "since" })
        let ids = try await console.store.deadLetterIDs(reason: reason, type: type, filter: filter)
        let letters = try await deadLetters.store.find(ids: Array(ids.prefix(200))).map(LetterRow.init)
        var page = GroupPage(page: Page(title: "Dead letters: \(reason)"), reason: reason, type: type ?? "(none)", count: ids.count, letters: letters)
        try signedIn(&page.page, request)
        page.page.onDeadLetters = true
        return render("dead-letter-group", page)
    }

    func deadLetter(_ request: Request, id: Int64) async throws -> Response {
        guard let record = try await deadLetters.store.find(id) else { throw Refusal(.notFound, "No dead letter #\(id).") }
        var page = LetterPage(record)
        try signedIn(&page.page, request)
        page.page.onDeadLetters = true
        page.page.notice = Self.query(request)["done"].map(Self.notice)
        return render("dead-letter", page)
    }

    func letterAction(_ request: Request, id: Int64, action: String) async throws -> Response {
        _ = try await form(request)
        switch action {
        case "replay":
            guard try await replay(id) else { throw Refusal(.notFound, "No dead letter #\(id).") }
            return Self.redirect("/admin/console/dead-letters/\(id)?done=replayed-1")
        case "discard":
            guard try await deadLetters.store.discard(id) else { throw Refusal(.notFound, "No dead letter #\(id).") }
            return Self.redirect("/admin/console/dead-letters?done=discarded-1")
        default:
            throw Refusal(.notFound, "No such action.")
        }
    }

    /// Replays (or discards) a whole group: first a page that says how many, then, confirmed, all of them.
    func groupAction(_ request: Request, action: String) async throws -> Response {
        guard action == "replay" || action == "discard" else { throw Refusal(.notFound, "No such action.") }
        let fields = try await form(request)
        guard let reason = fields["reason"] else { throw Refusal(.badRequest, "Which group: reason is missing.") }
        let type = fields["type"].flatMap { $0.isEmpty ? nil : $0 }
        let (filter, form) = try Self.filter(fields.filter { $0.key == "partition" || $0.key == "since" })
        let ids = try await console.store.deadLetterIDs(reason: reason, type: type, filter: filter)
        guard fields["confirmed"] != nil else {
            let (session, sessions) = try session(request)
            var page = ConfirmPage(
                page: Page(title: "Confirm"),
                question: action == "replay" ? "Replay \(ids.count) dead letter(s)?" : "Discard \(ids.count) dead letter(s)?",
                detail: "Reason \(reason), type \(type ?? "(none)")"
                    + (action == "replay" ? ": each is published again to where it was sent, and stays archived, marked replayed." : ": they are deleted from the archive for good."),
                action: "/admin/console/dead-letters/group/\(action)",
                verb: action == "replay" ? "Replay" : "Discard",
                count: ids.count,
                hiddenFields: GroupRow.hiddenFields(reason: reason, type: type, filter: form),
                csrf: sessions.csrfToken(for: session)
            )
            try signedIn(&page.page, request)
            page.page.onDeadLetters = true
            return render("confirm", page)
        }
        var done = 0
        for id in ids {
            if action == "replay" ? try await replay(id) : try await deadLetters.store.discard(id) { done += 1 }
        }
        return Self.redirect("/admin/console/dead-letters?done=\(action == "replay" ? "replayed" : "discarded")-\(done)")
    }

    private func replay(_ id: Int64) async throws -> Bool {
        do {
            return try await deadLetters.replay(id) != nil
        } catch let refusal as DeadLetterOperations.Unroutable {
            throw Refusal(.conflict, "The broker refused letter #\(id)'s destination: \(refusal.reason)")
        }
    }

    static func notice(_ done: String) -> String {
        let parts = done.split(separator: "-")
        guard parts.count == 2, let count = Int(parts[1]) else { return "Done." }
        return parts[0] == "replayed" ? "Replayed \(count) letter(s)." : "Discarded \(count) letter(s)."
    }

    // MARK: - Commands

    func commands(_ request: Request) async throws -> Response {
        let query = Self.query(request)
        let idText = query["id"]?.trimmingCharacters(in: .whitespaces) ?? ""
        let user = query["user"]?.trimmingCharacters(in: .whitespaces) ?? ""
        var page = CommandsPage(page: Page(title: "Commands"), query: .init(id: idText, user: user))
        if !idText.isEmpty {
            if let id = UUID(uuidString: idText) {
                page.commands = try await console.store.commands(id: id).map { CommandRow($0, partitions: console.partitions) }
                page.searched = true
            } else {
                page.error = "A command id is a UUID, e.g. 01a21bfa-ea06-8083-9526-1c6f7af758e1."
            }
        } else if !user.isEmpty {
            page.commands = try await console.store.commands(user: user).map { CommandRow($0, partitions: console.partitions) }
            page.searched = true
        }
        try signedIn(&page.page, request)
        page.page.onCommands = true
        return render("commands", page, status: page.error == nil ? .ok : .badRequest)
    }

    // MARK: - Rendering

    func signedIn(_ page: inout Page, _ request: Request) throws {
        let (session, sessions) = try session(request)
        page.signedIn = true
        page.csrf = sessions.csrfToken(for: session)
    }

    func render(_ template: String, _ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = console.templates.render(object, withTemplate: template) ?? "template \(template) is missing"
        return Self.html(status, html)
    }

    static func html(_ status: HTTPResponse.Status, _ html: String) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A short page for refusals and errors.
    static func plain(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let escaped = escapeHTML(message)
        return html(
            status,
            """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(status.code) · concert console</title>
            <link rel="stylesheet" href="/admin/console/assets/console.css"></head>
            <body><main><h1>\(status.code) \(status.reasonPhrase)</h1><p role="alert">\(escaped)</p>
            <p><a href="/admin/console">Console</a> · <a href="/admin/console/sign-in">Sign in</a></p></main></body></html>
            """
        )
    }

    /// Text made safe inside HTML elements and quoted attributes.
    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// How often and when a letter was replayed.
    static func replayed(_ record: DeadLetterStore.Record) -> String {
        record.replayedAt.map { "\(record.replayCount)×, last \(timestamp($0))" } ?? "no"
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon)) + "Z"
    }

    static func ago(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        return seconds < 120 ? "\(seconds) s ago" : "\(seconds / 60) min ago"
    }
}

// MARK: - What the templates show

struct SignInPage {
    var page: Page
}

struct Page {
    var title: String
    var error: String?
    var notice: String?
    var signedIn = false
    var csrf = ""
    var liveRefresh = false
    var onOverview = false
    var onDeadLetters = false
    var onCommands = false

    init(title: String, error: String? = nil) {
        self.title = title
        self.error = error
    }
}

/// Pages put their fields next to the layout's (`Page`); Mustache looks names up through both.
struct OverviewPage {
    var page: Page
    let generatedAt: String
    let graph: Graph
    let partitions: [PartitionRow]
    let rooms: [RoomRow]
    let outcomes: [OutcomeRow]
    let deadLettersWaiting: Int
}

struct PartitionRow {
    let number: Int
    let ready: String
    let unacked: String
    let consumers: String
    let activeConsumer: String
    let rate: String
    let lastCommit: String
    let lastBatch: String
}

struct RoomRow {
    let concert: Int64
    let admittedThrough: Int64
    let active: Int
    let waiting: Int
    let admittedPerMinute: Int
    let estimatedWait: String

    init(_ room: ConsoleStore.WaitingRoomFigures) {
        concert = room.concertID
        admittedThrough = room.admittedThrough
        active = room.active
        waiting = room.waiting
        admittedPerMinute = room.admittedLastMinute
        if room.waiting == 0 {
            estimatedWait = "nobody waits"
        } else if room.admittedLastMinute == 0 {
            estimatedWait = "unknown: nobody was admitted in the last minute"
        } else {
            let seconds = Int((Double(room.waiting) / (Double(room.admittedLastMinute) / 60)).rounded(.up))
            estimatedWait = seconds < 120 ? "about \(seconds) s" : "about \(seconds / 60) min"
        }
    }
}

struct OutcomeRow {
    let type: String
    let outcome: String
    let lastFiveMinutes: Int
    let lastHour: Int
}

/// Commits per 10 s as a polyline.
struct Graph {
    let width = 600
    let height = 80
    let points: String
    let last: Int
    let peak: Int
    let total: Int

    init(counts: [Int]) {
        let peak = max(counts.max() ?? 0, 1)
        let step = counts.count > 1 ? Double(600) / Double(counts.count - 1) : 0
        points = counts.enumerated().map { index, count in
            String(format: "%.1f,%.1f", Double(index) * step, 78 - Double(count) / Double(peak) * 74)
        }.joined(separator: " ")
        last = counts.last ?? 0
        self.peak = counts.max() ?? 0
        total = counts.reduce(0, +)
    }
}

struct FilterForm: Equatable {
    let reason: String
    let type: String
    let partition: String
    let since: String
}

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
    let link: String
    let csrf: String
    /// The group's identity (and the filter) as hidden inputs, already escaped.
    let hiddenFields: String

    init(group: ConsoleStore.DeadLetterGroup, filter: FilterForm, csrf: String) {
        reason = group.reason
        type = group.type ?? "(none)"
        count = group.count
        waiting = group.waiting
        lastSeen = ConsolePages.timestamp(group.lastSeenAt)
        var query = URLComponents()
        query.queryItems = [URLQueryItem(name: "reason", value: group.reason)] + (group.type.map { [URLQueryItem(name: "type", value: $0)] } ?? [])
            + (filter.partition.isEmpty ? [] : [URLQueryItem(name: "partition", value: filter.partition)])
            + (filter.since.isEmpty ? [] : [URLQueryItem(name: "since", value: filter.since)])
        link = "/admin/console/dead-letters/group?" + (query.percentEncodedQuery ?? "")
        self.csrf = csrf
        hiddenFields = Self.hiddenFields(reason: group.reason, type: group.type, filter: filter)
    }

    static func hiddenFields(reason: String, type: String?, filter: FilterForm) -> String {
        func field(_ name: String, _ value: String) -> String {
            "<input type=\"hidden\" name=\"\(name)\" value=\"\(ConsolePages.escapeHTML(value))\">"
        }
        var fields = [field("reason", reason)]
        if let type { fields.append(field("type", type)) }
        if !filter.partition.isEmpty { fields.append(field("partition", filter.partition)) }
        if !filter.since.isEmpty { fields.append(field("since", filter.since)) }
        return fields.joined()
    }
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
        lastSeen = ConsolePages.timestamp(record.lastSeenAt)
        replayed = ConsolePages.replayed(record)
    }
}

struct GroupPage {
    var page: Page
    let reason: String
    let type: String
    let count: Int
    let letters: [LetterRow]
}

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
        firstSeen = ConsolePages.timestamp(record.firstSeenAt)
        lastSeen = ConsolePages.timestamp(record.lastSeenAt)
        replayed = ConsolePages.replayed(record)
        body = Self.pretty(Data(record.body)) ?? (String(validating: record.body, as: UTF8.self) ?? "(\(record.body.count) bytes, not UTF-8)")
        let headerObject = try? JSONSerialization.jsonObject(with: Data(record.headers.utf8))
        headers = Self.pretty(Data(record.headers.utf8)) ?? record.headers
        if let death = (headerObject as? [String: Any])?["x-death"], let data = try? JSONSerialization.data(withJSONObject: death, options: [.prettyPrinted, .sortedKeys]) {
            xDeath = String(decoding: data, as: UTF8.self)
        } else {
            xDeath = "none: the worker dead-lettered it (the broker adds x-death when it does, e.g. at the delivery limit)"
        }
    }

    static func pretty(_ data: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
              let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed])
        else { return nil }
        return String(decoding: pretty, as: UTF8.self)
    }
}

struct ConfirmPage {
    var page: Page
    let question: String
    let detail: String
    let action: String
    let verb: String
    let count: Int
    let hiddenFields: String
    let csrf: String
}

struct CommandsPage {
    struct Query {
        let id: String
        let user: String
    }

    var page: Page
    let query: Query
    var commands: [CommandRow] = []
    var searched = false
    var error: String?
}

struct CommandRow {
    let id: String
    let type: String
    let user: String
    let partition: Int
    let partitionKey: String
    let status: String
    let outcome: String
    let submitted: String
    let committed: String

    init(_ row: ConsoleStore.CommandRow, partitions: Int) {
        id = row.id.uuidString.lowercased()
        type = row.type
        user = row.userID
        partition = ScheduleKey(partitionKey: row.partitionKey)?.partition(of: partitions) ?? -1
        partitionKey = row.partitionKey
        status = row.status
        outcome = row.result ?? row.errorCode ?? "-"
        submitted = ConsolePages.timestamp(row.submittedAt)
        committed = row.completedAt.map(ConsolePages.timestamp) ?? "-"
    }
}
