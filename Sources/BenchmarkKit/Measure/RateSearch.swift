/// Finds the highest request rate a system sustains, by trying rates and judging each step.
///
/// It grows the rate geometrically from `start` until a step is not sustained, then bisects
/// between the last sustained rate and the first that was not, until they are within
/// `precision` of each other (or the step budget is spent). A pure value: the scenario runs
/// each step and reports back.
public struct RateSearch: Sendable, Equatable {
    /// What one step at one offered rate showed.
    public struct Step: Sendable, Equatable, Codable {
        public let offered: Double
        public let sustained: Bool

        public init(offered: Double, sustained: Bool) {
            self.offered = offered
            self.sustained = sustained
        }
    }

    public let start: Double
    public let growth: Double
    public let precision: Double
    public let maximumSteps: Int
    public private(set) var steps: [Step] = []

    public init(start: Double, growth: Double = 1.6, precision: Double = 1.1, maximumSteps: Int = 10) {
        precondition(start > 0 && growth > 1 && precision > 1 && maximumSteps > 0)
        self.start = start
        self.growth = growth
        self.precision = precision
        self.maximumSteps = maximumSteps
    }

    /// The highest rate sustained so far.
    public var best: Double? { steps.filter(\.sustained).map(\.offered).max() }

    /// The lowest rate not sustained so far.
    var lowestFailure: Double? { steps.filter { !$0.sustained }.map(\.offered).min() }

    /// The rate to try next, or `nil` when the search is over.
    public var nextRate: Double? {
        guard steps.count < maximumSteps else { return nil }
        guard !steps.isEmpty else { return start }
        switch (best, lowestFailure) {
        case (nil, _):
            // Even the first rate failed: halve until one holds (or the budget ends).
            let lowest = steps.map(\.offered).min() ?? start
            return lowest / 2 >= 1 ? lowest / 2 : nil
        case (let good?, nil):
            return good * growth
        case (let good?, let bad?):
            guard bad / good > precision else { return nil }
            return (good * bad).squareRoot()
        }
    }

    /// Records the outcome of a step at `offered`.
    public mutating func record(offered: Double, sustained: Bool) {
        steps.append(Step(offered: offered, sustained: sustained))
    }

    /// Whether a step kept up: the server answered at least 95 % of the offered rate, at most 1 %
    /// of answers were errors, and when the last answer came, what it had accepted was committed
    /// but for a backlog under a quarter second's worth (or 50): a system that falls behind
    /// builds a backlog that grows with the step's length.
    public static func sustained(
        offered: Double,
        answeredPerSecond: Double,
        answered: Int,
        errors: Int,
        backlog: Int
    ) -> Bool {
        guard answered > 0 else { return false }
        let keptUp = answeredPerSecond >= offered * 0.95
        let fewErrors = Double(errors) <= Double(answered) * 0.01
        let drained = Double(backlog) <= max(50, offered * 0.25)
        return keptUp && fewErrors && drained
    }
}
