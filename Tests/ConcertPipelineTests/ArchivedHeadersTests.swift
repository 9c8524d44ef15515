import AMQPClient
import Foundation
import Testing

@testable import ConcertPipeline

/// Headers of a dead letter are archived as `jsonb`: whatever a publisher put in them, the text
/// must be JSON that PostgreSQL takes — and no input may reach a trap.
struct ArchivedHeadersTests {
    @Test func nonFiniteNumbersBecomeStringsAndTheTextIsJSON() throws {
        let headers: AMQPTable = ["nan": .double(.nan), "up": .double(.infinity), "down": .double(-.infinity), "fine": .double(1.5)]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(headers.jsonText.utf8)) as? [String: Any])
        #expect(object["nan"] as? String == "nan")
        #expect(object["up"] as? String == "inf")
        #expect(object["down"] as? String == "-inf")
        #expect(object["fine"] as? Double == 1.5)
    }

    @Test func nulCharactersAnywhereBecomeReplacementCharacters() throws {
        let headers: AMQPTable = [
            "key\u{0}": .string("a\u{0}b"),
            "nested": .table(["deep": .array([.string("\u{0}"), .bytes([0x41, 0x00])])]),
        ]
        let text = headers.jsonText
        #expect(!text.contains("\\u0000"))
        #expect(!text.utf8.contains(0))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["key\u{FFFD}"] as? String == "a\u{FFFD}b")
        let nested = try #require(object["nested"] as? [String: Any])
        #expect(nested["deep"] as? [String] == ["\u{FFFD}", "A\u{FFFD}"])
    }

    @Test func bytesThatAreNotUTF8AreListedAsNumbers() throws {
        let headers: AMQPTable = ["raw": .bytes([0xFF, 0x00, 0x41])]
        #expect(headers.jsonText == #"{"raw":"255,0,65"}"#)
    }
}
