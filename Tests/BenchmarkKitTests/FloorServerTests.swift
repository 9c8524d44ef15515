import BenchmarkKit
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import Testing

/// The floor the waiting-room polls are compared with answers the polls' requests as the API
/// answers a waiting token: `200` and a status body, for any bearer token.
struct FloorServerTests {
    @Test func answersEveryPollWithTheFixedWaitingBody() async throws {
        let app = Application(router: FloorServer.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let polls = (0..<50).map { LoadRequest(method: .GET, path: "/v1/queue/status", headers: [("Authorization", "Bearer token-\($0)")]) }
            let run = try await HTTPLoadGenerator.run(
                LoadPlan(port: client.port!, connections: 4, shape: .closedLoop, requests: polls, captureBody: { $0 == 200 })
            )
            #expect(run.statusCounts == [200: 50])
            #expect(run.bodies[0].map { String(decoding: $0, as: UTF8.self) } == FloorServer.answer)
            #expect(FloorServer.answer.contains(#""status":"waiting""#))
        }
    }
}
