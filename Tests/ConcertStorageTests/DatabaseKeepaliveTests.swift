import ConcertStorage
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// A connection that has run a statement has TCP keepalive on, as the kernel shows it from
/// outside the process (`ss`): an idle pooled connection to a server that vanished is found out.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct DatabaseKeepaliveTests {
    @Test func aConnectionThatRanAStatementHasTCPKeepaliveOn() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            // The server tells which local port this connection has; `ss` reads that socket's timer.
            let port = try await client.withConnection { connection in
                try await connection.fetch("SELECT inet_client_port()", logger: DatabaseEnvironment.logger).first?.decode(Int.self)
            }
            let local = try #require(port)
            let (status, output) = try await runCapturingOutput("/usr/bin/ss", ["-tnoH", "state", "established", "( sport = :\(local) )"])
            #expect(status == 0)
            #expect(output.contains(":\(local)"), "ss shows no socket of port \(local): \(output)")
            // `timer:(keepalive,…)` appears only on a socket with SO_KEEPALIVE set.
            #expect(output.contains("timer:(keepalive"), "no keepalive timer on the database connection: \(output)")
        }
    }
}
