import ConcertDomain
import ConcertPipeline
import ConcertStorage
import ConcertWire
import Foundation
import HTTPTypes
import Hummingbird

/// A concert as buyers see it (`GET /v1/concerts`): the sale's times and where it stands.
struct PublicConcert: Encodable {
    let concert: CatalogueStore.Concert
    let now: Date

    enum CodingKeys: String, CodingKey {
        case id, title, venue, queueOpensAt, onSaleAt, saleEndsAt, status
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(concert.id, forKey: .id)
        try container.encode(concert.title, forKey: .title)
        try container.encodeIfPresent(concert.venue, forKey: .venue)
        try container.encodeIfPresent(concert.window.queueOpensAt, forKey: .queueOpensAt)
        try container.encodeIfPresent(concert.window.onSaleAt, forKey: .onSaleAt)
        try container.encodeIfPresent(concert.window.saleEndsAt, forKey: .saleEndsAt)
        try container.encode(concert.window.status(at: now), forKey: .status)
    }
}

/// A concert as the admin API shows it: what buyers see, the waiting room's settings in effect,
/// its import key, and (alone) its dates with their seats by state.
struct AdminConcert: ResponseEncodable {
    let concert: CatalogueStore.Concert
    let defaults: WaitingRoom.Policy
    let dates: [CatalogueStore.DateCounts]?
    let now: Date

    enum CodingKeys: String, CodingKey {
        case capacity, admitPerSecond, externalKey, dates
    }

    struct DateJSON: Encodable {
        let date: ScheduleDate
        let free: Int
        let held: Int
        let sold: Int
        let cancelled: Bool
    }

    func encode(to encoder: any Encoder) throws {
        try PublicConcert(concert: concert, now: now).encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(concert.capacity ?? defaults.capacity, forKey: .capacity)
        try container.encode(concert.admitPerSecond ?? defaults.admitPerSecond, forKey: .admitPerSecond)
        try container.encodeIfPresent(concert.externalKey, forKey: .externalKey)
        try container.encodeIfPresent(
            dates?.map { DateJSON(date: $0.date, free: $0.free, held: $0.held, sold: $0.sold, cancelled: $0.cancelled) },
            forKey: .dates
        )
    }
}

struct ConcertsResponse: ResponseEncodable {
    let concerts: [PublicConcert]
}

struct AdminConcertList: ResponseEncodable {
    let concerts: [AdminConcert]
}

/// `POST /admin/concerts` and `PATCH /admin/concerts/{id}`: every field optional in a patch
/// (`null` clears a time, or the capacity and rate back to the defaults); `title` required to
/// create. Times are RFC 3339.
struct ConcertFields: Decodable {
    /// A member absent, `null`, or given.
    enum Field<Value: Decodable & Sendable>: Sendable {
        case absent
        case cleared
        case given(Value)

        func applied(to stored: Value?) -> Value? {
            switch self {
            case .absent: stored
            case .cleared: nil
            case .given(let value): value
            }
        }
    }

    var title: Field<String> = .absent
    var venue: Field<String> = .absent
    var queueOpensAt: Field<Date> = .absent
    var onSaleAt: Field<Date> = .absent
    var saleEndsAt: Field<Date> = .absent
    var capacity: Field<WholeNumber> = .absent
    var admitPerSecond: Field<WholeNumber> = .absent
    var externalKey: Field<String> = .absent

    enum CodingKeys: String, CodingKey, CaseIterable {
        case title, venue, queueOpensAt, onSaleAt, saleEndsAt, capacity, admitPerSecond, externalKey
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func field<Value: Decodable>(_ key: CodingKeys) throws -> Field<Value> {
            guard container.contains(key) else { return .absent }
            if try container.decodeNil(forKey: key) { return .cleared }
            return .given(try container.decode(Value.self, forKey: key))
        }
        title = try field(.title)
        venue = try field(.venue)
        queueOpensAt = try Self.time(container, .queueOpensAt)
        onSaleAt = try Self.time(container, .onSaleAt)
        saleEndsAt = try Self.time(container, .saleEndsAt)
        capacity = try field(.capacity)
        admitPerSecond = try field(.admitPerSecond)
        externalKey = try field(.externalKey)
    }

    /// An RFC 3339 time, with or without fractional seconds.
    static func time(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Field<Date> {
        guard container.contains(key) else { return .absent }
        if try container.decodeNil(forKey: key) { return .cleared }
        let text = try container.decode(String.self, forKey: key)
        guard let date = RFC3339.date(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: container,
                debugDescription: "must be an RFC 3339 time, e.g. 2027-03-01T10:00:00Z"
            )
        }
        return .given(date)
    }

    /// The stored concert (or a new one's empty draft) with these fields applied, checked.
    func applied(to stored: CatalogueStore.ConcertDraft?) throws(Problem) -> CatalogueStore.ConcertDraft {
        guard let title = title.applied(to: stored?.title) else { throw Problem.invalidRequest("title: is required") }
        let capacity = capacity.applied(to: stored?.capacity.map { WholeNumber(value: Int64($0)) })
        let rate = admitPerSecond.applied(to: stored?.admitPerSecond.map { WholeNumber(value: Int64($0)) })
        var draft: CatalogueStore.ConcertDraft
        do {
            // Out of Int's range is out of the checks' range too: they name the field.
            draft = try CatalogueStore.ConcertDraft(
                title: title,
                venue: venue.applied(to: stored?.venue),
                capacity: capacity.map { Int(clamping: $0.value) },
                admitPerSecond: rate.map { Int(clamping: $0.value) },
                externalKey: externalKey.applied(to: stored?.externalKey)
            ).checked()
        } catch {
            throw Problem.invalidRequest(error.description)
        }
        // A queue opening time given without a new sale start moves with the stored one; a new
        // sale start without an opening time opens the queue the default 30 minutes before it.
        let onSale = onSaleAt.applied(to: stored?.window.onSaleAt)
        let opens: Date? =
            switch (queueOpensAt, onSaleAt) {
            case (.absent, .given), (.absent, .cleared): nil
            default: queueOpensAt.applied(to: stored?.window.queueOpensAt)
            }
        do {
            draft.window = try SaleWindow(queueOpensAt: opens, onSaleAt: onSale, saleEndsAt: saleEndsAt.applied(to: stored?.window.saleEndsAt))
        } catch {
            // Each time is well formed; together they contradict each other (or the stored ones).
            throw Problem(status: .conflict, code: "SALE_TIMES_OUT_OF_ORDER", title: "Conflict", detail: error.description)
        }
        return draft
    }
}

/// `PUT /admin/concerts/{id}/dates/{date}`: the venue's seats as sections of rows.
struct SeatMapBody: Decodable {
    struct Section: Decodable {
        let name: String
        let rows: [Row]
    }

    struct Row: Decodable {
        let label: String
        let seats: WholeNumber
        let price: WholeNumber
    }

    let sections: [Section]

    func seatMap(concert: ConcertID, date: ScheduleDate) throws(ValidationError) -> Command.SetSeatMap {
        try Command.SetSeatMap(
            concertId: concert,
            date: date,
            sections: sections.map { section in
                Command.SetSeatMap.Section(
                    name: section.name,
                    rows: section.rows.map { row in
                        // Out of Int's range is out of the rules' range too: the check names the field.
                        Command.SetSeatMap.Row(label: row.label, seats: Int(clamping: row.seats.value), price: Won(row.price.value))
                    }
                )
            }
        )
    }
}

extension Router<APIRequestContext> {
    /// `GET /v1/concerts`.
    func addConcertRoutes(_ catalogue: CatalogueStore) {
        get("/v1/concerts") { _, _ -> ConcertsResponse in
            let now = Date()
            return ConcertsResponse(concerts: try await catalogue.concerts().map { PublicConcert(concert: $0, now: now) })
        }
    }

    /// `/admin/concerts…`: the catalogue, behind the admin token.
    func addCatalogueRoutes(_ services: APIServices, admin: RouterGroup<APIRequestContext>) {
        let catalogue = services.catalogue
        let defaults = services.admissionDefaults
        admin.post("/concerts") { request, context -> Response in
            let fields = try await request.decodeJSON(as: ConcertFields.self, context: context)
            if case .absent = fields.title { throw Problem.invalidRequest("title: is required") }
            let (concert, created) = try await catalogue.create(try fields.applied(to: nil))
            var response = try AdminConcert(concert: concert, defaults: defaults, dates: nil, now: Date()).response(from: request, context: context)
            response.status = created ? .created : .ok
            response.headers[.location] = "/admin/concerts/\(concert.id)"
            return response
        }
        admin.get("/concerts") { _, _ -> AdminConcertList in
            let now = Date()
            return AdminConcertList(
                concerts: try await catalogue.concerts().map { AdminConcert(concert: $0, defaults: defaults, dates: nil, now: now) }
            )
        }
        admin.get("/concerts/:concertId") { _, context -> AdminConcert in
            let id = try Self.concertID(context)
            guard let concert = try await catalogue.concert(id) else { throw Self.noSuchConcert(id) }
            let now = Date()
            return AdminConcert(concert: concert, defaults: defaults, dates: try await catalogue.dateCounts(of: id, now: now), now: now)
        }
        addSeatMapRoute(services, admin: admin)
        admin.patch("/concerts/:concertId") { request, context -> AdminConcert in
            let id = try Self.concertID(context)
            let fields = try await request.decodeJSON(as: ConcertFields.self, context: context)
            if case .given = fields.externalKey { throw Problem.invalidRequest("externalKey: is set when the concert is created") }
            guard let concert = try await catalogue.update(id, { try fields.applied(to: $0) }) else { throw Self.noSuchConcert(id) }
            return AdminConcert(concert: concert, defaults: defaults, dates: nil, now: Date())
        }
    }

    /// `PUT /admin/concerts/{id}/dates/{date}`: through the date's partition worker, the one writer
    /// of its seats; answered with the outcome if it comes within 30 s (`201` created, `200`
    /// replaced, `409 SCHEDULE_IN_USE`), else `202` (the date's counts in `GET /admin/concerts/{id}`
    /// show it once applied).
    func addSeatMapRoute(_ services: APIServices, admin: RouterGroup<APIRequestContext>) {
        let intake = CommandIntake(services: services)
        admin.put("/concerts/:concertId/dates/:date") { request, context -> Response in
            let id = try Self.concertID(context)
            let date = try ScheduleDate.parse(context.parameters.get("date"))
            let body = try await request.decodeJSON(as: SeatMapBody.self, context: context)
            let map: Command.SetSeatMap
            do {
                map = try body.seatMap(concert: id, date: date)
            } catch let error as ValidationError where error.isInconsistency {
                throw Problem(status: .conflict, code: "SEAT_MAP_INCONSISTENT", title: "Conflict", detail: error.description)
            }
            // Concerts are never deleted: one that exists now still does when the worker applies the map.
            guard try await services.catalogue.concert(id) != nil else { throw Self.noSuchConcert(id) }
            let (commandID, outcome) = try await intake.publish(
                .setSeatMap(map),
                user: .operator,
                schedule: map.schedule,
                wait: 30,
                context: context
            )
            guard let outcome else { return CommandIntake.accepted(commandID) }
            if let failure = outcome.failure { throw Problem(failure) }
            let json = outcome.resultJSON ?? "{}"
            let result = try? JSONDecoder.commands.decode(SeatMapResult.self, from: Data(json.utf8))
            return JSONBody.response(result?.created == true ? .created : .ok, json)
        }
    }

    static func concertID(_ context: APIRequestContext) throws -> ConcertID {
        guard let text = context.parameters.get("concertId"), let value = Int64(text), let id = ConcertID(value) else {
            throw Problem.invalidRequest("concertId: must be a positive integer")
        }
        return id
    }

    static func noSuchConcert(_ id: ConcertID) -> Problem {
        Problem.notFound("CONCERT_NOT_FOUND", "There is no concert \(id).")
    }
}
