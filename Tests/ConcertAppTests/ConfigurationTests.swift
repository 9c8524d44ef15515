import ConcertApp
import Testing

/// Reading the environment needs no servers: every problem is found in one pass.
struct ConfigurationTests {
    static let secret = String(repeating: "s", count: 32)

    @Test func anEmptyEnvironmentGivesTheDefaultsAndNeedsTheAPIKeys() {
        let (configuration, problems) = ConcertConfiguration.read(environment: [:])
        #expect(problems.isEmpty)
        #expect(configuration.partitions == 4 && configuration.holdSeconds == 300 && configuration.httpPort == 8080)
        let (_, forAPI) = ConcertConfiguration.read(environment: [:], role: .api)
        #expect(forAPI.map(\.variable) == ["CONCERT_TOKEN_SECRET", "CONCERT_USER_TOKEN_SECRET or CONCERT_USER_JWKS"])
    }

    @Test func everyMalformedVariableIsReportedTogether() {
        let (configuration, problems) = ConcertConfiguration.read(environment: [
            "CONCERT_HTTP_PORT": "80000",
            "CONCERT_DATABASE_URL": "mysql://root:hunter2@db/x",
            "CONCERT_AMQP_URL": "amqp://a:b@h1/v1,amqp://a:b@h2/v2",
            "CONCERT_AMQP_MANAGEMENT_URL": "ftp://nowhere",
            "CONCERT_PARTITIONS": "0",
            "CONCERT_RATE_LIMIT": "fast",
            "CONCERT_MAX_SEATS_PER_USER": "many",
            "CONCERT_USER_JWKS": "/no/such/file.json",
            "CONCERT_LOG_LEVEL": "loud",
        ])
        #expect(
            problems.map(\.variable) == [
                "CONCERT_HTTP_PORT", "CONCERT_DATABASE_URL", "CONCERT_AMQP_URL", "CONCERT_AMQP_MANAGEMENT_URL", "CONCERT_PARTITIONS",
                "CONCERT_RATE_LIMIT", "CONCERT_MAX_SEATS_PER_USER", "CONCERT_USER_JWKS", "CONCERT_LOG_LEVEL",
            ]
        )
        // The defaults stand in for what cannot be used; a password never appears in a message.
        #expect(configuration.partitions == 4)
        #expect(!ConfigurationProblems(problems).description.contains("hunter2"))
        #expect(
            ConfigurationProblems(problems).description.hasPrefix(
                "9 settings need fixing:\n  CONCERT_HTTP_PORT must be an integer in 1...65535, got '80000'"
            )
        )
    }

    @Test func tracingIsOnOnlyWhenAnExporterIsNamed() {
        let (_, problems) = ConcertConfiguration.read(environment: ["CONCERT_OTEL_ENDPOINT": "localhost:4318"])
        #expect(problems.map(\.variable) == ["CONCERT_OTEL_ENDPOINT"])
        #expect(problems.first?.problem.contains("http://127.0.0.1:4318") == true)
        let (configuration, none) = ConcertConfiguration.read(environment: ["CONCERT_OTEL_ENDPOINT": "http://collector:4318"])
        #expect(none.isEmpty && configuration.otelEndpoint == "http://collector:4318")
        #expect(!ConcertConfiguration.tracingRequested([:]))
        #expect(ConcertConfiguration.tracingRequested(["CONCERT_OTEL_ENDPOINT": "http://collector:4318"]))
        #expect(ConcertConfiguration.tracingRequested(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]))
        #expect(ConcertConfiguration.tracingRequested(["OTEL_TRACES_EXPORTER": "otlp"]))
        #expect(!ConcertConfiguration.tracingRequested(["CONCERT_OTEL_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"]))
        #expect(!ConcertConfiguration.tracingRequested(["CONCERT_OTEL_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"]))
    }

    @Test func aShortSecretIsNamedOnceNotAlsoAsMissing() {
        let (_, problems) = ConcertConfiguration.read(
            environment: ["CONCERT_TOKEN_SECRET": "short", "CONCERT_USER_TOKEN_SECRET": "short too", "CONCERT_ADMIN_TOKEN": "tiny"],
            role: .api
        )
        #expect(problems.map(\.variable) == ["CONCERT_TOKEN_SECRET", "CONCERT_ADMIN_TOKEN", "CONCERT_USER_TOKEN_SECRET"])
        #expect(problems[0].problem.contains("at least 32 characters"))
    }

    @Test func oneProblemIsOneLine() {
        #expect(throws: ConfigurationProblems.self) { try ConcertConfiguration(environment: ["CONCERT_PARTITIONS": "x"]) }
        let (_, problems) = ConcertConfiguration.read(environment: ["CONCERT_PARTITIONS": "x"])
        #expect(ConfigurationProblems(problems).description == "CONCERT_PARTITIONS must be an integer in 1...1024, got 'x'")
    }

    @Test func theEffectiveSettingsMaskPasswordsAndSecrets() {
        let settings = ConcertConfiguration.effectiveSettings([
            "CONCERT_DATABASE_URL": "postgres://u:hunter2@db:5432/x",
            "CONCERT_TOKEN_SECRET": Self.secret,
        ])
        let byName = Dictionary(uniqueKeysWithValues: settings.map { ($0.name, $0.value) })
        #expect(byName["CONCERT_DATABASE_URL"] == "postgres://u:***@db:5432/x")
        #expect(byName["CONCERT_TOKEN_SECRET"] == "set, 32 characters")
        #expect(byName["CONCERT_ADMIN_TOKEN"] == "not set")
        #expect(byName["CONCERT_PARTITIONS"] == "4  (default)")
        #expect(settings.count == ConcertConfiguration.variables.count)
    }

    /// Passwords that `URLComponents` cannot parse (a `#`, a space, an unencoded `@` or `/`) are
    /// masked too, in the problems a start-up prints and in the settings `concert doctor` shows.
    @Test func passwordsOfEveryShapeAreMasked() {
        let passwords = ["pa#ss", "two words", "at@sign", "sl/ash", "q?uery", "all # of @ them / ?"]
        for password in passwords {
            let environment = [
                "CONCERT_DATABASE_URL": "postgres://concert:\(password)@db.example:5432/concert",
                "CONCERT_AMQP_URL": "amqp://concert:\(password)@mq.example:5672/%2F",
                "CONCERT_AMQP_MANAGEMENT_URL": "http://guest:\(password)@mq1:15672,http://guest:\(password)@mq2:15672",
            ]
            let (_, problems) = ConcertConfiguration.read(environment: environment)
            let shown =
                ConfigurationProblems(problems).description + ConcertConfiguration.effectiveSettings(environment).map(\.value).joined(separator: " ")
            #expect(!shown.contains(password), "\(password): \(shown)")
        }
        #expect(ConcertConfiguration.withoutPassword("postgres://u:a#b@db/x") == "postgres://u:***@db/x")
        #expect(
            ConcertConfiguration.withoutPassword("http://g:a@b@mq1:15672,http://g:c d@mq2:15672")
                == "http://g:***@mq1:15672,http://g:***@mq2:15672"
        )
        #expect(ConcertConfiguration.withoutPassword("amqp://guest@mq:5672/%2F") == "amqp://guest@mq:5672/%2F")
    }

    @Test func timeoutsAndTheConnectionCapAreRead() throws {
        let configuration = try ConcertConfiguration(environment: [
            "CONCERT_DATABASE_TIMEOUT_SECONDS": "3", "CONCERT_PUBLISH_TIMEOUT_SECONDS": "2",
            "CONCERT_HTTP_IDLE_TIMEOUT_SECONDS": "7", "CONCERT_HTTP_MAX_CONNECTIONS": "500",
        ])
        #expect(configuration.databaseTimeoutSeconds == 3)
        #expect(configuration.publishTimeoutSeconds == 2)
        #expect(configuration.httpIdleTimeoutSeconds == 7)
        #expect(configuration.httpMaximumConnections == 500)
        let defaults = try ConcertConfiguration(environment: [:])
        #expect([defaults.databaseTimeoutSeconds, defaults.publishTimeoutSeconds, defaults.httpIdleTimeoutSeconds] == [10, 5, 30])
    }

    @Test func aWorkersMetricsPortIsReadAndCheckedAndUnsetByDefault() throws {
        #expect(try ConcertConfiguration(environment: ["CONCERT_METRICS_PORT": "9464"]).metricsPort == 9464)
        #expect(try ConcertConfiguration(environment: [:]).metricsPort == nil)
        let (configuration, problems) = ConcertConfiguration.read(environment: ["CONCERT_METRICS_PORT": "0"])
        #expect(problems.map(\.description) == ["CONCERT_METRICS_PORT must be an integer in 1...65535, got '0'"])
        #expect(configuration.metricsPort == nil)
    }
}
