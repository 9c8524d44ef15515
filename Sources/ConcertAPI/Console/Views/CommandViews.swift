import ConcertDomain
import ConcertStorage
import Foundation

/// Commands found by id or by user.
struct CommandsPage {
    struct Query {
        let id: String
        let user: String
    }

    var page: Page
    let query: Query
    var commands: [CommandRow] = []
    var searched = false
    var error: String?
}

struct CommandRow {
    let id: String
    let type: String
    let user: String
    let partition: Int
    let partitionKey: String
    let status: String
    let outcome: String
    let submitted: String
    let committed: String

    init(_ row: ConsoleStore.CommandRow, partitions: Int) {
        id = row.id.uuidString.lowercased()
        type = row.type
        user = row.userID
        partition = ScheduleKey(partitionKey: row.partitionKey)?.partition(of: partitions) ?? -1
        partitionKey = row.partitionKey
        status = row.status
        outcome = row.result ?? row.errorCode ?? "-"
        submitted = ConsoleFormat.timestamp(row.submittedAt)
        committed = row.completedAt.map(ConsoleFormat.timestamp) ?? "-"
    }
}
