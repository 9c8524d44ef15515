/// Hands out distinct seats across a sandbox's schedules, and the user who reserves each: seats
/// go round the schedules (so every partition gets work), and each user takes at most
/// `seatsPerUser` seats of a schedule.
struct SeatPlan: Sendable {
    struct Schedule: Sendable {
        let concert: Int
        let date: String
    }

    let schedules: [Schedule]
    let seatsPerSchedule: Int
    let users: Int
    /// The concerts, in the order their tokens are kept.
    let concerts: [Int]
    private(set) var next = 0

    init(schedules: [Schedule], seatsPerSchedule: Int, seatsPerUser: Int = 4) {
        precondition(!schedules.isEmpty && seatsPerSchedule > 0)
        self.schedules = schedules
        self.seatsPerSchedule = seatsPerSchedule
        users = max(1, (seatsPerSchedule + seatsPerUser - 1) / seatsPerUser)
        var seen: [Int] = []
        for schedule in schedules where !seen.contains(schedule.concert) { seen.append(schedule.concert) }
        concerts = seen
    }

    /// Seats not handed out yet.
    var remaining: Int { schedules.count * seatsPerSchedule - next }

    /// Hands back the last `count` seats taken, never requested (a closed loop's unsent tail).
    mutating func giveBack(_ count: Int) {
        precondition(count >= 0 && count <= next)
        next -= count
    }

    /// Nil when `count` more seats are left; else why not, with a `--seats` that would hold them
    /// and a quarter more (a faster run takes more), rounded up to a thousand a schedule.
    func shortfall(_ count: Int, for purpose: String) -> String? {
        guard count > remaining else { return nil }
        let perSchedule = ((next + count) * 5 / 4 + schedules.count - 1) / schedules.count
        let suggested = (perSchedule + 999) / 1000 * 1000
        return "the seat plan cannot hold \(purpose): \(remaining) seats left, about \(count) needed; "
            + "seed more with --seats \(suggested) (or --dates, --concerts)"
    }

    /// The next seat: its schedule, number (from 1) and user index.
    mutating func take() -> (schedule: Schedule, seat: Int, user: Int)? {
        guard remaining > 0 else { return nil }
        let index = next
        next += 1
        let seatIndex = index / schedules.count
        return (schedules[index % schedules.count], seatIndex + 1, seatIndex % users)
    }

    /// The user names of the plan (`bench-user-0` …).
    var userNames: [String] { (0..<users).map { "bench-user-\($0)" } }
}
