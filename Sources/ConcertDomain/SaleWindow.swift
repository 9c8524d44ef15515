public import Foundation

/// When a concert's waiting room opens, its sale starts and its sale ends.
///
/// Without `onSaleAt` the concert is on sale at once (and its queue open); without `saleEndsAt`
/// the sale does not end. Between `queueOpensAt` and `onSaleAt` tokens are issued but nobody is
/// admitted: buyers may arrive early without being served before the start.
public struct SaleWindow: Sendable, Hashable, Codable {
    /// Where a concert's sale stands at a moment.
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Before the queue opens: no tokens.
        case scheduled
        /// The queue is open, the sale has not started: tokens wait, nobody is admitted.
        case queueing
        /// Tokens are issued and admitted; seats can be held.
        case onSale = "on-sale"
        /// After the sale's end: no tokens, no new holds.
        case ended
    }

    /// How long before the sale the queue opens when `queueOpensAt` is not given.
    public static let defaultEarlyQueue: TimeInterval = 30 * 60

    public let queueOpensAt: Date?
    public let onSaleAt: Date?
    public let saleEndsAt: Date?

    /// On sale now, for good.
    public static let always = SaleWindow(unchecked: nil, nil, nil)

    /// The window of these times: `queueOpensAt ≤ onSaleAt < saleEndsAt`; `queueOpensAt` defaults
    /// to 30 minutes before `onSaleAt` (and needs it).
    ///
    /// - Throws: `ValidationError` naming the field whose time breaks the order.
    public init(queueOpensAt: Date?, onSaleAt: Date?, saleEndsAt: Date?) throws(ValidationError) {
        if queueOpensAt != nil, onSaleAt == nil {
            throw ValidationError(field: "queueOpensAt", reason: "needs onSaleAt (without it the concert is on sale at once)")
        }
        let opens = queueOpensAt ?? onSaleAt.map { $0.addingTimeInterval(-Self.defaultEarlyQueue) }
        if let opens, let onSaleAt, opens > onSaleAt {
            throw ValidationError(field: "queueOpensAt", reason: "must not be after onSaleAt")
        }
        if let saleEndsAt, let onSaleAt, saleEndsAt <= onSaleAt {
            throw ValidationError(field: "saleEndsAt", reason: "must be after onSaleAt")
        }
        self.init(unchecked: opens, onSaleAt, saleEndsAt)
    }

    /// Times as stored (checked when they were written).
    public init(unchecked queueOpensAt: Date?, _ onSaleAt: Date?, _ saleEndsAt: Date?) {
        self.queueOpensAt = queueOpensAt
        self.onSaleAt = onSaleAt
        self.saleEndsAt = saleEndsAt
    }

    /// The sale's state at `now`.
    public func status(at now: Date) -> Status {
        if let saleEndsAt, now >= saleEndsAt { return .ended }
        if let queueOpensAt, now < queueOpensAt { return .scheduled }
        if let onSaleAt, now < onSaleAt { return .queueing }
        return .onSale
    }

    /// True when nobody may be admitted at `now` (the sale has not started, or has ended).
    public func admitsNobody(at now: Date) -> Bool {
        status(at: now) != .onSale
    }
}
