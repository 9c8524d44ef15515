import Histogram

/// Latencies recorded into an HdrHistogram (microsecond resolution, three significant digits),
/// read back as the percentiles the reports show.
public struct LatencySummary: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)

    public init() {}

    /// Records one latency.
    public mutating func record(nanoseconds: UInt64) {
        // Values past an hour are clamped: they are failures of the run, not latencies to rank.
        _ = histogram.record(Swift.min(Swift.max(nanoseconds / 1000, 1), 3_600_000_000))
    }

    /// Records one latency given in milliseconds.
    public mutating func record(milliseconds: Double) {
        record(nanoseconds: UInt64(Swift.max(0, milliseconds) * 1e6))
    }

    /// Adds another summary's recordings.
    public mutating func add(_ other: LatencySummary) {
        histogram.add(other.histogram)
    }

    /// How many latencies were recorded.
    public var count: Int { Int(histogram.totalCount) }

    /// The latency at `percentile` (0–100) in milliseconds; 0 when nothing was recorded.
    public func milliseconds(atPercentile percentile: Double) -> Double {
        guard count > 0 else { return 0 }
        return Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    public var p50: Double { milliseconds(atPercentile: 50) }
    public var p90: Double { milliseconds(atPercentile: 90) }
    public var p99: Double { milliseconds(atPercentile: 99) }
    public var p999: Double { milliseconds(atPercentile: 99.9) }
    /// The largest latency, in milliseconds.
    public var max: Double { count > 0 ? Double(histogram.max) / 1000 : 0 }

    /// The standard percentiles for reports and JSON.
    public var percentiles: Percentiles {
        Percentiles(count: count, p50: p50, p90: p90, p99: p99, p999: p999, max: max)
    }

    /// Percentiles in milliseconds.
    public struct Percentiles: Sendable, Codable, Equatable {
        public var count: Int
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        public init(count: Int, p50: Double, p90: Double, p99: Double, p999: Double, max: Double) {
            self.count = count
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.p999 = p999
            self.max = max
        }
    }
}
