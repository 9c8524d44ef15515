/// An error of the AMQP client: what failed, and the broker's reply code and text when it gave them.
///
/// The description never contains credentials.
public struct AMQPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Code: String {
            case invalidURL, connectionFailed, connectionLost, notConnected, connectionClosed, channelClosed
            case nacked, unroutable, consumerCancelled, staleDelivery, shutdown, protocolError
            case confirmTimeout, blocked
        }
        fileprivate let code: Code

        /// The configuration's URL could not be parsed.
        public static let invalidURL = Kind(code: .invalidURL)
        /// A connection attempt failed (TCP, handshake or login).
        public static let connectionFailed = Kind(code: .connectionFailed)
        /// The connection was lost while the operation was in flight; its outcome is unknown.
        public static let connectionLost = Kind(code: .connectionLost)
        /// The client is not connected right now (it is reconnecting); nothing was sent.
        public static let notConnected = Kind(code: .notConnected)
        /// The broker closed the connection (reply code and text say why).
        public static let connectionClosed = Kind(code: .connectionClosed)
        /// The broker closed the channel (reply code and text say why, e.g. 404 or 406).
        public static let channelClosed = Kind(code: .channelClosed)
        /// The broker refused a published message (`basic.nack`).
        public static let nacked = Kind(code: .nacked)
        /// A `mandatory` message could not be routed to any queue (`basic.return`).
        public static let unroutable = Kind(code: .unroutable)
        /// The broker cancelled the consumer (its queue was deleted, or it failed over).
        public static let consumerCancelled = Kind(code: .consumerCancelled)
        /// The delivery came from a connection that has since been lost: it cannot be acknowledged and will be redelivered.
        public static let staleDelivery = Kind(code: .staleDelivery)
        /// The client is shutting down.
        public static let shutdown = Kind(code: .shutdown)
        /// The broker did not confirm a publish within `AMQPConfiguration.confirmTimeout`; its outcome is unknown.
        public static let confirmTimeout = Kind(code: .confirmTimeout)
        /// The broker blocks publishing on this connection (a memory or disk alarm); nothing was sent.
        public static let blocked = Kind(code: .blocked)
        /// The broker or the library did something the client did not expect.
        public static let protocolError = Kind(code: .protocolError)

        /// The kind's name, e.g. `channelClosed`.
        public var description: String { code.rawValue }
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// A human-readable explanation.
    public let message: String
    /// The broker's AMQP reply code (e.g. 404, 406, 320, 312), when it sent one.
    public let replyCode: Int?

    init(_ kind: Kind, _ message: String, replyCode: Int? = nil) {
        self.kind = kind
        self.message = message
        self.replyCode = replyCode
    }

    /// `AMQPError.<kind> (<reply code>): <message>`, the reply code only when the broker sent one.
    public var description: String {
        if let replyCode { return "AMQPError.\(kind) (\(replyCode)): \(message)" }
        return "AMQPError.\(kind): \(message)"
    }
}
