import Foundation
import Glibc
import Synchronization

/// The line a running scenario keeps up to date on standard error: what it does, done/total,
/// current rate and elapsed time. On a terminal it rewrites one line; otherwise it prints a line every few seconds.
public final class Progress: Sendable {
    private struct State {
        var lastPrinted = ContinuousClock.now - .seconds(60)
        var lastCount = 0
        var lastAt = ContinuousClock.now
        var phaseStart = ContinuousClock.now
        var label = ""
    }

    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let state = Mutex(State())

    public init() {}

    /// Starts a phase.
    public func begin(_ label: String) {
        state.withLock { state in
            state.label = label
            state.phaseStart = .now
            state.lastAt = .now
            state.lastCount = 0
        }
        note("\(label) …")
    }

    /// Reports `done` of `total` (total 0 = unknown).
    public func update(done: Int, total: Int) {
        let line: String? = state.withLock { state in
            let now = ContinuousClock.now
            let interval = isTerminal ? Duration.milliseconds(400) : .seconds(3)
            guard now - state.lastPrinted >= interval, now - state.lastAt >= .milliseconds(200) else { return nil }
            let rate = Double(done - state.lastCount) / max((now - state.lastAt).seconds, 0.001)
            state.lastCount = done
            state.lastAt = now
            state.lastPrinted = now
            let elapsed = (now - state.phaseStart).seconds
            let count = total > 0 ? "\(done)/\(total)" : "\(done)"
            return String(format: "%@: %@ done, %.0f/s now, %.1f s", state.label, count, rate, elapsed)
        }
        guard let line else { return }
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// A line of its own (ends the running line on a terminal).
    public func note(_ text: String) {
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + text + "\n").utf8))
    }
}
