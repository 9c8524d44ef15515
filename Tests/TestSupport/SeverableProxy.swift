import Foundation
import Glibc
import Synchronization

/// A TCP proxy on 127.0.0.1 in front of a server, whose client side a test can cut at any moment
/// while the server side stays open: the server finishes what it received (a statement and its
/// commit) and its answer is lost — the "commit succeeded, reply lost" fault.
///
/// Plain threads and blocking sockets: a test helper, a few connections at a time.
public final class SeverableProxy: Sendable {
    public let port: Int
    private let listener: Int32
    private let targetPort: UInt16
    /// Client-side sockets of the live connections. A socket leaves the set and is closed under its
    /// lock, and is cut only under it: a number shut down is never one the process has reused for
    /// another connection (another test's, in the same process) after the close.
    private let clients = Mutex<Set<Int32>>([])
    private let closed = Atomic<Bool>(false)
    private let accepted = Atomic<Int>(0)
    private let frozen = Atomic<Bool>(false)

    /// Connections accepted and passed on to the server so far.
    public var connectionsAccepted: Int { accepted.load(ordering: .relaxed) }

    public init(targetPort: Int) throws {
        self.targetPort = UInt16(targetPort)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard listener >= 0, bound == 0, listen(listener, 64) == 0 else { throw ProxyError("cannot listen: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// Cuts every connection's client side now; what the server already received still runs.
    public func severClients() {
        clients.withLock { sockets in
            for socket in sockets { shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Stops passing bytes on, either way, while keeping every connection open: a server that
    /// stops answering without closing (paused, a silent network). `thaw()` lets it all through.
    public func freeze() { frozen.store(true, ordering: .relaxed) }

    /// Passes bytes on again, what was held first.
    public func thaw() { frozen.store(false, ordering: .relaxed) }

    /// Stops accepting and cuts every connection.
    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        severClients()
    }

    deinit { close() }

    private func acceptLoop() {
        while !closed.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                Glibc.close(client)
                Glibc.close(server)
                continue
            }
            clients.withLock { _ = $0.insert(client) }
            accepted.add(1, ordering: .relaxed)
            let done = Atomic<Int>(0)
            let finish: @Sendable () -> Void = {
                // The second direction to end closes both sockets.
                if done.add(1, ordering: .relaxed).newValue == 2 {
                    self.clients.withLock { sockets in
                        sockets.remove(client)
                        Glibc.close(client)
                    }
                    Glibc.close(server)
                }
            }
            Thread {
                // Client to server: when the client side ends, the server sees end of input after what it already got.
                self.copy(from: client, to: server)
                shutdown(server, Int32(SHUT_WR))
                finish()
            }.start()
            Thread {
                // Server to client: after a cut, the server's answers are read and dropped.
                self.copy(from: server, to: client)
                shutdown(client, Int32(SHUT_RDWR))
                finish()
            }.start()
        }
    }

    /// Copies until end of input; a destination that went away only stops the writing.
    private func copy(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        var writing = true
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            while frozen.load(ordering: .relaxed), !closed.load(ordering: .relaxed) { usleep(10_000) }
            var offset = 0
            while writing, offset < count {
                let written = buffer[offset..<count].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else {
                    writing = false
                    break
                }
                offset += written
            }
        }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

struct ProxyError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
