//! `allowed_hosts`: the origins a plugin may reach with `wasi:http`, without lmi's
//! credentials. One entry is a scheme (`http` or `https`), a host and an optional port:
//! `https://api.example.com`, `http://127.0.0.1:8080`, `https://*.example.com`.
//!
//! Entries are checked and written in one canonical form when the manifest is parsed
//! (lowercase, international names as their `xn--` ASCII form, the scheme's default port left
//! out, no trailing `/`), so the install prompt shows what is really reached and grants compare
//! as plain strings. A request matches an entry when its scheme, host and port are the
//! entry's; `*.example.com` matches every name below `example.com` (`api.example.com`,
//! `a.b.example.com`), never `example.com` itself nor `evil-example.com`.

use std::fmt;
use std::net::IpAddr;

/// One parsed `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    pub https: bool,
    pub host: HostPattern,
    pub port: u16,
}

/// The host part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// One DNS name, lowercase ASCII.
    Name(String),
    /// Every name below this one (`*.` + it).
    Subdomains(String),
    /// A literal address: the only way to allow a loopback or private address.
    Address(IpAddr),
}

/// The port a scheme uses when a URL names none.
pub fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

impl AllowedHost {
    /// Parses one entry as the manifest spells it; the error says what is wrong and how to
    /// write it instead.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let shown = crate::text::line(entry, 120);
        if let Some(c) = entry.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "`{shown}` contains {}: write the origin alone, such as `https://api.example.com`",
                crate::text::codepoint(c)
            ));
        }
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Err(format!(
                "`{shown}` is not an origin: write the scheme, host and optional port, such as `https://api.example.com`"
            ));
        };
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => {
                return Err(format!("`{shown}`: the scheme must be `http` or `https`"));
            }
        };
        // A lone trailing slash is how many people write an origin; anything more is a path.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '\\']) {
            return Err(format!(
                "`{shown}` has a path, query or fragment: list the origin only (scheme, host and optional port); the plugin may then use any path on it"
            ));
        }
        if rest.contains('@') {
            return Err(format!(
                "`{shown}` has user information (`user@`): list the origin only; lmi never sends credentials to these hosts"
            ));
        }
        let (host, port) = split_port(rest).map_err(|why| format!("`{shown}`: {why}"))?;
        let port = port.unwrap_or(default_port(https));
        let host = if let Some(base) = host.strip_prefix("*.") {
            let base = parse_name(base).map_err(|why| format!("`{shown}`: {why}"))?;
            match base {
                HostPattern::Name(name) if name.contains('.') => HostPattern::Subdomains(name),
                HostPattern::Name(name) => {
                    return Err(format!(
                        "`{shown}`: `*.{name}` would allow every name in a top-level domain: list the domains you need"
                    ));
                }
                _ => {
                    return Err(format!(
                        "`{shown}`: `*.` must be followed by a domain name, not an address"
                    ));
                }
            }
        } else if host == "*" {
            return Err(format!(
                "`{shown}`: `*` alone would allow every host: list each origin, or `*.example.com` for the subdomains of one"
            ));
        } else if host.contains('*') {
            return Err(format!(
                "`{shown}`: `*` may only be the whole leftmost label, as in `https://*.example.com`"
            ));
        } else {
            parse_name(host).map_err(|why| format!("`{shown}`: {why}"))?
        };
        Ok(Self { https, host, port })
    }

    /// Whether a request to `https`/`host`/`port` may go out under this entry. `host` is in
    /// the form [`RequestHost::parse`] gives.
    pub fn matches(&self, https: bool, host: &RequestHost, port: u16) -> bool {
        if self.https != https || self.port != port {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Name(a), RequestHost::Name(b)) => a == b,
            (HostPattern::Subdomains(base), RequestHost::Name(b)) => b
                .strip_suffix(base.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (HostPattern::Address(a), RequestHost::Address(b)) => a == b,
            _ => false,
        }
    }

    /// A literal address: lmi connects to it as given, private or not, since the user
    /// granted exactly that address.
    pub fn is_literal_address(&self) -> bool {
        matches!(self.host, HostPattern::Address(_))
    }
}

/// The canonical form, as manifests are rewritten to and prompts show it.
impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.https { "https://" } else { "http://" })?;
        match &self.host {
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Subdomains(base) => write!(f, "*.{base}")?,
            HostPattern::Address(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Address(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        if self.port != default_port(self.https) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// The host of a request, parsed exactly as entries are, so that `127.1`, `0x7f.0.0.1` and
/// `127.0.0.1` are one address and `API.Example.com` is `api.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestHost {
    Name(String),
    Address(IpAddr),
}

impl RequestHost {
    pub fn parse(host: &str) -> Option<Self> {
        match parse_name(host).ok()? {
            HostPattern::Name(name) => Some(RequestHost::Name(name)),
            HostPattern::Address(ip) => Some(RequestHost::Address(ip)),
            HostPattern::Subdomains(_) => None,
        }
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_port(rest: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if rest.starts_with('[') {
        match rest.find(']') {
            Some(end) => {
                let (host, after) = rest.split_at(end + 1);
                match after {
                    "" => (host, None),
                    _ => match after.strip_prefix(':') {
                        Some(port) => (host, Some(port)),
                        None => return Err("text after the IPv6 address".into()),
                    },
                }
            }
            None => return Err("an IPv6 address needs its closing `]`".into()),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .filter(|&p| p != 0)
                .ok_or_else(|| {
                    format!(
                        "the port `{}` is not a number from 1 to 65535",
                        crate::text::line(p, 20)
                    )
                })?,
        ),
    };
    if host.is_empty() {
        return Err("there is no host".into());
    }
    Ok((host, port))
}

/// A host name or address, as URLs read it (WHATWG: lowercase, IDNA to `xn--`, `127.1` is
/// an IPv4 address); a name ending in `.` is refused, since it would be another string for
/// the same name.
fn parse_name(host: &str) -> Result<HostPattern, String> {
    let shown = crate::text::line(host, 80);
    match url::Host::parse(host) {
        Ok(url::Host::Domain(name)) => {
            if name.is_empty() || name.ends_with('.') || name.split('.').any(str::is_empty) {
                Err(format!(
                    "`{shown}` has an empty label (write it without the final or doubled `.`)"
                ))
            } else if name.len() > 253 {
                Err(format!(
                    "the host name `{shown}` is longer than 253 characters"
                ))
            } else if name.contains('*') {
                Err(
                    "`*` may only be the whole leftmost label, as in `https://*.example.com`"
                        .to_owned(),
                )
            } else {
                Ok(HostPattern::Name(name))
            }
        }
        Ok(url::Host::Ipv4(ip)) => Ok(HostPattern::Address(IpAddr::V4(ip))),
        Ok(url::Host::Ipv6(ip)) => Ok(HostPattern::Address(IpAddr::V6(ip))),
        Err(e) => Err(format!("`{shown}` is not a valid host name ({e})")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn canonical(entry: &str) -> String {
        AllowedHost::parse(entry)
            .unwrap_or_else(|e| panic!("{entry}: {e}"))
            .to_string()
    }

    #[test]
    fn entries_are_written_in_one_canonical_form() {
        for (entry, want) in [
            ("https://api.example.com", "https://api.example.com"),
            ("HTTPS://API.Example.COM/", "https://api.example.com"),
            ("https://api.example.com:443", "https://api.example.com"),
            ("http://api.example.com:443", "http://api.example.com:443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[0:0::1]", "http://[::1]"),
            ("https://*.Example.com", "https://*.example.com"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(canonical(entry), want, "{entry}");
            assert_eq!(canonical(want), want, "{want} is stable");
        }
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_the_reason() {
        for (entry, says) in [
            ("api.example.com", "is not an origin"),
            ("ftp://example.com", "must be `http` or `https`"),
            ("https://example.com/v1", "has a path"),
            ("https://example.com?x=1", "has a path, query"),
            ("https://user:pw@example.com", "user information"),
            ("https://example.com:0", "not a number from 1 to 65535"),
            ("https://example.com:65536", "not a number from 1 to 65535"),
            ("https://example.com:", "not a number"),
            ("https://example.com:+80", "not a number"),
            ("https://", "there is no host"),
            ("https://*", "`*` alone would allow every host"),
            ("https://*.com", "top-level domain"),
            ("https://a.*.example.com", "whole leftmost label"),
            ("https://*example.com", "whole leftmost label"),
            ("https://**.example.com", "whole leftmost label"),
            ("https://*.127.0.0.1", "not an address"),
            ("https://example.com.", "empty label"),
            ("https://exa mple.com", "U+0020"),
            ("https://[::1", "closing `]`"),
            ("https://ex%41mple.com\u{1b}", "U+001B"),
        ] {
            let e = AllowedHost::parse(entry).unwrap_err();
            assert!(e.contains(says), "{entry}: {e}");
        }
    }

    #[test]
    fn a_wildcard_matches_subdomains_only() {
        let entry = AllowedHost::parse("https://*.example.com").unwrap();
        let host = |h: &str| RequestHost::parse(h).unwrap();
        assert!(entry.matches(true, &host("api.example.com"), 443));
        assert!(entry.matches(true, &host("a.b.Example.com"), 443));
        assert!(!entry.matches(true, &host("example.com"), 443));
        assert!(!entry.matches(true, &host("evil-example.com"), 443));
        assert!(!entry.matches(true, &host("example.com.evil.net"), 443));
        assert!(!entry.matches(true, &host("api.example.com"), 8443));
        assert!(!entry.matches(false, &host("api.example.com"), 443));
    }

    #[test]
    fn a_request_matches_by_scheme_host_and_port() {
        let entry = AllowedHost::parse("http://127.0.0.1:8080").unwrap();
        let host = |h: &str| RequestHost::parse(h).unwrap();
        assert!(entry.matches(false, &host("127.0.0.1"), 8080));
        assert!(entry.matches(false, &host("127.1"), 8080));
        assert!(!entry.matches(false, &host("127.0.0.1"), 8081));
        assert!(!entry.matches(true, &host("127.0.0.1"), 8080));
        assert!(!entry.matches(false, &host("localhost"), 8080));
        assert!(entry.is_literal_address());
        let name = AllowedHost::parse("http://localhost:8080").unwrap();
        assert!(name.matches(false, &host("LOCALHOST"), 8080));
        assert!(!name.matches(false, &host("127.0.0.1"), 8080));
        assert!(!name.is_literal_address());
    }
}
