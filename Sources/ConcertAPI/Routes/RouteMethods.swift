public import Hummingbird
import Synchronization

/// The methods each routed path takes, so that a path that exists answers another method with
/// `405 Method Not Allowed` and `Allow` (RFC 9110 §15.5.6) instead of the router's `404`.
public final class RouteMethods: Sendable {
    private struct Template {
        /// Literal segments, or `nil` for a parameter (`{name}`) or `*`, which match any one segment.
        let segments: [Substring?]
        var methods: Set<String>
    }

    private let templates = Mutex<[Template]>([])

    public init() {}

    /// Learns every route of `router` (call it once the routes are added).
    public func learn<Context>(_ router: Router<Context>) {
        var learned: [Template] = []
        for route in router.routes {
            let segments: [Substring?] = "\(route.path)".split(separator: "/").map { $0.hasPrefix("{") || $0.hasPrefix(":") || $0 == "*" ? nil : $0 }
            if let index = learned.firstIndex(where: { $0.segments == segments }) {
                learned[index].methods.insert(route.method.rawValue)
            } else {
                learned.append(Template(segments: segments, methods: [route.method.rawValue]))
            }
        }
        templates.withLock { $0 = learned }
    }

    /// The methods `path` takes, sorted; `nil` when no route has that path.
    public func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/")
        let methods = templates.withLock { templates in
            templates.filter { template in
                template.segments.count == parts.count && zip(template.segments, parts).allSatisfy { $0 == nil || $0 == $1 }
            }.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        }
        return methods.isEmpty ? nil : methods.sorted()
    }
}
