import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import ConcertAPI

/// Console sessions and CSRF tokens, without a server.
@Suite struct ConsoleSessionTests {
    let sessions = ConsoleSessions(adminToken: "console-admin-token-0123456789abcdef", lifetime: 3600)

    @Test func aCookieOpensItsSessionUntilItExpires() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (session, cookie) = sessions.open(now: now)
        #expect(sessions.session(fromCookie: cookie, now: now.addingTimeInterval(10)) == session)
        #expect(sessions.session(fromCookie: cookie, now: now.addingTimeInterval(3601)) == nil)
    }

    @Test func aSessionEndsAfterItsIdleTimeUnlessRenewedAndNeverPastItsEnd() throws {
        let sessions = ConsoleSessions(adminToken: "console-admin-token-0123456789abcdef", lifetime: 3600, idleLifetime: 600)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (session, cookie) = sessions.open(now: now)
        #expect(sessions.session(fromCookie: cookie, now: now.addingTimeInterval(599)) == session)
        #expect(sessions.session(fromCookie: cookie, now: now.addingTimeInterval(601)) == nil)
        // A request at 500 s renews the idle time from then.
        let (_, renewed) = sessions.renewed(session, now: now.addingTimeInterval(500))
        #expect(sessions.session(fromCookie: renewed, now: now.addingTimeInterval(1_000))?.nonce == session.nonce)
        // Renewed again and again, it still ends at its end.
        let (late, lastCookie) = sessions.renewed(session, now: now.addingTimeInterval(3_500))
        #expect(late.idleUntil == session.expires)
        #expect(sessions.session(fromCookie: lastCookie, now: now.addingTimeInterval(3_601)) == nil)
    }

    @Test func aTamperedOrForeignCookieOpensNothing() throws {
        let (_, cookie) = sessions.open()
        var parts = cookie.split(separator: ".").map(String.init)
        // A later expiry with the old signature.
        parts[1] = String(Int64(parts[1])! + 86_400)
        #expect(sessions.session(fromCookie: parts.joined(separator: ".")) == nil)
        #expect(sessions.session(fromCookie: "v1.9999999999.nonce.signature") == nil)
        #expect(sessions.session(fromCookie: "v2.9999999999.9999999999.nonce.signature") == nil)
        #expect(sessions.session(fromCookie: "") == nil)
        // Another admin token signs other sessions: changing it signs everyone out.
        let other = ConsoleSessions(adminToken: "another-admin-token-0123456789abcdef")
        #expect(other.session(fromCookie: cookie) == nil)
    }

    @Test func theCSRFTokenBelongsToItsSessionOnly() throws {
        let (first, _) = sessions.open()
        let (second, _) = sessions.open()
        let token = sessions.csrfToken(for: first)
        #expect(sessions.isValidCSRFToken(token, for: first))
        #expect(!sessions.isValidCSRFToken(token, for: second))
        #expect(!sessions.isValidCSRFToken("", for: first))
        #expect(!sessions.isValidCSRFToken("forged", for: first))
    }

    @Test func onlyTheAdminTokenSignsIn() {
        #expect(sessions.isAdminToken("console-admin-token-0123456789abcdef"))
        #expect(!sessions.isAdminToken("console-admin-token-0123456789abcdeF"))
        #expect(!sessions.isAdminToken(""))
    }
}

/// The dead-letter filter's form: what PostgreSQL cannot take (a NUL) or nobody types (control
/// characters) is a 400 with a sentence, not a 500.
@Suite struct ConsoleFilterTests {
    @Test(arguments: ["reason", "type"])
    func controlCharactersAreRefused(field: String) throws {
        for text in ["handler%00failed", "line%1B%5B2J"] {
            let fields = try ConsoleForm.decode(DeadLetterFields.self, from: "\(field)=\(text)")
            #expect(throws: ConsoleRefusal.self) { try fields.filter() }
        }
    }

    @Test func printableTextIsTheFilter() throws {
        let fields = try ConsoleForm.decode(DeadLetterFields.self, from: "reason=malformed+envelope%3A+not+JSON&type=ReserveSeat&partition=3")
        let (filter, form) = try fields.filter()
        #expect(filter.reason == "malformed envelope: not JSON")
        #expect(filter.type == "ReserveSeat")
        #expect(filter.partition == 3)
        #expect(form.reason == "malformed envelope: not JSON")
    }

    @Test func aPartitionOrTimeThatDoesNotParseIsRefused() throws {
        #expect(throws: ConsoleRefusal.self) { try DeadLetterFields(partition: "-1").filter() }
        #expect(throws: ConsoleRefusal.self) { try DeadLetterFields(partition: "three").filter() }
        #expect(throws: ConsoleRefusal.self) { try DeadLetterFields(since: "yesterday").filter() }
        let (filter, _) = try DeadLetterFields(reason: "  ", since: "2026-12-03T10:15").filter()
        #expect(filter.reason == nil, "blank is no filter")
        #expect(filter.since == Date(timeIntervalSince1970: 1_796_292_900))
    }
}

/// Signing out of the console ends the session everywhere: a copy of its cookie, presented to
/// this API process or another one, opens nothing.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct ConsoleSignOutTests {
    @Test func aSignedOutSessionsCookieIsRefusedByEveryAPIProcess() async throws {
        try await APIHarness.withAPI { client, harness in
            let signIn = try await client.execute(
                uri: "/admin/console/sign-in",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(APIHarness.adminToken)")
            )
            #expect(signIn.status == .seeOther)
            let setCookie = try #require(signIn.headers[.setCookie])
            let cookie = String(setCookie.split(separator: ";")[0])
            let value = String(cookie.split(separator: "=", maxSplits: 1)[1])
            let sessions = try #require(harness.services.console?.sessions)
            let session = try #require(sessions.session(fromCookie: value))

            // A second API process: other memory, the same database.
            let other = await APIHarness.services(harness.client, broker: harness.broker, partitions: 2)
            let otherApp = Application(router: buildAPIRouter(other))

            let overview = try await client.execute(uri: "/admin/console", method: .get, headers: [.cookie: cookie])
            #expect(overview.status == .ok)
            #expect(overview.headers[.setCookie]?.hasPrefix(ConsoleSessions.cookieName + "=") == true, "each answer renews the idle time")
            try await otherApp.test(.router) { (otherClient: any TestClientProtocol) async throws in
                #expect(try await otherClient.execute(uri: "/admin/console", method: .get, headers: [.cookie: cookie]).status == .ok)
            }

            let signOut = try await client.execute(
                uri: "/admin/console/sign-out",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
                body: ByteBuffer(string: "csrf=\(sessions.csrfToken(for: session))")
            )
            #expect(signOut.status == .seeOther)

            // The copied cookie is still well signed and unexpired, and opens nothing anywhere.
            let after = try await client.execute(uri: "/admin/console", method: .get, headers: [.cookie: cookie])
            #expect(after.status == .seeOther)
            #expect(after.headers[.location] == "/admin/console/sign-in")
            try await otherApp.test(.router) { (otherClient: any TestClientProtocol) async throws in
                #expect(try await otherClient.execute(uri: "/admin/console", method: .get, headers: [.cookie: cookie]).status == .seeOther)
            }
        }
    }
}
