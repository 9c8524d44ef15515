import ConcertDomain
import ConcertStorage
import Hummingbird

/// `{"userId","balance"}`.
struct BalanceResponse: ResponseEncodable {
    let userId: String
    let balance: Int64
}

struct ChargeRequest: Decodable {
    let amount: WholeNumber
}

extension Router<APIRequestContext> {
    /// `POST /v1/users/{userId}/balance/charges` and `GET /v1/users/{userId}/balance`.
    /// Both need the user's own access token (403 `NOT_YOUR_ACCOUNT` with another user's).
    func addBalanceRoutes(_ wallets: WalletStore, accessTokens: AccessTokens) {
        post("/v1/users/:userId/balance/charges") { request, context -> BalanceResponse in
            let user = try UserID.parse(context.parameters.require("userId"))
            try await accessTokens.require(user, in: request)
            let idempotencyKey = try Self.idempotencyKey(request)
            let charge = try await request.decodeJSON(as: ChargeRequest.self, context: context)
            let amount = try Won.charge(charge.amount.value)
            let balance = try await wallets.charge(user, amount: amount, idempotencyKey: idempotencyKey)
            return BalanceResponse(userId: user.rawValue, balance: balance.amount)
        }
        get("/v1/users/:userId/balance") { request, context -> BalanceResponse in
            let user = try UserID.parse(context.parameters.require("userId"))
            try await accessTokens.require(user, in: request)
            return BalanceResponse(userId: user.rawValue, balance: try await wallets.balance(of: user).amount)
        }
    }

    /// The optional `Idempotency-Key`: 1–255 visible ASCII characters.
    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.init("Idempotency-Key")!] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Problem.invalidRequest("Idempotency-Key: must be 1-255 visible ASCII characters")
        }
        return key
    }
}
