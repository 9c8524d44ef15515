public import AMQPClient
public import ConcertDomain
public import ConcertPipeline
public import ConcertStorage
import ConcertWire
public import Foundation

// What goes into the batch machine and what comes out of it.
extension BatchStateMachine {
    /// A delivery as the machine sees it.
    public struct Incoming: Sendable {
        public var body: [UInt8]
        /// Delivered before, or replayed from the dead letters: an earlier attempt may have applied it.
        public var mayBeApplied: Bool
        /// The queue waiting for its outcome.
        public var replyTo: String?
        /// Several commands, one per line (`CommandBundle`).
        public var isBundle: Bool
        /// How many times the broker took it back unsettled (its `x-delivery-count`).
        public var returns: Int64
        public var messageID: String?

        public init(body: [UInt8], mayBeApplied: Bool, replyTo: String?, isBundle: Bool = false, returns: Int64 = 0, messageID: String? = nil) {
            self.body = body
            self.mayBeApplied = mayBeApplied
            self.replyTo = replyTo
            self.isBundle = isBundle
            self.returns = returns
            self.messageID = messageID
        }

        public init(_ delivery: AMQPDelivery) {
            self.init(
                body: delivery.body,
                mayBeApplied: delivery.redelivered || delivery.properties.headers["x-concert-replayed-from"] != nil,
                replyTo: delivery.properties.replyTo,
                isBundle: delivery.properties.type == CommandBundle.messageType,
                returns: delivery.deliveryCount ?? 0,
                messageID: delivery.properties.messageId
            )
        }
    }

    /// One command of a bundle, to be dead-lettered without its neighbours: its own message.
    public struct BundledCommand: Sendable, Hashable {
        /// The command's envelope (or, when it could not be read, its line of the bundle).
        public var body: [UInt8]
        public var messageID: String?
        /// The command's type, when it could be read.
        public var type: String?

        public init(body: [UInt8], messageID: String?, type: String?) {
            self.body = body
            self.messageID = messageID
            self.type = type
        }

        init(_ envelope: CommandEnvelope) {
            self.init(body: envelope.encoded(), messageID: envelope.id.lowercasedString, type: envelope.command.type.rawValue)
        }
    }

    /// What the commands of an attempt are.
    public enum Scope: Sendable, Hashable {
        /// Every command of the batch, in one transaction.
        case batch
        /// One command (the batch's command at this position), after the whole batch kept failing,
        /// or on purpose (see `goesOneByOne`).
        case single(command: Int)
    }

    /// What the worker does next.
    public enum Action: Sendable {
        /// Send this delivery to the dead letters with why — or, with `command`, only that command of
        /// the bundle it is — then answer with `deadLettered`.
        case deadLetter(delivery: Int, reason: String, command: BundledCommand?)
        /// Run an attempt now: a database connection, `startAttempt` and its steps.
        case apply(Scope)
        /// Run an attempt after this pause (give up with `.stop` if shutdown begins meanwhile).
        case retry(Scope, after: Duration)
        /// Everything is applied or dead-lettered: do what follows the commit, then acknowledge the batch.
        case finish(AfterCommit)
        /// The batch can neither be applied nor dead-lettered: give the consumer up, so that the
        /// broker delivers it again.
        case returnBatch
        /// Nothing more for this batch: the worker no longer owns it.
        case stop
    }

    /// What an attempt asks of storage, on one connection.
    public enum Step: Sendable {
        /// Which of these commands are completed already; answer with `completedFound`.
        case lookUpCompleted([UUID])
        /// Load these schedules; answer with `schedulesLoaded`.
        case loadSchedules([ScheduleKey])
        /// What storage knows of these reservations; answer with `reservationsFound`.
        case lookUpReservations([UUID])
        /// Debit these wallets, in the attempt's transaction (opened first); answer with `debited`.
        case debit([PartitionState.Debit])
        /// Write the batch's outcome (in the transaction when `inTransaction`, or one already
        /// open), then commit; answer with `committed`.
        case write(PartitionWrites, seats: [PartitionStore.SeatRow], scheduleIDs: [ScheduleKey: Int64], inTransaction: Bool)
        /// Nothing to write: commit what is open; answer with `committed`.
        case commit
        /// Nothing may be written: roll back, then answer with `attemptFailed`.
        case fail(Failure)
    }

    /// Why an attempt ended without a commit.
    public enum Failure: Sendable, Hashable {
        /// The batch's channel closed: another worker may be applying it.
        case notOwned
        /// The database is unreachable or the transaction's outcome is unknown: retried after a pause.
        case unavailable
        /// Storage refused a stale write, or holds what memory never saw: decided again from storage.
        case stale(String)
        /// Storage disagreed with memory (a constraint): decided again from storage, a limited number of times.
        case conflict(String)
        /// Rolled back for another reason: tried again a limited number of times.
        case rejected(String)
        /// Not tried: the command is the suspect of a bundle on its last delivery; it is dead-lettered.
        case suspect
    }

    /// What follows the batch's commit.
    public struct AfterCommit: Sendable {
        /// Outcomes for the clients waiting for them, by reply queue.
        public var replies: [(replyTo: String, outcome: CommandOutcome)] = []
        /// Queue tokens payments ended.
        public var endedTokens: [EndedToken] = []
        /// Holds whose expiry must be scheduled, by schedule (one message for all of them).
        public var holdsToExpire: [(schedule: ScheduleKey, reservations: [UUID])] = []
        /// How many commands were committed.
        public var committed = 0
    }
}
