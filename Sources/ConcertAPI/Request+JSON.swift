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
        do {
            return try requestBodyDecoder.decode(Value.self, from: Data(buffer: buffer))
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
