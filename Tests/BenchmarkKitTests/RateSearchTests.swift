import BenchmarkKit
import Testing

@Suite struct RateSearchTests {
    /// Drives a search against a system that sustains anything up to `ceiling`.
    func search(ceiling: Double, start: Double = 400, steps: Int = 12) -> RateSearch {
        var search = RateSearch(start: start, maximumSteps: steps)
        while let rate = search.nextRate { search.record(offered: rate, sustained: rate <= ceiling) }
        return search
    }

    @Test func growsGeometricallyUntilAStepFails() {
        var search = RateSearch(start: 400, growth: 2)
        #expect(search.nextRate == 400)
        search.record(offered: 400, sustained: true)
        #expect(search.nextRate == 800)
        search.record(offered: 800, sustained: true)
        #expect(search.nextRate == 1600)
    }

    @Test func bisectsBetweenLastSuccessAndFirstFailure() {
        var search = RateSearch(start: 400, growth: 2)
        search.record(offered: 400, sustained: true)
        search.record(offered: 800, sustained: false)
        // The geometric middle of 400 and 800.
        #expect(abs((search.nextRate ?? 0) - 565.685) < 0.01)
    }

    @Test func endsWithinPrecisionBelowTheCeiling() {
        let result = search(ceiling: 3000)
        let best = result.best ?? 0
        #expect(best <= 3000)
        #expect(best >= 3000 / 1.1)
        #expect(result.nextRate == nil)
    }

    @Test func halvesWhenEvenTheFirstRateFails() {
        let result = search(ceiling: 150, start: 400)
        let best = result.best ?? 0
        #expect(best <= 150 && best >= 100)
    }

    @Test func stopsAtTheStepBudget() {
        var search = RateSearch(start: 100, maximumSteps: 3)
        for _ in 0..<3 {
            guard let rate = search.nextRate else { break }
            search.record(offered: rate, sustained: true)
        }
        #expect(search.steps.count == 3)
        #expect(search.nextRate == nil)
        #expect(search.best == 256)
    }

    @Test func aStepIsSustainedOnlyWhenTheServerKeptUpWithFewErrorsAndLittleBacklog() {
        #expect(RateSearch.sustained(offered: 1000, answeredPerSecond: 990, answered: 4000, errors: 0, backlog: 100))
        // The API fell behind the offered rate.
        #expect(!RateSearch.sustained(offered: 1000, answeredPerSecond: 900, answered: 4000, errors: 0, backlog: 0))
        // More than 1 % errors.
        #expect(!RateSearch.sustained(offered: 1000, answeredPerSecond: 1000, answered: 4000, errors: 41, backlog: 0))
        // Commits more than a quarter second behind.
        #expect(!RateSearch.sustained(offered: 1000, answeredPerSecond: 1000, answered: 4000, errors: 0, backlog: 251))
        #expect(RateSearch.sustained(offered: 1000, answeredPerSecond: 1000, answered: 4000, errors: 0, backlog: 250))
        // A small absolute backlog is fine at low rates.
        #expect(RateSearch.sustained(offered: 20, answeredPerSecond: 20, answered: 80, errors: 0, backlog: 50))
        #expect(!RateSearch.sustained(offered: 20, answeredPerSecond: 20, answered: 0, errors: 0, backlog: 0))
    }
}
