@testable import ConcertAPI
import ConcertStorage
import Foundation
import Testing

/// Console sessions and CSRF tokens, without a server.
@Suite struct ConsoleSessionTests {
    let sessions = ConsoleSessions(adminToken: "console-admin-token-0123456789abcdef", lifetime: 3600)

    @Test func aCookieOpensItsSessionUntilItExpires() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (session, cookie) = sessions.open(now: now)
        #expect(sessions.session(fromCookie: cookie, now: now.addingTimeInterval(10)) == session)
        #expect(sessions.session(fromCookie: cookie, now: now.addingTimeInterval(3601)) == nil)
    }

    @Test func aTamperedOrForeignCookieOpensNothing() throws {
        let (_, cookie) = sessions.open()
        var parts = cookie.split(separator: ".").map(String.init)
        // A later expiry with the old signature.
        parts[1] = String(Int64(parts[1])! + 86_400)
        #expect(sessions.session(fromCookie: parts.joined(separator: ".")) == nil)
        #expect(sessions.session(fromCookie: "v1.9999999999.nonce.signature") == nil)
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
    func controlCharactersAreRefused(field: String) {
        #expect(throws: ConsolePages.Refusal.self) { try ConsolePages.filter([field: "handler\u{0}failed"]) }
        #expect(throws: ConsolePages.Refusal.self) { try ConsolePages.filter([field: "line\u{1B}[2J"]) }
    }

    @Test func printableTextIsTheFilter() throws {
        let (filter, form) = try ConsolePages.filter(["reason": "malformed envelope: not JSON", "type": "ReserveSeat", "partition": "3"])
        #expect(filter.reason == "malformed envelope: not JSON")
        #expect(filter.type == "ReserveSeat")
        #expect(filter.partition == 3)
        #expect(form.reason == "malformed envelope: not JSON")
    }
}
