import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird

struct ReserveRequest: FlatJSONBody {
    let concertId: WholeNumber
    let date: String
    let seatNumber: WholeNumber

    init?(flat object: FlatJSONObject) {
        guard let concertId = object.integer("concertId"), let date = object.string("date"), let seatNumber = object.integer("seatNumber") else {
            return nil
        }
        self.concertId = concertId
        self.date = date
        self.seatNumber = seatNumber
    }
}

struct PayRequest: FlatJSONBody {
    let reservationId: String

    init?(flat object: FlatJSONObject) {
        guard let reservationId = object.string("reservationId") else { return nil }
        self.reservationId = reservationId
    }
}

struct ReservationView: ResponseEncodable {
    let reservationId: String
    let status: String
    let heldUntil: Date
    let concertId: Int64
    let date: ScheduleDate
    let seatNumber: Int
    let price: Int64
}

extension Router<APIRequestContext> {
    /// The command endpoints: `POST /v1/reservations`, `POST /v1/payments`, `GET /v1/commands/{id}`,
    /// and `GET /v1/reservations/{id}`.
    func addCommandRoutes(_ services: APIServices) {
        let intake = CommandIntake(services: services)
        post("/v1/reservations") { request, context -> Response in
            let body = try await request.decodeJSON(as: ReserveRequest.self, context: context)
            let concert = try ConcertID.parse(body.concertId.value)
            let date = try ScheduleDate.parse(body.date)
            let seat = try SeatNumber.parse(Int(exactly: body.seatNumber.value))
            // Limited before anything is read: a client over its rate costs a signature check.
            let (token, _) = try await services.tokenGuard.requireActive(request, concert: concert) { token in
                try services.admitRequest(of: token.userID, request: request, context: context)
            }
            let schedule = ScheduleKey(concertID: concert, date: date)
            // No new holds after the sale's end (from memory; a command accepted before it is applied).
            if let ends = try await services.saleWindow(of: concert)?.saleEndsAt, Date() >= ends { throw Problem.saleEnded(concert, endedAt: ends) }
            let command = Command.reserveSeat(.init(concertId: concert, date: date, seatNumber: seat))
            return try await intake.submit(command, user: token.userID, schedule: schedule, request: request, context: context)
        }
        post("/v1/payments") { request, context -> Response in
            let body = try await request.decodeJSON(as: PayRequest.self, context: context)
            guard let reservationID = UUID(uuidString: body.reservationId) else {
                throw Problem.invalidRequest("reservationId: must be a UUID")
            }
            let (token, _) = try await services.tokenGuard.requireActive(request, concert: nil) { token in
                try services.admitRequest(of: token.userID, request: request, context: context)
            }
            guard let reservation = try await services.reservations.find(reservationID) else { throw FailureCode.reservationNotFound }
            guard reservation.schedule.concertID == token.concertID else { throw Problem.tokenWrongConcert }
            return try await intake.submit(
                .pay(.init(reservationId: reservationID)),
                user: token.userID,
                schedule: reservation.schedule,
                request: request,
                context: context
            )
        }
        get("/v1/commands/:commandId") { request, context -> Response in
            guard let id = UUID(uuidString: try context.parameters.require("commandId")) else {
                throw Problem.invalidRequest("commandId: must be a UUID")
            }
            // The command's user only: to anyone else it does not exist (ids are not an oracle).
            let user = try await services.bearerUser(request)
            if let record = try await services.commands.find(id) {
                guard record.userID == user else {
                    throw Problem.notFound("COMMAND_NOT_FOUND", "No command \(id.lowercasedString) of yours was ever accepted.")
                }
                return JSONBody.response(
                    JSONBody.command(id: id, type: record.type, status: record.status.rawValue, resultJSON: record.result, failure: record.failure)
                )
            }
            // No outcome yet: pending if an API process handed the id out, else never accepted.
            guard let type = services.commandIDs.type(of: id, for: user) else {
                throw Problem.notFound("COMMAND_NOT_FOUND", "No command \(id.lowercasedString) of yours was ever accepted.")
            }
            return JSONBody.response(JSONBody.command(id: id, type: type.rawValue, status: "pending", resultJSON: nil, failure: nil))
        }
        get("/v1/reservations/:reservationId") { request, context -> ReservationView in
            guard let id = UUID(uuidString: try context.parameters.require("reservationId")) else {
                throw Problem.invalidRequest("reservationId: must be a UUID")
            }
            let token = try await services.tokenGuard.verified(request)
            guard let reservation = try await services.reservations.find(id) else { throw FailureCode.reservationNotFound }
            guard reservation.userID == token.userID else { throw FailureCode.notReservationOwner }
            return ReservationView(
                reservationId: id.lowercasedString,
                status: reservation.effectiveStatus(at: Date()).rawValue,
                heldUntil: reservation.heldUntil,
                concertId: reservation.schedule.concertID.rawValue,
                date: reservation.schedule.date,
                seatNumber: reservation.seat.rawValue,
                price: reservation.price.amount
            )
        }
    }
}
