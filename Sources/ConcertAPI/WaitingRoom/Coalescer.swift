import Synchronization

/// Groups work that concurrent requests hand in, so that one round trip serves many of them
/// (group commit): while one batch is being performed, new submissions wait together and go
/// next, as one batch. Under light load a batch is a single submission and costs no delay.
final class Coalescer<Input: Sendable, Output: Sendable>: Sendable {
    private struct Pending {
        var inputs: [Input] = []
        var waiters: [CheckedContinuation<Output, any Error>] = []
        var running = false
    }

    private let maximumBatch: Int
    private let perform: @Sendable ([Input]) async throws -> [Output]
    private let pending = Mutex(Pending())

    /// `perform` gets a batch and returns one output per input, in order.
    init(maximumBatch: Int = 500, perform: @escaping @Sendable ([Input]) async throws -> [Output]) {
        self.maximumBatch = maximumBatch
        self.perform = perform
    }

    /// Hands in one input and returns its output once its batch was performed.
    func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let lead = pending.withLock { pending -> Bool in
                pending.inputs.append(input)
                pending.waiters.append(continuation)
                guard !pending.running else { return false }
                pending.running = true
                return true
            }
            // The first submitter starts a drain that runs until nothing waits; later ones only queue.
            if lead { Task { await self.drain() } }
        }
    }

    private func drain() async {
        while true {
            let batch: ([Input], [CheckedContinuation<Output, any Error>])? = pending.withLock { pending in
                guard !pending.inputs.isEmpty else {
                    pending.running = false
                    return nil
                }
                let count = min(maximumBatch, pending.inputs.count)
                defer {
                    pending.inputs.removeFirst(count)
                    pending.waiters.removeFirst(count)
                }
                return (Array(pending.inputs.prefix(count)), Array(pending.waiters.prefix(count)))
            }
            guard let (inputs, waiters) = batch else { return }
            do {
                let outputs = try await perform(inputs)
                guard outputs.count == waiters.count else { throw CoalescerError.outputCountMismatch }
                for (waiter, output) in zip(waiters, outputs) { waiter.resume(returning: output) }
            } catch {
                for waiter in waiters { waiter.resume(throwing: error) }
            }
        }
    }
}

enum CoalescerError: Error {
    case outputCountMismatch
}
