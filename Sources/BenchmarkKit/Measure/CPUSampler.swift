/// CPU used by each part of the system over a phase: the system's processes (by process tree)
/// and the load generator (this process), as a share of one core.
public struct CPUSampler: Sendable {
    /// A named process tree to watch.
    public struct Part: Sendable {
        public let name: String
        /// The processes (each with its tree) counted together under `name`, e.g. a broker's nodes.
        public let pids: [Int32]

        public init(name: String, pid: Int32) {
            self.init(name: name, pids: [pid])
        }

        public init(name: String, pids: [Int32]) {
            self.name = name
            self.pids = pids
        }

        var time: Duration { pids.reduce(.zero) { $0 + CPUUsage.treeTime(of: $1) } }
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
        startTimes = Dictionary(uniqueKeysWithValues: parts.map { ($0.name, $0.time) })
        startGenerator = CPUUsage.ownTime()
        startWall = .now
    }

    /// Each part's CPU since `start()` in % of one core (100 = one core busy), the generator last.
    public func stop() -> [CPUShare] {
        let wall = (ContinuousClock.now - startWall).seconds
        var shares = parts.map { part in
            CPUShare(name: part.name, percentOfCore: Self.percent(part.time - (startTimes[part.name] ?? .zero), wall))
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
