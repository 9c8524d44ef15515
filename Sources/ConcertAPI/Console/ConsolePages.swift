import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The console's handlers: each gathers what its page shows (a pure view model, `Views/`) and
/// renders the page's template.
struct ConsolePages: Sendable {
    let console: ConsoleServices
    let deadLetters: DeadLetterOperations
    let catalogue: CatalogueStore
    let admissionDefaults: WaitingRoom.Policy
    let reservations: ReservationStore
    /// How the box office's commands are published (as the admin API publishes them).
    let intake: CommandIntake

    // MARK: - Sessions

    /// The session of a request that passed `ConsoleAuthentication`.
    func session(_ request: Request) throws(ConsoleRefusal) -> (ConsoleSessions.Session, ConsoleSessions) {
        guard let sessions = console.sessions, let session = sessions.session(of: request) else {
            throw ConsoleRefusal(.unauthorized, "Sign in first: this needs a console session.")
        }
        return (session, sessions)
    }

    /// A posted form, after its CSRF token was checked: 403 without it.
    func form<Form: SignedForm>(_ type: Form.Type, _ request: Request) async throws -> Form {
        let (session, sessions) = try session(request)
        let form = try await ConsoleForm.body(type, of: request)
        guard let token = form.csrf, sessions.isValidCSRFToken(token, for: session) else {
            throw ConsoleRefusal(.forbidden, "The form's CSRF token is missing or not this session's: reload the page and try again.")
        }
        return form
    }

    func signIn(error: String? = nil, status: HTTPResponse.Status = .ok) -> Response {
        let closed = console.sessions == nil ? "The console is closed: CONCERT_ADMIN_TOKEN is not set." : nil
        return render("sign-in", SignInPage(page: Page(title: "Sign in", error: error ?? closed)), status: status)
    }

    func signIn(_ request: Request) async throws -> Response {
        guard let sessions = console.sessions else { return signIn(status: .serviceUnavailable) }
        let form = try await ConsoleForm.body(SignInForm.self, of: request)
        guard let token = form.token, sessions.isAdminToken(token) else {
            return signIn(error: "That is not the admin token.", status: .unauthorized)
        }
        var response = ConsoleResponse.redirect("/admin/console")
        response.setCookie(sessions.setCookie(sessions.open().cookie))
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        _ = try await form(ActionForm.self, request)
        let (session, sessions) = try session(request)
        // Everywhere: a copy of the cookie is refused by every API process from now on.
        try await console.store.revokeSession(nonce: session.nonce, until: session.expires)
        var response = ConsoleResponse.redirect("/admin/console/sign-in")
        response.setCookie(sessions.clearingCookie)
        return response
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
        return OverviewPage(
            page: Page(title: "Overview"),
            generatedAt: ConsoleFormat.timestamp(now),
            graph: Graph(counts: try await timeline),
            partitions: PartitionRow.rows(partitions: console.partitions, facts: await facts, activity: try await activity, now: now),
            rooms: try await rooms.map(RoomRow.init),
            outcomes: try await outcomes.map(OutcomeRow.init),
            deadLettersWaiting: try await waiting
        )
    }

    // MARK: - Catalogue

    func catalogue(_ request: Request) async throws -> Response {
        let now = Date()
        let concerts = try await catalogue.concerts()
        let counts = try await catalogue.dateCounts(of: concerts.map(\.id), now: now)
        var page = CataloguePage(
            page: Page(title: "Catalogue"),
            generatedAt: ConsoleFormat.timestamp(now),
            concerts: concerts.map { ConcertRow($0, dates: counts[$0.id] ?? [], defaults: admissionDefaults, now: now) }
        )
        try signedIn(&page.page, request)
        page.page.onCatalogue = true
        return render("catalogue", page)
    }

    // MARK: - Commands

    func commands(_ request: Request) async throws -> Response {
        let query = try ConsoleForm.query(CommandsQuery.self, of: request)
        let idText = query.id?.trimmingCharacters(in: .whitespaces) ?? ""
        let user = query.user?.trimmingCharacters(in: .whitespaces) ?? ""
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

    /// Marks the layout signed in, with the session's CSRF token for its forms.
    func signedIn(_ page: inout Page, _ request: Request) throws(ConsoleRefusal) {
        let (session, sessions) = try session(request)
        page.signedIn = true
        page.csrf = sessions.csrfToken(for: session)
    }

    func render(_ template: String, _ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = console.templates.render(object, withTemplate: template) ?? "template \(template) is missing"
        return ConsoleResponse.html(status, html)
    }
}
