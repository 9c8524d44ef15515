import AMQPClient
import ConcertAPI
import ConcertDomain
import ConcertStorage
import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One reservation followed end to end: `concert api` and `concert worker` processes export their
/// spans over OTLP/HTTP to a real receiver (`Tests/Tracing/otlp_receiver.py`, decoding with the
/// OpenTelemetry protobuf definitions). The reservation is submitted with a client's
/// `traceparent` and `Prefer: wait`; the sampler is `parentbased_traceidratio` at 0, so exactly
/// what the client sampled is traced and nothing else (a second reservation without a
/// `traceparent` leaves no span). Holds last 3 s, so the hold's expiry comes back into the trace.
@Suite(.serialized)
struct TracingTests {
    static let root = ClusterEnvironment.root
    static let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let clientSpan = "00f067aa0ba902b7"

    @Test func oneReservationIsOneTraceAcrossTheBroker() async throws {
        try await BrokerVirtualHost.withVirtualHost { amqp in
            try await DatabaseEnvironment.withIsolatedDatabaseAndURL { client, databaseURL in
                try await Migrator().migrate(client, logger: DatabaseEnvironment.logger)
                _ = try await DemoData(concerts: 1, dates: 1, seats: 20).seed(client, logger: DatabaseEnvironment.logger)
                let spansFile = FileManager.default.temporaryDirectory.appendingPathComponent("spans-\(UUID().uuidString.prefix(6)).jsonl")
                let receiver = try await SpawnedProcess(
                    "/usr/bin/env",
                    ["python3", Self.root.appendingPathComponent("Tests/Tracing/otlp_receiver.py").path, "--out", spansFile.path],
                    environment: ProcessInfo.processInfo.environment,
                    log: spansFile.appendingPathExtension("log")
                )
                defer { receiver.terminate() }
                var receiverPort: Int?
                try await eventually(timeout: .seconds(20), "the OTLP receiver listens (needs PyPI's opentelemetry-proto: scripts/monitoring-tools)")
                {
                    receiverPort = receiver.logLines().compactMap { Int($0.split(separator: " ").last ?? "") }.first
                    return receiverPort != nil
                }
                let userSecret = "tracing-tests-user-secret-0123456789abcdef"
                let port = try freeLocalPort()
                let environment = ClusterEnvironment.serveEnvironment(
                    amqp: amqp,
                    databaseURL: databaseURL,
                    port: port,
                    partitions: 4,
                    userSecret: userSecret,
                    [
                        "CONCERT_OTEL_ENDPOINT": "http://127.0.0.1:\(receiverPort!)",
                        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                        "OTEL_TRACES_SAMPLER_ARG": "0",
                        "OTEL_BSP_SCHEDULE_DELAY": "200",
                        "CONCERT_HOLD_SECONDS": "3",
                        "CONCERT_LOG_LEVEL": "debug",
                    ]
                )
                let concert = Self.root.appendingPathComponent(".build/debug/concert").path
                let temporary = FileManager.default.temporaryDirectory
                let api = try await SpawnedProcess(
                    concert,
                    ["api"],
                    environment: environment,
                    log: temporary.appendingPathComponent("tracing-api-\(port).log")
                )
                let worker = try await SpawnedProcess(
                    concert,
                    ["worker"],
                    environment: environment,
                    log: temporary.appendingPathComponent("tracing-worker-\(port).log")
                )
                defer {
                    api.terminate()
                    worker.terminate()
                }
                let commandID = try await Self.reserve(port: port, userSecret: userSecret)
                try await eventually(timeout: .seconds(30), "the hold's expiry is traced") {
                    Self.spans(in: spansFile).contains {
                        $0.name.hasPrefix("process concert.commands.p") && $0.attributes["concert.command.type"] as? String == "ExpireHold"
                    }
                }
                // A one-shot command is a trace of its own (always sampled here): the seat maps it
                // sends carry it to the worker.
                let imported = try await runCapturingOutput(
                    concert,
                    ["catalogue", "import", Self.root.appendingPathComponent("scripts/catalogue/olympic-hall.json").path],
                    environment: environment.merging(["OTEL_TRACES_SAMPLER": "always_on"]) { _, new in new }
                )
                #expect(imported.status == 0, "\(imported.output)")
                try await eventually(timeout: .seconds(30), "the imported seat maps are traced") {
                    Self.spans(in: spansFile).contains { $0.attributes["concert.command.type"] as? String == "SetSeatMap" && $0.kind == "CONSUMER" }
                }
                #expect(await api.stop() == 0, "concert api stops cleanly; log: \(api.log.path)")
                #expect(await worker.stop() == 0, "concert worker stops cleanly; log: \(worker.log.path)")
                try Self.check(Self.spans(in: spansFile), commandID: commandID)
                let logged = api.logLines().filter { $0.contains("trace_id=\(Self.clientTrace)") }
                #expect(!logged.isEmpty, "the API's log lines of the traced request carry its trace_id")
                #expect(logged.allSatisfy { $0.contains("span_id=") })
            }
        }
    }

    /// Charges a buyer, queues until admitted, reserves seat 1 traced (waiting for the outcome)
    /// and seat 2 untraced; returns the traced command's id.
    static func reserve(port: Int, userSecret: String) async throws -> String {
        let live = LiveAPI(port: port)
        try await eventually(timeout: .seconds(60), "concert api and worker are ready") {
            await live.send("GET", "/health/ready", bearer: nil).status == 200
        }
        let access = AccessTokens.sign(user: UserID("traced-buyer")!, secret: userSecret, lifetime: 3600)
        #expect(await live.send("POST", "/v1/users/traced-buyer/balance/charges", bearer: access, body: #"{"amount":1000000}"#).status == 200)
        let token = try #require(await live.send("POST", "/v1/queue/tokens", bearer: access, body: #"{"concertId":1}"#).string("token"))
        try await eventually(timeout: .seconds(20), "the buyer is admitted") {
            await live.send("GET", "/v1/queue/status", bearer: token).string("status") == "active"
        }
        let dates = await live.send("GET", "/v1/concerts/1/dates", bearer: token)
        let date =
            try #require((try JSONSerialization.jsonObject(with: dates.body) as? [String: Any])?["dates"] as? [[String: Any]])[0]["date"] as? String
        let (status, body) = try await send(
            port: port,
            path: "/v1/reservations",
            token: token,
            body: #"{"concertId":1,"date":"\#(date!)","seatNumber":1}"#,
            headers: ["traceparent": "00-\(clientTrace)-\(clientSpan)-01", "Prefer": "wait=10"]
        )
        #expect(status == 201, "the traced reservation's outcome within the wait: \(String(decoding: body, as: UTF8.self))")
        let untraced = await live.send("POST", "/v1/reservations", bearer: token, body: #"{"concertId":1,"date":"\#(date!)","seatNumber":2}"#)
        #expect(untraced.status == 202)
        return try #require((try JSONSerialization.jsonObject(with: body) as? [String: Any])?["commandId"] as? String)
    }

    /// Every span the receiver got: all of the client's trace, each where the design puts it.
    static func check(_ all: [ReceivedSpan], commandID: String) throws {
        let importing = try #require(all.first { $0.name == "catalogue import" }, "the import's root span")
        #expect(importing.service == "concert-catalogue" && importing.parent.isEmpty)
        #expect(
            Set(all.map(\.traceID)) == [clientTrace, importing.traceID],
            "the client's trace and the import's; the untraced requests sampled out"
        )
        let seatMaps = all.filter { $0.traceID == importing.traceID && $0.name == "publish concert.commands" }
        #expect(
            !seatMaps.isEmpty && seatMaps.allSatisfy { $0.parent == importing.id && $0.attributes["concert.command.type"] as? String == "SetSeatMap" }
        )
        let applied = all.filter { $0.traceID == importing.traceID && $0.kind == "CONSUMER" }
        #expect(applied.count == seatMaps.count && applied.allSatisfy { span in seatMaps.contains { $0.id == span.parent } })
        let spans = all.filter { $0.traceID == clientTrace }
        func one(_ description: String, _ matches: (ReceivedSpan) -> Bool) throws -> ReceivedSpan {
            let found = spans.filter(matches)
            try #require(found.count == 1, "one \(description), found \(found.count) among \(spans.map(\.name))")
            return found[0]
        }
        let server = try one("HTTP server span") { $0.kind == "SERVER" }
        #expect(server.service == "concert-api" && server.parent == clientSpan)
        #expect(server.attributes["http.request.method"] as? String == "POST")
        let publish = try one("command publish") { $0.name == "publish concert.commands" }
        #expect(publish.kind == "PRODUCER" && publish.parent == server.id && publish.service == "concert-api")
        #expect(publish.attributes["messaging.system"] as? String == "rabbitmq")
        #expect(publish.attributes["messaging.message.id"] as? String == commandID)
        let wait = try one("wait for the outcome") { $0.name == "wait for outcome" }
        #expect(wait.parent == server.id && wait.attributes["concert.outcome.received"] as? Bool == true)
        let process = try one("reservation's processing") {
            $0.name.hasPrefix("process concert.commands.p") && $0.attributes["concert.command.type"] as? String == "ReserveSeat"
        }
        #expect(process.kind == "CONSUMER" && process.service == "concert-worker" && process.parent == publish.id)
        #expect(process.attributes["messaging.message.id"] as? String == commandID)
        #expect((process.attributes["concert.queue.wait_ms"] as? Int).map { $0 >= 0 } == true, "the time it waited in its queue")
        let transactions = spans.filter { $0.name == "batch transaction" }
        let transaction = try #require(transactions.first { $0.parent == process.id }, "the reservation's batch transaction")
        #expect(transaction.kind == "CLIENT" && transaction.attributes["db.system.name"] as? String == "postgresql")
        #expect((transaction.attributes["messaging.batch.message_count"] as? Int ?? 0) >= 1)
        #expect(transaction.attributes["concert.committed"] as? Bool == true)
        let reply = try one("outcome pushed back") { $0.name.hasPrefix("publish concert.replies.") }
        #expect(reply.kind == "PRODUCER" && reply.parent == process.id && reply.service == "concert-worker")
        let expiry = try one("hold expiry scheduled") { $0.name == "publish concert.delay" }
        #expect(expiry.parent == transaction.id && expiry.attributes["concert.command.type"] as? String == "ExpireHold")
        let expired = try one("hold expiry applied") {
            $0.name.hasPrefix("process concert.commands.p") && $0.attributes["concert.command.type"] as? String == "ExpireHold"
        }
        #expect(expired.parent == expiry.id && (expired.attributes["concert.queue.wait_ms"] as? Int ?? 0) >= 2_000)
        print("tracing: \(spans.count) spans of trace \(clientTrace):")
        for span in spans.sorted(by: { $0.start < $1.start }) {
            print("  \(span.service) \(span.kind) \"\(span.name)\" span \(span.id) parent \(span.parent.isEmpty ? "-" : span.parent)")
        }
    }

    struct ReceivedSpan {
        let service: String
        let traceID: String
        let id: String
        let parent: String
        let kind: String
        let name: String
        let start: Int
        let attributes: [String: Any]
    }

    static func spans(in file: URL) -> [ReceivedSpan] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return ReceivedSpan(
                service: object["service"] as? String ?? "",
                traceID: object["traceId"] as? String ?? "",
                id: object["spanId"] as? String ?? "",
                parent: object["parentSpanId"] as? String ?? "",
                kind: object["kind"] as? String ?? "",
                name: object["name"] as? String ?? "",
                start: object["start"] as? Int ?? 0,
                attributes: object["attributes"] as? [String: Any] ?? [:]
            )
        }
    }

    /// A POST with a bearer token and extra header fields.
    static func send(port: Int, path: String, token: String, body: String, headers: [String: String]) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
