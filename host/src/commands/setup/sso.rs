//! The wizard's SSO step: the issuer and client id (the global file's values as defaults),
//! discovery shown, the changed keys written after a confirmation, then an optional sign-in
//! through the code `lmi login sso` runs.

use crate::auth::http::Http;
use crate::auth::sso::config::{CLIENT_ID_KEY, ISSUER_KEY, SsoConfig};
use crate::auth::sso::discovery::{Endpoints, Purpose};
use crate::auth::sso::{self, LoginOptions, LoginOutcome};
use crate::commands::login::{Terminal, session_sentence};
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::prompt;
use crate::settings::{EnvFileEdit, Settings};

use super::{Journal, ask};

/// Runs the step; returns what discovery found for the issuer kept (`None`: SSO skipped).
pub fn step(ctx: &Ctx, journal: &mut Journal) -> Result<Option<Endpoints>, CliError> {
    let global = ctx.settings.paths().global_env_file();
    output::note(format_args!("SSO sign-in (kept in {})", global.display()));
    for key in [ISSUER_KEY, CLIENT_ID_KEY] {
        if ctx
            .settings
            .process_value(key)
            .is_some_and(|v| !v.is_empty())
        {
            output::warn(format_args!(
                "{key} is also set in the process environment, which takes precedence over the file"
            ));
        }
    }
    let file = ctx.settings.global_file();
    let mut issuer_default = file
        .get(ISSUER_KEY)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let mut client_default = file
        .get(CLIENT_ID_KEY)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let (issuer, client_id, found) = loop {
        let issuer = prompt::line(
            "SSO issuer URL (Enter with nothing to skip SSO)",
            issuer_default.as_deref(),
        )?;
        let issuer = issuer.trim().to_owned();
        if issuer.is_empty() {
            output::note("  SSO skipped.\n");
            return Ok(None);
        }
        if let Err(why) = ask::url_for(ISSUER_KEY)(&issuer).and_then(|_| plain_issuer(&issuer)) {
            output::note(format_args!("  not accepted: {why}"));
            continue;
        }
        let client_id = ask::checked("SSO client id", client_default.as_deref(), |a| {
            ask::not_empty(a).and_then(|a| ask::storable(&a))
        })?;
        match discover(&ctx.settings, &issuer, &client_id) {
            Ok(found) => break (issuer, client_id, found),
            Err(e) => {
                output::note(format_args!("  discovery failed: {e}"));
                issuer_default = Some(issuer);
                client_default = Some(client_id);
                if !ask::yes("  Enter the issuer and client id again? (no skips SSO)")? {
                    output::note("  SSO skipped: nothing was written for it.\n");
                    return Ok(None);
                }
            }
        }
    };
    show_found(&found);
    if !save(ctx, journal, &issuer, &client_id)? {
        // Nothing was written: neither the old provider's sign-in nor the unsaved one's
        // token endpoint is offered.
        output::note("");
        return Ok(None);
    }
    offer_sign_in(ctx, journal)?;
    output::note("");
    Ok(Some(found))
}

/// An issuer has no query or fragment (login refuses one).
fn plain_issuer(issuer: &str) -> Result<String, String> {
    match url::Url::parse(issuer) {
        Ok(u) if u.query().is_none() && u.fragment().is_none() => Ok(issuer.to_owned()),
        _ => Err("an issuer has no query or fragment".to_owned()),
    }
}

/// Discovery on an issuer not saved yet, under the process's HTTP deadline.
fn discover(settings: &Settings, issuer: &str, client_id: &str) -> Result<Endpoints, CliError> {
    let cfg = SsoConfig::for_session(issuer, client_id)?;
    let http = Http::for_process(settings)?;
    output::note("  looking up the provider's discovery document...");
    Ok(cfg.endpoints(&http, Purpose::Login)?)
}

fn show_found(found: &Endpoints) {
    let url = |u: &Option<url::Url>| {
        u.as_ref()
            .map(|u| crate::text::line(u.as_str(), 200))
            .unwrap_or_else(|| "none".to_owned())
    };
    let yes_no = |u: &Option<url::Url>| if u.is_some() { "yes" } else { "no" };
    output::note(format_args!(
        "  discovery found:\n    authorization endpoint: {}\n    token endpoint:         {}\n    device flow:            {}\n    revocation:             {}",
        url(&found.authorization),
        url(&found.token),
        yes_no(&found.device),
        yes_no(&found.revocation),
    ));
}

/// Writes the keys that changed, after showing them and a yes. False: the changes were
/// declined (the file keeps another issuer or client id than the one discovered).
fn save(ctx: &Ctx, journal: &mut Journal, issuer: &str, client_id: &str) -> Result<bool, CliError> {
    let path = ctx.settings.paths().global_env_file();
    let mut edit = EnvFileEdit::load(&path)?;
    let mut changes = Vec::new();
    for (key, value) in [(ISSUER_KEY, issuer), (CLIENT_ID_KEY, client_id)] {
        let old = edit.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
        if old.as_deref() != Some(value) {
            changes.push((key, old, value));
        }
    }
    if changes.is_empty() {
        output::note("  SSO settings unchanged.");
        return Ok(true);
    }
    output::note("  changes:");
    for (key, old, new) in &changes {
        output::note(format_args!(
            "    {}",
            shown_change(key, old.as_deref(), Some(new))
        ));
    }
    if !ask::yes(&format!("  Write these to {}?", path.display()))? {
        output::note("  not written.");
        return Ok(false);
    }
    for (key, _, value) in &changes {
        edit.set(key, value)?;
    }
    edit.save()?;
    let keys: Vec<&str> = changes.iter().map(|(k, _, _)| *k).collect();
    journal.wrote(path, keys.join(", "));
    output::note("  written.");
    Ok(true)
}

/// Offers the sign-in `lmi login sso` does, with the configuration as it is now on disk.
fn offer_sign_in(ctx: &Ctx, journal: &mut Journal) -> Result<(), CliError> {
    let settings = Settings::load(ctx.settings.paths().clone(), None)?;
    if SsoConfig::load_optional(&settings).ok().flatten().is_none() {
        return Ok(());
    }
    if !ask::yes("  Sign in now?")? {
        return Ok(());
    }
    let opts = LoginOptions {
        no_browser: false,
        device: false,
        redirect_port: None,
        force: false,
    };
    // Bound first: the spinner is gone (its line blank) before anything below prints.
    let outcome = sso::login(&settings, &opts, &mut Terminal::new(ctx));
    match outcome {
        Ok(LoginOutcome::AlreadySignedIn(user)) => {
            journal.signed_in = true;
            output::note(format_args!(
                "  Already signed in as {}; {}.",
                user.who(),
                session_sentence(&user)
            ));
        }
        Ok(LoginOutcome::SignedIn { user, location, .. }) => {
            journal.signed_in = true;
            output::note(format_args!(
                "  Signed in as {}; the session is stored in {location}.",
                user.who()
            ));
            journal.secrets.push(format!("the SSO session: {location}"));
        }
        Err(e) => {
            let e = CliError::from(e);
            output::note(format_args!(
                "  sign-in failed: {e}\n  (setup goes on; sign in later with `lmi login sso`, or `lmi login sso --device` on a machine without a browser)"
            ));
        }
    }
    Ok(())
}

/// `KEY: old -> new` (or `(not set)`, `removed`), the values stripped and bounded.
pub fn shown_change(key: &str, old: Option<&str>, new: Option<&str>) -> String {
    let shown = |v: Option<&str>| {
        v.map(|v| crate::text::line(v, 200))
            .unwrap_or_else(|| "(not set)".to_owned())
    };
    format!("{key}: {} -> {}", shown(old), shown(new))
}
