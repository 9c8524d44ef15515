public import ConcertDomain
public import Foundation

/// The envelope on the wire: `JSONEncoder.commands`'s JSON (sorted keys, RFC 3339 times,
/// lower-case UUIDs), written by hand and read back by `JSONByteReader` on the hot paths, with
/// `JSONDecoder` behind the reader for anything it was not written as.
extension CommandEnvelope {
    /// Decodes a message body, telling unknown types and versions apart from garbage.
    ///
    /// The form `encoded()` writes is read by `JSONByteReader`, anything else by `JSONDecoder.commands`, to the same result.
    ///
    /// - Parameters:
    ///   - body: The message body, JSON.
    /// - Returns: The envelope.
    /// - Throws: `DecodingFailure.unsupportedVersion` or `DecodingFailure.unknownType` for an envelope of a version or type
    ///   this build cannot apply; `DecodingFailure.malformed` with the reason (a field missing, of the wrong type or
    ///   invalid, or `not JSON`) for anything else that is not an envelope.
    public static func decode(_ body: [UInt8]) throws(DecodingFailure) -> CommandEnvelope {
        if let envelope = readWritten(body) { return envelope }
        do {
            return try JSONDecoder.commands.decode(CommandEnvelope.self, from: Data(body))
        } catch let failure as DecodingFailure {
            throw failure
        } catch let error as DecodingError {
            throw .malformed(Self.describe(error))
        } catch {
            throw .malformed("not JSON")
        }
    }

    /// An envelope exactly as `encoded()` writes it (members in its order, plain strings), read
    /// with `JSONByteReader`, which costs a worker far less CPU than `JSONDecoder`. `nil` for anything
    /// else, which `JSONDecoder` then reads or refuses with the reason, so no envelope is read differently.
    static func readWritten(_ body: [UInt8]) -> CommandEnvelope? {
        var reader = JSONByteReader(body)
        guard reader.expect(#"{"id":"#), let id = reader.uuid(),
            reader.expect(#","partitionKey":"#), let partitionKey = reader.string(),
            reader.expect(#","payload":"#), let payload = readWrittenPayload(&reader),
            reader.expect(#","submittedAt":"#), let submittedAt = reader.time(),
            reader.expect(#","type":"#), let type = reader.string().flatMap(CommandType.init), let command = payload.command(of: type),
            reader.expect(#","userId":"#), let userId = reader.string().flatMap(UserID.init),
            reader.expect(#","version":"#), reader.integer() == Int64(currentVersion),
            reader.expect("}"), reader.atEnd
        else { return nil }
        return CommandEnvelope(id: id, userId: userId, partitionKey: partitionKey, command: command, submittedAt: submittedAt)
    }

    /// A payload as `payloadJSON` writes it, before the envelope's `type` (which comes after it)
    /// says which command it is.
    private enum WrittenPayload {
        case reserve(Command.ReserveSeat)
        case schedule(ConcertID, ScheduleDate)
        case reservation(UUID)
        case holds([Command.ExpireHold.Holds])

        func command(of type: CommandType) -> Command? {
            switch (self, type) {
            case (.reserve(let reserve), .reserveSeat): .reserveSeat(reserve)
            case (.schedule(let concert, let date), .cancelDate): .cancelDate(.init(concertId: concert, date: date))
            case (.reservation(let id), .pay): .pay(.init(reservationId: id))
            case (.reservation(let id), .release): .release(.init(reservationId: id))
            case (.reservation(let id), .refund): .refund(.init(reservationId: id))
            case (.holds(let holds), .expireHold): .expireHold(.init(holds: holds))
            default: nil
            }
        }
    }

    /// The payload as `payloadJSON` writes it; which shape it is shows in its first members.
    private static func readWrittenPayload(_ reader: inout JSONByteReader) -> WrittenPayload? {
        if reader.expect(#"{"concertId":"#) {
            guard let concert = reader.integer().flatMap(ConcertID.init),
                reader.expect(#","date":"#), let date = reader.string().flatMap(ScheduleDate.init)
            else { return nil }
            if reader.expect("}") { return .schedule(concert, date) }
            guard let selection = readWrittenSelection(&reader), reader.expect("}") else { return nil }
            return .reserve(.init(concertId: concert, date: date, selection: selection))
        }
        if reader.expect(#"{"reservationId":"#) {
            guard let reservation = reader.uuid(), reader.expect("}") else { return nil }
            return .reservation(reservation)
        }
        guard reader.expect(#"{"holds":["#) else { return nil }
        var holds: [Command.ExpireHold.Holds] = []
        if !reader.expect("]") {
            repeat {
                guard reader.expect(#"{"partitionKey":"#), let key = reader.string(), reader.expect(#","reservationIds":["#) else { return nil }
                var reservations: [UUID] = []
                if !reader.expect("]") {
                    repeat {
                        guard let reservation = reader.uuid() else { return nil }
                        reservations.append(reservation)
                    } while reader.expect(",")
                    guard reader.expect("]") else { return nil }
                }
                guard reader.expect("}") else { return nil }
                holds.append(.init(partitionKey: key, reservationIds: reservations))
            } while reader.expect(",")
            guard reader.expect("]") else { return nil }
        }
        guard reader.expect("}") else { return nil }
        return .holds(holds)
    }

    /// A reservation's seats after its concert and date: `seatNumber`, `seatNumbers`, or a
    /// best-available request (`maxPrice`, `quantity`, `section`, `together`, in that order).
    private static func readWrittenSelection(_ reader: inout JSONByteReader) -> Command.ReserveSeat.Selection? {
        if reader.expect(#","seatNumber":"#) {
            return reader.integer().flatMap { SeatNumber(Int($0)) }.map { .seats([$0]) }
        }
        if reader.expect(#","seatNumbers":["#) {
            var seats: [SeatNumber] = []
            repeat {
                guard let seat = reader.integer().flatMap({ SeatNumber(Int($0)) }) else { return nil }
                seats.append(seat)
            } while reader.expect(",")
            guard reader.expect("]"), !seats.isEmpty, Set(seats).count == seats.count else { return nil }
            return .seats(seats)
        }
        var maxPrice: Won?
        if reader.expect(#","maxPrice":"#) {
            guard let price = reader.integer() else { return nil }
            maxPrice = Won(price)
        }
        guard reader.expect(#","quantity":"#), let quantity = reader.integer(), quantity > 0 else { return nil }
        var section: String?
        if reader.expect(#","section":"#) {
            guard let name = reader.string() else { return nil }
            section = name
        }
        guard reader.expect(#","together":"#) else { return nil }
        let together: Bool
        if reader.expect("true") {
            together = true
        } else if reader.expect("false") {
            together = false
        } else {
            return nil
        }
        return .best(SeatMap.Request(quantity: Int(quantity), section: section, maxPrice: maxPrice, together: together))
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \(path(context.codingPath + [key]))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "field \(path(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty: return "field \(path(context.codingPath)) is invalid"
        default: return "not JSON"
        }
    }

    /// The JSON body to publish: what `JSONEncoder.commands` writes (sorted keys, RFC 3339 times,
    /// lower-case UUIDs), written by hand because every submit and every expiry does it.
    ///
    /// - Returns: The envelope's JSON, UTF-8.
    public func encoded() -> [UInt8] {
        var json = JSONText(capacity: 320)
        json.add("id", id)
        json.add("partitionKey", partitionKey)
        json.add("payload", json: payloadJSON)
        json.add("submittedAt", submittedAt)
        json.add("type", command.type.rawValue)
        json.add("userId", userId.rawValue)
        json.add("version", Int64(version))
        return Array(json.finish().utf8)
    }

    var payloadJSON: String {
        var payload = JSONText(capacity: 96)
        switch command {
        case .reserveSeat(let reserve):
            payload.add("concertId", reserve.concertId.rawValue)
            payload.add("date", reserve.date.description)
            switch reserve.selection {
            case .seats(let numbers) where numbers.count == 1:
                payload.add("seatNumber", Int64(numbers[0].rawValue))
            case .seats(let numbers):
                payload.add("seatNumbers", json: "[" + numbers.map { String($0.rawValue) }.joined(separator: ",") + "]")
            case .best(let request):
                if let maxPrice = request.maxPrice { payload.add("maxPrice", maxPrice.amount) }
                payload.add("quantity", Int64(request.quantity))
                if let section = request.section { payload.add("section", section) }
                payload.add("together", json: request.together ? "true" : "false")
            }
        case .cancelDate(let cancel):
            payload.add("concertId", cancel.concertId.rawValue)
            payload.add("date", cancel.date.description)
        case .release(let release):
            payload.add("reservationId", release.reservationId)
        case .refund(let refund):
            payload.add("reservationId", refund.reservationId)
        case .pay(let pay):
            payload.add("reservationId", pay.reservationId)
        case .expireHold(let expire):
            let holds = expire.holds.map { holds in
                var group = JSONText(capacity: 64 + 40 * holds.reservationIds.count)
                group.add("partitionKey", holds.partitionKey)
                group.add("reservationIds", json: "[" + holds.reservationIds.map { "\"\($0.lowercasedString)\"" }.joined(separator: ",") + "]")
                return group.finish()
            }
            payload.add("holds", json: "[" + holds.joined(separator: ",") + "]")
        case .setSeatMap(let map):
            // Rare (an operator's), and read back by JSONDecoder: Codable writes it.
            return (try? JSONEncoder.commands.encode(map)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
        return payload.finish()
    }
}

extension JSONEncoder {
    /// RFC 3339 times, sorted keys, unescaped slashes: the encoding of envelopes and results (one shared instance:
    /// it is configured once and only read after, and envelopes are encoded on every publish).
    public static let commands: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

extension JSONDecoder {
    /// Reads what `JSONEncoder.commands` writes (shared, like the encoder: decoded on every delivery).
    public static let commands: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
