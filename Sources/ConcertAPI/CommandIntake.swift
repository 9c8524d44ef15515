import AMQPClient
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Accepts a command: records it as pending, publishes it with confirms, answers 202 (or, with
/// `Prefer: wait=N`, the outcome if it comes within N seconds).
///
/// Failure paths: the database down before the insert → 503, nothing written. The broker down
/// or refusing → the pending row is deleted → 503, nothing left. The connection lost while the
/// broker had the message (outcome unknown) → the row stays: if the message was enqueued the
/// worker completes it, and the client, told 503, never learnt the id.
struct CommandIntake: Sendable {
    let services: APIServices

    func submit(_ command: Command, user: UserID, schedule: ScheduleKey, request: Request, context: APIRequestContext) async throws -> Response {
        let envelope = CommandEnvelope(id: UUID(), userId: user, partitionKey: schedule.partitionKey, command: command, submittedAt: Date())
        try await services.commands.insertPending(envelope)
        do {
            try await services.publisher.publish(envelope, schedule: schedule)
        } catch let error as AMQPError {
            if error.kind != .connectionLost && error.kind != .channelClosed {
                try? await services.commands.deletePending(envelope.id)
            }
            context.logger.warning("command not published", metadata: ["command.id": "\(envelope.id)", "error": "\(error)"])
            throw ServiceUnavailable("the message broker is not reachable; nothing was done")
        }
        context.logger.debug("command accepted", metadata: ["command.id": "\(envelope.id)", "command.type": "\(command.type.rawValue)"])

        if let wait = Self.preferredWait(request) {
            if let record = try await waitForOutcome(envelope.id, upTo: .seconds(wait)), record.status != .pending {
                var response = try outcomeResponse(record, request: request, context: context)
                response.headers[HTTPField.Name("Preference-Applied")!] = "wait=\(wait)"
                return response
            }
        }
        var response = try Accepted(commandId: envelope.id, status: "pending").response(from: request, context: context)
        response.status = .accepted
        response.headers[.location] = "/v1/commands/\(envelope.id)"
        return response
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

    private func waitForOutcome(_ id: UUID, upTo timeout: Duration) async throws -> CommandStore.Record? {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(5)
        var record: CommandStore.Record?
        repeat {
            record = try await services.commands.find(id)
            if let record, record.status != .pending { return record }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(100))
        } while ContinuousClock.now < deadline
        return record
    }

    /// The outcome itself: 201 + the result, or the failure as a problem.
    private func outcomeResponse(_ record: CommandStore.Record, request: Request, context: APIRequestContext) throws -> Response {
        if record.status == .failed, let failure = record.failure {
            return try Problem(failure).response(from: request, context: context)
        }
        var response = try CommandView(record).response(from: request, context: context)
        response.status = .created
        return response
    }
}
