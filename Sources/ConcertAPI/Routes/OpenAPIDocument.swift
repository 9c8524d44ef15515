import Foundation
import Hummingbird

/// The contract as an OpenAPI 3 document, bundled with the API target.
public enum OpenAPIDocument {
    /// The document's text (`openapi.yaml`, a resource of this target).
    public static let yaml: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            preconditionFailure("openapi.yaml is missing from the ConcertAPI bundle")
        }
        return text
    }()

    /// Every operation the document describes, as `METHOD /path/{param}`.
    public static var operations: Set<String> {
        var operations = Set<String>()
        var path: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("components:") {
                path = nil
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "),
                let method = ["get", "post", "put", "patch", "delete"].first(where: { line == "    \($0):" })
            {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }
}

extension Router {
    /// `GET /openapi.yaml`.
    func addOpenAPIRoute() {
        get("/openapi.yaml") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml))
            )
        }
    }
}
