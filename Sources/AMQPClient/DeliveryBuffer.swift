import Synchronization

/// The deliveries a consumer's connection thread has read and its task has not taken yet.
///
/// The thread appends what each read of the socket brought; the consuming task takes
/// *everything* waiting at once (up to a bound), so that a consumer that fell behind catches up
/// in large batches instead of one socket read at a time.
final class DeliveryBuffer: Sendable {
    private struct State {
        var deliveries: [AMQPDelivery] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var error: AMQPError?
    }

    private let state = Mutex(State())

    /// Called by the connection thread.
    func append(_ deliveries: [AMQPDelivery]) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.deliveries += deliveries
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Drops the deliveries not taken yet (they can no longer be settled).
    func discard() {
        state.withLock { $0.deliveries.removeAll() }
    }

    /// No more deliveries will come: the consumer ended (with `error` when the broker ended it).
    func finish(throwing error: AMQPError? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            state.error = error
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Up to `maximum` deliveries, in order: all that are waiting, or the next ones to arrive.
    /// `nil` when the consumer ended (or the calling task was cancelled); throws the broker's
    /// error after the deliveries that came before it.
    func next(maximum: Int) async throws -> [AMQPDelivery]? {
        while true {
            if Task.isCancelled { return nil }
            enum Step {
                case deliveries([AMQPDelivery])
                case end(AMQPError?)
                case wait
            }
            let step = state.withLock { state -> Step in
                if !state.deliveries.isEmpty {
                    let count = min(maximum, state.deliveries.count)
                    let taken = Array(state.deliveries.prefix(count))
                    state.deliveries.removeFirst(count)
                    return .deliveries(taken)
                }
                if state.finished {
                    defer { state.error = nil }
                    return .end(state.error)
                }
                return .wait
            }
            switch step {
            case .deliveries(let deliveries): return deliveries
            case .end(let error?): throw error
            case .end(nil): return nil
            case .wait: await waitForMore()
            }
        }
    }

    private func waitForMore() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    guard state.deliveries.isEmpty, !state.finished else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
