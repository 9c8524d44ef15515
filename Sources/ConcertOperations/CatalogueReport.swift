public import ConcertApp
import ConcertDomain
import ConcertStorage
import ConcertWire
public import Foundation
public import Logging

/// `concert catalogue list`: every concert with its sale times and where its sale stands, and
/// each date with its free, held and sold seats (a hold past its deadline counts as free).
public enum CatalogueReport {
    public static func report(_ configuration: ConcertConfiguration, now: Date = Date(), logger: Logger) async throws -> String {
        let catalogue = try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            let store = CatalogueStore(client: database, logger: logger)
            let concerts = try await store.concerts()
            let counts = try await store.dateCounts(of: concerts.map(\.id), now: now)
            return concerts.map { ($0, counts[$0.id] ?? []) }
        }
        guard !catalogue.isEmpty else { return "no concerts (create one with POST /admin/concerts, or concert seed)" }
        func time(_ date: Date?) -> String { date.map(RFC3339.string) ?? "-" }
        var lines: [String] = []
        for (concert, dates) in catalogue {
            let window = concert.window
            lines.append("\(concert.id)  \(concert.title)\(concert.venue.map { " — \($0)" } ?? "")  [\(window.status(at: now).rawValue)]")
            lines.append(
                "    queue opens \(time(window.queueOpensAt))  on sale \(time(window.onSaleAt))  sale ends \(time(window.saleEndsAt))"
                    + (concert.externalKey.map { "  key \($0)" } ?? "")
            )
            for date in dates {
                lines.append("    \(date.date)  free \(date.free)  held \(date.held)  sold \(date.sold)")
            }
            if dates.isEmpty { lines.append("    no dates yet (PUT /admin/concerts/\(concert.id)/dates/{date})") }
        }
        return lines.joined(separator: "\n")
    }
}
