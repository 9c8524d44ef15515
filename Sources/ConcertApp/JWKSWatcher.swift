import ConcertAPI
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Re-reads `CONCERT_USER_JWKS` when the identity provider rotates its keys: when the file's
/// modification time or size changes (looked at every `interval`), and at once on SIGHUP. New
/// keys are trusted from then on and removed ones no more; a file that cannot be read or parsed
/// keeps the last good keys, and says why once per change. The file is looked at and read on
/// NIO's thread pool: a blocking call never runs on the Swift concurrency pool.
struct JWKSWatcher: Service {
    let path: String
    let accessTokens: AccessTokens
    let interval: Duration
    let logger: Logger

    init(path: String, accessTokens: AccessTokens, interval: Duration = .seconds(2), logger: Logger) {
        self.path = path
        self.accessTokens = accessTokens
        self.interval = interval
        self.logger = logger
    }

    /// What tells a changed file: its modification time and size.
    struct Stamp: Equatable {
        let modified: Date?
        let size: Int?
    }

    func stamp() async -> Stamp? {
        try? await NIOThreadPool.singleton.runIfActive { stampNow() }
    }

    private func stampNow() -> Stamp? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return Stamp(modified: attributes[.modificationDate] as? Date, size: (attributes[.size] as? NSNumber)?.intValue)
    }

    func run() async throws {
        let hangUps = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                let last = LastStamp(await stamp())
                group.addTask {
                    for await _ in hangUps {
                        logger.info("SIGHUP: reading CONCERT_USER_JWKS again", metadata: ["path": "\(path)"])
                        await reload(last, force: true)
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        await reload(last, force: false)
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// The stamp of the last file read (whether it parsed or not).
    actor LastStamp {
        var stamp: Stamp?
        init(_ stamp: Stamp?) { self.stamp = stamp }
        func swap(_ new: Stamp?) -> Stamp? {
            defer { stamp = new }
            return stamp
        }
    }

    private func reload(_ last: LastStamp, force: Bool) async {
        let now = await stamp()
        let before = await last.swap(now)
        guard force || now != before else { return }
        do {
            let path = path
            let text = try await NIOThreadPool.singleton.runIfActive { try String(contentsOfFile: path, encoding: .utf8) }
            try await accessTokens.replaceJWKS(text)
            logger.info("CONCERT_USER_JWKS read again: its keys are the ones trusted now", metadata: ["path": "\(path)"])
        } catch {
            logger.error("CONCERT_USER_JWKS cannot be used; keeping the last good keys", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}
