import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Accepts a command: names it, publishes it with confirms, answers 202 — or, with `Prefer:
/// wait=N`, the outcome the worker pushes back if it comes within N seconds. Nothing is written
/// to the database: the id itself proves it was handed out (`CommandIDs`), and the worker
/// records the outcome.
///
/// Failure paths: the broker down, refusing or not routing the message → 503, nothing was done.
/// The connection lost before the broker confirmed → 503 that says the outcome is unknown and
/// carries the command's id and `Location`: the message may have been enqueued, and then the
/// worker applies it and `GET /v1/commands/{id}` shows it.
struct CommandIntake: Sendable {
    let services: APIServices

    func submit(_ command: Command, user: UserID, schedule: ScheduleKey, request: Request, context: APIRequestContext) async throws -> Response {
        try services.admitRequest(of: user, context: context)
        let id = services.commandIDs.mint(command.type, for: user)
        let envelope = CommandEnvelope(id: id, userId: user, partitionKey: schedule.partitionKey, command: command, submittedAt: Date())
        let wait = Self.preferredWait(request)
        // Registered before publishing: a fast worker may answer before the confirm arrives.
        let inbox = wait == nil ? nil : services.inbox
        inbox?.expect(id)
        do {
            try await services.publisher.publish(envelope, schedule: schedule, replyTo: inbox?.queueName)
        } catch let error as DependencyUnavailable {
            inbox?.forget(id)
            context.logger.warning("command not published", metadata: ["command.id": "\(id)", "error": "\(error)"])
            guard error.outcomeUnknown else { throw Problem.unavailable("the message broker is not reachable; nothing was done") }
            throw Problem.outcomeUnknown(id)
        }
        if let wait, let inbox, let outcome = await inbox.outcome(of: id, within: .seconds(wait)) {
            var response =
                if let failure = outcome.failure {
                    try Problem(failure).response(from: request, context: context)
                } else {
                    JSONBody.response(.created, JSONBody.command(outcome))
                }
            response.headers[HTTPField.Name("Preference-Applied")!] = "wait=\(wait)"
            return response
        }
        return JSONBody.response(.accepted, JSONBody.accepted(id), headers: [.location: "/v1/commands/\(id.lowercasedString)"])
    }

    /// `Prefer: wait=N` (RFC 7240), N capped at 30.
    static func preferredWait(_ request: Request) -> Int? {
        guard let prefer = request.headers[HTTPField.Name("Prefer")!] else { return nil }
        for preference in prefer.split(separator: ",") {
            let parts = preference.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0].lowercased() == "wait", let seconds = Int(parts[1]), seconds > 0 {
                return min(seconds, 30)
            }
        }
        return nil
    }
}
