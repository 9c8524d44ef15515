// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    // https://github.com/apple/swift-evolution/blob/main/proposals/0335-existential-any.md
    .enableUpcomingFeature("ExistentialAny"),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0444-member-import-visibility.md
    .enableUpcomingFeature("MemberImportVisibility"),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0409-access-level-on-imports.md
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "concert-reservation",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "concert", targets: ["ConcertCLI"]),
        .executable(name: "concert-bench", targets: ["ConcertBench"]),
        .library(name: "AMQPClient", targets: ["AMQPClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already resolved through hummingbird; named for NIOHTTPTypes (the HTTP parts the API's connection guard sees).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // The operator console's pages: logic-less templates, escaped by default (small; no other dependencies).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        // Base64url for tokens and cookies; already resolved through jwt-kit.
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Spans across HTTP → broker → worker → commit (Hummingbird's TracingMiddleware uses it already).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // The OTLP/HTTP exporter of those spans, only when CONCERT_OTEL_ENDPOINT or OTEL_* ask for it;
        // without gRPC (its trait pulls in grpc-swift, minutes of build for a transport we do not need).
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Latency percentiles of the benchmarks.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Child processes in tests and benchmarks: started, awaited and reaped without blocking a thread.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        // FileDescriptor and FilePath, which Subprocess's API takes; already resolved through swift-nio.
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        // The manual: `swift package generate-documentation` over the DocC catalogs (scripts/docs); a plugin, not linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        // librabbitmq (rabbitmq-c), the C library from Debian's librabbitmq-dev.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // A domain-agnostic AMQP 0-9-1 client over librabbitmq: it knows nothing of concerts.
        .target(
            name: "AMQPClient",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The pure domain core: no I/O, no async, no framework imports.
        .target(
            name: "ConcertDomain",
            swiftSettings: swiftSettings
        ),
        // Commands and results on the wire: the envelope's JSON and a byte-level JSON reader and
        // writer for the hot paths (every publish, delivery, commit and token check).
        .target(
            name: "ConcertWire",
            dependencies: ["ConcertDomain"],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL storage: migrations, seed data, every SQL statement.
        .target(
            name: "ConcertStorage",
            dependencies: [
                "ConcertDomain",
                "ConcertWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The pipeline's contract, what an API process needs: the RabbitMQ topology, publishing
        // commands, waiting for their replies, inspecting and replaying dead letters.
        .target(
            name: "ConcertPipeline",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "AMQPClient",
                "ConcertDomain",
                "ConcertStorage",
                "ConcertWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The worker runtime: single-consumer partition workers (a batch state machine and its
        // executor), the admission tick, the hold sweeper, the dead-letter archiver, queue depths.
        .target(
            name: "ConcertWorkers",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "AMQPClient",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                "ConcertWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP API (Hummingbird 2).
        .target(
            name: "ConcertAPI",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "ConcertWire",
                "AMQPClient",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("openapi.yaml"), .copy("Console/Templates"), .copy("Console/Assets")],
            swiftSettings: swiftSettings
        ),
        // A client of RabbitMQ's management HTTP API (typed answers); it knows nothing of concerts.
        .target(
            name: "RabbitMQManagement",
            swiftSettings: swiftSettings
        ),
        // Configuration and wiring: builds the service group for each way of running.
        .target(
            name: "ConcertApp",
            dependencies: [
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "RabbitMQManagement",
                "ConcertWorkers",
                "ConcertWire",
                "AMQPClient",
                "ConcertAPI",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // NIO's thread pool, for the JWKS watcher's file reads (off the concurrency pool).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The operator's tools: `concert doctor`, `concert status`, `concert dead-letters`, `concert catalogue`.
        .target(
            name: "ConcertOperations",
            dependencies: [
                "AMQPClient",
                "ConcertAPI",
                "ConcertApp",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                "ConcertWire",
                "RabbitMQManagement",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The thin `concert` executable: parses arguments, calls ConcertApp.
        .executableTarget(
            name: "ConcertCLI",
            dependencies: [
                "ConcertOperations",
                "ConcertWorkers",
                "ConcertWire",
                "ConcertApp",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmarks: an HTTP load generator, the scenarios of `scripts/bench`, the lock baseline, reports.
        .target(
            name: "BenchmarkKit",
            dependencies: [
                "ConcertWire",
                "AMQPClient",
                "CRabbitMQ",
                "ConcertAPI",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // `scripts/bench`: the thin `concert-bench` executable over BenchmarkKit.
        .executableTarget(
            name: "ConcertBench",
            dependencies: [
                "BenchmarkKit",
                "ConcertPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Helpers the test targets share: isolated databases on the services scripts/test starts, child processes.
        .target(
            name: "TestSupport",
            dependencies: [
                "AMQPClient",
                "ConcertStorage",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertAPITests",
            dependencies: [
                "ConcertWorkers",
                "ConcertWire",
                "AMQPClient",
                "ConcertAPI",
                "ConcertPipeline",
                "ConcertDomain",
                "ConcertStorage",
                "TestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertPipelineTests",
            dependencies: [
                "ConcertWire",
                "AMQPClient",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertWorkersTests",
            dependencies: [
                "AMQPClient",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                "ConcertWire",
                "ConcertWorkers",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertWireTests",
            dependencies: ["ConcertDomain", "ConcertWire"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AMQPClientTests",
            dependencies: ["AMQPClient", "CRabbitMQ", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertAppTests",
            dependencies: [
                "RabbitMQManagement",
                "ConcertOperations",
                "ConcertWorkers",
                "ConcertWire",
                .product(name: "JWTKit", package: "jwt-kit"),
                "AMQPClient",
                "ConcertAPI",
                "ConcertApp",
                "ConcertDomain",
                "ConcertPipeline",
                "ConcertStorage",
                "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BenchmarkKitTests",
            dependencies: [
                "BenchmarkKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertDomainTests",
            dependencies: ["ConcertDomain"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ConcertStorageTests",
            dependencies: [
                "ConcertStorage",
                "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
