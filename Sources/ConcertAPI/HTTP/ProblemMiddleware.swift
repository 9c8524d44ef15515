public import ConcertDomain
import ConcertStorage
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
    /// The status and title of each business failure.
    public init(_ failure: FailureCode) {
        let status: HTTPResponse.Status =
            switch failure {
            case .seatUnavailable, .alreadyPaid, .seatLimitReached, .scheduleInUse: .conflict
            case .seatNotFound, .scheduleNotFound, .reservationNotFound: .notFound
            case .notReservationOwner: .forbidden
            case .holdExpired, .outcomeUnknownExpired: .gone
            case .insufficientBalance: .init(code: 402, reasonPhrase: "Payment Required")
            }
        self.init(status: status, code: failure.rawValue, title: status.reasonPhrase, detail: failure.message)
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
