//! Which environment a host belongs to, for `credential git` and `credential docker`.
//!
//! An environment claims a host when one of its service URLs (`OAUTH_SERVICE_URL`,
//! `OAUTH_SERVICE_<NAME>_URL`) has that scheme, host and port, or when its `LMI_GIT_HOSTS`
//! lists the `host[:port]` (the port defaulting to the scheme's). The environment's files
//! decide (the env file, else the global file); the process environment counts only for an
//! environment named with `-e`. Only `https`, or `http` to a loopback address, is ever
//! answered: a token never goes to a host in the clear.
//!
//! A host claimed by two environments, or by two services of one environment that have
//! tokens of their own, is refused, naming both: lmi never picks one.

use crate::commands::{CliError, Ctx};
use crate::settings::{EnvConfig, keys};

/// The server a program asks credentials for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    /// Lower-cased; an IPv6 address in brackets, as a URL writes it.
    pub host: String,
    pub port: u16,
}

impl Target {
    /// From a URL-ish `scheme://host[:port]` or `host[:port]` (docker's ServerURL; git's
    /// `protocol` and `host` joined). A path is ignored. `None`: not a server address.
    pub fn parse(raw: &str, default_scheme: &str) -> Option<Self> {
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("{default_scheme}://{raw}")
        };
        let url = url::Url::parse(&with_scheme).ok()?;
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        Some(Self {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// `host[:port]`, the port shown when it is not the scheme's own.
    pub fn authority(&self) -> String {
        match default_port(&self.scheme) {
            Some(p) if p == self.port => self.host.clone(),
            _ => format!("{}:{}", self.host, self.port),
        }
    }

    /// A token may go there: `https`, or `http` to a loopback address.
    pub fn is_safe(&self) -> bool {
        match self.scheme.as_str() {
            "https" => true,
            "http" => url::Url::parse(&format!("http://{}/", self.host))
                .is_ok_and(|u| crate::settings::is_loopback(&u)),
            _ => false,
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// One environment's claim on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub env: String,
    /// The named service whose own token the host gets; `None`: the environment's token.
    pub service: Option<String>,
    /// The key that claims it and where it is set, for messages.
    pub via: String,
}

/// The environment (and service) whose token `target` gets: `None` when no environment
/// claims it (or it is not a safe target); an error when two do, or a file cannot be read.
/// `only`: the environment named with `-e`, the only one looked at.
pub fn owner(ctx: &Ctx, target: &Target, only: Option<&str>) -> Result<Option<Claim>, CliError> {
    if !target.is_safe() {
        tracing::info!(
            "credential helper: {}://{} is not https (or loopback http): no token for it",
            target.scheme,
            target.authority()
        );
        return Ok(None);
    }
    let names = match only {
        Some(env) => vec![env.to_owned()],
        None => ctx.settings.environments().names,
    };
    let mut claims = Vec::new();
    for env in &names {
        let settings = ctx.settings.acting_in(env, only.is_some())?;
        let config = settings.env_config_quietly(env)?;
        if only.is_some() && !config.file_exists() {
            // `-e` naming no environment: the same error a token request would give.
            return Err(config.missing(keys::SERVICE_URL).into());
        }
        claims.extend(claims_of(&config, target));
    }
    claims.dedup_by(|a, b| a.env == b.env && a.service == b.service);
    match claims.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        [a, b, ..] => Err(CliError::usage(format!(
            "{} is claimed twice: by {} ({}) and by {} ({}); lmi does not guess which token to send: run the helper with -e NAME (`!lmi credential git -e NAME`), or remove the host from one of them",
            target.authority(),
            describe(a),
            a.via,
            describe(b),
            b.via
        ))),
    }
}

fn describe(claim: &Claim) -> String {
    match &claim.service {
        Some(s) => format!("the service `{s}` of environment `{}`", claim.env),
        None => format!("environment `{}`", claim.env),
    }
}

/// What `config` claims of `target`, the environment's own token first.
fn claims_of(config: &EnvConfig, target: &Target) -> Vec<Claim> {
    let env = config.name().to_owned();
    let via = |key: &str| {
        let from = config
            .lookup(key)
            .map(|(_, s)| s.to_string())
            .unwrap_or_default();
        format!("{key} in {from}")
    };
    let mut own = Vec::new();
    let mut named = Vec::new();
    for key in config.keys() {
        let service = if key == keys::SERVICE_URL {
            None
        } else if let Some(name) = keys::service_of_url_key(key) {
            Some(name)
        } else {
            continue;
        };
        let Some(url) = config
            .get(key)
            .and_then(|raw| url::Url::parse(raw.trim()).ok())
        else {
            continue;
        };
        let at = Target {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: url.port_or_known_default().unwrap_or(0),
        };
        if at != *target {
            continue;
        }
        // A named service without its own scope or audience is sent the env's own token.
        let own_token = service.as_deref().is_some_and(|s| {
            config
                .get(&keys::service_key(s, keys::SERVICE_SCOPE_SUFFIX))
                .is_some()
                || config
                    .get(&keys::service_key(s, keys::SERVICE_AUDIENCE_SUFFIX))
                    .is_some()
        });
        let claim = Claim {
            env: env.clone(),
            service: service.filter(|_| own_token),
            via: via(key),
        };
        if claim.service.is_some() {
            named.push(claim);
        } else {
            own.push(claim);
        }
    }
    if let Some(raw) = config.get(keys::GIT_HOSTS) {
        match crate::settings::git_hosts(raw) {
            Ok(hosts) => {
                let listed = hosts.iter().any(|(host, port)| {
                    *host == target.host
                        && port.or(default_port(&target.scheme)) == Some(target.port)
                });
                if listed {
                    own.push(Claim {
                        env: env.clone(),
                        service: None,
                        via: via(keys::GIT_HOSTS),
                    });
                }
            }
            Err(why) => tracing::warn!("{}: {why}", via(keys::GIT_HOSTS)),
        }
    }
    // The env's own token answers whenever it claims the host; named services with tokens
    // of their own count only without it.
    if own.is_empty() {
        named
    } else {
        own.truncate(1);
        own
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_default_ports_and_only_safe_ones_get_tokens() {
        let t = Target::parse("registry.example.com", "https").unwrap();
        assert_eq!((t.scheme.as_str(), t.port), ("https", 443));
        assert_eq!(t.authority(), "registry.example.com");
        let t = Target::parse("https://Git.Example.com:8443/org/repo", "https").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("git.example.com", 8443));
        assert_eq!(t.authority(), "git.example.com:8443");
        assert!(t.is_safe());
        assert!(
            !Target::parse("http://git.example.com", "https")
                .unwrap()
                .is_safe()
        );
        assert!(
            Target::parse("http://127.0.0.1:9", "https")
                .unwrap()
                .is_safe()
        );
        assert!(Target::parse("https://u:p@x.example", "https").is_none());
    }
}
