import ConcertDomain
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird

/// A reservation as its owner reads it: `{"concertId","date","heldUntil","paidAt"?,"paymentId"?,
/// "price","refundedAt"?,"reservationId","seatNumber"?,"seats","status"}`, `price` the total,
/// `seatNumber` for a single seat as before.
struct TicketView: Encodable {
    let ticket: ReservationStore.Ticket
    let now: Date

    enum CodingKeys: String, CodingKey {
        case reservationId, status, heldUntil, concertId, date, seatNumber, price, seats, paidAt, paymentId, refundedAt, createdAt
    }

    struct SeatView: Encodable {
        let number: Int
        let price: Int64
        let section: String?
        let row: String?
        let seat: String?
    }

    func encode(to encoder: any Encoder) throws {
        let reservation = ticket.reservation
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reservation.id.lowercasedString, forKey: .reservationId)
        try container.encode(reservation.effectiveStatus(at: now).rawValue, forKey: .status)
        try container.encode(reservation.heldUntil, forKey: .heldUntil)
        try container.encode(reservation.schedule.concertID, forKey: .concertId)
        try container.encode(reservation.schedule.date, forKey: .date)
        if reservation.seats.count == 1 { try container.encode(reservation.seats[0].number, forKey: .seatNumber) }
        try container.encode(reservation.price, forKey: .price)
        try container.encode(
            zip(reservation.seats, ticket.places).map { seat, place in
                SeatView(number: seat.number.rawValue, price: seat.price.amount, section: place.section, row: place.row, seat: place.seat)
            },
            forKey: .seats
        )
        try container.encodeIfPresent(ticket.paidAt, forKey: .paidAt)
        try container.encodeIfPresent(ticket.paymentID?.lowercasedString, forKey: .paymentId)
        try container.encodeIfPresent(ticket.refundedAt, forKey: .refundedAt)
        try container.encode(ticket.createdAt, forKey: .createdAt)
    }
}

extension TicketView: ResponseEncodable {}

/// `GET /v1/users/{userId}/reservations`: a page, newest first, and the cursor of the next one.
struct TicketPage: ResponseEncodable {
    let reservations: [TicketView]
    /// The `before` of the next page, when this one is full.
    let next: String?
}

extension Router<APIRequestContext> {
    /// `GET /v1/reservations/{id}` (a queue token of its owner), `DELETE /v1/reservations/{id}`
    /// (its owner's active token: the hold let go, through the partition), and
    /// `GET /v1/users/{userId}/reservations` (the user's access token: "my tickets").
    func addReservationRoutes(_ services: APIServices, intake: CommandIntake) {
        get("/v1/reservations/:reservationId") { request, context -> TicketView in
            let id = try Self.reservationID(context)
            let token = try await services.tokenGuard.verified(request)
            guard let ticket = try await services.reservations.ticket(id) else { throw FailureCode.reservationNotFound }
            guard ticket.reservation.userID == token.userID else { throw FailureCode.notReservationOwner }
            return TicketView(ticket: ticket, now: Date())
        }
        delete("/v1/reservations/:reservationId") { request, context -> Response in
            let id = try Self.reservationID(context)
            return try await Self.submit(.release(.init(reservationId: id)), about: id, services, intake, request, context)
        }
        get("/v1/users/:userId/reservations") { request, context -> TicketPage in
            let user = try UserID.parse(context.parameters.require("userId"))
            try await services.accessTokens.require(user, in: request)
            let limit = try Self.pageLimit(request)
            let before = try request.uri.queryParameters.get("before").map { text in
                guard let id = UUID(uuidString: String(text)) else { throw Problem.invalidRequest("before: must be a reservation id (UUID)") }
                return id
            }
            let tickets = try await services.reservations.tickets(of: user, limit: limit, before: before)
            let now = Date()
            return TicketPage(
                reservations: tickets.map { TicketView(ticket: $0, now: now) },
                next: tickets.count == limit ? tickets.last?.reservation.id.lowercasedString : nil
            )
        }
    }

    static func reservationID(_ context: APIRequestContext) throws -> UUID {
        guard let id = UUID(uuidString: try context.parameters.require("reservationId")) else {
            throw Problem.invalidRequest("reservationId: must be a UUID")
        }
        return id
    }

    /// `limit`: 1…100, 20 by default.
    static func pageLimit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return 20 }
        guard let limit = Int(String(text)), (1...100).contains(limit) else {
            throw Problem.invalidRequest("limit: must be an integer from 1 to 100")
        }
        return limit
    }
}
