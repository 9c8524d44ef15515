import Foundation
import Glibc
import TestSupport
import Testing

/// `scripts/services`, run from a copy in a fresh folder (its own `.run/`): a port held by another
/// program is named, with that program and the variable that picks another port, and nothing
/// starts; pid files that point at processes which are not ours are never adopted.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CONCERT_REQUIRE_SERVICES"] == "1"))
struct ServicesScriptTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A folder holding `scripts/services`, the `scripts/services.d/` it sources and the `scripts/faults`
    /// it passes fault verbs to, and nothing else, removed by the caller.
    static func checkout() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("services-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("scripts"), withIntermediateDirectories: true)
        for item in ["scripts/services", "scripts/services.d", "scripts/faults"] {
            try FileManager.default.copyItem(at: repository.appendingPathComponent(item), to: folder.appendingPathComponent(item))
        }
        return folder
    }

    /// Runs `scripts/services arguments…` in `folder` with the given ports; returns exit status and stderr + stdout.
    static func services(_ folder: URL, _ arguments: [String], ports: [String: Int]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        for (variable, port) in ports { environment[variable] = String(port) }
        return try await runCapturingOutput(
            folder.appendingPathComponent("scripts/services").path,
            arguments,
            environment: environment,
            standardError: .combinedWithOutput
        )
    }

    /// A socket of this process listening on 127.0.0.1 at a port the kernel chose.
    static func listen() throws -> (socket: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && Glibc.listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw POSIXError(.EADDRINUSE)
        }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Six ports nothing listens on, one per CONCERT_*_PORT.
    static func freePorts() throws -> [String: Int] {
        var ports: [String: Int] = [:]
        for variable in [
            "CONCERT_AMQP_PORT", "CONCERT_AMQP_MANAGEMENT_PORT", "CONCERT_RABBITMQ_PROMETHEUS_PORT", "CONCERT_RABBITMQ_DIST_PORT",
            "CONCERT_EPMD_PORT", "CONCERT_PG_PORT",
        ] {
            ports[variable] = try freeLocalPort()
        }
        return ports
    }

    @Test func aPortHeldByAnotherProgramIsNamedAndNothingStarts() async throws {
        let folder = try Self.checkout()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (listener, port) = try Self.listen()
        defer { close(listener) }
        var ports = try Self.freePorts()
        ports["CONCERT_PG_PORT"] = port

        let (status, output) = try await Self.services(folder, ["up"], ports: ports)

        #expect(status == 1, "\(output)")
        #expect(output.contains("port \(port) for PostgreSQL (CONCERT_PG_PORT) is in use by"), "\(output)")
        #expect(output.contains("pid \(getpid())"), "the holder is named by pid: \(output)")
        #expect(output.contains("CONCERT_PG_PORT="), "another port is proposed: \(output)")
        #expect(!output.contains("starting RabbitMQ"), "nothing starts when a port is taken: \(output)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(".run/postgres/data").path))
    }

    @Test func aClusterSizeThatIsNotANodeCountIsRefusedBeforeAnythingStarts() async throws {
        let folder = try Self.checkout()
        defer { try? FileManager.default.removeItem(at: folder) }
        for size in ["", "0", "three", "12"] {
            let (status, output) = try await Self.services(folder, ["up", "--cluster", size], ports: try Self.freePorts())
            #expect(status == 1, "\(output)")
            #expect(output.contains("--cluster takes a node count from 1 to 9"), "\(output)")
            #expect(!output.contains("starting"), "\(output)")
        }
        let (status, output) = try await Self.services(folder, ["node", "2", "kill"], ports: try Self.freePorts())
        #expect(status == 1 && output.contains("no cluster node '2'"), "\(output)")
    }

    @Test func pidFilesOfProcessesThatAreNotOursAreNotAdopted() async throws {
        let folder = try Self.checkout()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Both pid files name a live process (this test), which is neither a RabbitMQ node nor a
        // postmaster of this folder: a script that trusted the files would call them running.
        let run = folder.appendingPathComponent(".run")
        try FileManager.default.createDirectory(at: run.appendingPathComponent("rabbitmq"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: run.appendingPathComponent("postgres/data"), withIntermediateDirectories: true)
        try "\(getpid())\n".write(to: run.appendingPathComponent("rabbitmq/rabbit.pid"), atomically: true, encoding: .utf8)
        try "\(getpid())\n\(run.path)/postgres/data\n0\n5432\n".write(
            to: run.appendingPathComponent("postgres/data/postmaster.pid"),
            atomically: true,
            encoding: .utf8
        )

        let (status, output) = try await Self.services(folder, ["status"], ports: try Self.freePorts())

        #expect(status == 1, "\(output)")
        #expect(output.contains("rabbitmq:   stopped"), "\(output)")
        #expect(output.contains("postgresql: stopped"), "\(output)")
        #expect(!output.contains("pid \(getpid())"), "\(output)")
    }
}
