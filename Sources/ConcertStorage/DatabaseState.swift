import Glibc
public import Logging
import NIOCore
import NIOPosix
public import PostgresNIO

/// Whether the database takes writes now, as `/health/ready` reports it.
public enum DatabaseState: String, Sendable {
    /// A writable server answers.
    case up
    /// Something answers at the database's address, but no writable server is behind it: a
    /// standby answers where the primary should (read-only), a proxy accepts the connection and
    /// closes it because no member leads, or the server says it cannot take connections yet
    /// (starting, recovering). During a failover this lasts until the new leader is promoted.
    case failingOver = "failing-over"
    /// Nothing answers: the address refuses connections or stays silent.
    case down

    /// Asks through `client`'s pool whether the server it reaches is the writable primary. When the
    /// pool fails, or has not answered by half of `timeout`, it also opens one connection of its own
    /// to `address` to tell a failover from an outage: a server or proxy that answers there is the
    /// answer at once, while for silence or a refusal the pool's answer still counts until
    /// `timeout` (a pool slow under load is not a database down). Takes at most about `timeout`.
    public static func probe(
        _ client: PostgresClient,
        address: DatabaseAddress,
        within timeout: Duration,
        logger: Logger
    ) async -> DatabaseState {
        enum Event: Sendable {
            case pooled(DatabaseState?)
            case direct(DatabaseState)
            case halfway
            case deadline
        }
        return await withTaskGroup(of: Event.self) { group in
            group.addTask {
                do {
                    let rows = try await client.fetch("SELECT pg_is_in_recovery()", logger: logger)
                    return .pooled(try rows.first?.decode(Bool.self) == false ? .up : .failingOver)
                } catch {
                    logger.warning("readiness: database query failed", metadata: ["error": "\(String(reflecting: error))"])
                    return .pooled(nil)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout / 2)
                return .halfway
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .deadline
            }
            defer { group.cancelAll() }
            var askedDirectly = false
            var pooledFailed = false
            var directAnswer: DatabaseState?
            func askDirectly() {
                guard !askedDirectly else { return }
                askedDirectly = true
                group.addTask { .direct(await direct(address, logger: logger)) }
            }
            while let event = await group.next() {
                switch event {
                case .pooled(let state?):
                    return state
                case .pooled(nil):
                    pooledFailed = true
                    if let directAnswer { return directAnswer }
                    askDirectly()
                case .halfway:
                    askDirectly()
                case .direct(let state):
                    // A server answered (writable, or read-only or gone behind a proxy that took the
                    // connection), or the pool has already failed: that is the answer. Silence or a
                    // refusal waits for the pool, which may only be slow.
                    if state != .down || pooledFailed { return state }
                    directAnswer = state
                case .deadline:
                    return directAnswer ?? .down
                }
            }
            return directAnswer ?? .down
        }
    }

    /// One connection of its own: what answers at `address`.
    static func direct(_ address: DatabaseAddress, logger: Logger) async -> DatabaseState {
        var quiet = logger
        quiet.logLevel = .critical
        do {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(),
                configuration: try address.connectionConfiguration(),
                id: 0,
                logger: quiet
            )
            defer { Task { try? await connection.close() } }
            let rows = try await connection.fetch("SELECT pg_is_in_recovery()", logger: quiet)
            return try rows.first?.decode(Bool.self) == false ? .up : .failingOver
        } catch let error as PSQLError {
            // Accepted, then closed before the login was answered: a proxy with no leader behind it.
            if error.code == .serverClosedConnection || error.code == .uncleanShutdown { return .failingOver }
            // Accepted, then reset (a proxy that closes with unread bytes): also something at the
            // address with no server behind it. A refused connect (nothing listens) stays down.
            if error.code == .connectionError, let reset = error.underlying as? IOError, reset.errnoCode == ECONNRESET { return .failingOver }
            // 57P03: the server is starting, recovering or shutting down; 25006: read-only.
            if error.sqlState == "57P03" || error.isReadOnlyServer { return .failingOver }
            return .down
        } catch {
            return .down
        }
    }
}
