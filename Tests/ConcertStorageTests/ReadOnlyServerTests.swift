import ConcertStorage
import PostgresNIO
import TestSupport
import Testing

/// After a failover a pooled connection can reach a server that no longer takes writes (a standby,
/// or the demoted primary a proxy still routes to). Such a connection is closed on the first
/// refused write, so the pool opens a new one — to the leader — instead of handing it out again.
@Suite(.enabled(if: DatabaseEnvironment.isConfigured))
struct ReadOnlyServerTests {
    @Test func aWriteRefusedAsReadOnlyClosesItsConnection() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await client.withConnection { connection in
                // The session turns read-only, as every session on a standby is.
                try await connection.execute("SET default_transaction_read_only = on", logger: DatabaseEnvironment.logger)
                let refused = await #expect(throws: PSQLError.self) {
                    try await connection.execute("CREATE TABLE written_on_a_standby (id int)", logger: DatabaseEnvironment.logger)
                }
                #expect(refused?.sqlState == "25006")
                try await eventually(timeout: .seconds(5), "the read-only connection is closed") { connection.isClosed }
            }
            // The pool gives out a working connection afterwards. Under load its first lease can
            // still find the closed one (the pool learns of a close asynchronously) and fail as a
            // lost connection, as any lease of a connection that just closed does; the next is new.
            try await eventually(timeout: .seconds(5), "the pool answers on a new connection") {
                let answer = try? await client.fetch("SELECT 1", logger: DatabaseEnvironment.logger)
                return (try? answer?.first?.decode(Int.self)) == 1
            }
        }
    }

    /// Other refusals leave the connection open: only read-only says the server is the wrong one.
    @Test func anOrdinaryErrorKeepsItsConnection() async throws {
        try await DatabaseEnvironment.withIsolatedDatabase { client in
            try await client.withConnection { connection in
                await #expect(throws: PSQLError.self) {
                    try await connection.execute("SELECT * FROM no_such_table", logger: DatabaseEnvironment.logger)
                }
                try await Task.sleep(for: .milliseconds(300))
                #expect(!connection.isClosed)
            }
        }
    }
}
