import Glibc
import Logging

/// The body of a connection's dedicated thread: connect, run posted jobs, read frames, poll, reconnect.
///
/// Every librabbitmq call of the connection happens inside `run()`, on one thread, so the
/// library's threading rule holds and the Swift concurrency pool never blocks on the socket.
///
/// `@unchecked Sendable`: the loop (and the session in it) is built by `AMQPConnection.run()` and handed
/// to the new thread exactly once, before that thread starts; from then on only that thread touches it.
struct ConnectionLoop: @unchecked Sendable {
    let session: AMQPSession
    let mailbox: Mailbox
    /// Longest sleep in `poll`: bounds how late heartbeats are sent and a dead peer is noticed.
    let pollInterval: Duration = .milliseconds(200)
    /// How long shutdown waits for confirms that are still in flight.
    let drainTimeout: Duration = .seconds(5)

    func run() {
        let clock = ContinuousClock()
        var failures = 0
        var nextAttempt = clock.now
        var wasConnected = false
        var lastWarned: ContinuousClock.Instant?

        while !mailbox.isClosed {
            if !session.isConnected, clock.now >= nextAttempt {
                do {
                    try session.connect()
                    failures = 0
                    lastWarned = nil
                } catch {
                    failures += 1
                    // Every node of a cluster is tried once at once; then a round waits the back-off.
                    let nodes = session.configuration.addresses.count
                    nextAttempt =
                        failures % nodes == 0
                        ? clock.now + session.configuration.reconnectBackoff.delay(afterFailures: failures / nodes)
                        : clock.now
                    // Moving on to another node of a cluster is routine; a whole round failing is
                    // not: said when it first happens, then at most once a minute, not per retry.
                    let roundFailed = failures % nodes == 0
                    let sayIt = roundFailed && lastWarned.map { clock.now - $0 >= .seconds(60) } ?? roundFailed
                    if sayIt { lastWarned = clock.now }
                    session.logger.log(
                        level: sayIt ? .warning : .debug,
                        "AMQP connect failed",
                        metadata: ["error": "\(error)", "amqp.attempt": "\(failures)"]
                    )
                }
            }
            run(mailbox.take())
            session.pumpFrames()

            if wasConnected, !session.isConnected {
                // Just lost: the first attempt goes out at once, later ones back off.
                nextAttempt = clock.now
            }
            wasConnected = session.isConnected

            session.expireConfirms(now: clock.now)
            var timeout = pollInterval
            if session.hasBufferedInput {
                timeout = .zero
            } else if !session.isConnected {
                timeout = min(timeout, max(.zero, nextAttempt - clock.now))
            }
            wait(timeout: timeout)
        }
        drain(clock: clock)
    }

    /// Runs `jobs` in order; consecutive jobs that only write (publishes of concurrent requests,
    /// acks of a batch) go out corked, as one burst the broker reads at once, instead of one TCP
    /// segment per message. A job that waits for an answer (a declare, `basic.get`) never runs
    /// corked: its request would sit in the socket until the kernel's cork limit (200 ms).
    private func run(_ jobs: [ConnectionJob]) {
        guard session.configuration.corksWriteBursts, jobs.count > 1 else {
            for job in jobs { job.run(session) }
            return
        }
        var next = 0
        for run in Self.corkedRuns(jobs.map(\.writesOnly)) {
            for job in jobs[next..<run.lowerBound] { job.run(session) }
            session.corked { for job in jobs[run] { job.run(session) } }
            next = run.upperBound
        }
        for job in jobs[next...] { job.run(session) }
    }

    /// The runs of two or more consecutive write-only jobs, in order: what goes out corked.
    static func corkedRuns(_ writesOnly: [Bool]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start: Int?
        for (index, writes) in zip(0..., writesOnly + [false]) {
            if writes {
                start = start ?? index
            } else if let first = start {
                if index - first > 1 { runs.append(first..<index) }
                start = nil
            }
        }
        return runs
    }

    /// Shutdown: runs the jobs posted before the close (final acks, last publishes), waits a little
    /// for outstanding confirms, then closes the connection.
    private func drain(clock: ContinuousClock) {
        for job in mailbox.take() { job.run(session) }
        let deadline = clock.now + drainTimeout
        while session.isConnected, session.confirms.pendingCount > 0, clock.now < deadline {
            session.pumpFrames()
            wait(timeout: session.hasBufferedInput ? .zero : .milliseconds(20))
        }
        session.close()
    }

    /// Sleeps until the socket is readable, a job is posted, or `timeout` passes.
    private func wait(timeout: Duration) {
        guard timeout > .zero, mailbox.prepareToPoll() else { return }
        defer { mailbox.finishedPolling() }
        var descriptors = [pollfd(fd: mailbox.wakeup.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        if let socket = session.socketDescriptor {
            descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0))
        }
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        _ = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
        if descriptors[0].revents != 0 { mailbox.wakeup.drain() }
    }
}
