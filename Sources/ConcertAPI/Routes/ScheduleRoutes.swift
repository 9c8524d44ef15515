import ConcertDomain
import ConcertStorage
import Foundation
import Hummingbird

struct DatesResponse: ResponseEncodable {
    let concertId: Int64
    let dates: [CatalogueStore.AvailableDate]
}

struct SeatsResponse: ResponseEncodable {
    let concertId: Int64
    let date: ScheduleDate
    let seats: [CatalogueStore.FreeSeat]
}

extension Router<APIRequestContext> {
    /// `GET /v1/concerts/{concertId}/dates` and `…/dates/{date}/seats`, for active tokens of that concert.
    func addScheduleRoutes(_ services: APIServices) {
        get("/v1/concerts/:concertId/dates") { request, context -> DatesResponse in
            let concert = try ConcertID.parse(context.parameters.require("concertId"))
            _ = try await services.tokenGuard.requireActive(request, concert: concert)
            let now = Date()
            let today = ScheduleDate(secondsSinceEpoch: Int64(now.timeIntervalSince1970))
            let dates = try await services.catalogue.availableDates(of: concert, from: today, now: now)
            return DatesResponse(concertId: concert.rawValue, dates: dates)
        }
        get("/v1/concerts/:concertId/dates/:date/seats") { request, context -> SeatsResponse in
            let concert = try ConcertID.parse(context.parameters.require("concertId"))
            let date = try ScheduleDate.parse(context.parameters.get("date"))
            _ = try await services.tokenGuard.requireActive(request, concert: concert)
            guard let seats = try await services.catalogue.freeSeats(of: ScheduleKey(concertID: concert, date: date), now: Date()) else {
                throw FailureCode.scheduleNotFound
            }
            return SeatsResponse(concertId: concert.rawValue, date: date, seats: seats)
        }
    }
}
