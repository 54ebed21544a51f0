//! `lmi credential git get|store|erase`: git's credential-helper protocol (gitcredentials(7)).
//!
//! git writes `key=value` lines (`protocol`, `host`, `path`, `capability[]`, `wwwauth[]`…)
//! ending with a blank line or the end of input. For `get`, a host an environment claims
//! ([`super::hosts`]) is answered with that environment's service token:
//! `username=oauth2`, `password=<token>` and `password_expiry_utc=<unix seconds>`; when git
//! announces `capability[]=authtype` (git 2.46+), `authtype=Bearer` and `credential=<token>`
//! instead, marked `ephemeral=1` (git keeps it in no other helper). Any other host gets an
//! empty answer, so git asks its next helper. `store` and `erase` read their input and keep
//! or delete nothing (lmi's tokens live in its own cache); other actions are ignored, as git
//! asks of helpers.

use std::process::ExitCode;

use super::core::{self, Chosen};
use super::hosts::{self, Target};
use super::input;
use crate::commands::{CliError, Ctx};
use crate::output;

/// The user name git sends with the token, as GitLab and others take OAuth tokens over HTTPS.
pub const USERNAME: &str = "oauth2";
const COMMAND: &str = "credential git";

pub fn run(ctx: &Ctx, action: &str) -> Result<ExitCode, CliError> {
    let lines = input::read_lines("lmi credential git")?;
    if action != "get" {
        // store, erase, and whatever later gits add: nothing to keep.
        return Ok(ExitCode::SUCCESS);
    }
    let request = Request::parse(&lines);
    let Some(target) = request.target() else {
        return Ok(ExitCode::SUCCESS);
    };
    let Some(claim) = hosts::owner(ctx, &target, core::named_env(ctx))? else {
        tracing::info!(
            "credential git: no environment claims {}",
            target.authority()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let chosen = if core::named_env(ctx).is_some() {
        Chosen::Named
    } else {
        Chosen::ByHost
    };
    let handed = core::service_token(ctx, COMMAND, &claim.env, chosen, claim.service.as_deref())?;
    tracing::info!(
        "credential git: the token of environment `{}` for {} ({})",
        handed.env,
        target.authority(),
        claim.via
    );
    output::line(answer(&handed, request.authtype));
    Ok(ExitCode::SUCCESS)
}

/// What git asked.
#[derive(Debug, Default)]
struct Request {
    protocol: Option<String>,
    host: Option<String>,
    /// git announced `capability[]=authtype`.
    authtype: bool,
}

impl Request {
    /// The lines up to the first blank one; unknown keys are ignored, as the protocol says.
    fn parse(lines: &[String]) -> Self {
        let mut request = Request::default();
        for line in lines.iter().take_while(|l| !l.is_empty()) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "protocol" => request.protocol = Some(value.to_owned()),
                "host" => request.host = Some(value.to_owned()),
                "capability[]" if value == "authtype" => request.authtype = true,
                _ => {}
            }
        }
        request
    }

    fn target(&self) -> Option<Target> {
        let (protocol, host) = (self.protocol.as_deref()?, self.host.as_deref()?);
        // Only the two schemes lmi answers, and a host that is a name or a bracketed address
        // with an optional port: nothing a caller of `git credential fill` could use to make
        // `protocol://host` parse as another host.
        let host_chars =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
        if !matches!(protocol, "https" | "http") || host.is_empty() || !host.chars().all(host_chars)
        {
            return None;
        }
        Target::parse(&format!("{protocol}://{host}"), protocol)
    }
}

/// The answer's lines (one string, lines joined by `\n`).
fn answer(handed: &core::Handed, authtype: bool) -> String {
    let mut lines = Vec::new();
    if authtype {
        lines.push("capability[]=authtype".to_owned());
        lines.push("authtype=Bearer".to_owned());
        lines.push(format!("credential={}", handed.token.expose()));
        lines.push("ephemeral=1".to_owned());
    } else {
        lines.push(format!("username={USERNAME}"));
        lines.push(format!("password={}", handed.token.expose()));
    }
    if let Some(at) = handed.expires_at {
        lines.push(format!("password_expiry_utc={at}"));
    }
    lines.join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_request_names_its_target_and_capabilities_until_the_blank_line() {
        let r = Request::parse(&lines(
            "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=git.example.com:8443\npath=a/b\n\nhost=evil.example",
        ));
        assert!(r.authtype);
        let t = r.target().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("git.example.com", 8443));
        // A host with a user or a path in it is no target.
        for host in ["u@git.example.com", "git.example.com/x", ""] {
            let r = Request::parse(&lines(&format!("protocol=https\nhost={host}")));
            assert!(r.target().is_none(), "{host}");
        }
    }
}
