import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import Hummingbird

// The box office in the console: cancel a date, refund a reservation — each shown first, then
// done through the schedule's partition as the admin API does, and its outcome shown.
extension ConsolePages {
    /// `GET /admin/console/catalogue/cancel?concert=&date=`: what cancelling the date would do.
    func cancelDate(_ request: Request) async throws -> Response {
        let form = try ConsoleForm.query(BoxOfficeForm.self, of: request)
        var page = try await cancelPage(form)
        try signedIn(&page.page, request)
        page.csrf = page.page.csrf
        return render("box-office", page)
    }

    /// `POST /admin/console/catalogue/cancel`, confirmed: the cancellation and what it did.
    func cancelDateConfirmed(_ request: Request, context: APIRequestContext) async throws -> Response {
        let form = try await self.form(BoxOfficeForm.self, request)
        var page = try await cancelPage(form)
        guard form.confirmed != nil else { throw ConsoleRefusal(.badRequest, "Confirm the cancellation first.") }
        let schedule = try schedule(form)
        let outcome = try await boxOffice(
            .cancelDate(.init(concertId: schedule.concertID, date: schedule.date)),
            schedule: schedule,
            context: context
        )
        try signedIn(&page.page, request)
        return render("box-office", page.done(outcome))
    }

    /// `GET /admin/console/refund?reservation=`: the reservation to refund.
    func refund(_ request: Request) async throws -> Response {
        let form = try ConsoleForm.query(BoxOfficeForm.self, of: request)
        var page = BoxOfficePage.refund(try await ticket(form), now: Date())
        try signedIn(&page.page, request)
        page.csrf = page.page.csrf
        return render("box-office", page)
    }

    /// `POST /admin/console/refund`, confirmed: the refund and what it did.
    func refundConfirmed(_ request: Request, context: APIRequestContext) async throws -> Response {
        let form = try await self.form(BoxOfficeForm.self, request)
        guard form.confirmed != nil else { throw ConsoleRefusal(.badRequest, "Confirm the refund first.") }
        let ticket = try await ticket(form)
        let reservation = ticket.reservation
        let outcome = try await boxOffice(.refund(.init(reservationId: reservation.id)), schedule: reservation.schedule, context: context)
        var page = BoxOfficePage.refund(try await self.ticket(form), now: Date())
        try signedIn(&page.page, request)
        return render("box-office", page.done(outcome))
    }

    private func schedule(_ form: BoxOfficeForm) throws(ConsoleRefusal) -> ScheduleKey {
        guard let concert = form.concert.flatMap(Int64.init).flatMap(ConcertID.init), let date = form.date.flatMap(ScheduleDate.init) else {
            throw ConsoleRefusal(.badRequest, "Which date: concert (a number) and date (YYYY-MM-DD) are needed.")
        }
        return ScheduleKey(concertID: concert, date: date)
    }

    private func cancelPage(_ form: BoxOfficeForm) async throws -> BoxOfficePage {
        let schedule = try schedule(form)
        guard let concert = try await catalogue.concert(schedule.concertID),
            let counts = try await catalogue.dateCounts(of: schedule.concertID, now: Date()).first(where: { $0.date == schedule.date })
        else { throw ConsoleRefusal(.notFound, "Concert \(schedule.concertID) does not play on \(schedule.date).") }
        return BoxOfficePage.cancel(concert, counts)
    }

    private func ticket(_ form: BoxOfficeForm) async throws -> ReservationStore.Ticket {
        guard let id = form.reservation.map({ $0.trimmingCharacters(in: .whitespaces) }).flatMap(UUID.init(uuidString:)) else {
            throw ConsoleRefusal(.badRequest, "A reservation id is a UUID, e.g. 01a21c8e-6697-8afa-8625-20f3101f8b0f.")
        }
        guard let ticket = try await reservations.ticket(id) else {
            throw ConsoleRefusal(.notFound, "There is no reservation \(id.lowercasedString).")
        }
        return ticket
    }

    /// Publishes the command and says how it ended (or that it is still on its way).
    private func boxOffice(_ command: Command, schedule: ScheduleKey, context: APIRequestContext) async throws -> String {
        let (id, outcome) = try await intake.publish(command, user: .operator, schedule: schedule, wait: 30, context: context)
        guard let outcome else { return "Accepted as command \(id.lowercasedString); not applied within 30 s: look it up under Commands." }
        if let failure = outcome.failure { return "Refused: \(failure.rawValue) — \(failure.message)" }
        switch command {
        case .cancelDate:
            let result = outcome.resultJSON.flatMap { try? JSONDecoder.commands.decode(CancellationResult.self, from: Data($0.utf8)) }
            guard let result else { return "Done." }
            if result.alreadyCancelled { return "The date was cancelled before; nothing more to do." }
            return "Cancelled: \(result.released) hold(s) released, \(result.refunded) sale(s) refunded (\(result.refundedAmount.amount) won)."
        default:
            let receipt = outcome.resultJSON.flatMap { try? JSONDecoder.commands.decode(RefundReceipt.self, from: Data($0.utf8)) }
            return receipt.map { "Refunded \($0.amount.amount) won to \($0.userId.rawValue)." } ?? "Done."
        }
    }
}
