import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import Hummingbird
import Testing

/// The one mapping from errors to problems, without servers.
@Suite struct ProblemMappingTests {
    typealias Mapping = ProblemMiddleware<APIRequestContext>

    @Test(arguments: [
        (FailureCode.seatUnavailable, 409), (.alreadyPaid, 409), (.seatNotFound, 404), (.scheduleNotFound, 404),
        (.reservationNotFound, 404), (.notReservationOwner, 403), (.holdExpired, 410), (.insufficientBalance, 402),
    ])
    func businessFailuresKeepTheirCodes(failure: FailureCode, status: Int) {
        let problem = Mapping.problem(for: failure)
        #expect(problem.status.code == status)
        #expect(problem.code == failure.rawValue)
    }

    @Test func anUnavailableDependencyIs503WithRetryAfter() {
        for error in [
            DependencyUnavailable(.database, outcomeUnknown: true, underlying: "connection lost"),
            DependencyUnavailable(.broker, outcomeUnknown: false, underlying: "not connected"),
        ] {
            let problem = Mapping.problem(for: error)
            #expect(problem.status == .serviceUnavailable)
            #expect(problem.code == "SERVICE_UNAVAILABLE")
            #expect(problem.headers[.retryAfter] == "5")
            #expect(problem.detail.contains(error.dependency.rawValue))
            #expect(!problem.detail.contains(error.underlying))
        }
    }

    @Test func anUnknownOutcomeKeepsTheCommandsId() throws {
        let id = UUID()
        let problem = Problem.outcomeUnknown(id)
        #expect(problem.status == .serviceUnavailable && problem.code == "OUTCOME_UNKNOWN")
        #expect(problem.commandId == id.uuidString.lowercased())
        #expect(problem.headers[.location] == "/v1/commands/\(id.uuidString.lowercased())")
    }

    @Test func validationNamesTheFieldAndUnknownErrorsSayNothing() {
        #expect(Mapping.problem(for: ValidationError(field: "seatNumber", reason: "must be positive")).detail == "seatNumber: must be positive")
        struct Secret: Error { let password = "hunter2" }
        let problem = Mapping.problem(for: Secret())
        #expect(problem.status == .internalServerError)
        #expect(!problem.detail.contains("hunter2"))
    }
}
