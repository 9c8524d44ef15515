import Synchronization

/// Work for the connection thread: what to do with the session, and how to fail if it never runs.
struct ConnectionJob: Sendable {
    /// Runs on the connection thread.
    let run: @Sendable (AMQPSession) -> Void
    /// Called instead of `run` when the connection shuts down before the job ran.
    let fail: @Sendable (AMQPError) -> Void
}

/// The queue of jobs other threads hand to a connection thread, plus the eventfd that wakes it.
final class Mailbox: Sendable {
    private struct State {
        var jobs: [ConnectionJob] = []
        var closed = false
    }

    private let state = Mutex(State())
    /// Polled by the connection thread; signalled when the first job of a batch arrives or on close.
    let wakeup = Wakeup()

    /// Hands `job` to the thread; fails it at once with `shutdown` when the mailbox is closed.
    func post(_ job: ConnectionJob) {
        let (accepted, wasEmpty) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            state.jobs.append(job)
            return (true, state.jobs.count == 1)
        }
        guard accepted else {
            job.fail(AMQPError(.shutdown, "the connection is shutting down"))
            return
        }
        // One wake-up per batch: later jobs ride along until the thread takes the batch.
        if wasEmpty { wakeup.signal() }
    }

    /// Takes every job posted so far, in order.
    func take() -> [ConnectionJob] {
        state.withLock { state in
            defer { state.jobs.removeAll(keepingCapacity: true) }
            return state.jobs
        }
    }

    /// True once `close()` was called.
    var isClosed: Bool { state.withLock(\.closed) }

    /// Refuses further jobs; jobs already posted can still be taken.
    func close() {
        state.withLock { $0.closed = true }
        wakeup.signal()
    }
}
