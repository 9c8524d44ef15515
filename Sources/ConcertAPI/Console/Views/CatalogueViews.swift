import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation

/// The catalogue: every concert with its sale times and where its sale stands, and each date's
/// seats by state (what `concert catalogue list` prints).
struct CataloguePage {
    var page: Page
    let generatedAt: String
    let concerts: [ConcertRow]
}

struct ConcertRow {
    struct DateRow {
        let concert: Int64
        let date: String
        let free: Int
        let held: Int
        let sold: Int
        let soldPercent: String
        let cancelled: Bool
    }

    let id: Int64
    let title: String
    let venue: String
    let status: String
    let queueOpensAt: String
    let onSaleAt: String
    let saleEndsAt: String
    let capacity: Int
    let admitPerSecond: String
    let externalKey: String
    let dates: [DateRow]

    init(_ concert: CatalogueStore.Concert, dates: [CatalogueStore.DateCounts], defaults: WaitingRoom.Policy, now: Date) {
        id = concert.id.rawValue
        title = concert.title
        venue = concert.venue ?? "—"
        status = concert.window.status(at: now).rawValue
        func time(_ date: Date?, otherwise: String) -> String { date.map(RFC3339.string) ?? otherwise }
        queueOpensAt = time(concert.window.queueOpensAt, otherwise: "with the sale")
        onSaleAt = time(concert.window.onSaleAt, otherwise: "at once")
        saleEndsAt = time(concert.window.saleEndsAt, otherwise: "never")
        capacity = concert.capacity ?? defaults.capacity
        let rate = concert.admitPerSecond ?? defaults.admitPerSecond
        admitPerSecond = rate == 0 ? "unlimited" : String(rate)
        externalKey = concert.externalKey ?? "—"
        self.dates = dates.map { counts in
            let total = counts.free + counts.held + counts.sold
            return DateRow(
                concert: concert.id.rawValue,
                date: counts.date.description,
                free: counts.free,
                held: counts.held,
                sold: counts.sold,
                soldPercent: total == 0 ? "—" : String(format: "%.0f %%", Double(counts.sold) * 100 / Double(total)),
                cancelled: counts.cancelled
            )
        }
    }
}
