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
}
