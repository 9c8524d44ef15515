import ConcertAPI
import ConcertDomain
import ConcertStorage
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

    @Test func aLostDatabaseConnectionIs503WithRetryAfter() {
        let problem = Mapping.problem(for: ConnectionLost())
        #expect(problem.status == .serviceUnavailable)
        #expect(problem.code == "SERVICE_UNAVAILABLE")
        #expect(problem.headers[.retryAfter] == "5")
    }

    @Test func validationNamesTheFieldAndUnknownErrorsSayNothing() {
        #expect(Mapping.problem(for: ValidationError(field: "seatNumber", reason: "must be positive")).detail == "seatNumber: must be positive")
        struct Secret: Error { let password = "hunter2" }
        let problem = Mapping.problem(for: Secret())
        #expect(problem.status == .internalServerError)
        #expect(!problem.detail.contains("hunter2"))
    }
}
