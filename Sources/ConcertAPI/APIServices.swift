public import ConcertStorage
public import Hummingbird
import Logging

/// What the API's handlers use; built once per process by ConcertApp.
public struct APIServices: Sendable {
    public var wallets: WalletStore
    public var catalogue: CatalogueStore
    public var readiness: ReadinessChecks

    public init(wallets: WalletStore, catalogue: CatalogueStore, readiness: ReadinessChecks) {
        self.wallets = wallets
        self.catalogue = catalogue
        self.readiness = readiness
    }
}

/// The API's router: every route of the contract, behind the problem mapping and request logging.
public func buildAPIRouter(_ services: APIServices) -> Router<APIRequestContext> {
    let router = Router(context: APIRequestContext.self)
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: ProblemMiddleware())
    router.addHealthRoutes(readiness: services.readiness)
    router.addBalanceRoutes(services.wallets)
    router.addConcertRoutes(services.catalogue)
    return router
}
