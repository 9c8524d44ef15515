import Synchronization

/// What other threads may read about a connection without asking its thread.
final class ConnectionStatus: Sendable {
    private let isUp = Atomic<Bool>(false)
    private let currentGeneration = Atomic<UInt64>(0)
    /// The incarnation of each open channel (see `AMQPSession.channelIncarnations`), mirrored.
    private let channels = Mutex<[UInt16: UInt64]>([:])

    /// True while the connection is established.
    var isConnected: Bool { isUp.load(ordering: .acquiring) }
    /// The generation of the current (or last) connection.
    var generation: UInt64 { currentGeneration.load(ordering: .acquiring) }

    func connected(generation: UInt64) {
        currentGeneration.store(generation, ordering: .releasing)
        isUp.store(true, ordering: .releasing)
    }

    func disconnected() {
        isUp.store(false, ordering: .releasing)
        channels.withLock { $0.removeAll() }
    }

    func channelsChanged(_ incarnations: [UInt16: UInt64]) {
        channels.withLock { $0 = incarnations }
    }

    /// True while the connection and channel a delivery came through are still the live ones,
    /// that is while it can still be settled (and its consumer still owns it).
    func isLive(_ origin: DeliveryOrigin) -> Bool {
        guard isConnected, generation == origin.generation else { return false }
        return channels.withLock { $0[origin.channel] } == origin.incarnation
    }
}
