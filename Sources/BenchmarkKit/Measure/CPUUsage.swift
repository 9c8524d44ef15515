import Foundation
import Glibc

/// CPU time of processes, read from `/proc` (user + system, in clock ticks).
public enum CPUUsage {
    /// Clock ticks per second of `/proc/*/stat`.
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The CPU fields of one `/proc/PID/stat` line: its own and its reaped children's time, and its parent.
    public struct ProcessTimes: Sendable, Equatable {
        public var parent: Int32
        /// utime + stime, in ticks.
        public var own: UInt64
        /// cutime + cstime (children that exited and were waited for), in ticks.
        public var children: UInt64
    }

    /// Parses a `/proc/PID/stat` line. The command name (field 2) may hold spaces and parentheses,
    /// so fields are counted after its last `)`.
    public static func parseStat(_ line: String) -> ProcessTimes? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // After the name: state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17): offsets 0, 1, 11, 12, 13, 14.
        guard fields.count > 14, let parent = Int32(fields[1]), let utime = UInt64(fields[11]), let stime = UInt64(fields[12]),
            let cutime = UInt64(fields[13]), let cstime = UInt64(fields[14])
        else { return nil }
        return ProcessTimes(parent: parent, own: utime + stime, children: cutime + cstime)
    }

    static func times(of pid: Int32) -> ProcessTimes? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return parseStat(text)
    }

    /// CPU used so far by `pid` and every live descendant, plus descendants that exited and were reaped.
    public static func treeTime(of pid: Int32) -> Duration {
        var parents: [Int32: [Int32]] = [:]
        var times: [Int32: ProcessTimes] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let stat = Self.times(of: child) else { continue }
            times[child] = stat
            parents[stat.parent, default: []].append(child)
        }
        var ticks: UInt64 = 0
        var stack = [pid]
        while let next = stack.popLast() {
            guard let stat = times[next] else { continue }
            ticks += stat.own + stat.children
            stack += parents[next] ?? []
        }
        return .nanoseconds(Int64(Double(ticks) / ticksPerSecond * 1e9))
    }

    /// CPU used so far by this process.
    public static func ownTime() -> Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let micros =
            Int64(usage.ru_utime.tv_sec) * 1_000_000 + Int64(usage.ru_utime.tv_usec)
            + Int64(usage.ru_stime.tv_sec) * 1_000_000 + Int64(usage.ru_stime.tv_usec)
        return .microseconds(micros)
    }
}
