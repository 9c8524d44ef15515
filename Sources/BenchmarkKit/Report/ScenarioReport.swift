public import Foundation

/// What a scenario measured: written as JSON next to its picture, printed as a table, summed up in its last line.
public struct ScenarioReport: Sendable, Codable {
    public var scenario: String
    public var startedAt: Date
    /// The command line that produced it.
    public var command: String
    /// The machine: host name, cores, kernel.
    public var machine: String
    public var phases: [PhaseReport] = []
    /// Extra findings (checks, settings), one per line.
    public var notes: [String] = []
    /// The fixed-form last line, e.g. `e2e committed=4800/s p99_half_ms=38 wait=2100/s`.
    public var lastLine: String = ""

    public init(scenario: String, command: String = CommandLine.arguments.joined(separator: " ")) {
        self.scenario = scenario
        self.command = command
        startedAt = Date()
        machine = Self.describeMachine()
    }

    static func describeMachine() -> String {
        var info = utsname()
        uname(&info)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = ProcessInfo.processInfo.physicalMemory / (1 << 30)
        return "\(text(info.nodename)), \(cores) cores, \(memory) GiB, Linux \(text(info.release))"
    }
}

/// One measured phase of a scenario (a rate step, a run at the maximum, a race, …).
public struct PhaseReport: Sendable, Codable {
    public var name: String
    /// The open-loop rate, when there was one.
    public var offeredPerSecond: Double?
    public var connections: Int
    public var requests: Int
    /// HTTP answers per second (first due → last answer).
    public var answeredPerSecond: Double
    /// Commands committed per second (first submit → last commit), when the phase waits for commits.
    public var committedPerSecond: Double?
    /// Answers by status (`-1` = failed: timeout or connection lost).
    public var statuses: [String: Int]
    /// Request → answer.
    public var latency: LatencySummary.Percentiles
    /// Submit → commit, when measured.
    public var commitLatency: LatencySummary.Percentiles?
    public var cpu: [CPUShare]
    /// Answers (and commits) over time.
    public var answers: Timeline
    public var commits: Timeline?
    /// Anything else worth a number (e.g. `winners: 1`).
    public var extra: [String: Double] = [:]

    /// A phase that was not an HTTP load (e.g. messages straight into the broker).
    public init(name: String, requests: Int, perSecond: Double, latency: LatencySummary.Percentiles, cpu: [CPUShare], answers: Timeline) {
        self.name = name
        connections = 0
        self.requests = requests
        answeredPerSecond = perSecond
        statuses = [:]
        self.latency = latency
        self.cpu = cpu
        self.answers = answers
    }

    public init(
        name: String,
        offeredPerSecond: Double? = nil,
        connections: Int,
        run: LoadRun,
        committedPerSecond: Double? = nil,
        commitLatency: LatencySummary.Percentiles? = nil,
        commits: Timeline? = nil,
        cpu: [CPUShare]
    ) {
        self.name = name
        self.offeredPerSecond = offeredPerSecond
        self.connections = connections
        requests = run.sent
        answeredPerSecond = run.answeredPerSecond
        self.committedPerSecond = committedPerSecond
        statuses = Dictionary(uniqueKeysWithValues: run.statusCounts.map { (String($0.key), $0.value) })
        latency = run.latencies.percentiles
        self.commitLatency = commitLatency
        self.cpu = cpu
        answers = run.timeline()
        self.commits = commits
    }

    /// Non-2xx answers as `409×999 -1×2`, or `none`.
    public var nonSuccess: String {
        let bad = statuses.filter { Int($0.key).map { !(200..<300).contains($0) } ?? true }.sorted { $0.key < $1.key }
        return bad.isEmpty ? "none" : bad.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
    }
}

extension ScenarioReport {
    /// The table printed at the end of a scenario.
    public var table: String {
        var lines = ["\(scenario) — \(machine)", "command: \(command)"]
        let header = ["phase", "offered/s", "conns", "requests", "answered/s", "committed/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx"]
        var rows: [[String]] = []
        for phase in phases {
            let latency = phase.commitLatency ?? phase.latency
            let measured = latency.count > 0
            rows.append([
                phase.name,
                phase.offeredPerSecond.map { String(Int($0.rounded())) } ?? "max",
                phase.connections > 0 ? String(phase.connections) : "-",
                String(phase.requests),
                String(Int(phase.answeredPerSecond.rounded())),
                phase.committedPerSecond.map { String(Int($0.rounded())) } ?? "-",
                measured ? Self.format(latency.p50) : "-",
                measured ? Self.format(latency.p90) : "-",
                measured ? Self.format(latency.p99) : "-",
                measured ? Self.format(latency.max) : "-",
                phase.nonSuccess,
            ])
        }
        lines += Self.render(header: header, rows: rows)
        lines.append("(latency: submit → commit where a commit rate is shown, else request → answer)")
        for phase in phases { lines.append("cpu \(phase.name): \(phase.cpu.summary)") }
        lines += notes
        return lines.joined(separator: "\n")
    }

    static func format(_ milliseconds: Double) -> String {
        milliseconds >= 100 ? String(Int(milliseconds.rounded())) : String(format: "%.1f", milliseconds)
    }

    /// Left-aligned columns.
    public static func render(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
    }

    /// Writes `<scenario>-<time>.json` and `.svg` into `directory`; returns their paths.
    public func write(to directory: URL) throws -> (json: URL, picture: URL) {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let stem = "\(scenario)-\(formatter.string(from: startedAt))"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let json = directory.appendingPathComponent("\(stem).json")
        try encoder.encode(self).write(to: json)
        let picture = directory.appendingPathComponent("\(stem).svg")
        try Data(SVGChart(report: self).render().utf8).write(to: picture)
        return (json, picture)
    }
}
