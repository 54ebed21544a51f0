//! One audit line: typed fields only, each made safe on its own (no control characters,
//! bounded, registered secrets masked), serialised as one JSON object. There is no field a
//! formatted message could reach, and none for a token, a header, a body or a query.

use serde::Serialize;

/// Longest path kept (characters, after the cut at `?`/`#`).
pub const PATH_LIMIT: usize = 256;
/// Longest name kept: plugin, version, command, environment, service.
const NAME_LIMIT: usize = 64;
/// An OIDC `sub` is at most 255 bytes (lmi refuses longer ones at login).
const SUBJECT_LIMIT: usize = 255;

/// Who used (or was refused) a credential.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    plugin: Option<(&'a str, &'a str)>,
    command: &'a str,
}

impl<'a> Actor<'a> {
    /// A plugin's command: the plugin's name and version (from lmi's copy of its manifest)
    /// and the command word it was run as.
    pub fn plugin(name: &'a str, version: &'a str, command: &'a str) -> Self {
        Self {
            plugin: Some((name, version)),
            command,
        }
    }

    /// One of lmi's own commands (`auth token`).
    pub fn lmi(command: &'a str) -> Self {
        Self {
            plugin: None,
            command,
        }
    }
}

/// What was used.
#[derive(Debug, Clone, Copy)]
pub enum Use<'a> {
    /// A service token handed out: to a plugin (`get-token`) or by `lmi auth token`.
    /// `service`: a named service, `None` the environment's default one.
    Token { service: Option<&'a str> },
    /// A request lmi sent to a service with its token, for a plugin (`send-request`). `path`
    /// is the plugin's, relative to the service URL; it is cut at `?` and `#` here. `status`:
    /// the service's answer, if one came.
    ServiceRequest {
        service: Option<&'a str>,
        method: &'static str,
        path: &'a str,
        status: Option<u16>,
    },
    /// A whole command, refused by an environment policy before it ran (see
    /// [`super::refused`]).
    Command,
}

/// Why lmi refused a credential use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The plugin lacks the permission, the environment or the named service in its grants
    /// (`HostState`'s gate); the plugin got `denied`.
    Permission,
    /// The environment (`LMI_REQUIRE_SSO`) or the command (`requires_sso`) needs a valid SSO
    /// session, and there is none.
    SsoRequired,
    /// The user is in none of the environment's `LMI_SSO_ALLOWED_GROUPS`.
    Group,
    /// A protected environment's confirmation was declined, or could not be asked (no
    /// terminal, no `--yes`).
    NotConfirmed,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Permission => "permission",
            Refusal::SsoRequired => "sso-required",
            Refusal::Group => "group",
            Refusal::NotConfirmed => "not-confirmed",
        }
    }
}

/// How a use that lmi allowed failed: the contract's `host-error` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotConfigured,
    AuthFailed,
    Network,
    InvalidRequest,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotConfigured => "not-configured",
            ErrorKind::AuthFailed => "auth-failed",
            ErrorKind::Network => "network",
            ErrorKind::InvalidRequest => "invalid-request",
        }
    }

    /// The kind a plugin gets for `e` (`runtime::host::host_error` maps the same way; a unit
    /// test there keeps the two in step).
    pub fn of_auth(e: &crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        use crate::exit::{Exit, ExitStatus};
        match e {
            AuthError::Config(_) => ErrorKind::NotConfigured,
            AuthError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            other if other.exit() == Exit::Auth => ErrorKind::AuthFailed,
            _ => ErrorKind::Network,
        }
    }
}

/// How the use ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Refused(Refusal),
    Failed(ErrorKind),
}

/// The JSON object of one line. `Option<Option<_>>` fields are left out when they do not
/// belong to the use (outer `None`) and written `null` when they do but are empty.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    lmi: &'static str,
    pid: u32,
    by: &'static str,
    plugin: Option<String>,
    version: Option<String>,
    command: String,
    env: Option<String>,
    sso_subject: Option<String>,
    #[serde(rename = "use")]
    used: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Option<u16>>,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// Text from outside lmi's code (a plugin's path or service name, a manifest's names, the
/// provider's subject) as it may appear in the trail: registered secrets masked, one line
/// without control or formatting characters, at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    crate::text::line(&crate::secrets::mask(text), max)
}

/// A request path as the trail keeps it: up to the first `?` or `#` (a query may carry an
/// `api_key` under any name), then [`clean`]ed to [`PATH_LIMIT`] characters.
pub fn path(path: &str) -> String {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    clean(&path[..end], PATH_LIMIT)
}

/// The line for one use, `\n`-terminated.
pub(super) fn line(
    actor: &Actor<'_>,
    env: Option<&str>,
    subject: Option<&str>,
    used: Use<'_>,
    outcome: Outcome,
) -> Vec<u8> {
    let name = |s: &str| clean(s, NAME_LIMIT);
    let (used_name, service, method, req_path, status) = match used {
        Use::Token { service } => ("token", Some(service.map(name)), None, None, None),
        Use::ServiceRequest {
            service,
            method,
            path: p,
            status,
        } => (
            "service-request",
            Some(service.map(name)),
            Some(method),
            Some(path(p)),
            Some(status),
        ),
        Use::Command => ("command", None, None, None, None),
    };
    let (outcome_name, reason, error) = match outcome {
        Outcome::Ok => ("ok", None, None),
        Outcome::Refused(r) => (
            "refused",
            Some(r.as_str()),
            // The plugin's own call was answered `denied`; a policy refused the command
            // before it ran.
            (r == Refusal::Permission).then_some("denied"),
        ),
        Outcome::Failed(kind) => ("failed", None, Some(kind.as_str())),
    };
    let record = Line {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        lmi: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        by: if actor.plugin.is_some() {
            "plugin"
        } else {
            "lmi"
        },
        plugin: actor.plugin.map(|(n, _)| name(n)),
        version: actor.plugin.map(|(_, v)| name(v)).filter(|v| !v.is_empty()),
        command: name(actor.command),
        env: env.map(name),
        sso_subject: subject.map(|s| clean(s, SUBJECT_LIMIT)),
        used: used_name,
        service,
        method,
        path: req_path,
        status,
        outcome: outcome_name,
        reason,
        error,
    };
    // Serialising plain strings and numbers cannot fail; should it, the line says so
    // rather than vanish.
    let mut bytes = serde_json::to_vec(&record)
        .unwrap_or_else(|_| br#"{"error":"unserialisable audit record"}"#.to_vec());
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> serde_json::Value {
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn a_request_line_has_the_path_without_query_or_fragment() {
        let bytes = line(
            &Actor::plugin("api", "0.3.0", "api"),
            Some("dev"),
            Some("alice"),
            Use::ServiceRequest {
                service: None,
                method: "GET",
                path: "v1/items?api_key=k-91&page=2",
                status: Some(200),
            },
            Outcome::Ok,
        );
        let v = parse(&bytes);
        assert_eq!(v["by"], "plugin");
        assert_eq!(v["plugin"], "api");
        assert_eq!(v["version"], "0.3.0");
        assert_eq!(v["env"], "dev");
        assert_eq!(v["sso_subject"], "alice");
        assert_eq!(v["use"], "service-request");
        assert_eq!(v["service"], serde_json::Value::Null);
        assert!(v.as_object().unwrap().contains_key("service"));
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "v1/items");
        assert_eq!(v["status"], 200);
        assert_eq!(v["outcome"], "ok");
        assert!(!String::from_utf8_lossy(&bytes).contains("k-91"));
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(path("a/b#frag?x"), "a/b");
    }

    #[test]
    fn hostile_text_is_stripped_bounded_and_masked() {
        crate::secrets::register_secret("sekrit-path-7f3a");
        let long = format!(
            "v1/\u{1b}]52;c;aGk=\u{7}/sekrit-path-7f3a/{}",
            "x".repeat(5000)
        );
        let bytes = line(
            &Actor::plugin("api\u{1b}[2J", "1.0.0", "api"),
            Some("dev"),
            None,
            Use::ServiceRequest {
                service: Some("bill\ning"),
                method: "POST",
                path: &long,
                status: None,
            },
            Outcome::Failed(ErrorKind::Network),
        );
        let text = String::from_utf8(bytes.clone()).unwrap();
        // The worst case, every field at its bound in 4-byte characters, stays under 4 KiB.
        let wide = "\u{1F600}".repeat(5000);
        let widest = line(
            &Actor::plugin(&wide, &wide, &wide),
            Some(&wide),
            Some(&wide),
            Use::ServiceRequest {
                service: Some(&wide),
                method: "DELETE",
                path: &wide,
                status: Some(599),
            },
            Outcome::Failed(ErrorKind::InvalidRequest),
        );
        assert!(widest.len() < 4096, "{} bytes", widest.len());
        assert!(!text.contains("sekrit-path-7f3a"), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains("\\u001b"),
            "{text}"
        );
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        let v = parse(&bytes);
        assert_eq!(v["status"], serde_json::Value::Null);
        assert_eq!(v["error"], "network");
        assert_eq!(v["service"], "bill ing");
    }

    #[test]
    fn refusals_say_why_and_lmis_own_commands_name_no_plugin() {
        let v = parse(&line(
            &Actor::plugin("hostile", "0.1.0", "token"),
            Some("prod"),
            None,
            Use::Token { service: None },
            Outcome::Refused(Refusal::Permission),
        ));
        assert_eq!(
            (&v["outcome"], &v["reason"], &v["error"]),
            (
                &serde_json::json!("refused"),
                &serde_json::json!("permission"),
                &serde_json::json!("denied")
            )
        );
        let v = parse(&line(
            &Actor::lmi("auth token"),
            Some("prod"),
            None,
            Use::Command,
            Outcome::Refused(Refusal::SsoRequired),
        ));
        assert_eq!(v["by"], "lmi");
        assert_eq!(v["plugin"], serde_json::Value::Null);
        assert_eq!(v["use"], "command");
        assert_eq!(v["reason"], "sso-required");
        assert!(v.get("error").is_none() && v.get("service").is_none());
    }
}
