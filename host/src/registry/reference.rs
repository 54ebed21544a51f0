//! `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`: where a plugin lives in a registry.
//!
//! Parsed strictly to the distribution spec's grammar (lowercase repository path components,
//! tags of at most 128 word characters, `sha256` digests only), so nothing a user pastes can
//! put a `..`, a query or a second host into the URLs lmi builds from it. A registry on
//! loopback (`localhost`, `127.0.0.0/8`, `[::1]`) is spoken to over plain HTTP, as docker and
//! oras do; every other registry over HTTPS only.

use std::fmt;

use crate::text;

/// One parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `HOST[:PORT]`, lowercase, as the URL carries it (`[::1]:5000`).
    pub registry: String,
    /// `team/plugins/hello`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
    /// Plain HTTP: only ever a loopback registry.
    pub plain_http: bool,
}

pub const SCHEME: &str = "oci://";

impl Reference {
    /// Parses `oci://…`; the error says what is wrong and how to write it.
    pub fn parse(input: &str) -> Result<Self, String> {
        let shown = text::line(input, 200);
        let example = "write oci://HOST[:PORT]/REPOSITORY:TAG or oci://HOST/REPOSITORY@sha256:…";
        let Some(rest) = input.strip_prefix(SCHEME) else {
            return Err(format!("`{shown}` is not a registry reference: {example}"));
        };
        if let Some(c) = rest.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{shown}` contains {}", text::codepoint(c)));
        }
        let Some((host, path)) = rest.split_once('/') else {
            return Err(format!("`{shown}` names no repository: {example}"));
        };
        if host.contains(['?', '#']) {
            return Err(format!(
                "`{shown}` has a query or fragment in its host: {example}"
            ));
        }
        if host.contains('@') {
            return Err(format!(
                "`{shown}` carries user information: lmi takes registry credentials from your docker configuration (`docker login {}`), never from a reference",
                host.rsplit('@').next().unwrap_or_default()
            ));
        }
        // The host and port, checked as a URL would check them.
        let url = url::Url::parse(&format!("https://{host}/"))
            .ok()
            .filter(|u| u.path() == "/" && u.username().is_empty() && u.password().is_none())
            .ok_or_else(|| format!("`{shown}`: `{}` is not a host name", text::line(host, 80)))?;
        let registry = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return Err(format!("`{shown}` names no host: {example}")),
        };
        let plain_http = crate::settings::is_loopback(&url);

        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (
                p,
                Some(parse_digest(d).map_err(|e| format!("`{shown}`: {e}"))?),
            ),
            None => (path, None),
        };
        // A tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t)),
            _ => (path, None),
        };
        check_repository(repository).map_err(|e| format!("`{shown}`: {e}"))?;
        if let Some(tag) = tag {
            check_tag(tag).map_err(|e| format!("`{shown}`: {e}"))?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(format!(
                "`{shown}` names no tag or digest: add `:TAG` (such as `:1.0.0`) or `@sha256:…`"
            ));
        }
        Ok(Self {
            registry,
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
            plain_http,
        })
    }

    /// `https://HOST[:PORT]` (or `http://` on loopback): where `/v2/` lives.
    pub fn base_url(&self) -> url::Url {
        let scheme = if self.plain_http { "http" } else { "https" };
        // The parts were checked when parsed.
        url::Url::parse(&format!("{scheme}://{}/", self.registry))
            .unwrap_or_else(|_| unreachable_url())
    }

    /// The same repository at another tag (what `upgrade` moves to).
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// What a manifest request names: the digest when there is one, else the tag.
    pub fn manifest_name(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `oci://HOST/REPOSITORY`, without tag or digest.
    pub fn repository_url(&self) -> String {
        format!("{SCHEME}{}/{}", self.registry, self.repository)
    }
}

fn unreachable_url() -> url::Url {
    #[allow(clippy::unwrap_used)]
    url::Url::parse("https://invalid.invalid/").unwrap()
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository_url())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:<64 lowercase hex>`: the only digest lmi accepts or writes.
pub fn parse_digest(d: &str) -> Result<String, String> {
    let hex = d.strip_prefix("sha256:").ok_or_else(|| {
        format!(
            "digest `{}` is not `sha256:<64 hex digits>`",
            text::line(d, 80)
        )
    })?;
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "digest `{}` is not `sha256:<64 lowercase hex digits>`",
            text::line(d, 80)
        ));
    }
    Ok(d.to_owned())
}

/// The digest of `bytes`, as registries name blobs.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` components joined by `/`, at most 255 characters.
fn check_repository(repo: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "repository `{}` is not valid: lowercase letters and digits, separated by `.`, `_`, `__` or `-`, in components joined by `/`",
            text::line(repo, 120)
        )
    };
    if repo.is_empty() || repo.len() > 255 {
        return Err(bad());
    }
    for component in repo.split('/') {
        let bytes = component.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(&bytes[0]) || !alnum(&bytes[bytes.len() - 1]) {
            return Err(bad());
        }
        // Between two letters or digits: nothing, `.`, `_`, `__`, or a run of `-`.
        let separator_ok =
            |run: &str| matches!(run, "." | "_" | "__") || run.bytes().all(|s| s == b'-');
        let mut run = String::new();
        for &b in bytes {
            if alnum(&b) {
                if !separator_ok(&run) {
                    return Err(bad());
                }
                run.clear();
            } else if matches!(b, b'.' | b'_' | b'-') {
                run.push(b as char);
            } else {
                return Err(bad());
            }
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag `{}` is not valid: letters, digits, `_`, `.` and `-`, at most 128, not starting with `.` or `-`",
            text::line(tag, 140)
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_strictly() {
        let r = Reference::parse("oci://127.0.0.1:5000/team/hello:1.2.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/hello");
        assert_eq!(r.tag.as_deref(), Some("1.2.0"));
        assert!(r.plain_http);
        assert_eq!(r.base_url().as_str(), "http://127.0.0.1:5000/");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("oci://Registry.Example.com/a/b@{d}")).unwrap();
        assert_eq!(r.registry, "registry.example.com");
        assert!(!r.plain_http);
        assert_eq!(r.manifest_name(), d);
        assert_eq!(r.base_url().as_str(), "https://registry.example.com/");
        let r = Reference::parse(&format!("oci://[::1]:5000/a_b/c-d.e:v1@{d}")).unwrap();
        assert!(r.plain_http);
        assert_eq!(r.to_string(), format!("oci://[::1]:5000/a_b/c-d.e:v1@{d}"));
        for bad in [
            "https://r.example/a:1",
            "oci://r.example/a",
            "oci://r.example/A:1",
            "oci://r.example/a/../b:1",
            "oci://r.example/a//b:1",
            "oci://r.example/a:.x",
            "oci://r.example/a:1@sha256:ab",
            "oci://r.example/a:1@sha512:ab",
            "oci://user:pw@r.example/a:1",
            "oci://r.example/a b:1",
            "oci://r.example/a?x=1:1",
            "oci://r.example/a#f:1",
            "oci://r.example:99999/a:1",
            "oci:///a:1",
            "oci://r.example/-a:1",
            "oci://r.example/a.-b:1",
            "oci://r.example?x/a:1",
            "oci://r.example#x/a:1",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
