public import ConcertDomain
public import Logging
public import PostgresNIO

/// Prepaid balances: charges (idempotent by key), reads, and the ledger behind them.
public struct WalletStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Adds `amount` to the user's balance and returns the balance after this charge.
    ///
    /// One statement: the wallet row is created or credited and the ledger row written together.
    /// With an `idempotencyKey`, a retry (even a concurrent one) counts once and returns the
    /// balance the first charge left.
    public func charge(_ user: UserID, amount: Won, idempotencyKey: String?) async throws -> Won {
        for attempt in 1...3 {
            do {
                let rows = try await client.fetch(
                    """
                    WITH earlier AS (
                        SELECT balance_after FROM wallet_ledger
                        WHERE user_id = \(user.rawValue) AND idempotency_key = \(idempotencyKey)
                    ), credited AS (
                        INSERT INTO wallets AS w (user_id, balance) SELECT \(user.rawValue), \(amount.amount)
                        WHERE NOT EXISTS (SELECT 1 FROM earlier)
                        ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + excluded.balance, updated_at = now()
                        RETURNING balance
                    ), entry AS (
                        INSERT INTO wallet_ledger (user_id, amount, balance_after, kind, idempotency_key)
                        SELECT \(user.rawValue), \(amount.amount), balance, 'charge', \(idempotencyKey) FROM credited
                        RETURNING balance_after
                    )
                    SELECT balance_after FROM entry UNION ALL SELECT balance_after FROM earlier
                    """,
                    logger: logger
                )
                for balance in try (rows).map({ try $0.decode(Int64.self) }) { return Won(balance) }
                throw StorageError(message: "charge returned no balance")
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && attempt < 3 {
                // A concurrent retry with the same key won the race: the next attempt finds its ledger row.
                continue
            }
        }
        throw StorageError(message: "charge did not settle after retries")
    }

    /// The user's balance; 0 for a user who never charged.
    public func balance(of user: UserID) async throws -> Won {
        let rows = try await client.fetch("SELECT balance FROM wallets WHERE user_id = \(user.rawValue)", logger: logger)
        for balance in try (rows).map({ try $0.decode(Int64.self) }) { return Won(balance) }
        return 0
    }
}

/// Storage found the database in a state it should never be in.
public struct StorageError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
