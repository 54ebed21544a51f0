//! The `json` feature: request bodies from any `Serialize` value, response bodies into any
//! `Deserialize` type, and the service's own message in [`Response::error_for_status`].

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::status::quote;
use crate::{PluginError, Request, Response};

/// Most bytes of an error body parsed for its message; a larger one is quoted as text.
const MESSAGE_SCAN_BYTES: usize = 64 << 10;

impl Request {
    /// Sets the body to `value` as JSON and `content-type: application/json` (replacing a
    /// content type set before). Needs the `json` feature. Fails only when `value` cannot
    /// be JSON (a map whose keys are not strings, a `Serialize` impl that errs).
    ///
    /// ```
    /// use lmi_plugin_sdk::{PluginError, Request};
    ///
    /// #[derive(serde::Serialize)]
    /// struct NewTicket<'a> {
    ///     title: &'a str,
    ///     tags: &'a [&'a str],
    /// }
    ///
    /// let request = Request::post("v1/tickets").json(&NewTicket { title: "Disk full", tags: &["ops"] })?;
    /// assert_eq!(request.body.as_deref(), Some(&br#"{"title":"Disk full","tags":["ops"]}"#[..]));
    /// assert_eq!(request.headers, [("content-type".to_string(), "application/json".to_string())]);
    /// # Ok::<(), PluginError>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, PluginError> {
        let body = encode(value)?;
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        Ok(self.with_json_bytes(body))
    }

    fn with_json_bytes(self, body: Vec<u8>) -> Self {
        self.with_header("content-type", "application/json")
            .with_body(body)
    }
}

impl crate::http::Request {
    /// Sets the body to `value` as JSON and `content-type: application/json` (replacing a
    /// content type set before). Needs the `json` feature.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::http::Request::post("https://api.example.com/v1/echo")
    ///     .json(&serde_json::json!({"say": "hi"}))?;
    /// assert_eq!(request.body, br#"{"say":"hi"}"#);
    /// # Ok::<(), lmi_plugin_sdk::PluginError>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, PluginError> {
        let body = encode(value)?;
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        Ok(self
            .with_header("content-type", "application/json")
            .with_body(body))
    }
}

impl Response {
    /// The body parsed as JSON into `T`, whatever the status (an error answer may be JSON
    /// too: check the status first, or call [`error_for_status`](Response::error_for_status)).
    /// Needs the `json` feature. A body that is not the JSON expected is a
    /// [`PluginError::Failed`] naming the request, the status, the content type, why it did
    /// not parse and how the body begins (one line, no control characters, at most 300
    /// characters, credentials masked).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, PluginError, Request, Response};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Ticket {
    ///     id: u32,
    ///     title: String,
    /// }
    ///
    /// let ctx = MockContext::new()
    ///     .with_response(Method::Get, "v1/tickets", Response::json(200, r#"[{"id":7,"title":"Disk full"}]"#))
    ///     .with_response(Method::Get, "v1/login", Response::new(200, "<html>\nsign in").with_header("content-type", "text/html"));
    ///
    /// let tickets: Vec<Ticket> = ctx.send_request(Request::get("v1/tickets"))?.error_for_status()?.parse_json()?;
    /// assert_eq!((tickets[0].id, tickets[0].title.as_str()), (7, "Disk full"));
    ///
    /// let error = ctx.send_request(Request::get("v1/login"))?.parse_json::<Vec<Ticket>>().unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "GET v1/login answered what is not the JSON expected (expected value at line 1 column 1): HTTP 200, text/html; it begins: <html> sign in"
    /// );
    /// # Ok::<(), PluginError>(())
    /// ```
    pub fn parse_json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::failed(format!(
                "{} answered what is not the JSON expected ({}): {}",
                self.request.as_deref().unwrap_or("the request"),
                // serde quotes pieces of the body in its message: quoted the same way.
                quote(&e.to_string()),
                self.describe()
            ))
        })
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(value)
        .map_err(|e| PluginError::failed(format!("cannot write the request body as JSON: {e}")))
}

/// The message a JSON error body carries, in the fields services use for one: OAuth's
/// `error_description`, `message`, RFC 9457's `detail`, `{"error": {"message"}}`,
/// `errors[0].message`; with the short code (`error`, `title`) after it, or alone.
pub(crate) fn service_message(body: &[u8]) -> Option<String> {
    if body.len() > MESSAGE_SCAN_BYTES {
        return None;
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    fn text(value: Option<&Value>) -> Option<&str> {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
    let description = text(object.get("error_description"))
        .or_else(|| text(object.get("message")))
        .or_else(|| text(object.get("detail")))
        .or_else(|| text(object.get("error").and_then(|e| e.get("message"))))
        .or_else(|| text(object.get("errors").and_then(|e| e.get(0)?.get("message"))));
    let code = text(object.get("error")).or_else(|| text(object.get("title")));
    match (description, code) {
        (Some(description), Some(code)) if code != description => {
            Some(format!("{description} ({code})"))
        }
        (Some(text), _) | (None, Some(text)) => Some(text.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_message_is_found_where_services_put_it() {
        let message = |body: &str| service_message(body.as_bytes());
        assert_eq!(
            message(r#"{"error":"invalid_grant","error_description":"code expired"}"#).as_deref(),
            Some("code expired (invalid_grant)")
        );
        assert_eq!(
            message(r#"{"message":"title is missing"}"#).as_deref(),
            Some("title is missing")
        );
        assert_eq!(
            message(r#"{"title":"Not Found","detail":"no ticket 7","status":404}"#).as_deref(),
            Some("no ticket 7 (Not Found)")
        );
        assert_eq!(
            message(r#"{"error":{"code":404,"message":"no such bucket"}}"#).as_deref(),
            Some("no such bucket")
        );
        assert_eq!(
            message(r#"{"errors":[{"message":"bad cursor"},{"message":"second"}]}"#).as_deref(),
            Some("bad cursor")
        );
        assert_eq!(
            message(r#"{"error":"not_found"}"#).as_deref(),
            Some("not_found")
        );
        assert_eq!(message(r#"{"message":"  ","id":3}"#), None);
        assert_eq!(message(r#"[1,2]"#), None);
        assert_eq!(message("not json"), None);
    }

    /// The message field is quoted like any service text: one line, masked, bounded.
    #[test]
    fn a_json_message_is_quoted_safely() {
        let body = format!(
            r#"{{"message":"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig rejected\u001b[2J\n{}"}}"#,
            "x ".repeat(400)
        );
        let error = Response::json(401, body)
            .answering(Request::get("v1/me").line())
            .error_for_status()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "GET v1/me returned HTTP 401 Unauthorized: token **** rejected [2J x x"
            ),
            "{error}"
        );
        assert!(
            !error.contains('\u{1b}') && !error.contains('\n'),
            "{error:?}"
        );
        assert!(
            error.ends_with('…') && error.chars().count() < 400,
            "{error}"
        );
    }

    /// With no message field, the JSON itself is quoted, its credential fields masked.
    #[test]
    fn json_without_a_message_field_is_quoted_masked() {
        let error = Response::json(400, r#"{"access_token":"at-5ecret","scope":"x"}"#)
            .error_for_status()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            r#"the request returned HTTP 400 Bad Request: {"access_token":"****","scope":"x"}"#
        );
    }

    #[test]
    fn a_json_body_replaces_an_earlier_content_type() {
        let request = Request::put("v1/x")
            .with_header("Content-Type", "text/plain")
            .with_header("accept", "application/json")
            .json(&[1, 2])
            .unwrap();
        assert_eq!(
            request.headers,
            [
                ("accept".to_string(), "application/json".to_string()),
                ("content-type".to_string(), "application/json".to_string())
            ]
        );
        assert_eq!(request.body.as_deref(), Some(&b"[1,2]"[..]));
    }

    #[test]
    fn a_value_that_cannot_be_json_is_a_failure_not_a_panic() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], "v");
        let error = Request::post("v1/x").json(&map).unwrap_err();
        assert!(
            matches!(&error, PluginError::Failed(m) if m.starts_with("cannot write the request body as JSON: key must be a string")),
            "{error}"
        );
    }

    #[test]
    fn parse_json_reads_any_status_and_names_what_it_got() {
        let response = Response::json(404, r#"{"message":"gone"}"#);
        let value: Value = response.parse_json().unwrap();
        assert_eq!(value["message"], "gone");
        let error = Response::new(502, "")
            .parse_json::<Value>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "the request answered what is not the JSON expected (EOF while parsing a value at line 1 column 0): HTTP 502, no content-type; the body is empty"
        );
        // serde quotes the body in its own message: escapes and credentials go there too.
        let error = Response::json(200, r#""\u001b[2J password=hunter2""#)
            .parse_json::<u32>()
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains('\u{1b}') && !error.contains("hunter2"),
            "{error:?}"
        );
    }
}
