import ConcertDomain
import ConcertWire
public import Foundation
public import Hummingbird
import NIOCore

/// The request context of the API: the 64 KiB body limit and the JSON coding of the contract.
public struct APIRequestContext: RequestContext {
    /// The largest request body the API reads; larger ones get 413.
    public static let maximumBodySize = 64 * 1024

    public var coreContext: CoreRequestContextStorage
    /// The client's socket address; formatted only by the requests that need it (`clientAddress`).
    let remoteAddress: SocketAddress?

    public init(source: Source) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address, for rate limits (`nil` in router tests).
    var clientAddress: String? { remoteAddress?.ipAddress }

    public var maxUploadSize: Int { Self.maximumBodySize }

    /// RFC 3339 UTC times, keys sorted, slashes unescaped (one encoder for every response).
    public var responseEncoder: JSONEncoder { JSONEncoder.commands }
}
