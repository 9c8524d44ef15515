public import ConcertAPI
public import ConcertDomain
public import ConcertPipeline
import Foundation
public import Logging

/// Everything a `concert` process is told from outside, read once from the environment (§8 of the design).
public struct ConcertConfiguration: Sendable {
    /// `CONCERT_HTTP_HOST` (127.0.0.1) and `CONCERT_HTTP_PORT` (8080).
    public var httpHost: String
    public var httpPort: Int
    /// `CONCERT_DATABASE_URL`: postgres://user:password@host:port/database.
    public var databaseURL: String
    /// `CONCERT_AMQP_URL`: amqp://user:password@host:port/vhost.
    public var amqpURL: String
    /// `CONCERT_AMQP_MANAGEMENT_URL`: the management API, for `concert status` (optional).
    public var managementURL: String?
    /// `CONCERT_LOG_LEVEL` (info).
    public var logLevel: Logger.Level
    /// `CONCERT_PARTITIONS` (16): fixed once the topology exists.
    public var partitions: Int
    /// `CONCERT_HOLD_SECONDS` (300): how long a reserved seat is held for payment.
    public var holdSeconds: Int
    /// `CONCERT_QUEUE_CAPACITY` (1000): active tokens per concert.
    public var queueCapacity: Int
    /// `CONCERT_ADMIT_PER_SECOND` (0 = unlimited).
    public var admitPerSecond: Int
    /// `CONCERT_ACTIVE_SECONDS` (600): an active token's lifetime.
    public var activeSeconds: Int
    /// `CONCERT_ABANDON_SECONDS` (30): a waiting token not polled this long is abandoned.
    public var abandonSeconds: Int
    /// `CONCERT_TOKEN_SECRET`: the HS256 key of waiting-room tokens; every API process must share it.
    public var tokenSecret: String?
    /// `CONCERT_ADMIN_TOKEN`: the bearer token of `/admin/…`; without it the admin API refuses everyone.
    public var adminToken: String?
    /// `CONCERT_RATE_LIMIT` (`20/s burst 40`): per user and per client address, on token issue
    /// and command submits; `nil` when `off`.
    public var rateLimit: RateLimiter? = RateLimiter(perSecond: 20, burst: 40)
    /// `CONCERT_MAX_SEATS_PER_USER` (4): live holds plus paid seats one user may have per schedule;
    /// `off` for no limit.
    public var maximumSeatsPerUser: Int? = 4
    /// `CONCERT_USER_TOKEN_SECRET`: the HS256 key of users' access tokens (the identity provider's).
    public var userTokenSecret: String?
    /// `CONCERT_USER_JWKS`: the path of a JWKS file of the identity provider's RS256 / ES256 public keys.
    public var userJWKSPath: String?
    /// `CONCERT_USER_TOKEN_ISSUER` / `CONCERT_USER_TOKEN_AUDIENCE`: checked in access tokens when set.
    public var userTokenIssuer: String?
    public var userTokenAudience: String?

    /// Defaults that match what `scripts/services up` starts.
    public init(
        httpHost: String = "127.0.0.1",
        httpPort: Int = 8080,
        databaseURL: String = "postgres://concert:concert@127.0.0.1:5432/concert",
        amqpURL: String = "amqp://concert:concert@127.0.0.1:5672/%2F",
        logLevel: Logger.Level = .info,
        partitions: Int = 16,
        holdSeconds: Int = 300,
        queueCapacity: Int = 1000,
        admitPerSecond: Int = 0,
        activeSeconds: Int = 600,
        abandonSeconds: Int = 30,
        tokenSecret: String? = nil,
        adminToken: String? = nil
    ) {
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.databaseURL = databaseURL
        self.amqpURL = amqpURL
        self.logLevel = logLevel
        self.partitions = partitions
        self.holdSeconds = holdSeconds
        self.queueCapacity = queueCapacity
        self.admitPerSecond = admitPerSecond
        self.activeSeconds = activeSeconds
        self.abandonSeconds = abandonSeconds
        self.tokenSecret = tokenSecret
        self.adminToken = adminToken
    }

    /// Reads the `CONCERT_*` variables; unset ones keep their defaults, malformed ones are an error.
    public init(environment: [String: String]) throws {
        self.init()
        if let host = environment["CONCERT_HTTP_HOST"] { httpHost = host }
        if let port = environment["CONCERT_HTTP_PORT"] {
            guard let value = Int(port), (1...65535).contains(value) else {
                throw ConfigurationError(variable: "CONCERT_HTTP_PORT", problem: "must be a port number, got \(port)")
            }
            httpPort = value
        }
        if let url = environment["CONCERT_DATABASE_URL"] { databaseURL = url }
        if let url = environment["CONCERT_AMQP_URL"] { amqpURL = url }
        managementURL = environment["CONCERT_AMQP_MANAGEMENT_URL"]
        func integer(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw ConfigurationError(variable: name, problem: "must be an integer in \(range.lowerBound)...\(range.upperBound), got \(text)")
            }
            return value
        }
        partitions = try integer("CONCERT_PARTITIONS", 1...1024) ?? partitions
        holdSeconds = try integer("CONCERT_HOLD_SECONDS", 1...86_400) ?? holdSeconds
        queueCapacity = try integer("CONCERT_QUEUE_CAPACITY", 1...10_000_000) ?? queueCapacity
        admitPerSecond = try integer("CONCERT_ADMIT_PER_SECOND", 0...10_000_000) ?? admitPerSecond
        activeSeconds = try integer("CONCERT_ACTIVE_SECONDS", 1...86_400) ?? activeSeconds
        abandonSeconds = try integer("CONCERT_ABANDON_SECONDS", 1...86_400) ?? abandonSeconds
        if let secret = environment["CONCERT_TOKEN_SECRET"] {
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(variable: "CONCERT_TOKEN_SECRET", problem: "must be at least 32 characters (HS256 wants a key as long as its hash)")
            }
            tokenSecret = secret
        }
        if let token = environment["CONCERT_ADMIN_TOKEN"], !token.isEmpty {
            guard token.utf8.count >= 16 else {
                throw ConfigurationError(variable: "CONCERT_ADMIN_TOKEN", problem: "must be at least 16 characters")
            }
            adminToken = token
        }
        if let limit = environment["CONCERT_RATE_LIMIT"], !limit.isEmpty {
            do {
                rateLimit = try RateLimiter.parse(limit)
            } catch {
                throw ConfigurationError(variable: "CONCERT_RATE_LIMIT", problem: error.description)
            }
        }
        if let limit = environment["CONCERT_MAX_SEATS_PER_USER"] {
            if limit.lowercased() == "off" {
                maximumSeatsPerUser = nil
            } else {
                guard let value = Int(limit), (1...10_000).contains(value) else {
                    throw ConfigurationError(variable: "CONCERT_MAX_SEATS_PER_USER", problem: "must be an integer in 1...10000 or off, got \(limit)")
                }
                maximumSeatsPerUser = value
            }
        }
        if let secret = environment["CONCERT_USER_TOKEN_SECRET"], !secret.isEmpty {
            guard secret.count >= 32 else {
                throw ConfigurationError(variable: "CONCERT_USER_TOKEN_SECRET", problem: "must be at least 32 characters (HS256 wants a key as long as its hash)")
            }
            userTokenSecret = secret
        }
        if let path = environment["CONCERT_USER_JWKS"], !path.isEmpty { userJWKSPath = path }
        if let issuer = environment["CONCERT_USER_TOKEN_ISSUER"], !issuer.isEmpty { userTokenIssuer = issuer }
        if let audience = environment["CONCERT_USER_TOKEN_AUDIENCE"], !audience.isEmpty { userTokenAudience = audience }
        if let level = environment["CONCERT_LOG_LEVEL"] {
            guard let value = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(variable: "CONCERT_LOG_LEVEL", problem: "must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = value
        }
    }
}

extension ConcertConfiguration {
    /// The topology these settings describe.
    public var topology: PipelineTopology {
        PipelineTopology(partitions: partitions, holdSeconds: holdSeconds)
    }

    /// The partition workers' rules.
    public var partitionSettings: PartitionState.Settings {
        PartitionState.Settings(holdDuration: TimeInterval(holdSeconds), maximumSeatsPerUser: maximumSeatsPerUser)
    }

    /// The admitter's settings.
    public var admission: AdmissionTicker.Settings {
        AdmissionTicker.Settings(
            policy: WaitingRoom.Policy(capacity: queueCapacity, admitPerSecond: admitPerSecond),
            activeSeconds: TimeInterval(activeSeconds),
            abandonSeconds: TimeInterval(abandonSeconds)
        )
    }
}

/// A configuration variable that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let variable: String
    public let problem: String
    public var description: String { "\(variable) \(problem)" }
}
