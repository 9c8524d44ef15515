import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/reservations`: one of `seatNumber` (one seat), `seatNumbers` (several, all or
/// none) or `quantity` (best available, with `section`, `maxPrice` and `together` optional).
struct ReserveRequest: FlatJSONBody {
    let concertId: WholeNumber
    let date: String
    var seatNumber: WholeNumber?
    var seatNumbers: [WholeNumber]?
    var quantity: WholeNumber?
    var section: String?
    var maxPrice: WholeNumber?
    var together: Bool?

    enum CodingKeys: String, CodingKey {
        case concertId, date, seatNumber, seatNumbers, quantity, section, maxPrice, together
    }

    /// Reads the members; a form's member present as `null` is refused (it names no form).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        for key in [CodingKeys.seatNumber, .seatNumbers, .quantity, .section, .maxPrice, .together] where container.contains(key) {
            if try container.decodeNil(forKey: key) {
                throw DecodingError.valueNotFound(String.self, .init(codingPath: [key], debugDescription: "must not be null"))
            }
        }
        concertId = try container.decode(WholeNumber.self, forKey: .concertId)
        date = try container.decode(String.self, forKey: .date)
        seatNumber = try container.decodeIfPresent(WholeNumber.self, forKey: .seatNumber)
        seatNumbers = try container.decodeIfPresent([WholeNumber].self, forKey: .seatNumbers)
        quantity = try container.decodeIfPresent(WholeNumber.self, forKey: .quantity)
        section = try container.decodeIfPresent(String.self, forKey: .section)
        maxPrice = try container.decodeIfPresent(WholeNumber.self, forKey: .maxPrice)
        together = try container.decodeIfPresent(Bool.self, forKey: .together)
    }

    /// The single-seat form, the hot one, read by hand; any other goes to `JSONDecoder`.
    init?(flat object: FlatJSONObject) {
        guard object.members.count == 3, let concertId = object.integer("concertId"), let date = object.string("date"),
            let seatNumber = object.integer("seatNumber")
        else { return nil }
        self.concertId = concertId
        self.date = date
        self.seatNumber = seatNumber
    }

    /// The seats asked for, checked: 400 naming the field for a form missing, two forms at once,
    /// a seat number out of range or twice, a quantity or list over `maximum` seats, a bad
    /// section or price, or best-available members without `quantity`.
    func selection(maximum: Int) throws(Problem) -> Command.ReserveSeat.Selection {
        let forms = [seatNumber != nil, seatNumbers != nil, quantity != nil].filter { $0 }.count
        guard forms == 1 else {
            throw Problem.invalidRequest("seatNumber: give exactly one of seatNumber, seatNumbers (several seats) or quantity (best available)")
        }
        if quantity == nil, section != nil || maxPrice != nil || together != nil {
            throw Problem.invalidRequest("quantity: section, maxPrice and together go with quantity (best available)")
        }
        do throws(ValidationError) {
            if let seatNumber {
                return .seats([try SeatNumber.parse(Int(exactly: seatNumber.value))])
            }
            if let seatNumbers {
                guard (1...maximum).contains(seatNumbers.count) else {
                    throw ValidationError(field: "seatNumbers", reason: "must list 1 to \(maximum) seats")
                }
                var seats: [SeatNumber] = []
                for (index, number) in seatNumbers.enumerated() {
                    let seat = try SeatNumber.parse(Int(exactly: number.value), field: "seatNumbers[\(index)]")
                    guard !seats.contains(seat) else { throw ValidationError(field: "seatNumbers[\(index)]", reason: "names seat \(seat) twice") }
                    seats.append(seat)
                }
                return .seats(seats)
            }
            guard let quantity, (1...Int64(maximum)).contains(quantity.value) else {
                throw ValidationError(field: "quantity", reason: "must be an integer from 1 to \(maximum)")
            }
            if let section, !(1...100).contains(section.unicodeScalars.count) || !CatalogueStore.ConcertDraft.isVisible(section) {
                throw ValidationError(field: "section", reason: "must be 1 to 100 characters, one of them not a space, none a control character")
            }
            if let maxPrice, !(1...Command.SetSeatMap.maximumPrice.amount).contains(maxPrice.value) {
                throw ValidationError(field: "maxPrice", reason: "must be an integer from 1 to \(Command.SetSeatMap.maximumPrice.amount)")
            }
            return .best(
                SeatMap.Request(quantity: Int(quantity.value), section: section, maxPrice: maxPrice.map { Won($0.value) }, together: together ?? true)
            )
        } catch {
            throw Problem.invalidRequest(error.description)
        }
    }
}

struct PayRequest: FlatJSONBody {
    let reservationId: String

    init?(flat object: FlatJSONObject) {
        guard let reservationId = object.string("reservationId") else { return nil }
        self.reservationId = reservationId
    }
}

extension Router<APIRequestContext> {
    /// The command endpoints: `POST /v1/reservations`, `POST /v1/payments`, `GET /v1/commands/{id}`,
    /// and a reservation's own (`ReservationRoutes.swift`).
    func addCommandRoutes(_ services: APIServices) {
        let intake = CommandIntake(services: services)
        post("/v1/reservations") { request, context -> Response in
            let body = try await request.decodeJSON(as: ReserveRequest.self, context: context)
            let concert = try ConcertID.parse(body.concertId.value)
            let date = try ScheduleDate.parse(body.date)
            let selection = try body.selection(maximum: services.maximumSeatsPerOrder)
            // Limited before anything is read: a client over its rate costs a signature check.
            let (token, _) = try await services.tokenGuard.requireActive(request, concert: concert) { token in
                try services.admitRequest(of: token.userID, request: request, context: context)
            }
            let schedule = ScheduleKey(concertID: concert, date: date)
            // No new holds after the sale's end (from memory; a command accepted before it is applied).
            if let ends = try await services.saleWindow(of: concert)?.saleEndsAt, Date() >= ends { throw Problem.saleEnded(concert, endedAt: ends) }
            let command = Command.reserveSeat(.init(concertId: concert, date: date, selection: selection))
            return try await intake.submit(command, user: token.userID, schedule: schedule, request: request, context: context)
        }
        post("/v1/payments") { request, context -> Response in
            let body = try await request.decodeJSON(as: PayRequest.self, context: context)
            guard let reservationID = UUID(uuidString: body.reservationId) else {
                throw Problem.invalidRequest("reservationId: must be a UUID")
            }
            return try await Self.submit(.pay(.init(reservationId: reservationID)), about: reservationID, services, intake, request, context)
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
        addReservationRoutes(services, intake: intake)
    }

    /// Submits a command about an existing reservation (a payment, a release) with an active token
    /// of its concert: limited before anything is read, then sent to the reservation's schedule's
    /// partition, whose worker checks the owner and decides.
    static func submit(
        _ command: Command,
        about reservationID: UUID,
        _ services: APIServices,
        _ intake: CommandIntake,
        _ request: Request,
        _ context: APIRequestContext
    ) async throws -> Response {
        let (token, _) = try await services.tokenGuard.requireActive(request, concert: nil) { token in
            try services.admitRequest(of: token.userID, request: request, context: context)
        }
        guard let reservation = try await services.reservations.find(reservationID) else { throw FailureCode.reservationNotFound }
        guard reservation.schedule.concertID == token.concertID else { throw Problem.tokenWrongConcert }
        return try await intake.submit(command, user: token.userID, schedule: reservation.schedule, request: request, context: context)
    }
}
