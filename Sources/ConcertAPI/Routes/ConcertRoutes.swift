import ConcertDomain
import ConcertStorage
import Hummingbird

struct ConcertsResponse: ResponseEncodable {
    let concerts: [CatalogueStore.Concert]
}

extension Router<APIRequestContext> {
    /// `GET /v1/concerts`.
    func addConcertRoutes(_ catalogue: CatalogueStore) {
        get("/v1/concerts") { _, _ -> ConcertsResponse in
            ConcertsResponse(concerts: try await catalogue.concerts())
        }
    }
}
