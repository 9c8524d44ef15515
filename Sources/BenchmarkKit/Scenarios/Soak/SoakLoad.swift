import Foundation
import Logging
import NIOHTTP1
import PostgresNIO

/// The requests of a soak, round by round: reservations of seats taken round and round the
/// schedules (once every seat was tried, paid seats are refused and expired ones held again),
/// and payments for a share of the last round's holds by their owners. A payment ends the
/// buyer's token, so a buyer who paid queues again and sits out a round while being admitted.
struct SoakLoad {
    let schedules: [SeatPlan.Schedule]
    let seatsPerSchedule: Int
    let users: Int
    let payFraction: Double
    private(set) var tokens: [Int: [String]]
    private var seatCursor: Int
    private var userCursor: [Int: Int] = [:]
    /// Per concert, buyers whose token a payment of theirs may have ended.
    private var spent: [Int: Set<Int>] = [:]
    private var toRequeue: [(concert: Int, user: Int)] = []
    private var requeuedLastRound: [(concert: Int, user: Int)] = []
    private var requeuedThisRound: [(concert: Int, user: Int)] = []
    /// What each request of the round in flight is.
    private var roundRequests: [(concert: Int, user: Int, isReservation: Bool)] = []
    /// The reservations the last round got accepted (a reservation's id is its command's id).
    private var candidates: [(id: UUID, concert: Int, user: Int)] = []

    init(plan: SeatPlan, tokens: [Int: [String]], users: Int, payFraction: Double) {
        schedules = plan.schedules
        seatsPerSchedule = plan.seatsPerSchedule
        self.users = users
        self.payFraction = payFraction
        self.tokens = tokens
        seatCursor = plan.next
    }

    /// Of the last round's reservations, those still held (only those are worth paying).
    func stillHeld(database: PostgresClient, logger: Logger) async throws -> Set<UUID> {
        guard !candidates.isEmpty else { return [] }
        let rows = try await database.query(
            "SELECT id FROM reservations WHERE id = ANY(\(candidates.map(\.id))) AND status = 'held'",
            logger: logger
        )
        var held = Set<UUID>()
        for try await id in rows.decode(UUID.self) { held.insert(id) }
        return held
    }

    /// The next round: payments for a share of `held`, then `reservations` new reservations, shuffled.
    mutating func round(reservations: Int, held: Set<UUID>) -> [LoadRequest] {
        for (concert, user) in requeuedLastRound { spent[concert]?.remove(user) }
        requeuedLastRound = requeuedThisRound
        requeuedThisRound = []
        var requests: [(LoadRequest, (concert: Int, user: Int, isReservation: Bool))] = []
        for candidate in candidates where held.contains(candidate.id) && Double.random(in: 0..<1) < payFraction {
            guard !(spent[candidate.concert]?.contains(candidate.user) ?? false) else { continue }
            spent[candidate.concert, default: []].insert(candidate.user)
            toRequeue.append((candidate.concert, candidate.user))
            let body = #"{"reservationId":"\#(candidate.id.uuidString.lowercased())"}"#
            requests.append(
                (request("/v1/payments", body, concert: candidate.concert, user: candidate.user), (candidate.concert, candidate.user, false))
            )
        }
        let total = schedules.count * seatsPerSchedule
        for _ in 0..<reservations {
            let index = seatCursor % total
            seatCursor += 1
            let schedule = schedules[index % schedules.count]
            let seat = index / schedules.count + 1
            guard let user = nextUser(schedule.concert) else { continue }
            let body = #"{"concertId":\#(schedule.concert),"date":"\#(schedule.date)","seatNumber":\#(seat)}"#
            requests.append((request("/v1/reservations", body, concert: schedule.concert, user: user), (schedule.concert, user, true)))
        }
        requests.shuffle()
        roundRequests = requests.map(\.1)
        return requests.map(\.0)
    }

    /// Takes note of what the round got accepted, by request index.
    mutating func settleRound(accepted: [Int: UUID]) {
        candidates = accepted.compactMap { index, id in
            let request = roundRequests[index]
            return request.isReservation ? (id, request.concert, request.user) : nil
        }
    }

    /// Issues new tokens to the buyers who paid; they are back in the round after next (time to
    /// be admitted). A failed issue (the database is down, say) is tried again after the next round.
    mutating func requeueSpentUsers(_ api: ConcertUnderTest) async {
        guard !toRequeue.isEmpty else { return }
        let pending = toRequeue
        let requests = pending.map { concert, user in
            LoadRequest(
                method: .POST,
                path: "/v1/queue/tokens",
                headers: api.authorization("bench-user-\(user)"),
                body: Array(#"{"concertId":\#(concert)}"#.utf8)
            )
        }
        guard
            let run = try? await HTTPLoadGenerator.run(
                LoadPlan(port: api.port, connections: 16, shape: .closedLoop, requests: requests, captureBody: { (200..<300).contains($0) })
            )
        else { return }
        toRequeue = []
        for (index, buyer) in pending.enumerated() {
            if let body = run.bodies[index], let token = JSONFields.string("token", in: body) {
                tokens[buyer.concert]?[buyer.user] = token
                requeuedThisRound.append(buyer)
            } else {
                toRequeue.append(buyer)
            }
        }
    }

    private mutating func nextUser(_ concert: Int) -> Int? {
        for _ in 0..<users {
            let user = userCursor[concert, default: 0] % users
            userCursor[concert] = user + 1
            if !(spent[concert]?.contains(user) ?? false) { return user }
        }
        return nil
    }

    private func request(_ path: String, _ body: String, concert: Int, user: Int) -> LoadRequest {
        LoadRequest(method: .POST, path: path, headers: [("Authorization", "Bearer \(tokens[concert]![user])")], body: Array(body.utf8))
    }
}
