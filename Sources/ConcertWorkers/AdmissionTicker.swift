public import AMQPClient
public import ConcertDomain
import ConcertPipeline
public import ConcertStorage
import ConcertWire
public import Foundation
public import Logging
public import ServiceLifecycle

/// Runs waiting-room admission on a tick that travels through RabbitMQ.
///
/// A tick is a small message published to `concert.delay` with key `tick`; it sits in the
/// fixed-TTL queue `concert.delay.tick` for about a second and is then dead-lettered into
/// `concert.admission`, whose **single active consumer** is the one admitter among all
/// processes. The admitter runs one admission pass, publishes the next tick (confirmed), and
/// only then acknowledges the current one — so a crash between the two at worst duplicates a
/// tick, never loses it. Duplicates are recognised (each tick names its successor) and
/// dropped. If the tick is lost anyway (queues purged, broker data lost), `TickWatchdog`
/// re-arms it.
public struct AdmissionTicker: Service {
    /// The waiting room's rules (`CONCERT_QUEUE_CAPACITY`, `CONCERT_ADMIT_PER_SECOND`,
    /// `CONCERT_ACTIVE_SECONDS`, `CONCERT_ABANDON_SECONDS`).
    public struct Settings: Sendable {
        public var policy: WaitingRoom.Policy
        public var activeSeconds: TimeInterval
        public var abandonSeconds: TimeInterval

        public init(policy: WaitingRoom.Policy = .init(), activeSeconds: TimeInterval = 600, abandonSeconds: TimeInterval = 30) {
            self.policy = policy
            self.activeSeconds = activeSeconds
            self.abandonSeconds = abandonSeconds
        }
    }

    let connection: AMQPConnection
    let store: WaitingRoomStore
    let settings: Settings
    let logger: Logger

    public init(connection: AMQPConnection, store: WaitingRoomStore, settings: Settings, logger: Logger) {
        self.connection = connection
        self.store = store
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        let loop = ConsumeLoop(connection: connection, queue: PipelineTopology.admissionQueue, prefetch: 1, logger: logger)
        var expected: (id: UUID, since: ContinuousClock.Instant)?
        await loop.run { context, batch in
            for delivery in batch {
                let tick = try? JSONDecoder.commands.decode(Tick.self, from: Data(delivery.body))
                // Only the tick this admitter published last is followed, unless that one is overdue (lost).
                if let expected, let tick, tick.id != expected.id, ContinuousClock.now - expected.since < .seconds(5) {
                    logger.debug("admission: duplicate tick dropped", metadata: ["tick": "\(tick.id)"])
                    try context.consumer.ack(delivery)
                    continue
                }
                await admitOnce()
                let next = Tick(id: UUID(), sentAt: Date())
                // Not published (the broker is away): the tick is not acknowledged either — the loop gives the
                // consumer up, the broker requeues the tick, and the next subscription takes it again.
                try await Self.publish(next, on: connection)
                expected = (next.id, ContinuousClock.now)
                try context.consumer.ack(delivery)
            }
        }
    }

    /// One admission pass over every concert; failures are logged and the next tick tries again.
    func admitOnce() async {
        do {
            let admissions = try await store.admit(
                policy: settings.policy,
                activeFor: settings.activeSeconds,
                abandonAfter: settings.abandonSeconds,
                now: Date()
            )
            for admission in admissions {
                AdmissionMetrics.admission(
                    concert: admission.concertID,
                    admitted: admission.admitted,
                    active: admission.active,
                    waiting: admission.waiting
                )
            }
            for admission in admissions where admission.admitted + admission.expired + admission.abandoned > 0 {
                logger.info(
                    "admission",
                    metadata: [
                        "concert": "\(admission.concertID)", "admitted": "\(admission.admitted)", "expired": "\(admission.expired)",
                        "abandoned": "\(admission.abandoned)", "active": "\(admission.active)", "waiting": "\(admission.waiting)",
                    ]
                )
            }
        } catch {
            logger.warning("admission: pass failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Publishes a tick into the delay queue.
    static func publish(_ tick: Tick, on connection: AMQPConnection) async throws {
        try await connection.publish(
            exchange: PipelineTopology.delayExchange,
            routingKey: PipelineTopology.tickRoutingKey,
            body: Array(try JSONEncoder.commands.encode(tick)),
            properties: AMQPMessageProperties(contentType: "application/json", messageId: tick.id.uuidString, type: "AdmissionTick"),
            mandatory: true
        )
    }
}

/// The admission tick's body.
struct Tick: Codable, Sendable {
    let id: UUID
    let sentAt: Date
}
