import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird

extension Router<APIRequestContext> {
    /// The operator's side of the box office, behind the admin token: refund a paid reservation,
    /// cancel a date, and follow any command. The two commands go through the schedule's
    /// partition, as every write of its seats does, and are answered with their outcome if it
    /// comes within 30 s (else `202` with `Location: /admin/commands/{id}`).
    func addBoxOfficeRoutes(_ services: APIServices, admin: RouterGroup<APIRequestContext>) {
        let intake = CommandIntake(services: services)
        admin.post("/reservations/:reservationId/refund") { request, context -> Response in
            let id = try Self.reservationID(context)
            guard let reservation = try await services.reservations.find(id) else { throw FailureCode.reservationNotFound }
            return try await Self.operatorCommand(.refund(.init(reservationId: id)), schedule: reservation.schedule, intake: intake, request, context)
        }
        admin.delete("/concerts/:concertId/dates/:date") { request, context -> Response in
            let concert = try Self.concertID(context)
            let date = try ScheduleDate.parse(context.parameters.get("date"))
            let cancel = Command.CancelDate(concertId: concert, date: date)
            return try await Self.operatorCommand(.cancelDate(cancel), schedule: cancel.schedule, intake: intake, request, context)
        }
        admin.get("/commands/:commandId") { _, context -> Response in
            guard let id = UUID(uuidString: try context.parameters.require("commandId")) else {
                throw Problem.invalidRequest("commandId: must be a UUID")
            }
            if let record = try await services.commands.find(id) {
                return JSONBody.response(
                    JSONBody.command(id: id, type: record.type, status: record.status.rawValue, resultJSON: record.result, failure: record.failure)
                )
            }
            guard let type = services.commandIDs.type(of: id, for: .operator) else {
                throw Problem.notFound("COMMAND_NOT_FOUND", "No operator's command \(id.lowercasedString) was ever accepted.")
            }
            return JSONBody.response(JSONBody.command(id: id, type: type.rawValue, status: "pending", resultJSON: nil, failure: nil))
        }
    }

    /// Publishes an operator's command and answers its outcome: `200` with the result, the
    /// failure's problem, or `202` when it has not come within 30 s.
    static func operatorCommand(
        _ command: Command,
        schedule: ScheduleKey,
        intake: CommandIntake,
        _ request: Request,
        _ context: APIRequestContext
    ) async throws -> Response {
        let (id, outcome) = try await intake.publish(command, user: .operator, schedule: schedule, wait: 30, context: context)
        guard let outcome else {
            return JSONBody.response(.accepted, JSONBody.accepted(id), headers: [.location: "/admin/commands/\(id.lowercasedString)"])
        }
        if let failure = outcome.failure { throw Problem(failure, detailJSON: outcome.resultJSON) }
        return JSONBody.response(.ok, JSONBody.command(outcome))
    }
}
