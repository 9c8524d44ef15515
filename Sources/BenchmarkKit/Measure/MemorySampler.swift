import Foundation

/// Anonymous resident memory (`RssAnon` in `/proc/PID/status`: heap and stacks, not shared or
/// file-backed pages, so a growing process shows as growing) of named parts of the system.
public enum MemorySampler {
    /// One reading, in KiB per part.
    public struct Reading: Sendable, Codable {
        public let secondsSinceStart: Double
        public let kibibytes: [String: Int]
    }

    /// `RssAnon` of one process, in KiB (`nil` when it is gone).
    public static func anonymousResident(of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// The process and all its children (PostgreSQL's backends are children of the postmaster).
    public static func anonymousResident(ofTree root: Int32) -> Int? {
        guard var total = anonymousResident(of: root) else { return nil }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), pid != root, parent(of: pid) == root else { continue }
            total += anonymousResident(of: pid) ?? 0
        }
        return total
    }

    static func parent(of pid: Int32) -> Int32? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state, then the parent's pid.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
