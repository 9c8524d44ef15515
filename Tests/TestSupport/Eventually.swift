import Testing

/// Waits for `condition` with a deadline instead of sleeping a fixed time; records an issue and
/// throws `TimedOut` if it never holds.
public func eventually(
    timeout: Duration = .seconds(15),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out after \(timeout) waiting until \(what)")
    throw TimedOut(what: what)
}

/// A condition that did not come true in time.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting until \(what)" }
}
