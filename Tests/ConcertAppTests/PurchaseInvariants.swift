import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import PostgresNIO
import TestSupport
import Testing

extension LiveAPI {
    /// Waits until the process answers ready, then makes `count` buyers named `prefix-N`, each with
    /// an access token and a balance that outlasts any burst; every second one pays its holds.
    func readyBuyers(_ prefix: String, count: Int = 16, userSecret: String) async throws -> [Burst.Buyer] {
        try await eventually(timeout: .seconds(90), "the API process is ready") {
            await send("GET", "/health/ready", bearer: nil).status == 200
        }
        var buyers: [Burst.Buyer] = []
        for index in 0..<count {
            let user = "\(prefix)-\(index)"
            let access = AccessTokens.sign(user: UserID(user)!, secret: userSecret, lifetime: 3600)
            let charged = await send("POST", "/v1/users/\(user)/balance/charges", bearer: access, body: #"{"amount":100000000}"#)
            #expect(charged.status == 200, "charging \(user): \(charged.status)")
            buyers.append(.init(user: user, access: access, pays: index % 2 == 0))
        }
        return buyers
    }

    /// The dates of concert 1, read with a fresh waiting-room token of the user of `access`.
    func datesOfConcert1(access: String) async throws -> [String] {
        let issued = await send("POST", "/v1/queue/tokens", bearer: access, body: #"{"concertId":1}"#)
        let token = try #require(issued.string("token"), "no waiting-room token: \(issued.status)")
        var dates: [String] = []
        try await eventually(timeout: .seconds(30), "the concert's dates") {
            let answer = await send("GET", "/v1/concerts/1/dates", bearer: token)
            let list = ((try? JSONSerialization.jsonObject(with: answer.body)) as? [String: Any])?["dates"] as? [[String: Any]] ?? []
            dates = list.compactMap { $0["date"] as? String }
            return !dates.isEmpty
        }
        return dates
    }
}

/// What must hold after any fault under a burst of buyers, read from the database. Every statement
/// goes through the guarded `fetch` (a connection lost in a failover fails it instead of hanging it),
/// and each check is retried while the database is still coming back.
enum PurchaseInvariants {
    static let logger = DatabaseEnvironment.logger

    /// The single number a counting statement answers.
    static func count(_ client: PostgresClient, _ query: PostgresQuery) async throws -> Int {
        try await client.fetch(query, logger: logger).first?.decode(Int.self) ?? 0
    }

    /// Every accepted command reached its outcome or the dead-letter archive; no seat has two live
    /// reservations; every hold past its deadline was expired and its seat freed.
    static func expectSettled(_ client: PostgresClient, _ accepted: [String]) async throws {
        let ids = accepted.compactMap(UUID.init(uuidString:))
        #expect(ids.count == accepted.count)
        #expect(ids.count > 50, "the burst got too few commands accepted to mean anything: \(ids.count)")
        var settled = 0
        try await eventually(timeout: .seconds(120), "every accepted command has its outcome or is archived") {
            settled =
                (try? await count(
                    client,
                    """
                    SELECT count(*) FROM commands c WHERE c.id = ANY(\(ids))
                      AND (c.status <> 'pending' OR EXISTS (SELECT 1 FROM dead_letters d WHERE lower(d.message_id) = c.id::text))
                    """
                )) ?? settled
            return settled == ids.count
        }
        #expect(settled == ids.count, "\(ids.count - settled) accepted commands never finished")
        let doubled = try await count(
            client,
            """
            SELECT count(*) FROM (SELECT schedule_id, seat_number FROM reservations WHERE status IN ('held', 'paid')
                                  GROUP BY schedule_id, seat_number HAVING count(*) > 1) AS d
            """
        )
        #expect(doubled == 0, "a seat is held or sold twice")
        let soldTwice = try await count(
            client,
            "SELECT count(*) FROM (SELECT schedule_id, seat_number FROM reservations WHERE status = 'paid' GROUP BY 1, 2 HAVING count(*) > 1) AS d"
        )
        #expect(soldTwice == 0, "a seat is sold twice")
        try await eventually(timeout: .seconds(60), "every hold past its deadline is expired and its seat free") {
            let overdue = try? await count(
                client,
                """
                SELECT (SELECT count(*) FROM reservations WHERE status = 'held' AND held_until < now() - interval '3 seconds')
                     + (SELECT count(*) FROM seats WHERE state = 'held' AND hold_deadline < now() - interval '3 seconds')
                """
            )
            return overdue == 0
        }
    }

    /// Every command a buyer saw succeed is in the database: the command succeeded, its
    /// reservation exists, and a payment's reservation is paid with its payment row.
    static func expectConfirmedDurable(_ client: PostgresClient, _ confirmed: [Burst.Confirmed]) async throws {
        let commands = confirmed.compactMap { UUID(uuidString: $0.commandId) }
        let reservations = confirmed.filter { !$0.isPayment }.compactMap { UUID(uuidString: $0.reservationId) }
        let paid = confirmed.filter(\.isPayment).compactMap { UUID(uuidString: $0.reservationId) }
        #expect(commands.count == confirmed.count && !reservations.isEmpty, "buyers saw too little succeed: \(confirmed.count)")
        let succeeded = try await count(client, "SELECT count(*) FROM commands WHERE id = ANY(\(commands)) AND status = 'succeeded'")
        #expect(
            succeeded == commands.count,
            "\(commands.count - succeeded) of \(commands.count) commands buyers saw succeed are not so in the database"
        )
        let made = try await count(client, "SELECT count(*) FROM reservations WHERE id = ANY(\(reservations))")
        #expect(made == reservations.count, "\(reservations.count - made) of \(reservations.count) reservations buyers saw made are missing")
        let payments = try await count(
            client,
            "SELECT count(*) FROM reservations r JOIN payments p ON p.reservation_id = r.id WHERE r.id = ANY(\(paid)) AND r.status = 'paid'"
        )
        #expect(payments == paid.count, "\(paid.count - payments) of \(paid.count) payments buyers saw succeed are missing")
    }

    /// Every charge answered 200 is in the ledger, and every wallet equals the sum of its ledger.
    static func expectWalletsMatchLedgers(_ client: PostgresClient, charges: [String]) async throws {
        let found = try await count(client, "SELECT count(*) FROM wallet_ledger WHERE kind = 'charge' AND idempotency_key = ANY(\(charges))")
        #expect(found == charges.count, "\(charges.count - found) of \(charges.count) charges answered 200 are not in the ledger")
        let unequal = try await count(
            client,
            """
            SELECT count(*) FROM wallets w
            LEFT JOIN (SELECT user_id, sum(amount) AS total FROM wallet_ledger GROUP BY user_id) l USING (user_id)
            WHERE w.balance <> coalesce(l.total, 0)
            """
        )
        #expect(unequal == 0, "\(unequal) wallets differ from their ledger")
    }
}
