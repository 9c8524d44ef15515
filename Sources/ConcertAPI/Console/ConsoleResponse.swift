import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A console request refused with a status and a sentence for the operator (a short HTML page).
struct ConsoleRefusal: Error {
    let status: HTTPResponse.Status
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// The console's answers: HTML with the security headers every page carries, redirects.
enum ConsoleResponse {
    static func html(_ status: HTTPResponse.Status, _ html: String) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A short page for refusals and errors.
    static func plain(_ status: HTTPResponse.Status, _ message: String) -> Response {
        html(
            status,
            """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(status.code) · concert console</title>
            <link rel="stylesheet" href="/admin/console/assets/console.css"></head>
            <body><main><h1>\(status.code) \(status.reasonPhrase)</h1><p role="alert">\(escapeHTML(message))</p>
            <p><a href="/admin/console">Console</a> · <a href="/admin/console/sign-in">Sign in</a></p></main></body></html>
            """
        )
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// Text made safe inside HTML elements and quoted attributes.
    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
