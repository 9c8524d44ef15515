import NIOCore
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// TCP keepalive on every database connection: a server that vanished without closing (a host
// gone, a silent network, a failover in progress) is found out on an idle pooled connection
// too, not only by the next statement's time limit. PostgresNIO 1.33 opens its sockets itself
// and offers no socket options; its connection keeps the channel in a stored property, which
// reflection reads. Should a later PostgresNIO rename it, connections run without keepalive
// (every statement and lease still has `DatabaseTimeout`'s limit) and `DatabaseKeepaliveTests`
// fails.

extension PostgresConnection {
    /// Probes after `idle` seconds without traffic, then every `idle / 3`, and gives up after
    /// three unanswered probes: a dead peer is noticed about `2 × idle` after the last traffic.
    static func keepalive(idle seconds: Int) -> [(ChannelOptions.Types.SocketOption, SocketOptionValue)] {
        let idle = max(1, seconds)
        var options: [(ChannelOptions.Types.SocketOption, SocketOptionValue)] = [
            (ChannelOptions.Types.SocketOption(level: .socket, name: .so_keepalive), 1)
        ]
        #if os(Linux)
        options += [
            (ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE)), SocketOptionValue(idle)),
            (ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPINTVL)), SocketOptionValue(max(1, idle / 3))),
            (ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPCNT)), 3),
        ]
        #endif
        return options
    }

    /// The channel under this connection, found by reflection (see above).
    var underlyingChannel: (any Channel)? {
        Mirror(reflecting: self).children.first { $0.label == "channel" }?.value as? any Channel
    }

    /// Switches TCP keepalive on, timed by `DatabaseTimeout`'s limit. Returns false when the
    /// channel could not be reached.
    @discardableResult
    func enableKeepalive() -> Bool {
        guard let channel = underlyingChannel else { return false }
        let seconds = Int((DatabaseTimeout.configured / .seconds(1)).rounded(.up))
        for (option, value) in Self.keepalive(idle: seconds) {
            channel.setOption(option, value: value).whenFailure { _ in }
        }
        return true
    }
}
