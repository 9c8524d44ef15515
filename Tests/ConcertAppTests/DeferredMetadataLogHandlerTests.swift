import ConcertApp
import Logging
import Synchronization
import Testing

/// The handler keeps metadata to itself until a line is written, then hands it over with the line.
@Suite struct DeferredMetadataLogHandlerTests {
    /// Records what it is handed, and whether anyone set metadata on it.
    struct Recorder: LogHandler {
        final class Lines: Sendable {
            let events = Mutex<[(String, Logger.Metadata?)]>([])
            let metadataSets = Atomic<Int>(0)
        }

        let lines: Lines
        var logLevel: Logger.Level = .info
        var metadataProvider: Logger.MetadataProvider?
        var metadata: Logger.Metadata = [:] {
            didSet { lines.metadataSets.add(1, ordering: .relaxed) }
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            lines.events.withLock { $0.append(("\(event.message)", event.metadata)) }
        }
    }

    @Test func metadataIsHandedOverWithEachLineAndExplicitValuesWin() {
        let lines = Recorder.Lines()
        var logger = Logger(label: "test") { _ in DeferredMetadataLogHandler(wrapping: Recorder(lines: lines)) }
        logger[metadataKey: "request"] = "r1"
        logger[metadataKey: "user"] = "alice"
        logger.info("first")
        logger.info("second", metadata: ["user": "bob", "extra": "1"])
        logger.debug("below the level")
        var plain = Logger(label: "plain") { _ in DeferredMetadataLogHandler(wrapping: Recorder(lines: lines)) }
        plain.logLevel = .info
        plain.info("third")

        let events = lines.events.withLock { $0 }
        #expect(events.map(\.0) == ["first", "second", "third"])
        #expect(events[0].1 == ["request": "r1", "user": "alice"])
        #expect(events[1].1 == ["request": "r1", "user": "bob", "extra": "1"])
        #expect(events[2].1 == nil)
        // The wrapped handler's own metadata was never set: nothing rendered ahead of a line.
        #expect(lines.metadataSets.load(ordering: .relaxed) == 0)
    }
}
