//! `lmi credential docker get|list|store|erase`: docker's credential-helper protocol
//! (`docker-credential-<name>`; lmi answers to that name too, see `cli::main`).
//!
//! `get` reads the server URL on stdin and answers `{"ServerURL","Username","Secret"}` with
//! the service token of the environment that claims the registry's host ([`super::hosts`];
//! a bare `HOST[:PORT]` is `https`), user name `oauth2`. A registry no environment claims is
//! docker's "not found": `credentials not found in native keychain` on stdout, exit 1.
//! `list` maps each claimed host to the user name: for every environment, the hosts of its
//! service URLs and `LMI_GIT_HOSTS` (with `-e`, that environment's alone), without any token.
//! `store` and `erase` read their input and keep or delete nothing.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::core::{self, Chosen};
use super::hosts::{self, Target};
use super::input;
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::settings::keys;

/// docker's own words for a server it has no credentials for (what its helpers print).
pub const NOT_FOUND: &str = "credentials not found in native keychain";
const COMMAND: &str = "credential docker";

pub fn run(ctx: &Ctx, action: &str) -> Result<ExitCode, CliError> {
    match action {
        "get" => get(ctx),
        "list" => list(ctx),
        "store" | "erase" => {
            input::read_lines("lmi credential docker")?;
            Ok(ExitCode::SUCCESS)
        }
        other => Err(CliError::usage(format!(
            "lmi credential docker: unknown action `{}` (get, list, store or erase)",
            crate::text::line(other, 40)
        ))),
    }
}

fn get(ctx: &Ctx) -> Result<ExitCode, CliError> {
    let lines = input::read_lines("lmi credential docker")?;
    let server = lines.first().map(|l| l.trim()).unwrap_or_default();
    let claim = match Target::parse(server, "https") {
        Some(target) if !server.is_empty() => hosts::owner(ctx, &target, core::named_env(ctx))?,
        _ => None,
    };
    let Some(claim) = claim else {
        output::line(NOT_FOUND);
        return Ok(ExitCode::FAILURE);
    };
    let chosen = if core::named_env(ctx).is_some() {
        Chosen::Named
    } else {
        Chosen::ByHost
    };
    let handed = core::service_token(ctx, COMMAND, &claim.env, chosen, claim.service.as_deref())?;
    let answer = serde_json::json!({
        "ServerURL": server,
        "Username": super::git::USERNAME,
        "Secret": handed.token.expose(),
    });
    output::line(answer);
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Ctx) -> Result<ExitCode, CliError> {
    let only = core::named_env(ctx);
    let names = match only {
        Some(env) => vec![env.to_owned()],
        None => ctx.settings.environments().names,
    };
    let mut listed = BTreeMap::new();
    for env in &names {
        let config = ctx
            .settings
            .acting_in(env, only.is_some())?
            .env_config_quietly(env)?;
        let mut servers = Vec::new();
        for key in config.keys() {
            if key == keys::SERVICE_URL || keys::service_of_url_key(key).is_some() {
                servers.extend(
                    config
                        .get(key)
                        .and_then(|u| Target::parse(u.trim(), "https")),
                );
            }
        }
        if let Some(raw) = config.get(keys::GIT_HOSTS) {
            for (host, port) in crate::settings::git_hosts(raw).unwrap_or_default() {
                let authority = port.map_or(host.clone(), |p| format!("{host}:{p}"));
                servers.extend(Target::parse(&authority, "https"));
            }
        }
        for server in servers.into_iter().filter(Target::is_safe) {
            let url = format!("{}://{}", server.scheme, server.authority());
            listed.insert(url, super::git::USERNAME);
        }
    }
    output::line(serde_json::json!(listed));
    Ok(ExitCode::SUCCESS)
}
