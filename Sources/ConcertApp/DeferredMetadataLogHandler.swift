public import Logging

/// Hands lines to another handler (`StreamLogHandler`'s format on standard error) with the
/// logger's metadata kept as a dictionary until a line is written. `StreamLogHandler` renders its metadata to text whenever a key is set, and Hummingbird
/// sets one (the request id) on every request's logger — text no line at `info` ever used, ~1–2 %
/// of the API's CPU under load.
public struct DeferredMetadataLogHandler: LogHandler {
    /// Writes the lines; its own metadata stays empty, so it never renders any ahead of a line.
    private var stream: any LogHandler
    public var metadata: Logger.Metadata = [:]

    public init(wrapping stream: any LogHandler) {
        self.stream = stream
    }

    /// Writes to standard error at `level`, with `metadataProvider`'s metadata (the trace's ids).
    public static func standardError(
        label: String,
        level: Logger.Level,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> DeferredMetadataLogHandler {
        var stream = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        stream.logLevel = level
        return DeferredMetadataLogHandler(wrapping: stream)
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        if let explicit = event.metadata {
            event.metadata = metadata.merging(explicit) { _, explicit in explicit }
        } else if !metadata.isEmpty {
            event.metadata = metadata
        }
        stream.log(event: event)
    }
}
