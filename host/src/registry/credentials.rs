//! Registry credentials, from the user's docker configuration: `$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`, as `docker login`, `oras login` and `helm registry login`
//! write it, looked up as docker does: the registry's `credHelpers` entry, else the
//! `credsStore`, else the registry's `auths` entry (`auth` = base64 `user:password`, or
//! `username` + `password`).
//! A helper is docker's own protocol: `docker-credential-<name> get` with the registry on
//! stdin, answering `{"ServerURL","Username","Secret"}`; it gets a deadline and a bounded
//! answer like any other wait. lmi keeps no registry credential of its own. Nothing found
//! means anonymous access.
//!
//! The file is the user's, but still read bounded and parsed strictly; the password becomes a
//! [`Secret`] the moment it is read, so it is scrubbed from every output.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    #[allow(clippy::disallowed_methods)] // docker's own variable, read as docker reads it
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::home_dir().map(|h| h.join(".docker").join("config.json")),
    }
}

/// The credentials for `registry` (`HOST[:PORT]`); a credential helper gets `deadline`. A
/// missing file or entry is anonymous; an unreadable or malformed file, or a helper that
/// fails, is an error naming it.
pub fn for_registry(registry: &str, deadline: Duration) -> Result<Credentials, String> {
    let Some(path) = config_path() else {
        return Ok(Credentials::Anonymous);
    };
    let bytes = match crate::fsutil::read_user_file(&path, MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    match parse(&bytes, registry, path.clone())? {
        Found::Credentials(c) => Ok(c),
        Found::Helper(name) => from_helper(&name, registry, &path, deadline),
    }
}

/// What the configuration holds for a registry.
#[derive(Debug)]
enum Found {
    Credentials(Credentials),
    /// The name of the `docker-credential-<name>` program that keeps them.
    Helper(String),
}

fn parse(bytes: &[u8], registry: &str, path: PathBuf) -> Result<Found, String> {
    let bad = |why: &str| {
        format!(
            "{} is not a docker configuration lmi can read: {why}",
            path.display()
        )
    };
    let config: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    let helper = |name: Option<&serde_json::Value>| -> Result<Option<Found>, String> {
        match name.map(|v| v.as_str()) {
            None => Ok(None),
            Some(Some(n)) if is_helper_name(n) => Ok(Some(Found::Helper(n.to_owned()))),
            Some(_) => Err(bad(
                "a credential helper's name is not a plain program name",
            )),
        }
    };
    for table in ["auths", "credHelpers"] {
        if config.get(table).is_some_and(|t| !t.is_object()) {
            return Err(bad(&format!("`{table}` is not an object")));
        }
    }
    let by_registry = |table: &str| {
        config.get(table).and_then(|t| t.as_object()).and_then(|t| {
            t.iter()
                .find(|(key, _)| normalize_key(key).eq_ignore_ascii_case(registry))
                .map(|(_, v)| v)
        })
    };
    // docker's order: the registry's own helper, else the store for every registry, else
    // the file's `auths`.
    if let Some(found) = helper(by_registry("credHelpers"))? {
        return Ok(found);
    }
    if let Some(found) = helper(config.get("credsStore").filter(|v| v.as_str() != Some("")))? {
        return Ok(found);
    }
    let anonymous = Found::Credentials(Credentials::Anonymous);
    let Some(entry) = by_registry("auths") else {
        return Ok(anonymous);
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
    } else if field("identitytoken").is_some() {
        return Err(bad(&format!(
            "the entry for `{registry}` holds an identity token, which lmi does not use: log in with a user name and a password or access token"
        )));
    } else {
        return Ok(anonymous);
    };
    if username.chars().any(char::is_control) {
        return Err(bad(&format!(
            "the user name for `{registry}` holds a control character"
        )));
    }
    Ok(Found::Credentials(Credentials::Basic {
        username,
        password,
        from: path,
    }))
}

/// A helper is named, never a path: `docker-credential-<name>` is looked up on `PATH`.
fn is_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The largest answer read from a credential helper.
const MAX_HELPER_ANSWER: u64 = 64 * 1024;

/// Asks `docker-credential-<name> get` for `registry`'s credentials, within `deadline`.
fn from_helper(
    name: &str,
    registry: &str,
    config: &Path,
    deadline: Duration,
) -> Result<Credentials, String> {
    let program = format!("docker-credential-{name}");
    let failed = |why: String| {
        format!(
            "{program} (the credential helper {} names for {registry}) {why}",
            config.display()
        )
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(format!("cannot be started: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe: its answer says why.
        let _ = stdin.write_all(registry.as_bytes());
    }
    // The answer arrives over a channel, so a helper that leaves a child holding its stdout
    // open cannot hold lmi past the deadline either.
    let stdout = child.stdout.take();
    let (sender, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(MAX_HELPER_ANSWER + 1).read_to_end(&mut bytes);
        }
        let _ = sender.send(bytes);
    });
    let started = Instant::now();
    let timed_out = || {
        failed(format!(
            "did not answer within {} s (LMI_HTTP_TIMEOUT_SECS)",
            deadline.as_secs()
        ))
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(failed(format!("was lost: {e}"))),
        }
    };
    let answer = answer
        .recv_timeout(deadline.saturating_sub(started.elapsed()))
        .map_err(|_| timed_out())?;
    if answer.len() as u64 > MAX_HELPER_ANSWER {
        return Err(failed("answered more than 64 KiB".into()));
    }
    if !status.success() {
        // docker's helpers say "credentials not found in native keychain": no login there.
        let said = String::from_utf8_lossy(&answer);
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(failed(format!(
            "failed ({status}): {}",
            crate::text::line(&crate::secrets::mask(&said), 200)
        )));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: Secret,
    }
    let parsed: Answer = serde_json::from_slice(&answer)
        .map_err(|_| failed("answered something that is not its JSON".into()))?;
    if parsed.username == "<token>" {
        return Err(failed(
            "keeps an identity token, which lmi does not use: log in with a user name and a password or access token".into(),
        ));
    }
    if parsed.username.chars().any(char::is_control) {
        return Err(failed(
            "answered a user name with a control character".into(),
        ));
    }
    Ok(Credentials::Basic {
        username: parsed.username,
        password: parsed.secret,
        from: PathBuf::from(program),
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
        let Found::Credentials(Credentials::Basic {
            username, password, ..
        }) = &c
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
            Found::Credentials(Credentials::Anonymous)
        ));
        assert!(matches!(
            parse(config.as_bytes(), "other.example", "c.json".into()).unwrap(),
            Found::Credentials(Credentials::Basic { .. })
        ));
        assert!(parse(b"{\"auths\":[]}", "x", "c.json".into()).is_err());
        assert!(parse(b"not json", "x", "c.json".into()).is_err());
    }

    /// docker's order: the registry's helper, else the store, else its `auths` entry; a helper
    /// is a name, never a path.
    #[test]
    fn helpers_are_chosen_as_docker_chooses_them() {
        let helper =
            |json: &str, registry: &str| match parse(json.as_bytes(), registry, "c.json".into()) {
                Ok(Found::Helper(h)) => Some(h),
                _ => None,
            };
        let json = r#"{"credsStore":"desktop","credHelpers":{"ecr.example":"ecr-login"},"auths":{"a.example":{"auth":"dTpw"},"b.example":{}}}"#;
        assert_eq!(helper(json, "ecr.example").as_deref(), Some("ecr-login"));
        assert_eq!(helper(json, "a.example").as_deref(), Some("desktop"));
        assert_eq!(helper(json, "c.example").as_deref(), Some("desktop"));
        let json =
            r#"{"credHelpers":{"ecr.example":"ecr-login"},"auths":{"a.example":{"auth":"dTpw"}}}"#;
        assert_eq!(helper(json, "a.example"), None);
        assert!(matches!(
            parse(json.as_bytes(), "a.example", "c.json".into()),
            Ok(Found::Credentials(Credentials::Basic { .. }))
        ));
        let json = r#"{"auths":{"acr.example":{"identitytoken":"eyJ-opaque"}}}"#;
        assert!(parse(json.as_bytes(), "acr.example", "c.json".into()).is_err());
        for bad in ["../evil", "/bin/sh", "a b", ".hidden"] {
            let json = format!(r#"{{"credsStore":"{bad}"}}"#);
            assert!(
                parse(json.as_bytes(), "x", "c.json".into()).is_err(),
                "{bad}"
            );
        }
    }
}
