import ConcertAPI
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// The console's catalogue page: every concert with its sale status and times, and each date's
/// seats by state, as the admin API and the partition left them.
@Suite(.enabled(if: BrokerVirtualHost.isConfigured && DatabaseEnvironment.isConfigured))
struct ConsoleCatalogueTests {
    @Test func theCataloguePageShowsEachConcertsSaleAndItsDatesSeatsByState() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            let created = try await CatalogueAPITests.send(
                client,
                .post,
                "/admin/concerts",
                #"{"title":"Console <Live>","venue":"Olympic Hall","onSaleAt":"2099-01-01T10:00:00Z","externalKey":"console-2099"}"#
            )
            let id = try #require(try created.json()["id"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } })
            #expect(
                try await CatalogueAPITests.send(client, .put, "/admin/concerts/\(id)/dates/2099-06-01", CatalogueAPITests.hall).status == .created
            )

            let signIn = try await client.execute(
                uri: "/admin/console/sign-in",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(APIHarness.adminToken)")
            )
            let cookie = try #require(signIn.headers[.setCookie].map { String($0.split(separator: ";")[0]) })
            let page = try await client.execute(uri: "/admin/console/catalogue", method: .get, headers: [.cookie: cookie])
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains(#"<section aria-labelledby="concert-\#(id)" data-concert="\#(id)">"#))
            #expect(html.contains("Console &lt;Live&gt;"), "the title is escaped")
            #expect(html.contains(#"<span class="status" data-status>scheduled</span>"#))
            #expect(html.contains("2099-01-01T09:30:00Z"), "the queue opens 30 minutes before the sale")
            #expect(html.contains("console-2099"))
            #expect(
                html.contains(
                    #"<tr data-date="2099-06-01"><th scope="row">2099-06-01</th><td class="num" data-free>10</td><td class="num" data-held>0</td><td class="num" data-sold>0</td>"#
                )
            )
            // The seeded concerts are there too, on sale, with their dates.
            #expect(html.contains(#"data-concert="1""#))
            #expect(html.contains(#"<span class="status" data-status>on-sale</span>"#))
            #expect(html.contains(#"aria-current="page">Catalogue</a>"#))

            // Without a session: the sign-in page.
            let anonymous = try await client.execute(uri: "/admin/console/catalogue", method: .get)
            #expect(anonymous.status == .seeOther)
        }
    }

    /// Signs in; the session's cookie.
    static func signIn(_ client: any TestClientProtocol) async throws -> String {
        let signIn = try await client.execute(
            uri: "/admin/console/sign-in",
            method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "token=\(APIHarness.adminToken)")
        )
        return try #require(signIn.headers[.setCookie].map { String($0.split(separator: ";")[0]) })
    }

    /// The CSRF token a page's forms carry.
    static func csrf(_ html: String) throws -> String {
        let marker = #"name="csrf" value=""#
        let start = try #require(html.range(of: marker)).upperBound
        return String(html[start...].prefix { $0 != "\"" })
    }

    @Test func aReservationIsRefundedAndADateCancelledFromTheConsoleAfterALookAtThem() async throws {
        try await APIHarness.withAPI(pipeline: .init(partitions: 2)) { client, harness in
            #expect(try await CatalogueAPITests.send(client, .put, "/admin/concerts/1/dates/2099-06-01", CatalogueAPITests.hall).status == .created)
            var kim = Buyer(client, "kim")
            try await kim.charge(1_000_000)
            try await kim.queue()
            try await harness.admit()
            let held = try await kim.reserve(#"{"concertId":1,"date":"2099-06-01","seatNumbers":[1]}"#)
            guard case .string(let id)? = try held.json()["result"]?["reservationId"] else { throw TestFailure("no id") }
            #expect(try await kim.pay(id).status == .created)
            var lee = Buyer(client, "lee")
            try await lee.queue()
            try await harness.admit()
            #expect(try await lee.reserve(#"{"concertId":1,"date":"2099-06-01","quantity":2}"#).status == .created)

            let cookie = try await Self.signIn(client)
            func get(_ uri: String) async throws -> String {
                String(buffer: try await client.execute(uri: uri, method: .get, headers: [.cookie: cookie]).body)
            }
            func post(_ uri: String, _ form: String) async throws -> TestResponse {
                try await client.execute(
                    uri: uri,
                    method: .post,
                    headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                    body: ByteBuffer(string: form)
                )
            }
            // A refund: first the look, then, with the page's CSRF token, the refund.
            let look = try await get("/admin/console/refund?reservation=\(id)")
            #expect(look.contains("User</dt><dd>kim</dd>"))
            #expect(look.contains("#1 (Floor A, row 1, seat 1)"))
            #expect(look.contains("Refund 165000 won"))
            #expect(try await post("/admin/console/refund", "reservation=\(id)&confirmed=yes").status == .forbidden, "no CSRF token")
            #expect(try await kim.balance() == .number(1_000_000 - 165_000))
            let refunded = try await post("/admin/console/refund", "csrf=\(try Self.csrf(look))&reservation=\(id)&confirmed=yes")
            #expect(refunded.status == .ok)
            #expect(String(buffer: refunded.body).contains("Refunded 165000 won to kim."))
            #expect(try await kim.balance() == .number(1_000_000))

            // A date cancelled: its counts first, then what the cancellation did.
            let catalogue = try await get("/admin/console/catalogue")
            #expect(catalogue.contains(#"name="date" value="2099-06-01"><button type="submit">Cancel date…</button>"#))
            let confirm = try await get("/admin/console/catalogue/cancel?concert=1&date=2099-06-01")
            #expect(confirm.contains("Held</dt><dd>2</dd>"))
            let cancelled = try await post(
                "/admin/console/catalogue/cancel",
                "csrf=\(try Self.csrf(confirm))&concert=1&date=2099-06-01&confirmed=yes"
            )
            #expect(String(buffer: cancelled.body).contains("Cancelled: 1 hold(s) released, 0 sale(s) refunded (0 won)."))
            #expect(try await get("/admin/console/catalogue").contains("<span data-cancelled>cancelled</span>"))
        }
    }
}
