import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import FoundationNetworking
import Glibc
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// One answer of the API under test, with when it came.
struct Answer: Sendable {
    let status: Int
    let body: Data
    let at: ContinuousClock.Instant

    func string(_ key: String) -> String? {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?[key] as? String
    }

    func object(_ key: String) -> [String: Any]? {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?[key] as? [String: Any]
    }
}

/// A real HTTP client of a `concert serve` started by the test.
struct LiveAPI: Sendable {
    let port: Int

    func send(_ method: String, _ path: String, bearer: String?, body: String? = nil, headers: [String: String] = [:]) async -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data, at: .now)
        } catch {
            // No answer at all (refused, timed out) counts as status 0.
            return Answer(status: 0, body: Data(), at: .now)
        }
    }
}

/// Buyers reserving (and half of them paying) in a loop until stopped, noting every answer, every
/// accepted command, and every command whose success a buyer saw (the payers poll their outcomes).
final class Burst: Sendable {
    /// A command a buyer saw succeed: a reservation (`reservationId` made) or its payment.
    struct Confirmed: Sendable {
        let commandId: String
        let reservationId: String
        let isPayment: Bool
    }

    struct Buyer: Sendable {
        let user: String
        let access: String
        let pays: Bool
    }

    let api: LiveAPI
    let buyers: [Buyer]
    let dates: [String]
    let seats: Int
    private let stopped = Atomic<Bool>(false)
    private let state = Mutex<(accepted: [String], answers: [(ContinuousClock.Instant, Int)], codes: [String: Int], confirmed: [Confirmed])>(
        ([], [], [:], [])
    )

    init(api: LiveAPI, buyers: [Buyer], dates: [String], seats: Int) {
        self.api = api
        self.buyers = buyers
        self.dates = dates
        self.seats = seats
    }

    var accepted: [String] { state.withLock { $0.accepted } }
    var confirmed: [Confirmed] { state.withLock { $0.confirmed } }
    var answers: [(at: ContinuousClock.Instant, status: Int)] { state.withLock { $0.answers.map { (at: $0.0, status: $0.1) } } }

    func stop() { stopped.store(true, ordering: .relaxed) }
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    private func note(_ answer: Answer, accepting: Bool = false) {
        state.withLock { state in
            state.answers.append((answer.at, answer.status))
            if answer.status >= 500, let code = answer.string("code") { state.codes[code, default: 0] += 1 }
            if accepting, answer.status == 202, let id = answer.string("commandId") { state.accepted.append(id.lowercased()) }
        }
    }

    private func confirm(_ command: Confirmed) {
        state.withLock { $0.confirmed.append(command) }
    }

    /// How many answers of each status over the whole burst ("0" for none at all).
    var statusCounts: String {
        Dictionary(grouping: answers, by: \.status).sorted { $0.key < $1.key }.map { "\($0.value.count) × \($0.key)" }.joined(separator: ", ")
    }

    /// Runs every buyer until `stop()`.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for buyer in buyers { group.addTask { await self.run(buyer) } }
        }
    }

    /// A waiting-room token of `buyer`'s, once it is active; nil when stopped first.
    private func admittedToken(_ buyer: Buyer) async -> String? {
        while !isStopped {
            let issued = await api.send("POST", "/v1/queue/tokens", bearer: buyer.access, body: #"{"concertId":1}"#)
            guard let token = issued.string("token") else {
                try? await Task.sleep(for: .milliseconds(300))
                continue
            }
            while !isStopped {
                let status = await api.send("GET", "/v1/queue/status", bearer: token)
                if status.string("status") == "active" { return token }
                if status.status == 401 { break }
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
        return nil
    }

    private func run(_ buyer: Buyer) async {
        var token: String?
        while !isStopped {
            if token == nil { token = await admittedToken(buyer) }
            guard let current = token else { return }
            let body = #"{"concertId":1,"date":"\#(dates.randomElement()!)","seatNumber":\#(Int.random(in: 1...seats))}"#
            let reserved = await api.send("POST", "/v1/reservations", bearer: current, body: body)
            note(reserved, accepting: true)
            switch reserved.status {
            case 202:
                guard buyer.pays, let id = reserved.string("commandId") else { continue }
                guard let held = await outcome(of: id, token: current), held.string("status") == "succeeded",
                    let reservation = held.object("result")?["reservationId"] as? String
                else { continue }
                confirm(.init(commandId: id, reservationId: reservation, isPayment: false))
                let paid = await api.send("POST", "/v1/payments", bearer: current, body: #"{"reservationId":"\#(reservation)"}"#)
                note(paid, accepting: true)
                guard paid.status == 202, let payment = paid.string("commandId") else { continue }
                // The payment ends the waiting-room token: its outcome is asked with the access token.
                if await outcome(of: payment, token: buyer.access)?.string("status") == "succeeded" {
                    confirm(.init(commandId: payment, reservationId: reservation, isPayment: true))
                }
                // A payment ends the waiting-room token: queue again.
                token = nil
            case 401: token = nil
            case 0, 429, 503: try? await Task.sleep(for: .milliseconds(100))
            default: break
            }
        }
    }

    /// The command's final answer, polled; nil if it took longer than 30 s or the burst stopped.
    private func outcome(of id: String, token: String) async -> Answer? {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, !isStopped {
            let answer = await api.send("GET", "/v1/commands/\(id)", bearer: token)
            note(answer)
            if answer.status == 200, answer.string("status") != "pending" { return answer }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// How the API answered from `since` on: requests, 503s, no answers, and how long after
    /// `since` the last 503 (or no answer) came.
    func failover(since: ContinuousClock.Instant) -> String {
        let after = answers.filter { $0.at >= since }
        let failed = after.filter { $0.status == 503 || $0.status == 0 }
        let window = failed.last.map { $0.at - since } ?? .zero
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        return
            "\(after.count) answers after it, \(after.filter { $0.status == 503 }.count) × 503 and \(after.filter { $0.status == 0 }.count) without an answer, "
            + "the last of them \(String(format: "%.1f", seconds)) s after it; \(after.filter { $0.status == 202 }.count) × 202; "
            + "codes of 5xx over the whole burst: \(state.withLock { $0.codes }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
    }
}
