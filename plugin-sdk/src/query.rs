//! Query strings built one pair at a time, every key and value percent-encoded:
//! [`Request::with_query`](crate::Request::with_query) and
//! [`http::Request::with_query`](crate::http::Request::with_query).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded, so a
/// value holding `&`, `=`, `+`, `#`, `/`, `%`, a space or any non-ASCII text reaches the
/// service as that one value, whichever convention its framework decodes by (`+` is never
/// used for a space).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl crate::Request {
    /// Adds `key=value` to the query of the request's path, both percent-encoded: a value may
    /// hold spaces, `&`, `=`, `+`, `#` or any text and reaches the service as that one value.
    /// Call it once per pair, in order; a query already written in the path is kept.
    ///
    /// ```
    /// use lmi_plugin_sdk::Request;
    ///
    /// let request = Request::get("v1/tickets")
    ///     .with_query("q", "a b&c")
    ///     .with_query("owner", "zoë");
    /// assert_eq!(request.path, "v1/tickets?q=a%20b%26c&owner=zo%C3%AB");
    /// assert_eq!(
    ///     Request::get("v1/tickets?limit=5").with_query("page", "2").path,
    ///     "v1/tickets?limit=5&page=2"
    /// );
    /// ```
    pub fn with_query(mut self, key: &str, value: &str) -> Self {
        append(&mut self.path, key, value);
        self
    }
}

impl crate::http::Request {
    /// Adds `key=value` to the URL's query, both percent-encoded (as
    /// [`Request::with_query`](crate::Request::with_query) does for a service path).
    ///
    /// ```
    /// let request = lmi_plugin_sdk::http::Request::get("https://api.example.com/search")
    ///     .with_query("q", "status:open & mine");
    /// assert_eq!(request.url, "https://api.example.com/search?q=status%3Aopen%20%26%20mine");
    /// ```
    pub fn with_query(mut self, key: &str, value: &str) -> Self {
        append(&mut self.url, key, value);
        self
    }
}

/// Appends `key=value`, both encoded, to the query of `target` (a path or URL, with or
/// without a query already), before any `#fragment`.
pub(crate) fn append(target: &mut String, key: &str, value: &str) {
    let fragment = target.find('#').map(|at| target.split_off(at));
    match target.find('?') {
        None => target.push('?'),
        Some(at) if at + 1 == target.len() || target.ends_with('&') => {}
        Some(_) => target.push('&'),
    }
    target.extend(utf8_percent_encode(key, COMPONENT));
    target.push('=');
    target.extend(utf8_percent_encode(value, COMPONENT));
    if let Some(fragment) = fragment {
        target.push_str(&fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appended(target: &str, key: &str, value: &str) -> String {
        let mut target = target.to_owned();
        append(&mut target, key, value);
        target
    }

    #[test]
    fn keys_and_values_are_encoded_so_each_stays_one_value() {
        assert_eq!(appended("t", "q", "a b&c"), "t?q=a%20b%26c");
        assert_eq!(
            appended("t", "a=b", "1+1=2#x/y?%"),
            "t?a%3Db=1%2B1%3D2%23x%2Fy%3F%25"
        );
        assert_eq!(appended("t", "name", "café"), "t?name=caf%C3%A9");
        assert_eq!(appended("t", "k", "A-z.0_9~"), "t?k=A-z.0_9~");
        assert_eq!(appended("t", "empty", ""), "t?empty=");
        // Control characters and escapes cannot reach the request line.
        assert_eq!(appended("t", "k", "\r\n\x1b"), "t?k=%0D%0A%1B");
    }

    #[test]
    fn pairs_join_an_existing_query_and_stay_before_a_fragment() {
        assert_eq!(appended("v1/x?a=1", "b", "2"), "v1/x?a=1&b=2");
        assert_eq!(appended("v1/x?", "b", "2"), "v1/x?b=2");
        assert_eq!(appended("v1/x?a=1&", "b", "2"), "v1/x?a=1&b=2");
        assert_eq!(appended("https://h/x#top", "b", "2"), "https://h/x?b=2#top");
        assert_eq!(
            appended("https://h/x?a#top", "b", "2"),
            "https://h/x?a&b=2#top"
        );
    }
}
