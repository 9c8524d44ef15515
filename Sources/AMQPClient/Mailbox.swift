import Synchronization

/// Work for the connection thread: what to do with the session, and how to fail if it never runs.
struct ConnectionJob: Sendable {
    /// Runs on the connection thread.
    let run: @Sendable (AMQPSession) -> Void
    /// Called instead of `run` when the connection shuts down before the job ran.
    let fail: @Sendable (AMQPError) -> Void
    /// True for a job that only writes (a publish, an ack) and never waits for the broker's
    /// answer: runs of such jobs leave in one burst (`AMQPSession.corked`).
    var writesOnly = false
}

/// The queue of jobs other threads hand to a connection thread, plus the eventfd that wakes it.
final class Mailbox: Sendable {
    private struct State {
        var jobs: [ConnectionJob] = []
        var closed = false
        /// The thread is in (or about to enter) `poll` and must be woken for new jobs.
        var threadIsPolling = false
        /// A wake-up was written since the thread began polling; one is enough.
        var signalled = false
    }

    private let state = Mutex(State())
    /// Polled by the connection thread; signalled when a job arrives while it polls, and on close.
    let wakeup = Wakeup()

    /// Hands `job` to the thread; fails it at once with `shutdown` when the mailbox is closed.
    func post(_ job: ConnectionJob) {
        let (accepted, mustSignal) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            state.jobs.append(job)
            // A busy thread takes the job on its next turn; only a polling one needs the (system-call) wake-up.
            guard state.threadIsPolling, !state.signalled else { return (true, false) }
            state.signalled = true
            return (true, true)
        }
        guard accepted else {
            job.fail(AMQPError(.shutdown, "the connection is shutting down"))
            return
        }
        if mustSignal { wakeup.signal() }
    }

    /// Takes every job posted so far, in order.
    func take() -> [ConnectionJob] {
        state.withLock { state in
            defer { state.jobs.removeAll(keepingCapacity: true) }
            return state.jobs
        }
    }

    /// Called by the thread before it polls: false (do not sleep) when jobs are already waiting.
    func prepareToPoll() -> Bool {
        state.withLock { state in
            guard state.jobs.isEmpty else { return false }
            state.threadIsPolling = true
            return true
        }
    }

    /// Called by the thread after its poll returned.
    func finishedPolling() {
        state.withLock { state in
            state.threadIsPolling = false
            state.signalled = false
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
