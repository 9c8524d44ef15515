public import ConcertDomain
public import ConcertStorage
import ConcertWire
public import Foundation

/// A concert with its dates and their seat maps, as `concert catalogue import` reads it: the
/// admin API's shapes in one JSON document, named by an external key so that importing it again
/// changes nothing.
///
/// ```json
/// {"externalKey": "aurora-2027", "title": "Aurora Live", "venue": "Olympic Hall",
///  "queueOpensAt": "…", "onSaleAt": "…", "saleEndsAt": "…", "capacity": 500, "admitPerSecond": 50,
///  "seatMap": {"sections": [{"name": "Floor A", "rows": [{"label": "1", "seats": 24, "price": 165000}]}]},
///  "dates": [{"date": "2027-03-14"}, {"date": "2027-03-15", "sections": […]}]}
/// ```
///
/// `seatMap` is the venue's map for every date that gives no `sections` of its own. Every field
/// but `externalKey`, `title` and `dates` is optional, with the admin API's defaults.
public struct CatalogueFile: Sendable {
    /// The concert as it must be after the import.
    public let concert: CatalogueStore.ConcertDraft
    /// Each date's seat map, in the file's order.
    public let seatMaps: [Command.SetSeatMap]

    /// A file whose rules do not hold, naming the field at fault.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads and checks a file's JSON, every rule the admin API checks.
    ///
    /// - Parameters:
    ///   - data: The file's bytes.
    ///   - saleTimes: Replaces the file's `queueOpensAt` and `onSaleAt` (a demo's start a minute from now).
    /// - Throws: `Invalid` naming the first field at fault.
    public init(_ data: Data, saleTimes: (queueOpensAt: Date, onSaleAt: Date)? = nil) throws(Invalid) {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: data)
        } catch let error as DecodingError {
            throw Invalid(description: Self.describe(error))
        } catch {
            throw Invalid(description: "\(error)")
        }
        do throws(ValidationError) {
            func time(_ text: String?, _ field: String) throws(ValidationError) -> Date? {
                guard let text else { return nil }
                guard let date = RFC3339.date(text) else {
                    throw ValidationError(field: field, reason: "must be an RFC 3339 time, e.g. 2027-03-01T10:00:00Z")
                }
                return date
            }
            let opens = try time(body.queueOpensAt, "queueOpensAt")
            let starts = try time(body.onSaleAt, "onSaleAt")
            let window = try SaleWindow(
                queueOpensAt: saleTimes?.queueOpensAt ?? opens,
                onSaleAt: saleTimes?.onSaleAt ?? starts,
                saleEndsAt: try time(body.saleEndsAt, "saleEndsAt")
            )
            guard let key = body.externalKey else {
                throw ValidationError(field: "externalKey", reason: "is required: it makes a second import change nothing")
            }
            concert = try CatalogueStore.ConcertDraft(
                title: body.title,
                venue: body.venue,
                window: window,
                capacity: body.capacity,
                admitPerSecond: body.admitPerSecond,
                externalKey: key
            ).checked()
            guard !body.dates.isEmpty else { throw ValidationError(field: "dates", reason: "must list at least one date") }
            var seen: Set<ScheduleDate> = []
            var maps: [Command.SetSeatMap] = []
            for (index, entry) in body.dates.enumerated() {
                let date = try ScheduleDate.parse(entry.date, field: "dates[\(index)].date")
                guard seen.insert(date).inserted else { throw ValidationError(field: "dates[\(index)].date", reason: "lists \(date) twice") }
                guard let sections = entry.sections ?? body.seatMap?.sections else {
                    throw ValidationError(field: "dates[\(index)].sections", reason: "is required when the file has no seatMap")
                }
                do {
                    // A placeholder id: the concert's own is known once it is created.
                    maps.append(try Command.SetSeatMap(concertId: ConcertID(1)!, date: date, sections: sections))
                } catch {
                    let prefix = entry.sections == nil ? "seatMap." : "dates[\(index)]."
                    throw ValidationError(field: prefix + error.field, reason: error.reason)
                }
            }
            seatMaps = maps
        } catch {
            throw Invalid(description: error.description)
        }
    }

    /// The seat maps for the concert of `id`.
    public func seatMaps(of id: ConcertID) -> [Command.SetSeatMap] {
        // Checked when read; the concert id changes no rule.
        seatMaps.compactMap { try? Command.SetSeatMap(concertId: id, date: $0.date, sections: $0.sections) }
    }

    struct Body: Decodable {
        let externalKey: String?
        let title: String
        let venue: String?
        let queueOpensAt: String?
        let onSaleAt: String?
        let saleEndsAt: String?
        let capacity: Int?
        let admitPerSecond: Int?
        let seatMap: SeatMapBody?
        let dates: [DateEntry]
    }

    struct SeatMapBody: Decodable {
        let sections: [Command.SetSeatMap.Section]
    }

    struct DateEntry: Decodable {
        let date: String
        let sections: [Command.SetSeatMap.Section]?
    }

    /// `dates[2].sections[0].rows: expected an array`, from where the decoder stopped.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { text, key in
                if let index = key.intValue { return "\(text)[\(index)]" }
                return text.isEmpty ? key.stringValue : "\(text).\(key.stringValue)"
            }
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): is required"
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)): must be \(Self.name(of: type))"
        case .valueNotFound(let type, let context): return "\(path(context.codingPath)): must be \(Self.name(of: type)), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON: \(context.debugDescription)" : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Won.Type: "an integer"
        default: type is any Collection.Type ? "an array" : "an object"
        }
    }
}
