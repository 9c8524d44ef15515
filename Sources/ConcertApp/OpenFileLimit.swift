import Glibc

/// The process's open-file limit: every client connection is a descriptor, and the soft limit
/// (often 1 024) would stop new clients from connecting long before the machine must.
enum OpenFileLimit {
    /// Raises the soft limit to the hard one; the limits before and after.
    static func raiseToHardLimit() -> (before: UInt64, now: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (before, before) }
        return (before, UInt64(limit.rlim_cur))
    }
}
