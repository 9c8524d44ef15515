import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP/1.1 load generator on one SwiftNIO event-loop thread: keep-alive connections, one
/// request in flight per connection, requests built before the clock starts.
///
/// Why not `wrk` or async-http-client: the run needs open-loop rates (wrk 4 has none), latency
/// counted from when a request fell due, the body of chosen answers (command ids), and a cost
/// small and bounded enough to share two cores with the system it measures: one thread, at most
/// one core, and its CPU is reported beside every figure.
public enum HTTPLoadGenerator {
    /// Runs `plan` and returns what every request saw. `progress` is told (answered, sent) a few times a second.
    public static func run(_ plan: LoadPlan, progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> LoadRun {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let run = try await run(plan, on: group.next(), progress: progress)
            try await group.shutdownGracefully()
            return run
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private static func run(_ plan: LoadPlan, on loop: any EventLoop, progress: (@Sendable (Int, Int) -> Void)?) async throws -> LoadRun {
        // Its loop-bound state must be made on the loop.
        let state = try await loop.submit { LoadRunState(plan: plan, eventLoop: loop) }.get()
        try await state.connectAll()
        let cpuBefore = CPUUsage.ownTime()
        let reporter = progress.map { report in
            Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(500))
                    report(state.progress.answered.load(ordering: .relaxed), state.progress.sent.load(ordering: .relaxed))
                }
            }
        }
        defer { reporter?.cancel() }
        let result = try await state.start()
        return LoadRun(
            statuses: result.statuses,
            dueNanos: result.due,
            doneNanos: result.done,
            bodies: result.bodies,
            startedAt: result.startedAt,
            elapsed: result.elapsed,
            generatorCPU: CPUUsage.ownTime() - cpuBefore
        )
    }
}

/// The run's state; lives on its event loop and is only touched there (`NIOLoopBound` checks it).
final class LoadRunState: Sendable {
    struct RunResult: Sendable {
        var statuses: [Int16]
        var due: [UInt64]
        var done: [UInt64]
        var bodies: [Int: [UInt8]]
        var startedAt: Date
        var elapsed: Duration
    }

    final class Mutable {
        var statuses: [Int16]
        var due: [UInt64]
        var sentAt: [UInt64]
        var done: [UInt64]
        var bodies: [Int: [UInt8]] = [:]
        var idle: [LoadConnection] = []
        var all: [LoadConnection] = []
        /// Replacement connections being opened: the run does not end before they are settled, so
        /// that no connection reaches the server after the run (while it may be shutting down).
        var connecting = 0
        /// Due but not yet sent (open loop and bursts).
        var queue: [Int] = []
        var queueHead = 0
        /// The next request to make due.
        var next = 0
        var answered = 0
        var start = NIODeadline.now()
        var stopIssuingAt: NIODeadline = .distantFuture
        var startedAt = Date()
        var lastAnswer = NIODeadline.now()
        var ticker: RepeatedTask?
        var watchdog: RepeatedTask?
        var promise: EventLoopPromise<RunResult>?

        init(count: Int) {
            statuses = Array(repeating: 0, count: count)
            due = Array(repeating: 0, count: count)
            sentAt = Array(repeating: 0, count: count)
            done = Array(repeating: 0, count: count)
        }
    }

    let plan: LoadPlan
    let eventLoop: any EventLoop
    let heads: [HTTPRequestHead]
    let bodies: [ByteBuffer]
    let mutable: NIOLoopBound<Mutable>
    /// Counts for the progress line, readable from any thread.
    let progress = Progress()

    final class Progress: Sendable {
        let answered = Atomic<Int>(0)
        let sent = Atomic<Int>(0)
    }

    init(plan: LoadPlan, eventLoop: any EventLoop) {
        self.plan = plan
        self.eventLoop = eventLoop
        heads = plan.requests.map(\.head)
        bodies = plan.requests.map { ByteBuffer(bytes: $0.body) }
        mutable = NIOLoopBound(Mutable(count: plan.count), eventLoop: eventLoop)
    }

    /// Opens every connection before the clock starts.
    func connectAll() async throws {
        let count = max(1, min(plan.connections, plan.count))
        var opened = 0
        while opened < count {
            let chunk = min(100, count - opened)
            let futures = (0..<chunk).map { _ in connect() }
            for future in futures { _ = try await future.get() }
            opened += chunk
        }
    }

    private func connect() -> EventLoopFuture<Void> {
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(LoadConnection(run: self))
                }
            }
            .connect(host: plan.host, port: plan.port)
            .flatMapThrowing { channel in
                let connection = try channel.pipeline.syncOperations.handler(type: LoadConnection.self)
                connection.channel = channel
                let state = self.mutable.value
                state.all.append(connection)
                state.idle.append(connection)
            }
    }

    /// Starts the clock and sends; completes when every due request was answered or failed.
    func start() async throws -> RunResult {
        try await eventLoop.flatSubmit { [self] () -> EventLoopFuture<RunResult> in
            let state = mutable.value
            let promise = eventLoop.makePromise(of: RunResult.self)
            state.promise = promise
            state.start = .now()
            state.startedAt = Date()
            state.lastAnswer = state.start
            if let duration = plan.duration { state.stopIssuingAt = state.start + TimeAmount.nanoseconds(Int64(duration.seconds * 1e9)) }
            switch plan.shape {
            case .burst:
                makeDue(upTo: plan.count, at: 0)
                dispatch()
            case .closedLoop:
                dispatch()
            case .rate(let perSecond):
                state.ticker = eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { _ in
                    let state = self.mutable.value
                    let elapsed = NIODeadline.now() - state.start
                    let dueCount =
                        NIODeadline.now() < state.stopIssuingAt
                        ? min(self.plan.count, Int(Double(elapsed.nanoseconds) / 1e9 * perSecond) + 1)
                        : state.next
                    // A request's due time is its place in the schedule, not when the tick noticed it.
                    while state.next < dueCount {
                        state.due[state.next] = UInt64(Double(state.next) / perSecond * 1e9)
                        state.queue.append(state.next)
                        state.next += 1
                    }
                    self.dispatch()
                    self.checkTimeouts()
                    self.finishIfDone()
                }
            }
            if case .rate = plan.shape {
            } else {
                let period = TimeAmount.milliseconds(max(1, min(100, Int64(plan.timeout.milliseconds / 4))))
                state.watchdog = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
                    self.checkTimeouts()
                    self.finishIfDone()
                }
            }
            finishIfDone()
            return promise.futureResult
        }.get()
    }

    private func makeDue(upTo count: Int, at nanos: UInt64) {
        let state = mutable.value
        while state.next < count {
            state.due[state.next] = nanos
            state.queue.append(state.next)
            state.next += 1
        }
    }

    /// Hands due requests (closed loop: the next ones) to idle connections.
    func dispatch() {
        let state = mutable.value
        while let connection = state.idle.last {
            let index: Int
            if plan.shape == .closedLoop {
                guard state.next < plan.count, NIODeadline.now() < state.stopIssuingAt else { return }
                index = state.next
                state.next += 1
                state.due[index] = UInt64((NIODeadline.now() - state.start).nanoseconds)
            } else {
                guard state.queueHead < state.queue.count else { return }
                index = state.queue[state.queueHead]
                state.queueHead += 1
            }
            state.idle.removeLast()
            state.sentAt[index] = UInt64((NIODeadline.now() - state.start).nanoseconds)
            state.statuses[index] = -1
            progress.sent.add(1, ordering: .relaxed)
            connection.send(index: index, head: heads[index % heads.count], body: bodies[index % bodies.count])
        }
    }

    /// An answer arrived on `connection`.
    func answered(_ index: Int, status: Int, body: ByteBuffer?, on connection: LoadConnection) {
        let state = mutable.value
        let now = NIODeadline.now()
        state.statuses[index] = Int16(clamping: status)
        state.done[index] = UInt64((now - state.start).nanoseconds)
        if let body { state.bodies[index] = Array(buffer: body) }
        state.answered += 1
        progress.answered.add(1, ordering: .relaxed)
        state.lastAnswer = now
        state.idle.append(connection)
        dispatch()
        finishIfDone()
    }

    /// A request failed (timeout or connection lost); the connection is replaced.
    func failed(_ index: Int?, connection: LoadConnection) {
        let state = mutable.value
        if let index {
            state.statuses[index] = -1
            state.done[index] = UInt64((NIODeadline.now() - state.start).nanoseconds)
            state.answered += 1
            progress.answered.add(1, ordering: .relaxed)
        }
        state.all.removeAll { $0 === connection }
        state.idle.removeAll { $0 === connection }
        guard state.promise != nil else { return }
        // A replacement only while requests are left to send.
        let issuingOver = state.next >= plan.count || NIODeadline.now() >= state.stopIssuingAt
        if !issuingOver || state.queueHead < state.queue.count {
            state.connecting += 1
            connect().whenComplete { _ in
                self.mutable.value.connecting -= 1
                self.dispatch()
                self.finishIfDone()
            }
        }
        finishIfDone()
    }

    private func checkTimeouts() {
        let state = mutable.value
        let now = UInt64((NIODeadline.now() - state.start).nanoseconds)
        let limit = UInt64(plan.timeout.seconds * 1e9)
        for connection in state.all {
            if let index = connection.inFlight, now &- state.sentAt[index] > limit { connection.abandon() }
        }
    }

    private func finishIfDone() {
        let state = mutable.value
        guard let promise = state.promise else { return }
        let issuingOver = state.next >= plan.count || NIODeadline.now() >= state.stopIssuingAt
        let queueEmpty = state.queueHead >= state.queue.count
        let inFlight = state.all.contains { $0.inFlight != nil }
        guard issuingOver, queueEmpty || state.all.isEmpty, !inFlight, state.connecting == 0 else { return }
        state.promise = nil
        state.ticker?.cancel()
        state.watchdog?.cancel()
        for connection in state.all { connection.close() }
        promise.succeed(
            RunResult(
                statuses: state.statuses,
                due: state.due,
                done: state.done,
                bodies: state.bodies,
                startedAt: state.startedAt,
                elapsed: .nanoseconds((state.lastAnswer - state.start).nanoseconds)
            )
        )
    }
}

/// One keep-alive connection: sends a request, reads its answer, reports it.
final class LoadConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let run: LoadRunState
    var channel: (any Channel)?
    private(set) var inFlight: Int?
    private var status = 0
    private var body: ByteBuffer?
    private var capture = false
    private var closing = false

    init(run: LoadRunState) {
        self.run = run
    }

    func send(index: Int, head: HTTPRequestHead, body: ByteBuffer) {
        guard let channel else { return }
        inFlight = index
        status = 0
        self.body = nil
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            capture = run.plan.captureBody(status)
        case .body(var part):
            if capture {
                if body == nil { body = part } else { body!.writeBuffer(&part) }
            }
        case .end:
            guard let index = inFlight else { return }
            inFlight = nil
            run.answered(index, status: status, body: capture ? (body ?? ByteBuffer()) : nil, on: self)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        let index = inFlight
        inFlight = nil
        run.failed(index, connection: self)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Gives up on the request in flight (timeout).
    func abandon() {
        channel?.close(promise: nil)
    }

    func close() {
        closing = true
        channel?.close(promise: nil)
    }
}
