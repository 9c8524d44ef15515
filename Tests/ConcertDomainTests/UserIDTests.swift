import ConcertDomain
import Testing

@Suite struct UserIDTests {
    @Test(arguments: ["a", "user_42", "A-b_C-9", String(repeating: "x", count: 64)])
    func acceptsThePattern(_ raw: String) {
        #expect(UserID(raw)?.rawValue == raw)
    }

    @Test(arguments: ["", String(repeating: "x", count: 65), "has space", "ünïcode", "semi;colon", "slash/"])
    func refusesEverythingElse(_ raw: String) {
        #expect(UserID(raw) == nil)
    }
}
