//! A response's status as a [`PluginError`] ([`Response::error_for_status`]), and the one
//! way the SDK quotes what a service answered in a message: escape-free, bounded, with
//! anything that looks like a credential masked.

use crate::{PluginError, Response};

/// Most characters of service text a message quotes.
pub(crate) const EXCERPT_CHARS: usize = 300;
/// Most bytes of a body looked at for an excerpt (what is shown is far shorter).
const EXCERPT_SCAN_BYTES: usize = 4096;

impl Response {
    /// `Ok(self)` unless the status is 4xx or 5xx; then a [`PluginError::Failed`] (exit
    /// code 1) naming the request (method and path, never its query), the status and its
    /// reason, and what the service said: with the `json` feature, the message field of a
    /// JSON body (`error_description`, `message`, `detail`, `error`, `title`,
    /// `errors[0].message`), else the start of the body. Service text is quoted on one
    /// line, without control characters, at most 300 characters, with anything that looks
    /// like a credential (a JWT, the word after `Bearer`, the value of a `token`, `secret`,
    /// `password` or `key` field, a run of 40 or more letters and digits) replaced by `****`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, PluginError, Request, Response};
    ///
    /// let ctx = MockContext::new()
    ///     .with_response(Method::Get, "v1/tickets/7", Response::new(404, "no ticket 7\n"))
    ///     .with_response(Method::Get, "v1/tickets/8", Response::new(200, "ticket 8"));
    ///
    /// let missing = ctx.send_request(Request::get("v1/tickets/7?token=s3cr3t"))?.error_for_status();
    /// assert_eq!(
    ///     missing,
    ///     Err(PluginError::failed("GET v1/tickets/7 returned HTTP 404 Not Found: no ticket 7"))
    /// );
    /// let found = ctx.send_request(Request::get("v1/tickets/8"))?.error_for_status()?;
    /// assert_eq!(found.text(), "ticket 8");
    /// # Ok::<(), PluginError>(())
    /// ```
    ///
    /// With the `json` feature, a JSON error names the service's own message:
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    ///
    /// let body = r#"{"error":"invalid_scope","error_description":"scope tickets:write is not granted"}"#;
    /// let ctx = MockContext::new().with_response(Method::Post, "v1/tickets", Response::json(403, body));
    /// let error = ctx.send_request(Request::post("v1/tickets")).unwrap().error_for_status().unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "POST v1/tickets returned HTTP 403 Forbidden: scope tickets:write is not granted (invalid_scope)"
    /// );
    /// ```
    pub fn error_for_status(self) -> Result<Self, PluginError> {
        if self.status < 400 {
            return Ok(self);
        }
        let mut message = format!(
            "{} returned HTTP {}",
            self.request.as_deref().unwrap_or("the request"),
            self.status
        );
        if let Some(reason) = reason(self.status) {
            message.push(' ');
            message.push_str(reason);
        }
        if let Some(detail) = self.detail() {
            message.push_str(": ");
            message.push_str(&detail);
        }
        Err(PluginError::failed(message))
    }

    /// Records which request this answers (`GET v1/items`), for messages.
    pub(crate) fn answering(mut self, request: String) -> Self {
        self.request = Some(request);
        self
    }

    /// What the service said, quoted safely: its JSON message field, else the start of the
    /// body when it is text.
    fn detail(&self) -> Option<String> {
        #[cfg(feature = "json")]
        if let Some(message) = crate::json::service_message(&self.body) {
            return Some(quote(&message)).filter(|m| !m.is_empty());
        }
        let text = std::str::from_utf8(head(&self.body)).ok()?;
        Some(quote(text)).filter(|t| !t.is_empty())
    }

    /// The status, content type and start of the body, for a message about a body that is
    /// not what was expected.
    #[cfg_attr(not(feature = "json"), allow(dead_code))]
    pub(crate) fn describe(&self) -> String {
        let content_type = self
            .header("content-type")
            .map_or_else(|| "no content-type".to_owned(), |t| quote_max(t, 80));
        let body = if self.body.is_empty() {
            "the body is empty".to_owned()
        } else {
            match std::str::from_utf8(head(&self.body)) {
                Ok(text) => format!("it begins: {}", quote(text)),
                Err(_) => format!("{} bytes that are not text", self.body.len()),
            }
        };
        format!("HTTP {}, {content_type}; {body}", self.status)
    }
}

impl crate::Request {
    /// The request as messages name it: method, path without its query (which may hold a
    /// key), and the named service if any.
    pub(crate) fn line(&self) -> String {
        let path = self.path.split(['?', '#']).next().unwrap_or_default();
        let mut line = format!("{} {}", self.method, quote_max(path, 200));
        if let Some(service) = &self.service {
            line.push_str(&format!(" (service `{}`)", quote_max(service, 80)));
        }
        line
    }
}

impl crate::http::Request {
    /// The request as messages name it: method and URL without its query or user
    /// information.
    pub(crate) fn line(&self) -> String {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        let url = match url.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                format!("{scheme}://{host}{path}")
            }
            None => url.to_owned(),
        };
        format!("{} {}", self.method, quote_max(&url, 200))
    }
}

/// The first [`EXCERPT_SCAN_BYTES`] of `body`, cut at a character boundary when it is text.
fn head(body: &[u8]) -> &[u8] {
    if body.len() <= EXCERPT_SCAN_BYTES {
        return body;
    }
    let mut end = EXCERPT_SCAN_BYTES;
    // Step back over UTF-8 continuation bytes so a cut character does not make it "not text".
    while end > EXCERPT_SCAN_BYTES - 4 && body[end] & 0b1100_0000 == 0b1000_0000 {
        end -= 1;
    }
    &body[..end]
}

/// Service text as a message quotes it: credentials masked, one line, at most
/// [`EXCERPT_CHARS`] characters.
pub(crate) fn quote(text: &str) -> String {
    quote_max(text, EXCERPT_CHARS)
}

fn quote_max(text: &str, max_chars: usize) -> String {
    let mut cut = text.len().min(EXCERPT_SCAN_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    one_line(&mask_credentials(&text[..cut]), max_chars)
}

/// Characters that must not reach a terminal from a service: every control character (C0,
/// DEL, C1: escape sequences, newlines) and the format characters that reorder or hide text
/// (bidi overrides and isolates, zero-width characters, the BOM). lmi strips the same set
/// from a plugin's error before printing it.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `text` on one line: unsafe characters and whitespace runs become one space, the ends
/// trimmed, at most `max_chars` characters kept (an ellipsis marks a cut).
fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut kept = 0;
    let mut space = false;
    for c in text.chars() {
        if is_unsafe(c) || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if kept + usize::from(space) >= max_chars {
            out.push('…');
            break;
        }
        if space {
            out.push(' ');
            kept += 1;
            space = false;
        }
        out.push(c);
        kept += 1;
    }
    out
}

/// Characters of a word that may be (part of) a credential: RFC 6750's token characters but
/// `=`, which separates a key from its value.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/')
}

/// Field names whose value is a credential (`access_token`, `client_secret`, `x-api-key`).
const SECRET_NAMES: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "key",
    "authorization",
    "cookie",
    "session",
    "credential",
    "signature",
];

/// `text` with every word that looks like a credential replaced by `****`: a JWT, the word
/// after `Bearer`/`Basic`/`token`, a value after a secret-named key and `=` or `:`, and a run
/// of 40 or more word characters holding letters and digits.
fn mask_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // The previous word (lower case) and whether a `=` or `:` came after it.
    let mut previous = String::new();
    let mut assigned = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !is_word_char(c) {
            assigned |= c == '=' || c == ':';
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest.find(|c| !is_word_char(c)).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        let after_scheme = matches!(previous.as_str(), "bearer" | "basic" | "token");
        let after_secret_key = assigned && SECRET_NAMES.iter().any(|n| previous.contains(n));
        let jwt = word.starts_with("eyJ") && word.contains('.') && word.len() >= 20;
        let opaque = word.len() >= 40
            && word.bytes().any(|b| b.is_ascii_digit())
            && word.bytes().any(|b| b.is_ascii_alphabetic());
        if after_scheme || after_secret_key || jwt || opaque {
            out.push_str("****");
        } else {
            out.push_str(word);
        }
        previous = word.to_ascii_lowercase();
        assigned = false;
        rest = tail;
    }
    out
}

/// The reason phrase of a status (RFC 9110 and the common extensions).
fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Method, Request};

    fn error(response: Response) -> String {
        response
            .answering(Request::get("v1/x").line())
            .error_for_status()
            .expect_err("an error status")
            .to_string()
    }

    #[test]
    fn only_4xx_and_5xx_are_errors() {
        for status in [200, 201, 204, 302, 304, 399] {
            assert!(
                Response::new(status, "").error_for_status().is_ok(),
                "{status}"
            );
        }
        for status in [400, 404, 418, 499, 500, 503, 599] {
            assert!(
                Response::new(status, "").error_for_status().is_err(),
                "{status}"
            );
        }
    }

    #[test]
    fn the_message_names_request_status_reason_and_body() {
        assert_eq!(
            error(Response::new(503, "down for maintenance\n")),
            "GET v1/x returned HTTP 503 Service Unavailable: down for maintenance"
        );
        assert_eq!(error(Response::new(418, "")), "GET v1/x returned HTTP 418");
        assert_eq!(
            Response::new(500, "")
                .error_for_status()
                .unwrap_err()
                .to_string(),
            "the request returned HTTP 500 Internal Server Error"
        );
        // A body that is not text is not quoted.
        assert_eq!(
            error(Response::new(500, vec![0xff, 0xfe, 0x00])),
            "GET v1/x returned HTTP 500 Internal Server Error"
        );
    }

    #[test]
    fn the_request_is_named_without_its_query_and_with_its_service() {
        let request = Request::new(Method::Delete, "/v1/x?api_key=k3y#f").to_service("billing");
        assert_eq!(request.line(), "DELETE /v1/x (service `billing`)");
        let outbound =
            crate::http::Request::get("https://user:pw@api.example.com/v1/s?key=k3y#top");
        assert_eq!(outbound.line(), "GET https://api.example.com/v1/s");
    }

    #[test]
    fn service_text_is_one_bounded_line_without_escapes() {
        let quoted = quote("a\x1b]52;c;ZXZpbA==\x07b\r\nc\u{202e}d\u{9b}e");
        assert!(!quoted.chars().any(is_unsafe), "{quoted:?}");
        assert_eq!(quoted, "a ]52;c;ZXZpbA== b c d e");
        let long = "word ".repeat(200);
        let quoted = quote(&long);
        assert!(quoted.chars().count() <= EXCERPT_CHARS + 1, "{quoted}");
        assert!(quoted.chars().count() >= EXCERPT_CHARS - 5, "{quoted}");
        assert!(quoted.ends_with('…'));
        // A huge body is looked at only at its start.
        let huge = "x".repeat(10 << 20);
        assert!(quote(&huge).len() <= EXCERPT_CHARS * 4);
    }

    #[test]
    fn credentials_in_service_text_are_masked() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIwMHUxIn0.c2lnbmF0dXJl";
        for (text, secret) in [
            (format!("rejected Bearer {jwt}"), jwt),
            (
                "Authorization: Bearer opaque-t0k3n".to_owned(),
                "opaque-t0k3n",
            ),
            (format!("bad token {jwt}!"), jwt),
            (r#"{"access_token":"at-123","x":1}"#.to_owned(), "at-123"),
            ("client_secret=s3cr3t&grant=x".to_owned(), "s3cr3t"),
            ("X-Api-Key: k3y-value".to_owned(), "k3y-value"),
            ("password: hunter2".to_owned(), "hunter2"),
            (
                "use ghp_16C7e42F292c6912E7710c838347Ae178B4a now".to_owned(),
                "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            ),
        ] {
            let quoted = quote(&text);
            assert!(!quoted.contains(secret), "{text} -> {quoted}");
            assert!(quoted.contains("****"), "{text} -> {quoted}");
        }
        // Ordinary words, identifiers and UUIDs stay.
        let plain = "ticket 7 (3f2a9c1e-8b4d-4e6f-9a0b-1c2d3e4f5a6b) is closed: key not found";
        assert_eq!(quote(plain), plain);
    }

    #[test]
    fn a_body_is_described_by_status_type_and_start() {
        let response =
            Response::new(200, "<html>\n<b>sign in</b>").with_header("Content-Type", "text/html");
        assert_eq!(
            response.describe(),
            "HTTP 200, text/html; it begins: <html> <b>sign in</b>"
        );
        assert_eq!(
            Response::new(204, "").describe(),
            "HTTP 204, no content-type; the body is empty"
        );
        assert_eq!(
            Response::new(200, vec![0xff; 10]).describe(),
            "HTTP 200, no content-type; 10 bytes that are not text"
        );
        // A multi-byte character cut by the scan limit does not make text "not text".
        let body = format!("{}é", "a".repeat(EXCERPT_SCAN_BYTES - 1));
        assert!(
            Response::new(200, body)
                .describe()
                .contains("it begins: aaa")
        );
    }
}
