public import NIOHTTP1

/// One HTTP request the load generator sends: built before the run, so building costs nothing while measuring.
public struct LoadRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]

    /// A request with `Host`, `Content-Length` and (when there is a body) a JSON content type.
    public init(method: HTTPMethod, path: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        var fields = HTTPHeaders(headers)
        fields.replaceOrAdd(name: "Host", value: "127.0.0.1")
        if !body.isEmpty, !fields.contains(name: "Content-Type") { fields.add(name: "Content-Type", value: "application/json") }
        fields.replaceOrAdd(name: "Content-Length", value: String(body.count))
        head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: fields)
        self.body = body
    }
}

/// How requests become due.
public enum LoadShape: Sendable, Equatable {
    /// Open loop: requests fall due at a fixed rate whatever the answers do; a request's latency
    /// counts from when it fell due, so a server that falls behind is charged for the queueing
    /// (no coordinated omission).
    case rate(perSecond: Double)
    /// Closed loop: each connection sends its next request as soon as the last one was answered
    /// (finds the throughput ceiling at that concurrency).
    case closedLoop
    /// Every request is due at once: one per connection (e.g. 1 000 clients racing for one seat).
    case burst
}

/// What to send, how, and when to stop.
public struct LoadPlan: Sendable {
    /// The server.
    public var host: String
    public var port: Int
    /// Keep-alive connections, opened before the clock starts.
    public var connections: Int
    public var shape: LoadShape
    /// The requests, in order; with `count` larger than their number they are sent round and round.
    public var requests: [LoadRequest]
    /// How many to send at most (default: each request once).
    public var count: Int
    /// Stop making requests due after this long (in-flight ones are still awaited).
    public var duration: Duration?
    /// A request unanswered after this long counts as failed (its connection is reopened).
    public var timeout: Duration
    /// Keeps the bytes of bodies whose status passes this test (e.g. to read a command id); others are dropped unread.
    public var captureBody: @Sendable (Int) -> Bool

    public init(
        host: String = "127.0.0.1",
        port: Int,
        connections: Int,
        shape: LoadShape,
        requests: [LoadRequest],
        count: Int? = nil,
        duration: Duration? = nil,
        timeout: Duration = .seconds(30),
        captureBody: @escaping @Sendable (Int) -> Bool = { _ in false }
    ) {
        self.host = host
        self.port = port
        self.connections = connections
        self.shape = shape
        self.requests = requests
        self.count = count ?? requests.count
        self.duration = duration
        self.timeout = timeout
        self.captureBody = captureBody
    }
}
