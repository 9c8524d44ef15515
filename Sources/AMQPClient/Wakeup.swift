internal import CRabbitMQ
import Glibc

/// An eventfd the connection thread polls together with its socket, so that other threads can wake it.
final class Wakeup: Sendable {
    /// The file descriptor to poll for `POLLIN`.
    let fileDescriptor: Int32

    init() {
        fileDescriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(fileDescriptor >= 0, "eventfd failed: errno \(errno)")
    }

    deinit { close(fileDescriptor) }

    /// Makes the next (or current) poll return.
    func signal() {
        var one: UInt64 = 1
        _ = write(fileDescriptor, &one, MemoryLayout<UInt64>.size)
    }

    /// Clears pending signals; called by the polling thread after it woke.
    func drain() {
        var value: UInt64 = 0
        _ = read(fileDescriptor, &value, MemoryLayout<UInt64>.size)
    }
}
