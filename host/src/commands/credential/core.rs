//! What every credential helper does with the environment it was given: acting in it (the
//! process environment configures it only when it was named with `-e`), the policy gate
//! `lmi auth token` passes, the token with its expiry, and the audit line. Nothing here
//! prints.

use crate::audit::{self, Actor, ErrorKind, Outcome, Use};
use crate::auth::cache::AccessToken;
use crate::auth::session::EnvSession;
use crate::commands::{CliError, Ctx};
use crate::settings::Settings;

/// How the helper found its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// `-e NAME` on the command line.
    Named,
    /// The one environment that claims the host asked about.
    ByHost,
}

/// A service token handed to another program.
#[derive(Debug)]
pub struct Handed {
    pub env: String,
    pub token: AccessToken,
    /// Unix seconds; `None` only for an `LMI_ACCESS_TOKEN` whose expiry lmi cannot read.
    pub expires_at: Option<u64>,
}

/// The environment named with `-e` on this command line (never `LMI_ENV` or
/// `default_environment`: a helper does not act in a "current" environment).
pub fn named_env(ctx: &Ctx) -> Option<&str> {
    ctx.settings.env_flag()
}

/// `named_env`, required: a usage error naming how to pass it.
pub fn require_named_env<'a>(ctx: &'a Ctx, command: &str) -> Result<&'a str, CliError> {
    named_env(ctx).ok_or_else(|| {
        CliError::usage(format!(
            "`lmi {command}` needs the environment on its command line: `lmi {command} -e NAME` (a credential helper never uses LMI_ENV or default_environment)"
        ))
    })
}

/// The settings acting in `env`.
pub fn acting_in(ctx: &Ctx, env: &str, chosen: Chosen) -> Result<Settings, CliError> {
    Ok(ctx.settings.acting_in(env, chosen == Chosen::Named)?)
}

/// `env`'s service token (or its named `service`'s), after the environment policy admitted
/// it, recorded in the audit trail as used by `lmi <command>`.
pub fn service_token(
    ctx: &Ctx,
    command: &str,
    env: &str,
    chosen: Chosen,
    service: Option<&str>,
) -> Result<Handed, CliError> {
    let settings = acting_in(ctx, env, chosen)?;
    gate(&settings, command)?;
    let mut trail = audit::Trail::new();
    trail.ready(&settings)?;
    let session = EnvSession::open(&settings, env);
    let issued = session.service(service).and_then(|s| s.tokens.issued());
    let outcome = match &issued {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Failed(ErrorKind::of_auth(e)),
    };
    trail.record(
        &settings,
        &Actor::lmi(command),
        Use::Token { service },
        outcome,
    )?;
    let issued = issued?;
    printable(issued.token.expose())?;
    Ok(Handed {
        env: env.to_owned(),
        token: issued.token,
        expires_at: issued.expires_at,
    })
}

/// The environment policy, as `lmi auth token` meets it (`LMI_REQUIRE_SSO`, allowed groups).
pub fn gate(settings: &Settings, command: &str) -> Result<(), CliError> {
    crate::policy::admit(&crate::policy::Request {
        settings,
        action: crate::policy::Action::Helper { command },
        yes: false,
        quiet: true,
    })?;
    Ok(())
}

/// `unix` seconds as RFC 3339 (UTC, whole seconds): `2026-12-01T18:30:00Z`.
pub fn rfc3339(unix: u64) -> String {
    // A stored expiry is read from a file or the keychain: clamp it to the last second
    // RFC 3339 can write (9999-12-31T23:59:59Z) rather than overflow or fail to format.
    const LAST_RFC3339_SECOND: u64 = 253_402_300_799;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.min(LAST_RFC3339_SECOND));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A token goes into line- and JSON-based answers other programs parse: one with whitespace
/// or a control character (a hostile token endpoint's `abc\nquit=1`) is refused, never
/// printed.
pub fn printable(token: &str) -> Result<(), CliError> {
    if token.is_empty() || token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(CliError::failure(anyhow::anyhow!(
            "the token lmi holds contains whitespace or a control character, so it cannot be handed to another program: it was not printed"
        )));
    }
    Ok(())
}
