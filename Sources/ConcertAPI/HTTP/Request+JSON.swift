import Foundation
public import Hummingbird
import NIOFoundationCompat

/// Request bodies' decoder: one for every request (it is only read once configured), not one each.
private let requestBodyDecoder = JSONDecoder()

extension Request {
    /// Reads the body (at most the context's limit, else 413) and decodes it as JSON.
    ///
    /// Malformed JSON, a missing field or a field of the wrong type is a 400 `INVALID_REQUEST`
    /// that names the field.
    public func decodeJSON<Value: Decodable>(as type: Value.Type, context: some RequestContext) async throws -> Value {
        var request = self
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return try Self.decodeBody(Value.self, from: Array(buffer.readableBytesView))
    }

    /// A body's value: a flat body in the plainest form read by hand when the type knows how
    /// (`FlatJSONBody`: `JSONDecoder` was ~4 % of `concert` taking reservations), any other by
    /// `JSONDecoder` — with the same value or the same refusal either way.
    static func decodeBody<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        if let flat = Value.self as? any FlatJSONBody.Type, let object = FlatJSONObject(bytes), let value = flat.init(flat: object) as? Value {
            return value
        }
        return try decodeWithJSONDecoder(Value.self, from: bytes)
    }

    /// `decodeBody` without the hand-read form.
    static func decodeWithJSONDecoder<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        do {
            return try requestBodyDecoder.decode(Value.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw Problem.invalidRequest(Self.describe(error))
        } catch {
            throw Problem.invalidRequest("the body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context.codingPath)): has the wrong type"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "\(path(context.codingPath)): \(context.debugDescription)"
        default:
            return "the body is not valid JSON"
        }
    }
}

/// A JSON integer field. Foundation on Linux reports `1.5` for an `Int64` as "not valid JSON"
/// without a field name; this says which field and why.
struct WholeNumber: Decodable, Sendable {
    let value: Int64

    init(value: Int64) {
        self.value = value
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int64.self) {
            self.value = value
        } else if (try? container.decode(Double.self)) != nil {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be an integer")
        } else {
            throw DecodingError.typeMismatch(Int64.self, .init(codingPath: decoder.codingPath, debugDescription: "must be an integer"))
        }
    }
}

/// A request body that can also be read from a `FlatJSONObject`: `nil` whenever a member has
/// any other form than the plain one `JSONDecoder` would take without question (the caller then
/// decodes with `JSONDecoder`, which gives the value or names the problem).
protocol FlatJSONBody: Decodable {
    init?(flat object: FlatJSONObject)
}

extension FlatJSONObject {
    /// A required integer member in the plain form.
    func integer(_ name: String) -> WholeNumber? {
        guard case .integer(let value)? = self[name] else { return nil }
        return WholeNumber(value: value)
    }

    /// A required string member.
    func string(_ name: String) -> String? {
        guard case .string(let value)? = self[name] else { return nil }
        return value
    }

    /// An optional string member: absent or `null` is `.some(nil)`, another form `nil`.
    func optionalString(_ name: String) -> String?? {
        switch self[name] {
        case nil, .null?: .some(nil)
        case .string(let value)?: .some(value)
        default: nil
        }
    }
}
