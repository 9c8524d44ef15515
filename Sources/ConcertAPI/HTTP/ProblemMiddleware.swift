public import ConcertDomain
import ConcertStorage
import Foundation
public import Hummingbird
import Logging
import NIOCore

/// The one place where errors become HTTP problems.
///
/// Domain validation → 400 `INVALID_REQUEST`; business failures → their code and status;
/// Hummingbird's own errors (unknown route, body too large) → problems of the same status;
/// an unreachable database or broker → 503 with `Retry-After`; anything else → 500 with no
/// detail, logged in full under the request id.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Known paths, for `405` with `Allow` when the router found no route for the method.
    let routes: RouteMethods?

    public init(routes: RouteMethods? = nil) {
        self.routes = routes
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var problem = Self.problem(for: error)
            if let unrouted = error as? HTTPError, unrouted.status == .notFound,
                let allowed = routes?.methods(for: request.uri.path), !allowed.contains(request.method.rawValue)
            {
                problem = .methodNotAllowed(allowed)
            }
            if problem.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            } else if problem.status == .serviceUnavailable {
                // The process says once what is unavailable (start-up, connections); not once per request.
                context.logger.debug("request refused: a dependency is unavailable", metadata: ["error": "\(String(reflecting: error))"])
            }
            return try problem.response(from: request, context: context)
        }
    }

    /// Maps any error to the problem a client sees.
    public static func problem(for error: any Error) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let invalid as ValidationError:
            return .invalidRequest(invalid.description)
        case let failure as FailureCode:
            return Problem(failure)
        case let httpError as HTTPError:
            return Problem(httpError)
        case is NIOTooManyBytesError:
            return Problem(HTTPError(.contentTooLarge))
        case let unavailable as DependencyUnavailable:
            return .unavailable(
                unavailable.outcomeUnknown
                    ? "the \(unavailable.dependency.rawValue) went away in the middle of the request; try again"
                    : "the \(unavailable.dependency.rawValue) is not reachable; nothing was done"
            )
        default:
            return Problem(status: .internalServerError, code: "INTERNAL_ERROR", title: "Internal error", detail: "An unexpected error occurred.")
        }
    }
}

extension Problem {
    /// The status and title of each business failure; with the outcome's detail (`{"seatNumbers":[…]}`,
    /// `{"freeSeats":N}`) also said in the problem's detail and as extension members.
    public init(_ failure: FailureCode, detailJSON: String? = nil) {
        let status: HTTPResponse.Status =
            switch failure {
            case .seatUnavailable, .seatsUnavailable, .alreadyPaid, .alreadyRefunded, .notPaid, .seatLimitReached, .scheduleInUse: .conflict
            case .seatNotFound, .scheduleNotFound, .reservationNotFound: .notFound
            case .notReservationOwner: .forbidden
            case .holdExpired, .reservationReleased, .outcomeUnknownExpired: .gone
            case .insufficientBalance: .init(code: 402, reasonPhrase: "Payment Required")
            }
        let detail = FailureDetail(json: detailJSON)
        self.init(
            status: status,
            code: failure.rawValue,
            title: status.reasonPhrase,
            detail: detail?.sentence(for: failure) ?? failure.message,
            extensions: detail?.members ?? [:]
        )
    }

    init(_ error: HTTPError) {
        switch error.status {
        case .contentTooLarge:
            self.init(status: .contentTooLarge, code: "PAYLOAD_TOO_LARGE", title: "Payload too large", detail: "The request body is over 64 KiB.")
        case .notFound:
            self.init(status: .notFound, code: "NOT_FOUND", title: "Not found", detail: "No such resource.")
        case .methodNotAllowed:
            self.init(
                status: .methodNotAllowed,
                code: "METHOD_NOT_ALLOWED",
                title: "Method not allowed",
                detail: "The resource does not take that method."
            )
        default:
            self.init(
                status: error.status,
                code: "HTTP_\(error.status.code)",
                title: error.status.reasonPhrase,
                detail: error.body ?? error.status.reasonPhrase
            )
        }
    }
}

/// What a failed command's outcome says besides its code, read back from its stored JSON.
struct FailureDetail: Decodable {
    let seatNumbers: [Int]?
    let freeSeats: Int?

    init?(json: String?) {
        guard let json, let detail = try? JSONDecoder().decode(FailureDetail.self, from: Data(json.utf8)) else { return nil }
        self = detail
    }

    /// The extension members of a problem.
    var members: [String: Problem.Member] {
        var members: [String: Problem.Member] = [:]
        if let seatNumbers { members["seatNumbers"] = .numbers(seatNumbers.map(Int64.init)) }
        if let freeSeats { members["freeSeats"] = .number(Int64(freeSeats)) }
        return members
    }

    /// The failure's message, naming the seats or the count.
    func sentence(for failure: FailureCode) -> String? {
        if let seatNumbers, !seatNumbers.isEmpty {
            let list = seatNumbers.map(String.init).joined(separator: ", ")
            switch failure {
            case .seatUnavailable: return "Held or sold: seat\(seatNumbers.count == 1 ? "" : "s") \(list)."
            case .seatNotFound: return "The schedule has no seat\(seatNumbers.count == 1 ? "" : "s") \(list)."
            default: return nil
            }
        }
        if let freeSeats, failure == .seatsUnavailable {
            return "No seats fit the request; \(freeSeats) seat\(freeSeats == 1 ? " is" : "s are") free where it asked."
        }
        return nil
    }
}
