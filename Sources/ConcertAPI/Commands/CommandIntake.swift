import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Tracing

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

    /// The caller has taken the request from the rate limits (before it read anything).
    func submit(_ command: Command, user: UserID, schedule: ScheduleKey, request: Request, context: APIRequestContext) async throws -> Response {
        let wait = Self.preferredWait(request)
        let (id, outcome) = try await publish(command, user: user, schedule: schedule, wait: wait, context: context)
        if let wait, let outcome {
            var response =
                if let failure = outcome.failure {
                    try Problem(failure, detailJSON: outcome.resultJSON).response(from: request, context: context)
                } else {
                    JSONBody.response(.created, JSONBody.command(outcome))
                }
            response.headers[HTTPField.Name("Preference-Applied")!] = "wait=\(wait)"
            return response
        }
        return Self.accepted(id)
    }

    /// `202 {"commandId","status":"pending"}` with its `Location`.
    static func accepted(_ id: UUID) -> Response {
        JSONBody.response(.accepted, JSONBody.accepted(id), headers: [.location: "/v1/commands/\(id.lowercasedString)"])
    }

    /// Names the command, publishes it with confirms and, with `wait`, waits that many seconds
    /// for its outcome (`nil`: not within them, or not asked to wait).
    func publish(
        _ command: Command,
        user: UserID,
        schedule: ScheduleKey,
        wait: Int?,
        context: APIRequestContext
    ) async throws -> (id: UUID, outcome: CommandOutcome?) {
        let id = services.commandIDs.mint(command.type, for: user)
        let envelope = CommandEnvelope(id: id, userId: user, partitionKey: schedule.partitionKey, command: command, submittedAt: Date())
        // Registered before publishing: a fast worker may answer before the confirm arrives.
        let inbox = wait == nil ? nil : services.inbox
        inbox?.expect(id)
        do {
            try await services.publisher.publish(envelope, schedule: schedule, replyTo: inbox?.queueName)
        } catch let error as DependencyUnavailable {
            inbox?.forget(id)
            context.logger.warning("command not published", metadata: ["command.id": "\(id)", "error": "\(error)"])
            guard error.outcomeUnknown else { throw Problem.unavailable("the message broker is not reachable; nothing was done") }
            // Pending for a bound, final after it: the id's answer must not stay "pending" for ever
            // when the message never reached the broker (kept and written later if the database
            // cannot take the record now).
            await services.unknownOutcomes.record(envelope, bound: services.unknownOutcomeBound)
            throw Problem.outcomeUnknown(id)
        }
        guard let wait, let inbox else { return (id, nil) }
        guard CommandTracing.isEnabled else { return (id, await inbox.outcome(of: id, within: .seconds(wait))) }
        return await withSpan("wait for outcome") { span in
            span.attributes["concert.command.id"] = id.lowercasedString
            let outcome = await inbox.outcome(of: id, within: .seconds(wait))
            span.attributes["concert.outcome.received"] = outcome != nil
            return (id, outcome)
        }
    }

    /// `Prefer: wait=N` (RFC 7240), N capped at 30.
    static func preferredWait(_ request: Request) -> Int? {
        request.headers[HTTPField.Name("Prefer")!].flatMap(Self.wait(in:))
    }

    /// The `wait` preference of a `Prefer` field value, read over its bytes (Foundation's trimming
    /// and lower-casing cost ~2 % of a `Prefer: wait` request): preferences separated by commas,
    /// the name in any case, optional whitespace around `=`, the value a positive integer, bare
    /// or quoted; parameters after `;` ignored.
    static func wait(in field: String) -> Int? {
        for preference in field.utf8.split(separator: UInt8(ascii: ",")) {
            let main = preference.prefix { $0 != UInt8(ascii: ";") }
            guard let equals = main.firstIndex(of: UInt8(ascii: "=")) else { continue }
            guard main[..<equals].trimmingOptionalWhitespace.equalsIgnoringASCIICase("wait") else { continue }
            var value = main[main.index(after: equals)...].trimmingOptionalWhitespace
            if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                value = value.dropFirst().dropLast()
            }
            guard !value.isEmpty, value.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { continue }
            let seconds = value.reduce(0) { min($0 * 10 + Int($1 - UInt8(ascii: "0")), 1_000_000) }
            if seconds > 0 { return min(seconds, 30) }
        }
        return nil
    }
}
