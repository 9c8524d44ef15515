import ConcertDomain
import ConcertPipeline
import ConcertStorage
import Foundation
import Logging
import PostgresNIO

extension PartitionWorker {
    /// One attempt: the machine's storage steps on one connection, ended by a commit or a rollback.
    /// The wait for the connection has the database's time limit (`DatabaseTimeout`): a pool that
    /// cannot open one (a database silent at connect) fails the attempt as the database being
    /// unavailable, and the batch is retried with back-off, unacknowledged.
    func attempt(_ machine: inout BatchStateMachine, owned: @escaping @Sendable () -> Bool) async -> BatchStateMachine.Action {
        let logger = logger
        let started = ContinuousClock.now
        // The lease's time limit runs the attempt on a task of its own: the machine moves there
        // and back, never copied (it holds the partition's seat maps).
        let held = HeldMachine(consume machine)
        let action: BatchStateMachine.Action
        do {
            let committed = try await database.withConnectionWithinTimeout { [self] connection in
                var machine = held.take()
                defer { held.put(machine) }
                var transaction = BatchTransaction(connection: connection, logger: logger)
                do {
                    return try await runSteps(
                        &machine,
                        store: PartitionStore(connection: connection, logger: logger),
                        transaction: &transaction,
                        owned: owned
                    )
                } catch {
                    await transaction.rollback()
                    throw error
                }
            }
            metrics.committed(committed, elapsed: ContinuousClock.now - started)
            action = held.withMachine { $0.committed() }
        } catch {
            let failure = Self.classify(error)
            switch failure {
            case .stale:
                metrics.staleWriteRefused()
                logger.warning("storage refused a stale write (another writer changed the partition); deciding again from storage")
            case .unavailable:
                metrics.databaseUnavailable()
                logger.warning(
                    "database unavailable; batch not acknowledged, retrying",
                    metadata: ["error": "\((error as? PSQLError)?.sqlState ?? (error as? DependencyUnavailable)?.description ?? "connection")"]
                )
            case .conflict, .rejected:
                logger.warning("batch attempt failed", metadata: ["error": "\(String(reflecting: error))"])
            case .suspect:
                logger.error("a bundle came back once too often: its command in hand each time goes to the dead letters untried")
            case .notOwned:
                break
            }
            action = held.withMachine { $0.attemptFailed(failure) }
        }
        machine = held.take()
        return action
    }

    /// Runs the attempt's steps until its commit; returns its outcome count.
    private func runSteps(
        _ machine: inout BatchStateMachine,
        store: PartitionStore,
        transaction: inout BatchTransaction,
        owned: () -> Bool
    ) async throws -> [Outcome] {
        var step = machine.startAttempt(now: Date())
        while true {
            switch step {
            case .lookUpCompleted(let ids):
                step = machine.completedFound(try await store.completed(ids), now: Date())
            case .loadSchedules(let keys):
                step = machine.schedulesLoaded(try await store.loadSchedules(keys), now: Date())
            case .lookUpReservations(let ids):
                step = machine.reservationsFound(try await store.reservationFacts(ids), now: Date())
            case .debit(let debits):
                try await transaction.begin()
                step = machine.debited(try await store.debit(debits))
            case .write(let writes, let seats, let scheduleIDs, let inTransaction):
                guard owned() else { throw Failed(failure: .notOwned) }
                if inTransaction { try await transaction.begin() }
                try await store.write(writes, seats: seats, scheduleIDs: scheduleIDs)
                guard owned() else { throw Failed(failure: .notOwned) }
                try await transaction.commit()
                return writes.outcomes
            case .commit:
                guard owned() else { throw Failed(failure: .notOwned) }
                try await transaction.commit()
                return []
            case .fail(let failure):
                throw Failed(failure: failure)
            }
        }
    }

    /// An attempt the machine or the worker ended.
    struct Failed: Error {
        let failure: BatchStateMachine.Failure
    }

    /// What an error means for the batch.
    static func classify(_ error: any Error) -> BatchStateMachine.Failure {
        if let failed = error as? Failed { return failed.failure }
        if error is ConnectionLost { return .unavailable }
        if let error = error as? DependencyUnavailable, error.dependency == .database { return .unavailable }
        if let error = error as? PSQLError {
            if error.isStaleWrite { return .stale(String(describing: error)) }
            if error.isTransient { return .unavailable }
            if error.isConstraintViolation { return .conflict(String(describing: error)) }
        }
        return .rejected(String(describing: error))
    }
}

/// The batch machine while an attempt runs on the lease's task: one owner at a time (the worker's
/// task, or the attempt it awaits), so the machine is moved, never shared.
final class HeldMachine: @unchecked Sendable {
    private var machine: BatchStateMachine?

    init(_ machine: consuming BatchStateMachine) { self.machine = machine }

    func take() -> BatchStateMachine {
        guard let machine = machine.take() else { preconditionFailure("the batch machine is held by another task") }
        return machine
    }

    func put(_ machine: consuming BatchStateMachine) { self.machine = machine }

    func withMachine<Result>(_ body: (inout BatchStateMachine) -> Result) -> Result {
        var machine = take()
        defer { put(machine) }
        return body(&machine)
    }
}
