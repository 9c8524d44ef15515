import Foundation
import Testing

@testable import BenchmarkKit

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct MeasurementTests {
    @Test func percentilesOfAUniformSpread() {
        var summary = LatencySummary()
        for millisecond in 1...1000 { summary.record(milliseconds: Double(millisecond)) }
        #expect(summary.count == 1000)
        // Three significant digits: within 0.1 % of the exact value.
        #expect(abs(summary.p50 - 500) <= 0.5)
        #expect(abs(summary.p90 - 900) <= 1)
        #expect(abs(summary.p99 - 990) <= 1)
        #expect(abs(summary.max - 1000) <= 1)
    }

    @Test func anEmptySummaryReadsZero() {
        let summary = LatencySummary()
        #expect(summary.count == 0 && summary.p99 == 0 && summary.max == 0)
    }

    @Test func summariesAdd() {
        var fast = LatencySummary()
        var slow = LatencySummary()
        for _ in 0..<99 { fast.record(milliseconds: 1) }
        slow.record(milliseconds: 500)
        fast.add(slow)
        #expect(fast.count == 100)
        #expect(fast.p50 < 1.01)
        #expect(abs(fast.max - 500) < 1)
    }

    @Test func timelineBucketsAndRates() {
        var timeline = Timeline(bucket: .milliseconds(250))
        timeline.add(atNanos: 0)
        timeline.add(atNanos: 249_999_999)
        timeline.add(atNanos: 250_000_000)
        timeline.add(atNanos: 1_000_000_000, count: 3)
        #expect(timeline.counts == [2, 1, 0, 0, 3])
        #expect(timeline.ratesPerSecond == [8, 4, 0, 0, 12])
        #expect(timeline.total == 6)
    }

    @Test func procStatLinesAreReadAfterTheCommandName() {
        // A command name with a space and a parenthesis must not shift the fields.
        let line = "4242 (beam.smp (x) y) S 100 4242 4242 0 -1 4194560 1 2 3 4 150 50 7 3 20 0 1 0 12 0 0"
        let times = CPUUsage.parseStat(line)
        #expect(times == CPUUsage.ProcessTimes(parent: 100, own: 200, children: 10))
        #expect(CPUUsage.parseStat("garbage") == nil)
    }

    @Test func cpuOfThisProcessGrowsWithWork() {
        let before = CPUUsage.treeTime(of: getpid())
        var sum = 0.0
        for index in 0..<20_000_000 { sum += Double(index).squareRoot() }
        #expect(sum > 0)
        #expect(CPUUsage.treeTime(of: getpid()) > before)
    }

    @Test func seatPlanHandsOutEachSeatOnceRoundTheSchedulesAtMostFourPerUser() {
        var plan = SeatPlan(schedules: [.init(concert: 1, date: "2030-01-01"), .init(concert: 2, date: "2030-01-01")], seatsPerSchedule: 10)
        #expect(plan.users == 3)
        var seen = Set<String>()
        var perUser: [String: Int] = [:]
        while let (schedule, seat, user) = plan.take() {
            #expect(seen.insert("\(schedule.concert)/\(seat)").inserted)
            perUser["\(schedule.concert)/\(user)", default: 0] += 1
        }
        #expect(seen.count == 20)
        #expect(perUser.values.allSatisfy { $0 <= 4 })
        #expect(plan.remaining == 0)
    }

    /// A closed loop's unsent seats go back to the plan (the next phase gets them), and a phase
    /// the plan cannot hold is refused with a `--seats` that would.
    @Test func seatPlanTakesBackUnsentSeatsAndSaysWhatWouldHoldAPhase() throws {
        let schedules: [SeatPlan.Schedule] = [.init(concert: 1, date: "2030-01-01"), .init(concert: 2, date: "2030-01-01")]
        var plan = SeatPlan(schedules: schedules, seatsPerSchedule: 1_000)
        var taken: [String] = []
        func key(_ seat: (schedule: SeatPlan.Schedule, seat: Int, user: Int)) -> String { "\(seat.schedule.concert)/\(seat.seat)" }
        for _ in 0..<1_500 {
            let seat = plan.take()
            taken.append(key(try #require(seat)))
        }
        plan.giveBack(500)
        #expect(plan.remaining == 1_000)
        // The seats given back are handed out again, and no seat twice.
        var again: [String] = []
        while let seat = plan.take() { again.append(key(seat)) }
        #expect(Set(again).count == 1_000)
        #expect(Set(taken.prefix(1_000)).isDisjoint(with: again))
        #expect(Set(taken + again).count == 2_000)

        var fresh = SeatPlan(schedules: schedules, seatsPerSchedule: 1_000)
        #expect(fresh.shortfall(2_000, for: "x") == nil)
        let refusal = try #require(fresh.shortfall(2_001, for: "a step at 500/s"))
        #expect(refusal.contains("a step at 500/s"))
        // 2 001 seats and a quarter more over two schedules: 1 251 each, so 2 000.
        #expect(refusal.contains("--seats 2000"))
        for _ in 0..<1_000 { _ = fresh.take() }
        // 1 000 taken and 9 000 more, and a quarter more: 6 250 a schedule, so 7 000.
        #expect(try #require(fresh.shortfall(9_000, for: "x")).contains("--seats 7000"))
    }

    @Test func reportTableAndPictureCarryEveryPhase() throws {
        var report = ScenarioReport(scenario: "unit", command: "concert-bench unit")
        var answers = Timeline(bucket: .milliseconds(250))
        answers.add(atNanos: 100_000_000, count: 10)
        var latency = LatencySummary()
        latency.record(milliseconds: 12)
        report.phases.append(
            PhaseReport(
                name: "first <phase>",
                requests: 10,
                perSecond: 40,
                latency: latency.percentiles,
                cpu: [CPUShare(name: "x", percentOfCore: 50)],
                answers: answers
            )
        )
        report.lastLine = "unit value=1"
        #expect(report.table.contains("first <phase>"))
        #expect(report.table.contains("cpu first <phase>: x 50%"))
        let svg = SVGChart(report: report).render()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("first &lt;phase&gt;"))
        // Well-formed XML.
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse())
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (json, picture) = try report.write(to: directory)
        let decoded = try JSONDecoder.withISODates.decode(ScenarioReport.self, from: Data(contentsOf: json))
        #expect(decoded.lastLine == "unit value=1" && decoded.phases.count == 1)
        #expect(FileManager.default.fileExists(atPath: picture.path))
        try FileManager.default.removeItem(at: directory)
    }
}

extension JSONDecoder {
    static var withISODates: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
