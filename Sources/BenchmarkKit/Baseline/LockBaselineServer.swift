import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import Hummingbird
public import Logging
import PostgresNIO
import ServiceLifecycle
import UnixSignals

/// The conventional design the race and the sell-out are measured against: `POST
/// /v1/reservations` done synchronously in one PostgreSQL transaction that locks the seat row
/// with `SELECT … FOR UPDATE` (`seatNumber`), or the first `quantity` free seats with `SELECT …
/// FOR UPDATE SKIP LOCKED LIMIT n` (best available, as lock-based peers do it).
///
/// Same HTTP stack (Hummingbird 2), same database server and schema, same token check as the
/// product's API before the pipeline (signature, then the token's row), the same connection
/// pool size (40). It lives in the benchmark, not in the product.
public enum LockBaselineServer {
    /// Serves on `port` until SIGTERM; `databaseURL` is the sandbox's database, `tokenSecret` the waiting-room secret.
    public static func run(port: Int, databaseURL: String, tokenSecret: String, holdSeconds: Int, logger: Logger) async throws {
        var configuration = try PostgresClient.Configuration(url: databaseURL)
        configuration.options.maximumConnections = 40
        let database = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let tokens = await QueueTokens(secret: tokenSecret)
        let waitingRoom = WaitingRoomStore(client: database, logger: logger)
        let router = Router()
        router.post("/v1/reservations") { request, context -> Response in
            let body = try await request.decode(as: ReserveBody.self, context: context)
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return answer(.unauthorized, "TOKEN_MISSING") }
            guard let token = try? await tokens.verify(String(header.dropFirst(7))) else { return answer(.unauthorized, "TOKEN_INVALID") }
            guard token.concertID.rawValue == body.concertId else { return answer(.forbidden, "TOKEN_WRONG_CONCERT") }
            let now = Date()
            guard let row = try await waitingRoom.token(concert: token.concertID, seq: token.seq), row.userID == token.userID,
                row.state == .active, (row.expiresAt ?? .distantPast) > now
            else { return answer(.forbidden, "TOKEN_NOT_ACTIVE") }
            let reservationID = UUID()
            let heldUntil = now.addingTimeInterval(TimeInterval(holdSeconds))
            if let quantity = body.quantity {
                return try await bestAvailable(
                    quantity,
                    body: body,
                    user: token.userID.rawValue,
                    reservationID: reservationID,
                    heldUntil: heldUntil,
                    database: database,
                    logger: context.logger
                )
            }
            let seatNumber = body.seatNumber ?? 0
            let outcome = try await database.withUnwrappedTransaction(logger: context.logger) { connection -> HTTPResponse.Status in
                let seats = try await connection.fetch(
                    """
                    SELECT seats.schedule_id, seats.price, seats.state, seats.reservation_id, seats.hold_deadline
                    FROM schedules JOIN seats ON seats.schedule_id = schedules.id
                    WHERE schedules.concert_id = \(body.concertId) AND schedules.date = \(body.date)::date AND seats.number = \(seatNumber)
                    FOR UPDATE OF seats
                    """,
                    logger: context.logger
                )
                guard let seat = seats.first else { return .notFound }
                let (scheduleID, price, state, holder, deadline) = try seat.decode((Int64, Int64, String, UUID?, Date?).self)
                let lapsed = state == "held" && (deadline ?? .distantFuture) <= now
                guard state == "free" || lapsed else { return .conflict }
                if lapsed, let holder {
                    try await connection.fetch(
                        "UPDATE reservations SET status = 'expired' WHERE id = \(holder) AND status = 'held'",
                        logger: context.logger
                    )
                }
                try await connection.fetch(
                    """
                    INSERT INTO reservations (id, schedule_id, seat_number, user_id, price, status, held_until)
                    VALUES (\(reservationID), \(scheduleID), \(seatNumber), \(token.userID.rawValue), \(price), 'held', \(heldUntil))
                    """,
                    logger: context.logger
                )
                try await connection.fetch(
                    """
                    UPDATE seats SET state = 'held', holder = \(token.userID.rawValue), reservation_id = \(reservationID), hold_deadline = \(heldUntil)
                    WHERE schedule_id = \(scheduleID) AND number = \(seatNumber)
                    """,
                    logger: context.logger
                )
                return .created
            }
            switch outcome {
            case .created:
                let json = #"{"reservationId":"\#(reservationID.uuidString.lowercased())","seatNumber":\#(seatNumber)}"#
                return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
            case .notFound:
                return answer(.notFound, "SEAT_NOT_FOUND")
            default:
                return answer(.conflict, "SEAT_UNAVAILABLE")
            }
        }
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port), serverName: "lock-baseline"),
            logger: logger
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: database), .init(service: application, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }

    struct ReserveBody: Decodable {
        let concertId: Int64
        let date: String
        let seatNumber: Int?
        let quantity: Int?
    }

    /// The first `quantity` free seats (by number), each locked, skipping those another
    /// transaction holds: one reservation of all of them, or `409` when fewer are left.
    static func bestAvailable(
        _ quantity: Int,
        body: ReserveBody,
        user: String,
        reservationID: UUID,
        heldUntil: Date,
        database: PostgresClient,
        logger: Logger
    ) async throws -> Response {
        let seats = try await database.withUnwrappedTransaction(logger: logger) { connection -> [(Int64, Int32, Int64)]? in
            let rows = try await connection.fetch(
                """
                SELECT seats.schedule_id, seats.number, seats.price
                FROM schedules JOIN seats ON seats.schedule_id = schedules.id
                WHERE schedules.concert_id = \(body.concertId) AND schedules.date = \(body.date)::date AND seats.state = 'free'
                ORDER BY seats.number LIMIT \(quantity)
                FOR UPDATE OF seats SKIP LOCKED
                """,
                logger: logger
            )
            let seats = try rows.map { try $0.decode((Int64, Int32, Int64).self) }
            guard seats.count == quantity, let scheduleID = seats.first?.0 else { return nil }
            let numbers = seats.map(\.1)
            let prices = seats.map(\.2)
            try await connection.fetch(
                """
                INSERT INTO reservations (id, schedule_id, seat_number, seat_numbers, seat_prices, user_id, price, status, held_until)
                VALUES (\(reservationID), \(scheduleID), \(numbers[0]), \(numbers), \(prices), \(user), \(prices.reduce(0, +)), 'held', \(heldUntil))
                """,
                logger: logger
            )
            try await connection.fetch(
                """
                UPDATE seats SET state = 'held', holder = \(user), reservation_id = \(reservationID), hold_deadline = \(heldUntil)
                WHERE schedule_id = \(scheduleID) AND number = ANY(\(numbers))
                """,
                logger: logger
            )
            return seats
        }
        guard let seats else { return answer(.conflict, "SEATS_UNAVAILABLE") }
        let json =
            #"{"reservationId":"\#(reservationID.uuidString.lowercased())","seatNumbers":[\#(seats.map { String($0.1) }.joined(separator: ","))]}"#
        return Response(status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    static func answer(_ status: HTTPResponse.Status, _ code: String) -> Response {
        let json = #"{"code":"\#(code)","status":\#(status.code)}"#
        return Response(status: status, headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
