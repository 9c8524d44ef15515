import AMQPClient
public import ConcertAPI
public import ConcertDomain
public import ConcertPipeline
import ConcertStorage
public import ConcertWorkers
import Foundation
public import Logging

/// Everything a `concert` process is told from outside, read once from the environment (§8 of the design).
public struct ConcertConfiguration: Sendable {
    /// `CONCERT_HTTP_HOST` (127.0.0.1) and `CONCERT_HTTP_PORT` (8080).
    public var httpHost: String
    public var httpPort: Int
    /// `CONCERT_METRICS_PORT` (none): where `concert worker` serves `/metrics` and `/health/live`
    /// on `httpHost` (the API's processes serve them on their HTTP port).
    public var metricsPort: Int?
    /// `CONCERT_DATABASE_URL`: postgres://user:password@host:port/database.
    public var databaseURL: String
    /// `CONCERT_DATABASE_TIMEOUT_SECONDS` (10): a connect, lease or statement the database does
    /// not answer within it fails as the database being unavailable, and its connection is dropped.
    public var databaseTimeoutSeconds = 10
    /// `CONCERT_HTTP_IDLE_TIMEOUT_SECONDS` (30): a connection with no complete request within it is closed.
    public var httpIdleTimeoutSeconds = 30
    /// `CONCERT_HTTP_MAX_CONNECTIONS` (10 000): connections past it are answered `503` and closed at once.
    public var httpMaximumConnections = 10_000
    /// `CONCERT_PUBLISH_TIMEOUT_SECONDS` (5): how long a publish waits for the broker's confirm.
    public var publishTimeoutSeconds = 5
    /// `CONCERT_AMQP_URL`: amqp://user:password@host:port/vhost.
    public var amqpURL: String
    /// `CONCERT_AMQP_MANAGEMENT_URL`: the management API, for `concert status` (optional).
    public var managementURL: String?
    /// `CONCERT_LOG_LEVEL` (info).
    public var logLevel: Logger.Level
    /// `CONCERT_OTEL_ENDPOINT` (none): the OTLP/HTTP receiver spans go to (see `startTracing`).
    public var otelEndpoint: String?
    /// `CONCERT_PARTITIONS` (4): fixed once the topology exists.
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
    /// `CONCERT_QUEUE_PROOF_OF_WORK_BITS` (0 = off): token issue needs a solved puzzle of this many
    /// leading zero bits (about 2^bits hashes for the client, one for the server).
    public var proofOfWorkBits = 0
    /// `CONCERT_TOKEN_SECRET`: the HS256 key of waiting-room tokens; every API process must share it.
    public var tokenSecret: String?
    /// `CONCERT_ADMIN_TOKEN`: the bearer token of `/admin/…`; without it the admin API refuses everyone.
    public var adminToken: String?
    /// `CONCERT_RATE_LIMIT` (`20/s burst 40`): per user and per client address, on token issue
    /// and command submits; `nil` when `off`.
    public var rateLimit: RateLimiter? = RateLimiter(perSecond: 20, burst: 40)
    /// `CONCERT_TRUSTED_PROXIES` (none): load balancers and TLS proxies whose `Forwarded` /
    /// `X-Forwarded-For` name the client (for rate limits and logs); addresses or CIDR blocks.
    public var trustedProxies = TrustedProxies.none
    /// `CONCERT_SIGN_IN_FAILURES_PER_MINUTE` (10): failed admin-token attempts one client address
    /// may make a minute (admin API and console sign-in) before it is refused; 0 = no limit.
    public var signInFailuresPerMinute = 10
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
        partitions: Int = PipelineTopology.defaultPartitions,
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

    /// Reads the `CONCERT_*` variables; unset ones keep their defaults. Every malformed one is an
    /// error, all reported together (`ConfigurationProblems`), before anything connects anywhere.
    public init(environment: [String: String]) throws {
        let (configuration, problems) = Self.read(environment: environment)
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        self = configuration
    }

    /// The configuration `environment` describes, with the defaults in place of the variables
    /// that cannot be used, and a problem for each of those (`concert doctor` shows both).
    public static func read(environment: [String: String]) -> (ConcertConfiguration, [ConfigurationError]) {
        var configuration = ConcertConfiguration()
        var problems: [ConfigurationError] = []
        func problem(_ variable: String, _ text: String) { problems.append(ConfigurationError(variable: variable, problem: text)) }
        func integer(_ name: String, _ range: ClosedRange<Int>) -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                problem(name, "must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
                return nil
            }
            return value
        }

        if let host = environment["CONCERT_HTTP_HOST"] {
            if host.isEmpty {
                problem("CONCERT_HTTP_HOST", "must be a host name or address to listen on, got ''")
            } else {
                configuration.httpHost = host
            }
        }
        configuration.httpPort = integer("CONCERT_HTTP_PORT", 1...65535) ?? configuration.httpPort
        configuration.metricsPort = integer("CONCERT_METRICS_PORT", 1...65535)
        if let url = environment["CONCERT_DATABASE_URL"] {
            do {
                _ = try DatabaseAddress(url: url)
                configuration.databaseURL = url
            } catch let error as DatabaseURLError where error.message.hasPrefix("ssl") {
                problem("CONCERT_DATABASE_URL", "\(error.message), got '\(Self.withoutPassword(url))'")
            } catch {
                problem("CONCERT_DATABASE_URL", "must be postgres://user:password@host:port/database, got '\(Self.withoutPassword(url))'")
            }
        }
        if let url = environment["CONCERT_AMQP_URL"] {
            do {
                _ = try AMQPConfiguration(url: url)
                configuration.amqpURL = url
            } catch let error as AMQPError {
                problem("CONCERT_AMQP_URL", "\(error.message), got '\(Self.withoutPassword(url))'")
            } catch {
                problem("CONCERT_AMQP_URL", "\(error), got '\(Self.withoutPassword(url))'")
            }
        }
        if let url = environment["CONCERT_AMQP_MANAGEMENT_URL"], !url.isEmpty {
            let nodes = url.split(separator: ",").map { URLComponents(string: $0.trimmingCharacters(in: .whitespaces)) }
            if nodes.allSatisfy({ ["http", "https"].contains($0?.scheme ?? "") && !($0?.host ?? "").isEmpty }) {
                configuration.managementURL = url
            } else {
                problem(
                    "CONCERT_AMQP_MANAGEMENT_URL",
                    "must be http://user:password@host:15672 (or several, comma-separated), got '\(Self.withoutPassword(url))'"
                )
            }
        }
        configuration.databaseTimeoutSeconds = integer("CONCERT_DATABASE_TIMEOUT_SECONDS", 1...600) ?? configuration.databaseTimeoutSeconds
        configuration.httpIdleTimeoutSeconds = integer("CONCERT_HTTP_IDLE_TIMEOUT_SECONDS", 1...3_600) ?? configuration.httpIdleTimeoutSeconds
        configuration.httpMaximumConnections = integer("CONCERT_HTTP_MAX_CONNECTIONS", 1...1_000_000) ?? configuration.httpMaximumConnections
        configuration.publishTimeoutSeconds = integer("CONCERT_PUBLISH_TIMEOUT_SECONDS", 1...600) ?? configuration.publishTimeoutSeconds
        if let proxies = environment["CONCERT_TRUSTED_PROXIES"] {
            do {
                configuration.trustedProxies = try TrustedProxies(parsing: proxies)
            } catch {
                problem("CONCERT_TRUSTED_PROXIES", error.description)
            }
        }
        configuration.signInFailuresPerMinute = integer("CONCERT_SIGN_IN_FAILURES_PER_MINUTE", 0...100_000) ?? configuration.signInFailuresPerMinute
        configuration.partitions = integer("CONCERT_PARTITIONS", 1...1024) ?? configuration.partitions
        configuration.holdSeconds = integer("CONCERT_HOLD_SECONDS", 1...86_400) ?? configuration.holdSeconds
        configuration.queueCapacity = integer("CONCERT_QUEUE_CAPACITY", 1...10_000_000) ?? configuration.queueCapacity
        configuration.admitPerSecond = integer("CONCERT_ADMIT_PER_SECOND", 0...10_000_000) ?? configuration.admitPerSecond
        configuration.activeSeconds = integer("CONCERT_ACTIVE_SECONDS", 1...86_400) ?? configuration.activeSeconds
        configuration.abandonSeconds = integer("CONCERT_ABANDON_SECONDS", 1...86_400) ?? configuration.abandonSeconds
        configuration.proofOfWorkBits = integer("CONCERT_QUEUE_PROOF_OF_WORK_BITS", 0...30) ?? configuration.proofOfWorkBits
        if let secret = environment["CONCERT_TOKEN_SECRET"] {
            if secret.utf8.count >= minimumTokenSecretLength {
                configuration.tokenSecret = secret
            } else {
                problem(
                    "CONCERT_TOKEN_SECRET",
                    "must be at least \(minimumTokenSecretLength) characters (HS256 wants a key as long as its hash), it has \(secret.utf8.count)"
                )
            }
        }
        if let token = environment["CONCERT_ADMIN_TOKEN"], !token.isEmpty {
            if token.utf8.count >= minimumAdminTokenLength {
                configuration.adminToken = token
            } else {
                problem("CONCERT_ADMIN_TOKEN", "must be at least \(minimumAdminTokenLength) characters, it has \(token.utf8.count)")
            }
        }
        if let limit = environment["CONCERT_RATE_LIMIT"], !limit.isEmpty {
            do {
                configuration.rateLimit = try RateLimiter.parse(limit)
            } catch {
                problem("CONCERT_RATE_LIMIT", error.description)
            }
        }
        if let limit = environment["CONCERT_MAX_SEATS_PER_USER"] {
            if limit.lowercased() == "off" {
                configuration.maximumSeatsPerUser = nil
            } else if let value = Int(limit), (1...10_000).contains(value) {
                configuration.maximumSeatsPerUser = value
            } else {
                problem("CONCERT_MAX_SEATS_PER_USER", "must be an integer in 1...10000 or off, got '\(limit)'")
            }
        }
        if let secret = environment["CONCERT_USER_TOKEN_SECRET"], !secret.isEmpty {
            if secret.count >= AccessTokens.minimumSecretLength {
                configuration.userTokenSecret = secret
            } else {
                problem(
                    "CONCERT_USER_TOKEN_SECRET",
                    "must be at least \(AccessTokens.minimumSecretLength) characters (HS256 wants a key as long as its hash), it has \(secret.count)"
                )
            }
        }
        if let path = environment["CONCERT_USER_JWKS"], !path.isEmpty {
            if FileManager.default.isReadableFile(atPath: path) {
                configuration.userJWKSPath = path
            } else {
                problem("CONCERT_USER_JWKS", "must be the path of a readable JWKS file, got '\(path)'")
            }
        }
        if let issuer = environment["CONCERT_USER_TOKEN_ISSUER"], !issuer.isEmpty { configuration.userTokenIssuer = issuer }
        if let audience = environment["CONCERT_USER_TOKEN_AUDIENCE"], !audience.isEmpty { configuration.userTokenAudience = audience }
        if let level = environment["CONCERT_LOG_LEVEL"] {
            if let value = Logger.Level(rawValue: level.lowercased()) {
                configuration.logLevel = value
            } else {
                problem("CONCERT_LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical, got '\(level)'")
            }
        }
        configuration.otelEndpoint = otelEndpoint(in: environment, problem: problem)
        return (configuration, problems)
    }

    /// `read(environment:)` and then `problems(for:)`: every problem of a process in `role`, each
    /// variable named once.
    public static func read(environment: [String: String], role: Role) -> (ConcertConfiguration, [ConfigurationError]) {
        let (configuration, malformed) = read(environment: environment)
        let missing = configuration.problems(for: role).filter { need in !malformed.contains { need.variable.contains($0.variable) } }
        return (configuration, malformed + missing)
    }

    /// What a process in `role` needs beyond well-formed variables: the HTTP API signs waiting-room
    /// tokens and verifies users' access tokens, so it needs their keys.
    public func problems(for role: Role) -> [ConfigurationError] {
        guard role == .api else { return [] }
        var problems: [ConfigurationError] = []
        if tokenSecret == nil {
            problems.append(
                ConfigurationError(
                    variable: "CONCERT_TOKEN_SECRET",
                    problem:
                        "is required: the HS256 key of waiting-room tokens, at least \(Self.minimumTokenSecretLength) characters, the same for every API process (scripts/services up writes one to .run/env)"
                )
            )
        }
        if userTokenSecret == nil, userJWKSPath == nil {
            problems.append(
                ConfigurationError(
                    variable: "CONCERT_USER_TOKEN_SECRET or CONCERT_USER_JWKS",
                    problem:
                        "must be set: the API verifies users' access tokens with them (scripts/services up writes a development secret to .run/env)"
                )
            )
        }
        return problems
    }

    /// What a process does, for `problems(for:)`.
    public enum Role: Sendable {
        /// `serve` and `api`: the HTTP API.
        case api
        /// Workers and one-shot commands.
        case other
    }

    /// `CONCERT_TOKEN_SECRET`'s shortest length.
    public static let minimumTokenSecretLength = 32
    /// `CONCERT_ADMIN_TOKEN`'s shortest length.
    public static let minimumAdminTokenLength = 16

    /// Every variable with its default (`nil`: none) and whether it is a secret.
    public static let variables: [(name: String, default: String?, secret: Bool)] = [
        ("CONCERT_HTTP_HOST", "127.0.0.1", false),
        ("CONCERT_HTTP_PORT", "8080", false),
        ("CONCERT_METRICS_PORT", nil, false),
        ("CONCERT_DATABASE_URL", ConcertConfiguration().databaseURL, false),
        ("CONCERT_AMQP_URL", ConcertConfiguration().amqpURL, false),
        ("CONCERT_AMQP_MANAGEMENT_URL", nil, false),
        ("CONCERT_DATABASE_TIMEOUT_SECONDS", "10", false),
        ("CONCERT_PUBLISH_TIMEOUT_SECONDS", "5", false),
        ("CONCERT_HTTP_IDLE_TIMEOUT_SECONDS", "30", false),
        ("CONCERT_HTTP_MAX_CONNECTIONS", "10000", false),
        ("CONCERT_PARTITIONS", "\(PipelineTopology.defaultPartitions)", false),
        ("CONCERT_HOLD_SECONDS", "300", false),
        ("CONCERT_QUEUE_CAPACITY", "1000", false),
        ("CONCERT_ADMIT_PER_SECOND", "0", false),
        ("CONCERT_ACTIVE_SECONDS", "600", false),
        ("CONCERT_ABANDON_SECONDS", "30", false),
        ("CONCERT_QUEUE_PROOF_OF_WORK_BITS", "0", false),
        ("CONCERT_RATE_LIMIT", "20/s burst 40", false),
        ("CONCERT_TRUSTED_PROXIES", nil, false),
        ("CONCERT_SIGN_IN_FAILURES_PER_MINUTE", "10", false),
        ("CONCERT_MAX_SEATS_PER_USER", "4", false),
        ("CONCERT_TOKEN_SECRET", nil, true),
        ("CONCERT_ADMIN_TOKEN", nil, true),
        ("CONCERT_USER_TOKEN_SECRET", nil, true),
        ("CONCERT_USER_JWKS", nil, false),
        ("CONCERT_USER_TOKEN_ISSUER", nil, false),
        ("CONCERT_USER_TOKEN_AUDIENCE", nil, false),
        ("CONCERT_LOG_LEVEL", "info", false),
        ("CONCERT_OTEL_ENDPOINT", nil, false),
    ]

    /// Each variable's value as `environment` sets it or its default, passwords and secrets masked.
    public static func effectiveSettings(_ environment: [String: String]) -> [(name: String, value: String)] {
        variables.map { variable in
            guard let given = environment[variable.name], !given.isEmpty else {
                return (variable.name, variable.default.map { "\(withoutPassword($0))  (default)" } ?? "not set")
            }
            return (variable.name, variable.secret ? "set, \(given.utf8.count) characters" : withoutPassword(given))
        }
    }

    /// `url` with its password (if any) replaced by `***`, for messages and `concert doctor`,
    /// whatever its shape: read as text, not parsed, so that a password `URLComponents` cannot
    /// parse (a `#`, a space, an `@` or `/` left unencoded) is masked too. The user info is what
    /// lies between `://` and the last `@` before the host; everything after its first `:` is the
    /// password. Several comma-separated URLs are each masked.
    public static func withoutPassword(_ url: String) -> String {
        let parts = url.components(separatedBy: "://")
        guard parts.count > 1 else { return url }
        // Each piece after a `://` starts with one URL's user info, which ends at the piece's
        // last `@` (a host has none; a next URL of a comma-separated list starts a new piece).
        var masked = parts[0]
        for piece in parts.dropFirst() {
            guard let at = piece.lastIndex(of: "@"), let colon = piece[..<at].firstIndex(of: ":") else {
                masked += "://" + piece
                continue
            }
            masked += "://" + piece[..<colon] + ":***" + piece[at...]
        }
        return masked
    }
}

extension ConcertConfiguration {
    /// `CONCERT_AMQP_URL` without its password.
    public var brokerDescription: String {
        (try? AMQPConfiguration(url: amqpURL)).map { "\($0)" } ?? Self.withoutPassword(amqpURL)
    }

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
