/// CPU used by each part of the system over a phase: the system's processes (by process tree)
/// and the load generator (this process), as a share of one core.
public struct CPUSampler: Sendable {
    /// A named process tree to watch.
    public struct Part: Sendable {
        public let name: String
        public let pid: Int32

        public init(name: String, pid: Int32) {
            self.name = name
            self.pid = pid
        }
    }

    let parts: [Part]
    private var startTimes: [String: Duration] = [:]
    private var startGenerator: Duration = .zero
    private var startWall = ContinuousClock.now

    public init(parts: [Part]) {
        self.parts = parts
    }

    /// Starts a phase.
    public mutating func start() {
        startTimes = Dictionary(uniqueKeysWithValues: parts.map { ($0.name, CPUUsage.treeTime(of: $0.pid)) })
        startGenerator = CPUUsage.ownTime()
        startWall = .now
    }

    /// Each part's CPU since `start()` in % of one core (100 = one core busy), the generator last.
    public func stop() -> [CPUShare] {
        let wall = (ContinuousClock.now - startWall).seconds
        var shares = parts.map { part in
            CPUShare(name: part.name, percentOfCore: Self.percent(CPUUsage.treeTime(of: part.pid) - (startTimes[part.name] ?? .zero), wall))
        }
        shares.append(CPUShare(name: "load generator", percentOfCore: Self.percent(CPUUsage.ownTime() - startGenerator, wall)))
        return shares
    }

    static func percent(_ used: Duration, _ wallSeconds: Double) -> Double {
        wallSeconds > 0 ? (used.seconds / wallSeconds * 100).rounded() : 0
    }
}

/// One part's CPU over a phase.
public struct CPUShare: Sendable, Codable, Equatable {
    public let name: String
    /// 100 = one core busy for the whole phase (this machine has two).
    public let percentOfCore: Double

    public init(name: String, percentOfCore: Double) {
        self.name = name
        self.percentOfCore = percentOfCore
    }
}

extension [CPUShare] {
    /// `concert 140%, rabbitmq 35%, postgres 30%, load generator 25%`.
    public var summary: String {
        map { "\($0.name) \(Int($0.percentOfCore))%" }.joined(separator: ", ")
    }
}
