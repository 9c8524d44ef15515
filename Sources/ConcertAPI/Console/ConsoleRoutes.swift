import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// The operator console: HTML pages under `/admin/console`, rendered on the server, usable
/// without JavaScript (which only refreshes the overview). Signing in with the admin token sets a
/// signed, expiring `HttpOnly; SameSite=Strict` cookie; every form carries the session's CSRF token.
extension Router<APIRequestContext> {
    func addConsoleRoutes(_ services: APIServices) {
        guard let console = services.console else { return }
        let pages = ConsolePages(
            console: console,
            deadLetters: services.deadLetters,
            catalogue: services.catalogue,
            admissionDefaults: services.admissionDefaults,
            reservations: services.reservations,
            intake: CommandIntake(services: services)
        )
        let open = group("/admin/console")
        open.get("/assets/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let data = console.assets[name] else {
                return ConsoleResponse.plain(.notFound, "No such file.")
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
        signedIn.get("/catalogue") { request, _ in try await pages.catalogue(request) }
        signedIn.get("/catalogue/cancel") { request, _ in try await pages.cancelDate(request) }
        signedIn.post("/catalogue/cancel") { request, context in try await pages.cancelDateConfirmed(request, context: context) }
        signedIn.get("/refund") { request, _ in try await pages.refund(request) }
        signedIn.post("/refund") { request, context in try await pages.refundConfirmed(request, context: context) }
    }

    static func consoleID(_ context: APIRequestContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else { throw ConsoleRefusal(.notFound, "No such dead letter.") }
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
        guard let sessions else { return ConsoleResponse.plain(.serviceUnavailable, "The console is closed: CONCERT_ADMIN_TOKEN is not set.") }
        guard let session = sessions.session(of: request), try await !store.isSessionRevoked(nonce: session.nonce) else {
            if request.method == .get || request.method == .head {
                return ConsoleResponse.redirect("/admin/console/sign-in")
            }
            return ConsoleResponse.plain(.unauthorized, "Sign in first: this needs a console session.")
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let refusal as ConsoleRefusal {
            response = ConsoleResponse.plain(refusal.status, refusal.message)
        }
        // Signing out sets its own (clearing) cookie.
        if response.headers[.setCookie] == nil {
            response.setCookie(sessions.setCookie(sessions.renewed(session).cookie))
        }
        return response
    }
}
