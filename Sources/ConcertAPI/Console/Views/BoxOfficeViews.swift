import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation

/// A box office action's page: what it is about, then either the button that does it (after a
/// look at what will happen) or what it did.
struct BoxOfficePage {
    struct Fact {
        let name: String
        let value: String
    }

    var page: Page
    let question: String
    let facts: [Fact]
    var explanation: String?
    var outcome: String?
    /// Where the confirmation posts; `nil` once done.
    var action: String?
    var verb = ""
    var hiddenFields = ""
    var csrf = ""

    /// Cancelling a date: its seats by state, and what cancelling does.
    static func cancel(_ concert: CatalogueStore.Concert, _ counts: CatalogueStore.DateCounts) -> BoxOfficePage {
        BoxOfficePage(
            page: Page(title: "Cancel a date"),
            question: "Cancel \(concert.title) on \(counts.date)?",
            facts: [
                Fact(name: "Concert", value: "\(concert.id) · \(concert.title)"),
                Fact(name: "Date", value: counts.date.description),
                Fact(name: "Held", value: String(counts.held)),
                Fact(name: "Sold", value: String(counts.sold)),
                Fact(name: "Free", value: String(counts.free)),
            ],
            explanation: "Every hold is released and every sale refunded to its buyer's wallet; the date leaves the sale for good.",
            action: "/admin/console/catalogue/cancel",
            verb: "Cancel the date",
            hiddenFields: hidden("concert", String(concert.id.rawValue)) + hidden("date", counts.date.description)
        )
    }

    /// Refunding a reservation: whose, which seats, what it cost, where it stands.
    static func refund(_ ticket: ReservationStore.Ticket, now: Date) -> BoxOfficePage {
        let reservation = ticket.reservation
        return BoxOfficePage(
            page: Page(title: "Refund a reservation"),
            question: "Refund reservation \(reservation.id.lowercasedString)?",
            facts: [
                Fact(name: "User", value: reservation.userID.rawValue),
                Fact(name: "Date", value: "concert \(reservation.schedule.concertID), \(reservation.schedule.date)"),
                Fact(
                    name: "Seats",
                    value: zip(reservation.seats, ticket.places).map { seat, place in describe(seat.number, place) }.joined(separator: ", ")
                ),
                Fact(name: "Amount", value: "\(reservation.price.amount) won"),
                Fact(name: "Status", value: reservation.effectiveStatus(at: now).rawValue),
            ],
            explanation: "The wallet is credited exactly what was paid, once; the seats go on sale again.",
            action: "/admin/console/refund",
            verb: "Refund \(reservation.price.amount) won",
            hiddenFields: hidden("reservation", reservation.id.lowercasedString)
        )
    }

    static func describe(_ number: SeatNumber, _ place: SeatMap.Place) -> String {
        guard let section = place.section, let row = place.row, let seat = place.seat else { return "#\(number)" }
        return "#\(number) (\(section), row \(row), seat \(seat))"
    }

    /// The page after the command: its outcome, no button.
    func done(_ outcome: String) -> BoxOfficePage {
        var page = self
        page.outcome = outcome
        page.explanation = nil
        page.action = nil
        return page
    }

    private static func hidden(_ name: String, _ value: String) -> String {
        "<input type=\"hidden\" name=\"\(name)\" value=\"\(ConsoleResponse.escapeHTML(value))\">"
    }
}
