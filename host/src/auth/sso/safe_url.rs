//! [`SafeUrl`]: the only kind of URL lmi prints for the user to visit or hands to a browser.
//!
//! A provider controls the device flow's `verification_uri`, every discovery endpoint and
//! (through them) the authorization URL. A string such as `--renderer-cmd-prefix=/tmp/x.sh`
//! makes a Chromium-based `$BROWSER` run a program, and `file:`, UNC and custom schemes open
//! local files or other applications. So a URL is opened or shown only after it parsed as an
//! absolute `https://` URL (or `http://` to loopback) with a host and no user name, which
//! also means its text starts with the scheme and can never be read as an option.
//! `browser::open` takes only this type, so nothing unchecked can reach it.

use url::Url;

/// Longest URL lmi opens or prints (an authorization URL with PKCE is about 600 bytes).
const MAX_LEN: usize = 8 * 1024;

/// A parsed URL that passed the rules above. `Display` is its canonical serialisation:
/// percent-encoded, so it holds no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeUrl(Url);

impl SafeUrl {
    /// Parses and checks `raw`; the error says what is wrong, in words for the user.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_LEN {
            return Err(format!("it is longer than {MAX_LEN} bytes"));
        }
        let url = Url::parse(raw).map_err(|e| format!("it is not an absolute URL ({e})"))?;
        Self::check(url)
    }

    /// Checks an already parsed URL.
    pub fn check(url: Url) -> Result<Self, String> {
        if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
            return Err("it has no host".to_owned());
        }
        match url.scheme() {
            "https" => {}
            "http" if crate::settings::is_loopback(&url) => {}
            "http" => return Err("it is plain http:// to a host other than loopback".to_owned()),
            other => return Err(format!("its scheme is `{other}:`, not https://")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it names a user (`user@host`), which disguises the real host".to_owned());
        }
        if url.as_str().len() > MAX_LEN {
            return Err(format!("it is longer than {MAX_LEN} bytes"));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for SafeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// How a refused URL is quoted in an error: one short terminal-safe line.
pub fn quote(raw: &str) -> String {
    crate::text::line(raw, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_with_a_host_is_safe() {
        for ok in [
            "https://idp.example.com/device",
            "https://idp.example.com/device?user_code=ABCD-EFGH",
            "http://127.0.0.1:8080/device",
            "http://[::1]/x",
            "http://localhost:1/x",
        ] {
            let url = SafeUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!url.as_str().starts_with('-'));
        }
        for bad in [
            "--renderer-cmd-prefix=/tmp/x.sh",
            "-h",
            " --foo https://x",
            "file:///etc/passwd",
            "file://server/share",
            "\\\\evil.example\\share\\x.exe",
            "//evil.example/x",
            "javascript:alert(1)",
            "data:text/html,<script>",
            "ms-settings:",
            "vscode://file/x",
            "http://evil.example/device",
            "http://10.0.0.1/",
            "https://",
            "https://accounts.example.com@evil.example/",
            "https://u:p@idp.example.com/",
            "",
        ] {
            assert!(SafeUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(SafeUrl::parse(&format!("https://x.example/{}", "a".repeat(MAX_LEN))).is_err());
    }

    #[test]
    fn the_printed_form_has_no_control_characters() {
        let url =
            SafeUrl::parse("https://idp.example.com/a b\u{1b}[2J?x=\u{7}\u{9b}#\u{202e}").unwrap();
        assert!(
            !url.to_string().chars().any(crate::text::is_unsafe_char),
            "{url}"
        );
    }
}
