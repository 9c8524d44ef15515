import Synchronization
import Testing

@testable import ConcertAPI

@Suite struct CoalescerTests {
    @Test func concurrentSubmissionsShareBatchesAndGetTheirOwnOutputs() async throws {
        let batches = Mutex<[Int]>([])
        let coalescer = Coalescer<Int, Int>(maximumBatch: 50) { inputs in
            batches.withLock { $0.append(inputs.count) }
            try await Task.sleep(for: .milliseconds(20))
            return inputs.map { $0 * 2 }
        }
        let outputs = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for input in 0..<200 { group.addTask { (input, try await coalescer.submit(input)) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(outputs.count == 200)
        #expect(outputs.allSatisfy { $0.value == $0.key * 2 })
        let sizes = batches.withLock { $0 }
        #expect(sizes.reduce(0, +) == 200)
        #expect(sizes.allSatisfy { $0 <= 50 })
        #expect(sizes.count < 200, "no batching: \(sizes)")
    }

    @Test func aFailedBatchFailsItsSubmissionsOnly() async throws {
        struct Refused: Error {}
        let coalescer = Coalescer<Int, Int>(maximumBatch: 1) { inputs in
            if inputs == [13] { throw Refused() }
            return inputs
        }
        await #expect(throws: Refused.self) { try await coalescer.submit(13) }
        #expect(try await coalescer.submit(7) == 7)
    }
}
