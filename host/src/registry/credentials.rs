//! Registry credentials, from the user's docker configuration: `$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`, as `docker login`, `oras login` and `helm registry login`
//! write it. lmi reads `auths` (`auth` = base64 `user:password`, or `username` + `password`)
//! and nothing else: it runs no credential helper (`credsStore`, `credHelpers`) and keeps no
//! registry credential of its own. No entry for the registry means anonymous access.
//!
//! The file is the user's, but still read bounded and parsed strictly; the password becomes a
//! [`Secret`] the moment it is read, so it is scrubbed from every output.

use std::path::PathBuf;

use base64::Engine as _;

use crate::secrets::Secret;

/// Larger than any docker configuration (a few KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// What lmi presents to one registry.
#[derive(Debug, Clone)]
pub enum Credentials {
    Anonymous,
    Basic {
        username: String,
        password: Secret,
        /// The file they came from, for messages.
        from: PathBuf,
    },
}

impl Credentials {
    /// `Basic <base64>`, for the registry or its token service.
    pub fn basic_header(&self) -> Option<Secret> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic {
                username, password, ..
            } => Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()))
            ))),
        }
    }

    /// Where they came from, for messages (`anonymous` or the file).
    pub fn describe(&self) -> String {
        match self {
            Credentials::Anonymous => "anonymous access".to_owned(),
            Credentials::Basic { username, from, .. } => {
                format!("user `{username}` from {}", from.display())
            }
        }
    }
}

/// The docker configuration file lmi reads.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::home_dir().map(|h| h.join(".docker").join("config.json")),
    }
}

/// The credentials for `registry` (`HOST[:PORT]`). A missing file or entry is anonymous; an
/// unreadable or malformed file is an error naming it.
pub fn for_registry(registry: &str) -> Result<Credentials, String> {
    let Some(path) = config_path() else {
        return Ok(Credentials::Anonymous);
    };
    let bytes = match crate::fsutil::read_user_file(&path, MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    parse(&bytes, registry, path)
}

fn parse(bytes: &[u8], registry: &str, path: PathBuf) -> Result<Credentials, String> {
    let bad = |why: &str| {
        format!(
            "{} is not a docker configuration lmi can read: {why}",
            path.display()
        )
    };
    let config: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    let Some(auths) = config.get("auths") else {
        return Ok(Credentials::Anonymous);
    };
    let auths = auths
        .as_object()
        .ok_or_else(|| bad("`auths` is not an object"))?;
    let Some(entry) = auths
        .iter()
        .find(|(key, _)| normalize_key(key).eq_ignore_ascii_case(registry))
        .map(|(_, v)| v)
    else {
        return Ok(Credentials::Anonymous);
    };
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let (username, password) = if let Some(auth) = field("auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad(&format!("the `auth` of `{registry}` is not base64")))?;
        let decoded = Secret::new(
            String::from_utf8(decoded)
                .map_err(|_| bad(&format!("the `auth` of `{registry}` is not UTF-8")))?,
        );
        let (user, pass) = decoded.expose().split_once(':').ok_or_else(|| {
            bad(&format!(
                "the `auth` of `{registry}` is not `user:password`"
            ))
        })?;
        (user.to_owned(), Secret::new(pass.to_owned()))
    } else if let (Some(user), Some(pass)) = (field("username"), field("password")) {
        (user.to_owned(), Secret::new(pass.to_owned()))
    } else {
        // An empty entry: the credentials are in a helper lmi does not run.
        return Ok(Credentials::Anonymous);
    };
    if username.chars().any(char::is_control) {
        return Err(bad(&format!(
            "the user name for `{registry}` holds a control character"
        )));
    }
    Ok(Credentials::Basic {
        username,
        password,
        from: path,
    })
}

/// `https://host:5000/v1/` and `host:5000` name the same registry.
fn normalize_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn auths_are_found_by_host_and_port_and_never_shown() {
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw-7d1c3b");
        let config = format!(
            r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}},"other.example":{{"username":"bob","password":"pw-2"}}}}}}"#
        );
        let c = parse(config.as_bytes(), "reg.example:5000", "c.json".into()).unwrap();
        let Credentials::Basic {
            username, password, ..
        } = &c
        else {
            panic!("{c:?}");
        };
        assert_eq!(
            (username.as_str(), password.expose()),
            ("alice", "pw-7d1c3b")
        );
        assert!(!format!("{c:?}").contains("pw-7d1c3b"));
        assert!(matches!(
            parse(config.as_bytes(), "bob.example", "c.json".into()).unwrap(),
            Credentials::Anonymous
        ));
        assert!(matches!(
            parse(config.as_bytes(), "other.example", "c.json".into()).unwrap(),
            Credentials::Basic { .. }
        ));
        assert!(parse(b"{\"auths\":[]}", "x", "c.json".into()).is_err());
        assert!(parse(b"not json", "x", "c.json".into()).is_err());
    }
}
