import Synchronization

/// What other threads may read about a connection without asking its thread.
final class ConnectionStatus: Sendable {
    private let isUp = Atomic<Bool>(false)
    private let currentGeneration = Atomic<UInt64>(0)

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
    }
}
