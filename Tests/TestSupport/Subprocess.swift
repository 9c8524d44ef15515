import Foundation
import Glibc

/// Runs a program to completion with `posix_spawn` + `waitpid`, blocking the calling thread.
///
/// Foundation's `Process.waitUntilExit` sometimes never notices the child's exit on Linux when
/// started from a plain `Thread` (the child stays a zombie); tests that must not hang use this.
public func runToCompletion(_ path: String, _ arguments: [String]) -> Int32 {
    var pid: pid_t = 0
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    return (status >> 8) & 0xFF
}
