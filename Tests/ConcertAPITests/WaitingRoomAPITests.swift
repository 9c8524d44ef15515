import ConcertAPI
import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import TestSupport
import Testing

@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct WaitingRoomAPITests {
    struct Issued: Decodable {
        let token: String
        let status: String
        let position: Int64
        let concertId: Int64
    }

    /// Issues a token for `user`, with the access token of `bearer` (by default the same user).
    static func issue(_ client: any TestClientProtocol, user: String, concert: Int = 1, bearer: String? = nil) async throws -> (TestResponse, Issued?)
    {
        var headers = APIHarness.authorization(bearer ?? user)
        headers[.contentType] = "application/json"
        let response = try await client.execute(
            uri: "/v1/queue/tokens",
            method: .post,
            headers: headers,
            body: ByteBuffer(string: #"{"userId":"\#(user)","concertId":\#(concert)}"#)
        )
        return (response, try? response.json(Issued.self))
    }

    static func get(_ client: any TestClientProtocol, _ uri: String, token: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .get, headers: headers)
    }

    @Test func issuingQueuesTheUserAndReissueReturnsTheSameToken() async throws {
        try await APIHarness.withAPI { client, _ in
            let (first, issued) = try await Self.issue(client, user: "alice")
            #expect(first.status == .created)
            #expect(issued?.status == "waiting")
            #expect(issued?.position == 1)
            #expect(issued?.concertId == 1)
            let (again, reissued) = try await Self.issue(client, user: "alice")
            #expect(again.status == .ok)
            #expect(reissued?.token == issued?.token)

            let (_, bob) = try await Self.issue(client, user: "bob")
            #expect(bob?.position == 2)
            let status = try await Self.get(client, "/v1/queue/status", token: bob?.token)
            #expect(status.status == .ok)
            #expect(status.headers[.retryAfter] == "5")
            let body = try status.json()
            #expect(body["status"] == "waiting")
            #expect(body["position"] == 2)
            #expect(body["estimatedWaitSeconds"] != nil)
        }
    }

    @Test func badTokenRequestsAreRefused() async throws {
        try await APIHarness.withAPI { client, _ in
            let unknown = try await Self.issue(client, user: "alice", concert: 999).0
            #expect(unknown.status == .notFound)
            #expect(try unknown.json()["code"] == "CONCERT_NOT_FOUND")
            #expect(try await Self.issue(client, user: "not valid", concert: 1, bearer: "alice").0.status == .badRequest)
            #expect(try await Self.issue(client, user: "alice", concert: 0).0.status == .badRequest)
        }
    }

    @Test func everyKindOfBadTokenIsRefusedAndReadsNothing() async throws {
        try await APIHarness.withAPI { client, harness in
            let (_, alice) = try await Self.issue(client, user: "alice", concert: 1)
            let token = try #require(alice?.token)
            let dates = "/v1/concerts/1/dates"

            func expectProblem(_ token: String?, _ status: HTTPResponse.Status, _ code: String) async throws {
                let response = try await Self.get(client, dates, token: token)
                #expect(response.status == status, "\(code)")
                #expect(try response.json()["code"] == .string(code))
            }
            try await expectProblem(nil, .unauthorized, "TOKEN_MISSING")
            try await expectProblem("garbage", .unauthorized, "TOKEN_INVALID")
            // Tampered: the payload says another seq, the signature no longer matches.
            var parts = token.split(separator: ".").map(String.init)
            let claims = try JSONSerialization.jsonObject(with: Data(base64URL: parts[1])!) as! [String: Any]
            var forged = claims
            forged["seq"] = 0
            parts[1] = try JSONSerialization.data(withJSONObject: forged).base64URLEncodedString()
            try await expectProblem(parts.joined(separator: "."), .unauthorized, "TOKEN_INVALID")
            // Signed with another secret.
            let other = await QueueTokens(secret: "some-other-secret-0123456789abcdefghij")
            let foreign = other.sign(user: UserID("alice")!, concert: ConcertID(1)!, seq: 1, issuedAt: Date())
            try await expectProblem(foreign, .unauthorized, "TOKEN_INVALID")
            // Still waiting.
            try await expectProblem(token, .forbidden, "TOKEN_NOT_ACTIVE")
            // Active, but for another concert.
            try await harness.admit()
            let response = try await Self.get(client, "/v1/concerts/2/dates", token: token)
            #expect(response.status == .forbidden)
            #expect(try response.json()["code"] == "TOKEN_WRONG_CONCERT")
            #expect(try await Self.get(client, dates, token: token).status == .ok)
        }
    }

    @Test func theRowsOfACrowdAdmittedAtOnceAreInMemoryBeforeItsFirstRequest() async throws {
        try await APIHarness.withAPI { client, harness in
            try await harness.services.view.refresh()
            var tokens: [String] = []
            for index in 1...20 { tokens.append(try #require(try await Self.issue(client, user: "crowd-\(index)").1?.token)) }
            #expect(harness.services.activeTokens.count == 0)
            // One tick admits 15 of the 20; the view's refresh that publishes the new mark reads their rows first.
            try await harness.admit(capacity: 15)
            #expect(harness.services.activeTokens.count == 15, "the admitted tokens' rows were not read ahead")
            let first = try await Self.get(client, "/v1/queue/status", token: tokens[0]).json()
            #expect(first["status"] == "active")
            #expect(first["activeUntil"] != nil)
            #expect(try await Self.get(client, "/v1/queue/status", token: tokens[15]).json()["position"] == 1)
        }
    }

    @Test func capacityTwoMakesTheThirdAndFourthWaitAndAdmitsThemInOrder() async throws {
        try await APIHarness.withAPI { client, harness in
            var tokens: [String] = []
            for user in ["u1", "u2", "u3", "u4"] { tokens.append(try #require(try await Self.issue(client, user: user).1?.token)) }
            try await harness.admit(capacity: 2)

            func status(_ index: Int) async throws -> [String: JSONValue] {
                try await Self.get(client, "/v1/queue/status", token: tokens[index]).json()
            }
            #expect(try await status(0)["status"] == "active")
            #expect(try await status(1)["status"] == "active")
            #expect(try await status(2)["position"] == 1)
            #expect(try await status(3)["position"] == 2)

            // u1 leaves (as at payment, which the worker announces): the next tick admits u3, and u4 moves up.
            try await harness.services.waitingRoom.expire(concert: ConcertID(1)!, seq: 1)
            harness.services.activeTokens.ended([EndedToken(concert: ConcertID(1)!, user: UserID("u1")!)])
            try await harness.admit(capacity: 2)
            #expect(try await status(2)["status"] == "active")
            #expect(try await status(3)["position"] == 1)
            #expect(try await Self.get(client, "/v1/queue/status", token: tokens[0]).json()["code"] == "TOKEN_EXPIRED")

            try await harness.services.waitingRoom.expire(concert: ConcertID(1)!, seq: 2)
            harness.services.activeTokens.ended([EndedToken(concert: ConcertID(1)!, user: UserID("u2")!)])
            try await harness.admit(capacity: 2)
            #expect(try await status(3)["status"] == "active")
        }
    }

    /// Capacity 1, abandoned after 3 s: a waiting token not polled for 12 s is abandoned by the
    /// next pass while still ahead of the mark; its next poll says so instead of "waiting".
    @Test func anAbandonedTokenAheadOfTheMarkIsToldAtItsNextPoll() async throws {
        try await APIHarness.withAPI { client, harness in
            var tokens: [String] = []
            for user in ["first", "second", "third"] { tokens.append(try #require(try await Self.issue(client, user: user).1?.token)) }
            let now = Date()
            // All three last seen now, whatever issuing them took on a loaded machine (seconds, in a
            // full run: "first" was then abandoned by the first pass and "second" admitted).
            try await harness.client.query(
                "UPDATE queue_tokens SET last_seen_at = \(now) WHERE concert_id = 1",
                logger: DatabaseEnvironment.logger
            )
            try await harness.admit(capacity: 1, abandonAfter: 3, now: now)
            let second = try await Self.get(client, "/v1/queue/status", token: tokens[1])
            #expect(try second.json()["status"] == "waiting", "second's poll: \(second.status) \(String(buffer: second.body))")
            // Twelve seconds on: "third" was never polled; "second" was, just now (the poll is recorded).
            try await harness.client.query(
                "UPDATE queue_tokens SET last_seen_at = \(now.addingTimeInterval(11)) WHERE concert_id = 1 AND user_id = 'second'",
                logger: DatabaseEnvironment.logger
            )
            try await harness.admit(capacity: 1, abandonAfter: 3, now: now.addingTimeInterval(12))
            let abandoned = try await Self.get(client, "/v1/queue/status", token: tokens[2])
            #expect(abandoned.status == .unauthorized)
            #expect(try abandoned.json()["code"] == "TOKEN_EXPIRED")
            #expect(try abandoned.json()["detail"]?.string?.contains("abandoned") == true)
            #expect(try await Self.get(client, "/v1/queue/status", token: tokens[1]).json()["status"] == "waiting")
        }
    }

    @Test func aTokenPastItsLifetimeIsExpired() async throws {
        try await APIHarness.withAPI { client, harness in
            let token = try #require(try await Self.issue(client, user: "alice").1?.token)
            // Admitted with a lifetime that ends fifteen seconds from now (room for a loaded machine).
            let now = Date()
            try await harness.admit(activeFor: 15, now: now)
            let active = try await Self.get(client, "/v1/queue/status", token: token)
            #expect(try active.json()["status"] == "active")
            let until = try #require(try active.json()["activeUntil"]?.string.flatMap(RFC3339.date))
            // Once it is over (the API knows the end from the row it keeps), reads are refused, before and after
            // the next pass marks it expired.
            try await Task.sleep(for: .seconds(max(0, until.timeIntervalSinceNow) + 1.1))
            #expect(try await Self.get(client, "/v1/queue/status", token: token).json()["code"] == "TOKEN_EXPIRED")
            try await harness.admit(activeFor: 2, now: Date())
            #expect(try await Self.get(client, "/v1/queue/status", token: token).json()["code"] == "TOKEN_EXPIRED")
            let dates = try await Self.get(client, "/v1/concerts/1/dates", token: token)
            #expect(dates.status == .unauthorized)
            #expect(try dates.json()["code"] == "TOKEN_EXPIRED")
        }
    }

    @Test func waitingTokensThatStopPollingAreAbandonedAndSkipped() async throws {
        try await APIHarness.withAPI { client, harness in
            let silent = try #require(try await Self.issue(client, user: "silent").1?.token)
            let polling = try #require(try await Self.issue(client, user: "polling").1?.token)
            let later = Date().addingTimeInterval(40)
            // Only `polling` polls (recorded in memory, written in one batch).
            _ = try await Self.get(client, "/v1/queue/status", token: polling)
            harness.services.lastSeen.saw(concert: ConcertID(1)!, seq: 2, at: later)
            try await harness.services.lastSeen.flush()
            try await harness.admit(capacity: 1, abandonAfter: 30, now: later)
            #expect(try await Self.get(client, "/v1/queue/status", token: silent).json()["code"] == "TOKEN_EXPIRED")
            #expect(try await Self.get(client, "/v1/queue/status", token: polling).json()["status"] == "active")
        }
    }

    /// Polls soon after a written time are held back, yet a token is abandoned only a whole
    /// window after its last poll: the held-back time is written before the written one runs out.
    @Test func pollsAreHeldBackButATokenIsAbandonedOnlyAWindowAfterItsLastPoll() async throws {
        try await APIHarness.withAPI { client, harness in
            _ = try #require(try await Self.issue(client, user: "steady").1?.token)
            let recorder = LastSeenRecorder(store: harness.services.waitingRoom, logger: Logger(label: "test"), abandonAfter: 30)
            let concert = ConcertID(1)!
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 100).rounded())
            func stored() async throws -> Date? {
                let rows = try await harness.client.query("SELECT last_seen_at FROM queue_tokens WHERE concert_id = 1 AND seq = 1")
                for try await seen in rows.decode(Date.self) { return seen }
                return nil
            }
            func state() async throws -> String? {
                let rows = try await harness.client.query("SELECT state FROM queue_tokens WHERE concert_id = 1 AND seq = 1")
                for try await state in rows.decode(String.self) { return state }
                return nil
            }

            recorder.saw(concert: concert, seq: 1, at: t0)
            try await recorder.flush(now: t0)
            #expect(try await stored() == t0)
            // 5 s later (under a third of the window): held back, nothing written.
            recorder.saw(concert: concert, seq: 1, at: t0 + 5)
            try await recorder.flush(now: t0 + 5)
            try await recorder.flush(now: t0 + 20)
            #expect(try await stored() == t0)
            // Written once t0 comes within two flushes and a second of the window's end (30 − 5 s).
            try await recorder.flush(now: t0 + 25)
            #expect(try await stored() == t0 + 5)
            // 34 s after t0 but 29 s after the last poll: still waiting.
            try await harness.admit(capacity: 0, abandonAfter: 30, now: t0 + 34)
            #expect(try await state() == "waiting")
            // A poll a third of the window after the written time is written at the next flush.
            recorder.saw(concert: concert, seq: 1, at: t0 + 16)
            try await recorder.flush(now: t0 + 16)
            #expect(try await stored() == t0 + 16)
            // Held back, then written on shutdown (`everything`).
            recorder.saw(concert: concert, seq: 1, at: t0 + 20)
            try await recorder.flush(now: t0 + 20)
            #expect(try await stored() == t0 + 16)
            try await recorder.flush(now: t0 + 20, everything: true)
            #expect(try await stored() == t0 + 20)
            // Abandoned a whole window after the last poll, not before.
            try await harness.admit(capacity: 0, abandonAfter: 30, now: t0 + 49)
            #expect(try await state() == "waiting")
            try await harness.admit(capacity: 0, abandonAfter: 30, now: t0 + 51)
            #expect(try await state() == "abandoned")
        }
    }

    @Test func anActiveTokenReadsDatesAndFreeSeats() async throws {
        try await APIHarness.withAPI { client, harness in
            let token = try #require(try await Self.issue(client, user: "alice", concert: 2).1?.token)
            try await harness.admit()
            let dates = try await Self.get(client, "/v1/concerts/2/dates", token: token)
            #expect(dates.status == .ok)
            struct Dates: Decodable {
                struct Day: Decodable {
                    let date: String
                    let availableSeats: Int
                }
                let concertId: Int
                let dates: [Day]
            }
            let body = try dates.json(Dates.self)
            #expect(body.concertId == 2)
            #expect(body.dates.count == 5)
            #expect(body.dates.allSatisfy { $0.availableSeats == 50 })

            let day = try #require(body.dates.first?.date)
            // A seat held past its deadline is free; one held until later is not; a sold one never is.
            try await harness.client.query(
                """
                UPDATE seats SET state = 'held', reservation_id = gen_random_uuid(), holder = 'x',
                    hold_deadline = CASE number WHEN 1 THEN now() - interval '1 second' ELSE now() + interval '5 minutes' END
                FROM schedules WHERE schedules.id = seats.schedule_id AND schedules.concert_id = 2
                  AND schedules.date = \(day)::date AND number IN (1, 2)
                """,
                logger: DatabaseEnvironment.logger
            )
            let seats = try await Self.get(client, "/v1/concerts/2/dates/\(day)/seats", token: token)
            #expect(seats.status == .ok)
            struct Seats: Decodable {
                struct Seat: Decodable {
                    let number: Int
                    let price: Int
                }
                let concertId: Int
                let date: String
                let seats: [Seat]
            }
            let free = try seats.json(Seats.self)
            #expect(free.date == day)
            #expect(free.seats.count == 49)
            #expect(free.seats.first?.number == 1)
            #expect(!free.seats.contains { $0.number == 2 })
            #expect(free.seats.first?.price == 150_000)

            let missing = try await Self.get(client, "/v1/concerts/2/dates/2099-01-01/seats", token: token)
            #expect(missing.status == .notFound)
            #expect(try missing.json()["code"] == "SCHEDULE_NOT_FOUND")
            #expect(try await Self.get(client, "/v1/concerts/2/dates/tomorrow/seats", token: token).status == .badRequest)
        }
    }
}

extension Data {
    init?(base64URL: String) {
        var base64 = base64URL.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }

    func base64URLEncodedString() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
