import AMQPClient
import ConcertDomain
import ConcertPipeline
import Foundation
import Logging
import Testing

/// The inbox's hand-over of outcomes to waiting requests, and the wire form of outcomes and ended tokens.
@Suite struct ReplyInboxTests {
    let inbox = ReplyInbox(
        connection: AMQPConnection(configuration: AMQPConfiguration(port: 1), logger: Logger(label: "inbox-tests")),
        logger: Logger(label: "inbox-tests"),
        tokensEnded: { _ in }
    )

    func outcome(_ id: UUID) -> CommandOutcome {
        CommandOutcome(commandID: id, type: .reserveSeat, failure: nil, resultJSON: #"{"seatNumber":1}"#)
    }

    @Test func anOutcomeThatArrivesBeforeOrWhileTheRequestWaitsIsHandedOver() async throws {
        let early = UUID()
        inbox.expect(early)
        inbox.deliver([outcome(early)])
        #expect(await inbox.outcome(of: early, within: .seconds(5)) == outcome(early))

        let late = UUID()
        inbox.expect(late)
        async let waited = inbox.outcome(of: late, within: .seconds(5))
        try await Task.sleep(for: .milliseconds(50))
        inbox.deliver([outcome(late)])
        #expect(await waited == outcome(late))
        #expect(inbox.waiting == 0)
    }

    @Test func aWaitEndsEmptyAfterItsTimeAndForgetsTheCommand() async {
        let id = UUID()
        inbox.expect(id)
        let started = ContinuousClock.now
        #expect(await inbox.outcome(of: id, within: .milliseconds(100)) == nil)
        // It ends (not after a minute): loose enough for a machine the parallel suites load.
        #expect(ContinuousClock.now - started < .seconds(10))
        // A late outcome finds nobody and is dropped.
        inbox.deliver([outcome(id)])
        #expect(inbox.waiting == 0)
    }

    @Test func waitsOfDifferentLengthsEachEndAtTheirOwnTime() async {
        let short = UUID()
        let long = UUID()
        inbox.expect(short)
        inbox.expect(long)
        let started = ContinuousClock.now
        async let shortWait = inbox.outcome(of: short, within: .milliseconds(100))
        async let longWait = inbox.outcome(of: long, within: .seconds(20))
        #expect(await shortWait == nil)
        let shortEnded = ContinuousClock.now - started
        #expect(shortEnded >= .milliseconds(100))
        // The long wait still runs after the short one ended and gets its outcome.
        inbox.deliver([outcome(long)])
        #expect(await longWait == outcome(long))
        #expect(inbox.waiting == 0)
    }

    @Test func aCancelledWaitEndsAtOnceAndForgetsTheCommand() async {
        let id = UUID()
        inbox.expect(id)
        let started = ContinuousClock.now
        let waiting = Task { await inbox.outcome(of: id, within: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(inbox.waiting == 0)
    }

    @Test func outcomesAndEndedTokensSurviveTheirWireForm() {
        let outcomes = [
            CommandOutcome(commandID: UUID(), type: .reserveSeat, failure: nil, resultJSON: #"{"a":"b c","d":1}"#),
            CommandOutcome(commandID: UUID(), type: .pay, failure: .insufficientBalance, resultJSON: nil),
            CommandOutcome(commandID: UUID(), type: .expireHold, failure: nil, resultJSON: nil),
        ]
        #expect(CommandOutcome.decode(CommandOutcome.encode(outcomes)) == outcomes)
        #expect(CommandOutcome.decode(Array("garbage\nmore garbage here x y\n".utf8)).isEmpty)
        let tokens = [EndedToken(concert: ConcertID(3)!, user: UserID("alice")!), EndedToken(concert: ConcertID(1)!, user: UserID("b-2")!)]
        #expect(EndedToken.decode(EndedToken.encode(tokens)) == tokens)
    }
}
