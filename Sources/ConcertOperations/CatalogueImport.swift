public import ConcertApp
public import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
public import Logging

/// `concert catalogue import FILE`: makes the catalogue say what the file says, and changes
/// nothing that already does. The concert is found by its external key, created when new and
/// updated when its fields differ; each date whose stored seats differ from the file's map gets it
/// through the date's partition worker, the one writer of its seats (a `SetSeatMap` command, as
/// `PUT /admin/concerts/{id}/dates/{date}` sends), and the import waits for each outcome.
///
/// Failure paths: an invalid file changes nothing. A date whose seats are held or sold takes only
/// new prices (a map of the same layout); any other change to it is refused (`SCHEDULE_IN_USE`)
/// and the other dates still go through; the import then exits non-zero. No
/// outcome within `timeout` (no worker running?) is reported as such: the command stays queued
/// and is applied when a worker takes it, so running the import again later is safe.
public enum CatalogueImport {
    /// What happened to the concert and to each date.
    public struct Report: Sendable, CustomStringConvertible {
        public enum Change: String, Sendable {
            case created, updated, unchanged
        }

        public enum DateChange: Sendable, Equatable {
            case created(seats: Int)
            case replaced(seats: Int)
            case repriced(seats: Int)
            case unchanged
            case refused(code: String)
            case noOutcome
        }

        public let concertID: ConcertID
        public let title: String
        public let concert: Change
        public let dates: [(ScheduleDate, DateChange)]

        /// True when every date has the file's seats.
        public var succeeded: Bool {
            dates.allSatisfy { change in
                switch change.1 {
                case .created, .replaced, .repriced, .unchanged: true
                case .refused, .noOutcome: false
                }
            }
        }

        public var description: String {
            var lines = ["concert \(concertID) \(title): \(concert.rawValue)"]
            for (date, change) in dates {
                let text =
                    switch change {
                    case .created(let seats): "created, \(seats) seats"
                    case .replaced(let seats): "replaced, \(seats) seats"
                    case .repriced(let seats): "new prices for its \(seats) seats (some are held or sold; those keep their price)"
                    case .unchanged: "unchanged"
                    case .refused(let code): "refused: \(code) (seats are held or sold; the stored map stays)"
                    case .noOutcome: "no outcome yet: the command waits in its partition for a worker (is one running?)"
                    }
                lines.append("  \(date): \(text)")
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Imports `file`.
    ///
    /// - Parameters:
    ///   - file: The checked file.
    ///   - configuration: Where the database and the broker are, and the partition count.
    ///   - timeout: How long to wait for each seat map's outcome.
    ///   - logger: For the services' messages.
    /// - Returns: What changed.
    /// - Throws: When the database or the broker cannot be reached.
    public static func run(
        _ file: CatalogueFile,
        configuration: ConcertConfiguration,
        timeout: Duration = .seconds(60),
        logger: Logger
    ) async throws -> Report {
        try await ConcertServices.withDatabase(configuration, logger: logger) { database in
            try await Migrator().migrate(database, logger: logger)
            let catalogue = CatalogueStore(client: database, logger: logger)
            let (concert, change) = try await upsert(file.concert, in: catalogue)
            var pending: [Command.SetSeatMap] = []
            var dates: [ScheduleDate: Report.DateChange] = [:]
            for map in file.seatMaps(of: concert.id) {
                let stored = try await catalogue.seatLayout(of: map.schedule)
                if stored == map.placedRows.map(CatalogueStore.SeatLayoutRow.init) {
                    dates[map.date] = .unchanged
                } else {
                    pending.append(map)
                }
            }
            if !pending.isEmpty {
                let pending = pending
                let commands = CommandStore(client: database, logger: logger)
                let outcomes = try await ConcertServices.withBroker(configuration, logger: logger) { broker in
                    let publisher = CommandPublisher(connection: broker, partitions: configuration.partitions)
                    var outcomes: [(ScheduleDate, Report.DateChange)] = []
                    for map in pending {
                        let envelope = CommandEnvelope(
                            id: UUID(),
                            userId: .operator,
                            partitionKey: map.schedule.partitionKey,
                            command: .setSeatMap(map),
                            submittedAt: Date()
                        )
                        try await publisher.publish(envelope, schedule: map.schedule)
                        outcomes.append((map.date, try await outcome(of: envelope.id, in: commands, within: timeout)))
                    }
                    return outcomes
                }
                for (date, change) in outcomes { dates[date] = change }
            }
            return Report(
                concertID: concert.id,
                title: concert.title,
                concert: change,
                dates: file.seatMaps.map { ($0.date, dates[$0.date] ?? .noOutcome) }
            )
        }
    }

    /// The concert of the draft's key: created, updated to the draft, or left as it is.
    static func upsert(_ draft: CatalogueStore.ConcertDraft, in catalogue: CatalogueStore) async throws -> (CatalogueStore.Concert, Report.Change) {
        guard let key = draft.externalKey, let concert = try await catalogue.concert(externalKey: key) else {
            // Two imports of one new file at once: the second finds the first's concert here.
            let (concert, created) = try await catalogue.create(draft)
            return (concert, created ? .created : .unchanged)
        }
        if CatalogueStore.ConcertDraft(concert) == draft { return (concert, .unchanged) }
        guard let updated = try await catalogue.update(concert.id, { _ in draft }) else { return (concert, .unchanged) }
        return (updated, .updated)
    }

    /// Polls the commands table until the worker recorded the command's outcome.
    static func outcome(of id: UUID, in commands: CommandStore, within timeout: Duration) async throws -> Report.DateChange {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let record = try await commands.find(id), record.status != .pending {
                if let failure = record.failure { return .refused(code: failure.rawValue) }
                let result = try record.result.map { try JSONDecoder.commands.decode(SeatMapResult.self, from: Data($0.utf8)) }
                guard let result else { return .refused(code: "NO_RESULT") }
                if result.pricesOnly { return .repriced(seats: result.seats) }
                return result.created ? .created(seats: result.seats) : .replaced(seats: result.seats)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return .noOutcome
    }
}
