import Foundation
import Glibc
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Clients that hold connections without sending a request, tried on a real `concert api`:
/// they must not starve the others, and they are closed after `CONCERT_HTTP_IDLE_TIMEOUT_SECONDS`.
/// `scripts/test` runs this suite on its own (it starts a process and opens 1 500 connections).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct HTTPConnectionTests {
    /// Starts `concert api` on a free port with `changes`, waits until it answers, runs `body`, stops it.
    static func withAPI(_ changes: [String: String], ready: Bool = false, _ body: (Int) async throws -> Void) async throws {
        let port = try freeLocalPort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("concert-http-\(UUID().uuidString.prefix(6)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let environment = StartupTests.environment.merging(changes.merging(["CONCERT_HTTP_PORT": String(port)]) { _, new in new }) { _, new in new }
        let process = try await SpawnedProcess(StartupTests.executable.path, ["api"], environment: environment, log: log)
        do {
            try await eventually(timeout: .seconds(30), "the API answers") {
                (try? await StartupTests.get(port: port, ready ? "/health/ready" : "/health/live"))?.status == 200
            }
            try await body(port)
        } catch {
            _ = await process.stop(timeout: .seconds(15))
            throw error
        }
        #expect(process.logLines().contains { $0.contains("open-file limit") }, "the start-up says the open-file limit")
        _ = await process.stop(timeout: .seconds(15))
    }

    static func connect(_ port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard descriptor >= 0, connected == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED) }
        return descriptor
    }

    static func send(_ descriptor: Int32, _ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(descriptor, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// What the server sent so far, and whether it closed (without waiting).
    static func peek(_ descriptor: Int32) -> (text: String, closed: Bool) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var text = ""
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                text += String(decoding: buffer[0..<count], as: UTF8.self)
                continue
            }
            return (text, count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        }
    }

    @Test func halfRequestsDoNotStarveOthersAndAreClosedAfterTheIdleTimeout() async throws {
        try await Self.withAPI(["CONCERT_HTTP_IDLE_TIMEOUT_SECONDS": "3"]) { port in
            var held: [Int32] = []
            defer { for descriptor in held { close(descriptor) } }
            for _ in 0..<1_500 {
                let descriptor = try Self.connect(port)
                Self.send(descriptor, "GET /health/live HTTP/1.1\r\nHost: concert\r\n")
                held.append(descriptor)
            }
            let started = ContinuousClock.now
            #expect(try await StartupTests.get(port: port, "/health/live").status == 200)
            #expect(ContinuousClock.now - started < .seconds(1))

            // A client dripping its request a byte at a time is no better off.
            let drip = try Self.connect(port)
            defer { close(drip) }
            let dripping = Task {
                for byte in "GET /health/live HTTP/1.1\r\nHost: concert\r\nX-Slow: yes".map(String.init) {
                    Self.send(drip, byte)
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            defer { dripping.cancel() }

            try await eventually(timeout: .seconds(8), "every half request is closed") {
                held.allSatisfy { Self.peek($0).closed }
            }
            try await eventually(timeout: .seconds(3), "the dripping client is closed") { Self.peek(drip).closed }
            #expect(ContinuousClock.now - started < .seconds(10))
            // A connection that does send whole requests keeps being served.
            #expect(try await StartupTests.get(port: port, "/health/live").status == 200)
        }
    }

    @Test func connectionsPastTheCapAreAnswered503AndClosed() async throws {
        try await Self.withAPI(["CONCERT_HTTP_MAX_CONNECTIONS": "20"]) { port in
            var held: [Int32] = []
            defer { for descriptor in held { close(descriptor) } }
            for _ in 0..<20 { held.append(try Self.connect(port)) }
            // Let the server count them.
            try await Task.sleep(for: .milliseconds(300))
            let extra = try Self.connect(port)
            defer { close(extra) }
            var answer = (text: "", closed: false)
            try await eventually(timeout: .seconds(3), "the connection past the cap is answered and closed") {
                let seen = Self.peek(extra)
                answer.text += seen.text
                answer.closed = seen.closed
                return seen.closed
            }
            #expect(answer.text.hasPrefix("HTTP/1.1 503"), "\(answer.text)")
            // Once some leave, new clients are served again.
            for descriptor in held.prefix(5) { close(descriptor) }
            held.removeFirst(5)
            try await eventually(timeout: .seconds(3), "a new client is served") {
                (try? await StartupTests.get(port: port, "/health/live"))?.status == 200
            }
        }
    }

    /// `CONCERT_USER_JWKS` rewritten under a running API: tokens of the new key are accepted within
    /// seconds, of the removed one no more; a file that no longer parses keeps the last good keys.
    @Test func aRotatedJWKSIsTrustedWithoutARestart() async throws {
        func status(_ port: Int, _ token: String) async throws -> Int {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/users/rotating/balance")!)
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        let old = TestIdentityProvider(kid: "old")
        let new = TestIdentityProvider(kid: "new")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString.prefix(6)).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try old.jwks().write(to: file, atomically: true, encoding: .utf8)
        try await Self.withAPI(["CONCERT_USER_JWKS": file.path], ready: true) { port in
            let oldToken = try await old.token(subject: "rotating")
            let newToken = try await new.token(subject: "rotating")
            #expect(try await status(port, oldToken) == 200)
            #expect(try await status(port, newToken) == 401)
            #expect(try await status(port, oldToken) == 200, "before the rotation")

            try new.jwks().write(to: file, atomically: true, encoding: .utf8)
            try await eventually(timeout: .seconds(10), "the new key is trusted") { try await status(port, newToken) == 200 }
            #expect(try await status(port, oldToken) == 401)

            try "{ broken".write(to: file, atomically: true, encoding: .utf8)
            try await Task.sleep(for: .seconds(4))
            #expect(try await status(port, newToken) == 200)
        }
    }
}
