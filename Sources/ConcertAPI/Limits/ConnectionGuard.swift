import HTTPTypes
import Hummingbird
public import HummingbirdCore
public import NIOCore
import NIOHTTPTypes
import Synchronization

/// What a client's connection may take from the server: a connection must bring a complete
/// request within `requestTimeout` of being opened or of its previous response (a client that
/// sends half a request, or drips it byte by byte, is closed then), and at most
/// `maximumConnections` are open at once (past it a new connection is answered `503` with
/// `Connection: close` and closed, before anything is read).
///
/// One `ConnectionGuard` per server; it makes one handler per connection, which sits after the
/// HTTP codec and sees request and response parts.
public final class ConnectionGuard: Sendable {
    public let requestTimeout: TimeAmount
    public let maximumConnections: Int
    private let open = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let closedIdle = Atomic<Int>(0)

    public init(requestTimeout: TimeAmount, maximumConnections: Int) {
        self.requestTimeout = requestTimeout
        self.maximumConnections = maximumConnections
    }

    /// Connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }
    /// Connections refused because the cap was reached, so far.
    public var refusedConnections: Int { refused.load(ordering: .relaxed) }
    /// Connections closed because no complete request came in time, so far.
    public var timedOutConnections: Int { closedIdle.load(ordering: .relaxed) }

    /// The HTTP/1.1 server with this guard on each connection.
    public var server: HTTPServerBuilder {
        .http1(configuration: HTTP1Channel.Configuration(additionalChannelHandlers: [Handler(guard: self)]))
    }

    fileprivate func opened() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= maximumConnections { return true }
        open.subtract(1, ordering: .relaxed)
        refused.add(1, ordering: .relaxed)
        return false
    }

    fileprivate func closed() { open.subtract(1, ordering: .relaxed) }
    fileprivate func timedOut() { closedIdle.add(1, ordering: .relaxed) }

    /// One connection's watch. Runs on its channel's event loop only.
    final class Handler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        private let owner: ConnectionGuard
        private var counted = false
        /// Requests complete and not answered yet: no deadline runs while one is being handled.
        private var inFlight = 0
        private var deadline: Scheduled<Void>?

        init(guard owner: ConnectionGuard) {
            self.owner = owner
        }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { start(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            start(context)
            context.fireChannelActive()
        }

        private func start(_ context: ChannelHandlerContext) {
            guard !counted else { return }
            guard owner.opened() else {
                let response = HTTPResponse(status: .serviceUnavailable, headerFields: [.connection: "close", .contentLength: "0", .retryAfter: "1"])
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
                return
            }
            counted = true
            armDeadline(context)
        }

        func channelInactive(context: ChannelHandlerContext) {
            deadline?.cancel()
            deadline = nil
            if counted {
                counted = false
                owner.closed()
            }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            // A refused connection never gets as far as the router.
            guard counted else { return }
            if case .end = unwrapInboundIn(data) {
                inFlight += 1
                deadline?.cancel()
                deadline = nil
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data), counted {
                inFlight = max(0, inFlight - 1)
                if inFlight == 0 { armDeadline(context) }
            }
            context.write(data, promise: promise)
        }

        private func armDeadline(_ context: ChannelHandlerContext) {
            deadline?.cancel()
            let owner = owner
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: owner.requestTimeout) {
                owner.timedOut()
                loopBound.value.close(promise: nil)
            }
        }
    }
}
