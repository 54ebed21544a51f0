//! The wizard's environment steps: existing environments changed key by key, new ones added
//! through [`add_environment`] (the code `lmi env add` runs: answers checked, the grant tried,
//! then one atomic write), and `default_environment`.

use crate::auth::env_secrets::SecretItem;
use crate::auth::service::GrantType;
use crate::commands::env::{
    NewEnvironment, Placement, add_environment, check_placement, place_secrets, store_secret,
    try_planned, with_left,
};
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::prompt;
use crate::secrets::Secret;
use crate::settings::{DEFAULT_ENVIRONMENT, EnvFileEdit, keys, validate_env_name};

use super::Journal;
use super::ask;
use super::sso::shown_change;

/// How often an empty secret is asked again.
const SECRET_TRIES: usize = 3;

/// The answers that make an environment, secrets aside.
#[derive(Debug, Clone, Default)]
struct Answers {
    service_url: Option<String>,
    token_url: Option<String>,
    grant: Option<GrantType>,
    client_id: Option<String>,
    scope: Option<String>,
    audience: Option<String>,
    username: Option<String>,
}

/// Lists the environments, offers to change existing ones, then to add new ones.
/// `token_default` is the SSO provider's token endpoint, offered as a new one's token URL.
pub fn environments(
    ctx: &Ctx,
    journal: &mut Journal,
    token_default: Option<&str>,
) -> Result<(), CliError> {
    let names = ctx.settings.environments().names;
    output::note(format_args!(
        "Environments (in {})",
        ctx.settings.paths().env_dir().display()
    ));
    if names.is_empty() {
        output::note("  none yet");
    } else {
        output::note(format_args!("  {}", names.join(", ")));
        while ask::yes("Change an existing environment?")? {
            let name = ask::checked("  Which one", names.first().map(String::as_str), |a| {
                if names.iter().any(|n| n == a) {
                    Ok(a.to_owned())
                } else {
                    Err(format!("no environment `{a}`; one of {}", names.join(", ")))
                }
            })?;
            edit(ctx, journal, &name)?;
        }
    }
    while ask::yes("Add an environment?")? {
        add(ctx, journal, token_default)?;
    }
    output::note("");
    Ok(())
}

/// A new environment: its answers, its secret (hidden), the grant tried, then saved; a
/// refusal is shown and the secret or the other answers may be given again.
fn add(ctx: &Ctx, journal: &mut Journal, token_default: Option<&str>) -> Result<(), CliError> {
    let paths = ctx.settings.paths();
    let name = ask::checked(
        "  Name of the new environment (letters, digits, - and _)",
        None,
        |a| {
            validate_env_name(a).map_err(|e| e.to_string())?;
            if std::fs::symlink_metadata(paths.env_file(a)).is_ok() {
                return Err(format!(
                    "environment `{a}` exists already: change it instead (\"Change an existing environment?\")"
                ));
            }
            Ok(a.to_owned())
        },
    )?;
    let file = paths.env_file(&name);
    // Where the secret will go is settled before it is asked.
    let Some(placement) = placement(ctx, &file)? else {
        output::note(format_args!("  environment `{name}` was not added."));
        return Ok(());
    };
    let mut answers = Answers {
        token_url: token_default.map(str::to_owned),
        grant: Some(GrantType::ClientCredentials),
        ..Answers::default()
    };
    let mut ask_all = true;
    loop {
        if ask_all {
            answers = ask_answers(&answers)?;
        }
        let grant = answers.grant.unwrap_or(GrantType::ClientCredentials);
        let client_id = answers.client_id.clone().unwrap_or_default();
        let (client_secret, password) =
            ask_secrets(grant, &client_id, answers.username.as_deref())?;
        let new = NewEnvironment {
            name: name.clone(),
            service_url: answers.service_url.clone().unwrap_or_default(),
            token_url: answers.token_url.clone().unwrap_or_default(),
            grant,
            client_id,
            scope: answers.scope.clone(),
            audience: answers.audience.clone(),
            username: answers.username.clone(),
            client_secret,
            password,
            placement,
            verify: true,
        };
        output::note(format_args!("  trying the {} grant...", grant.as_str()));
        match add_environment(ctx, &new) {
            Ok(added) => {
                if let Some(t) = &added.trial {
                    output::note(format_args!(
                        "  ok: a token was issued, valid {} s (not kept)",
                        t.lifetime_secs
                    ));
                }
                output::note(format_args!(
                    "  added environment `{name}`: {}",
                    added.file.display()
                ));
                journal.wrote(added.file, format!("environment `{name}`"));
                for (key, given) in [
                    (keys::CLIENT_SECRET, &new.client_secret),
                    (keys::PASSWORD, &new.password),
                ] {
                    if given.as_ref().is_some_and(|s| !s.expose().is_empty()) {
                        journal.secrets.push(secret_line(key, &name, placement));
                    }
                }
                return Ok(());
            }
            Err(e) => {
                output::note(format_args!("  refused: {e}"));
                if let Some(hint) = e.hint {
                    output::note(format_args!("  ({hint})"));
                }
                if ask::yes("  Type the secret again?")? {
                    ask_all = false;
                } else if ask::yes("  Change the other answers?")? {
                    ask_all = true;
                } else {
                    output::note(format_args!("  environment `{name}` was not added."));
                    return Ok(());
                }
            }
        }
    }
}

/// The non-secret answers, `previous` as the defaults.
fn ask_answers(previous: &Answers) -> Result<Answers, CliError> {
    let service_url = ask::checked(
        "  Service URL (OAUTH_SERVICE_URL)",
        previous.service_url.as_deref(),
        ask::url_for(keys::SERVICE_URL),
    )?;
    let token_url = ask::checked(
        "  Token URL (OAUTH_TOKEN_URL)",
        previous.token_url.as_deref(),
        ask::url_for(keys::TOKEN_URL),
    )?;
    let grant = ask_grant(previous.grant)?;
    let client_id = ask::checked(
        "  Client id (OAUTH_CLIENT_ID)",
        previous.client_id.as_deref(),
        |a| ask::not_empty(a).and_then(|a| ask::storable(&a)),
    )?;
    let optional = |q: &str, v: &Option<String>| -> Result<Option<String>, CliError> {
        Ok(ask::optional(q, v.as_deref(), ask::storable)?
            .value()
            .map(str::to_owned))
    };
    let scope = optional("  Scope (OAUTH_SCOPE)", &previous.scope)?;
    let audience = optional("  Audience (OAUTH_AUDIENCE)", &previous.audience)?;
    let username = match grant {
        GrantType::Password => Some(ask::checked(
            "  User name (OAUTH_USERNAME)",
            previous.username.as_deref(),
            |a| ask::not_empty(a).and_then(|a| ask::storable(&a)),
        )?),
        GrantType::ClientCredentials => None,
    };
    Ok(Answers {
        service_url: Some(service_url),
        token_url: Some(token_url),
        grant: Some(grant),
        client_id: Some(client_id),
        scope,
        audience,
        username,
    })
}

fn ask_grant(current: Option<GrantType>) -> Result<GrantType, CliError> {
    let answer = ask::checked(
        "  Grant (client_credentials or password) (OAUTH_GRANT_TYPE)",
        current.map(GrantType::as_str),
        |a| match a {
            "client_credentials" | "password" => Ok(a.to_owned()),
            _ => Err(format!(
                "`{}` is not client_credentials or password",
                crate::text::line(a, 80)
            )),
        },
    )?;
    Ok(if answer == "password" {
        GrantType::Password
    } else {
        GrantType::ClientCredentials
    })
}

type GivenSecrets = (Option<Secret<String>>, Option<Secret<String>>);

/// The secrets the grant needs, with hidden input.
fn ask_secrets(
    grant: GrantType,
    client_id: &str,
    username: Option<&str>,
) -> Result<GivenSecrets, CliError> {
    Ok(match grant {
        GrantType::ClientCredentials => (
            Some(required_secret(&format!(
                "  Client secret of `{client_id}` (hidden)"
            ))?),
            None,
        ),
        GrantType::Password => {
            let password = required_secret(&format!(
                "  Password of `{}` (hidden)",
                username.unwrap_or_default()
            ))?;
            let client_secret = prompt::secret(&format!(
                "  Client secret of `{client_id}` (hidden; Enter if the client has none)"
            ))?;
            (Some(client_secret), Some(password))
        }
    })
}

fn required_secret(question: &str) -> Result<Secret<String>, CliError> {
    for _ in 0..SECRET_TRIES {
        let secret = prompt::secret(question)?;
        if !secret.expose().is_empty() {
            return Ok(secret);
        }
        output::note("  not accepted: the secret is empty");
    }
    Err(CliError::usage(format!(
        "no secret was given after {SECRET_TRIES} tries"
    )))
}

/// Where a new secret goes: the keychain when it can keep it; otherwise the env file, but
/// only on an explicit yes (what `--store-in-file` says on the command line). `None`: no.
fn placement(ctx: &Ctx, file: &std::path::Path) -> Result<Option<Placement>, CliError> {
    match check_placement(ctx, Placement::Keychain) {
        Ok(()) => Ok(Some(Placement::Keychain)),
        Err(e) => {
            output::note(format_args!(
                "  the OS keychain cannot keep the secret: {e}"
            ));
            let yes = ask::yes(&format!(
                "  Keep the secret in plaintext in {} (mode 0600) instead?",
                file.display()
            ))?;
            Ok(yes.then_some(Placement::File))
        }
    }
}

fn secret_line(key: &str, env: &str, placement: Placement) -> String {
    match placement {
        Placement::Keychain => format!("{key} of `{env}`: in the OS keychain"),
        Placement::File => format!("{key} of `{env}`: in its file, in plaintext (mode 0600)"),
    }
}

/// The keys the change path asks, secrets aside.
const ASKED: [&str; 7] = [
    keys::SERVICE_URL,
    keys::TOKEN_URL,
    keys::GRANT_TYPE,
    keys::CLIENT_ID,
    keys::SCOPE,
    keys::AUDIENCE,
    keys::USERNAME,
];

/// A key's value in effect for an environment, from its file or else the global file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InEffect {
    value: Option<String>,
    in_env_file: bool,
}

/// An existing environment: each key asked with the value in effect as the default (the env
/// file's, else the global file's; the grant lmi reads when none is set), the changes shown
/// and confirmed, then written with the editor. A secret is replaced only when asked to,
/// unless the grant changes: then the new grant's secrets are needed, the other grant's keys
/// are removed and the grant is tried before anything is written.
fn edit(ctx: &Ctx, journal: &mut Journal, name: &str) -> Result<(), CliError> {
    let path = ctx.settings.paths().env_file(name);
    let mut file = EnvFileEdit::load(&path)?;
    let global = ctx.settings.global_file();
    let effect: std::collections::BTreeMap<&str, InEffect> = ASKED
        .iter()
        .map(|key| {
            let own = file.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
            let in_env_file = own.is_some();
            let value =
                own.or_else(|| global.get(key).filter(|v| !v.is_empty()).map(str::to_owned));
            (*key, InEffect { value, in_env_file })
        })
        .collect();
    let current = |key: &str| effect.get(key).and_then(|e| e.value.clone());
    let from_global: Vec<&str> = effect
        .iter()
        .filter(|(_, e)| e.value.is_some() && !e.in_env_file)
        .map(|(k, _)| *k)
        .collect();
    if !from_global.is_empty() {
        output::note(format_args!(
            "  from the global file {} (Enter keeps them there): {}",
            ctx.settings.paths().global_env_file().display(),
            from_global.join(", ")
        ));
    }
    // What lmi reads when the key is not set, or set to something else than `password`.
    let grant_now = match current(keys::GRANT_TYPE).as_deref() {
        Some("password") => GrantType::Password,
        _ => GrantType::ClientCredentials,
    };
    let answers = ask_answers(&Answers {
        service_url: current(keys::SERVICE_URL),
        token_url: current(keys::TOKEN_URL),
        grant: Some(grant_now),
        client_id: current(keys::CLIENT_ID),
        scope: current(keys::SCOPE),
        audience: current(keys::AUDIENCE),
        username: current(keys::USERNAME),
    })?;
    let grant = answers.grant.unwrap_or(GrantType::ClientCredentials);
    let grant_changed = grant != grant_now;
    let planned: Vec<(&str, Option<String>)> = vec![
        (keys::SERVICE_URL, answers.service_url.clone()),
        (keys::TOKEN_URL, answers.token_url.clone()),
        (keys::GRANT_TYPE, Some(grant.as_str().to_owned())),
        (keys::CLIENT_ID, answers.client_id.clone()),
        (keys::SCOPE, answers.scope.clone()),
        (keys::AUDIENCE, answers.audience.clone()),
        // The client_credentials grant has no user: one left in the file is removed.
        (keys::USERNAME, answers.username.clone()),
    ];
    let changes: Vec<(&str, Option<String>, Option<String>)> = planned
        .into_iter()
        .filter(|(key, new)| {
            let e = &effect[key];
            let old = match (*key, &e.value) {
                (keys::GRANT_TYPE, None) => Some(grant_now.as_str().to_owned()),
                _ => e.value.clone(),
            };
            // A value the env file does not hold cannot be removed from it.
            old != *new && (new.is_some() || e.in_env_file)
        })
        .map(|(key, new)| (key, current(key), new))
        .collect();

    let client_id = answers.client_id.clone().unwrap_or_default();
    let username = answers.username.clone();
    let mut secrets: Vec<(&'static str, Secret<String>)> = Vec::new();
    // The keys of the old grant's secrets that no longer apply.
    let mut dropped: Vec<&'static str> = Vec::new();
    if grant_changed {
        output::note(format_args!(
            "  the grant changes to {}: its secrets are needed",
            grant.as_str()
        ));
        secrets = grant_secrets(grant, &client_id, username.as_deref())?;
        if grant == GrantType::ClientCredentials {
            dropped.push(keys::PASSWORD);
        }
    } else {
        let mut asked = vec![(
            keys::CLIENT_SECRET,
            format!("  Client secret of `{client_id}` (hidden)"),
        )];
        if grant == GrantType::Password {
            asked.insert(
                0,
                (
                    keys::PASSWORD,
                    format!(
                        "  Password of `{}` (hidden)",
                        username.as_deref().unwrap_or_default()
                    ),
                ),
            );
        }
        for (key, question) in asked {
            if ask::yes(&format!("  Replace {key}?"))? {
                secrets.push((key, required_secret(&question)?));
            }
        }
    }
    if changes.is_empty() && secrets.is_empty() {
        output::note(format_args!("  environment `{name}`: nothing changed."));
        return Ok(());
    }
    output::note("  changes:");
    for (key, old, new) in &changes {
        output::note(format_args!(
            "    {}",
            shown_change(key, old.as_deref(), new.as_deref())
        ));
    }
    for (key, _) in &secrets {
        output::note(format_args!("    {key}: replaced (not shown)"));
    }
    for key in &dropped {
        output::note(format_args!("    {key}: removed (the new grant has none)"));
    }
    if !ask::yes(&format!("  Write these to {}?", path.display()))? {
        output::note("  not written.");
        return Ok(());
    }
    for (key, _, new) in &changes {
        match new {
            Some(v) => file.set(key, v)?,
            None => file.unset(key)?,
        };
    }
    for key in &dropped {
        file.unset(key)?;
    }
    if grant_changed {
        loop {
            let no_client_secret = grant == GrantType::Password
                && !secrets.iter().any(|(k, _)| *k == keys::CLIENT_SECRET);
            if no_client_secret {
                // Empty says "none", as `env add` writes it: no older secret is sent instead.
                file.set(keys::CLIENT_SECRET, "")?;
            }
            let given: Vec<(&str, &Secret<String>)> =
                secrets.iter().map(|(k, s)| (*k, s)).collect();
            output::note(format_args!("  trying the {} grant...", grant.as_str()));
            match try_planned(ctx, name, &file, &given) {
                Ok(t) => {
                    output::note(format_args!(
                        "  ok: a token was issued, valid {} s (not kept)",
                        t.lifetime_secs
                    ));
                    break;
                }
                Err(e) => {
                    output::note(format_args!("  refused: {e}"));
                    if ask::yes("  Type the secrets again?")? {
                        secrets = grant_secrets(grant, &client_id, username.as_deref())?;
                        continue;
                    }
                    if !ask::yes("  Save anyway?")? {
                        output::note("  not written.");
                        return Ok(());
                    }
                    break;
                }
            }
        }
        if grant == GrantType::Password && secrets.iter().all(|(k, _)| *k != keys::CLIENT_SECRET) {
            dropped.push(keys::CLIENT_SECRET);
        }
    }
    // A secret the file holds stays there; any other goes where a new secret goes (an empty
    // value in the file says "none", so it is not a secret kept there).
    let mut where_new: Option<Placement> = None;
    let mut in_file = Vec::new();
    let mut in_keychain = Vec::new();
    for (key, secret) in &secrets {
        let placement = if file.get(key).is_some_and(|v| !v.is_empty()) {
            Placement::File
        } else if let Some(p) = where_new {
            p
        } else {
            match placement(ctx, &path)? {
                Some(p) => *where_new.insert(p),
                None => {
                    output::note("  not written.");
                    return Ok(());
                }
            }
        };
        match placement {
            Placement::File => in_file.push((*key, secret)),
            Placement::Keychain => in_keychain.push((*key, secret)),
        }
    }
    for (key, secret) in &in_file {
        store_secret(ctx, name, &mut file, key, secret, Placement::File)?;
    }
    for (key, _) in &in_keychain {
        if file.get(key) == Some("") {
            // `KEY=` says "none" and would hide the keychain item.
            file.unset(key)?;
        }
    }
    // The keychain items first, then the file; a file that cannot be written puts the items
    // back as they were.
    let placed = place_secrets(ctx, name, &mut file, &in_keychain, Placement::Keychain)?;
    if let Err(e) = file.save() {
        let left = placed.undo();
        return Err(with_left(e.into(), &left)
            .with_context(format!("environment `{name}` was not changed")));
    }
    let mut what: Vec<&str> = changes.iter().map(|(k, _, _)| *k).collect();
    what.extend(secrets.iter().map(|(k, _)| *k));
    journal.wrote(
        path.clone(),
        format!("environment `{name}`: {}", what.join(", ")),
    );
    for (key, _) in &in_file {
        journal
            .secrets
            .push(secret_line(key, name, Placement::File));
    }
    for (key, _) in &in_keychain {
        journal
            .secrets
            .push(secret_line(key, name, Placement::Keychain));
    }
    output::note("  written.");
    forget_dropped(ctx, name, &dropped)?;
    Ok(())
}

/// The secrets `grant` needs, as required answers: the client secret for
/// client_credentials; the password, and the client secret if the client has one, for
/// password.
fn grant_secrets(
    grant: GrantType,
    client_id: &str,
    username: Option<&str>,
) -> Result<Vec<(&'static str, Secret<String>)>, CliError> {
    let (client_secret, password) = ask_secrets(grant, client_id, username)?;
    Ok([
        (keys::PASSWORD, password),
        (keys::CLIENT_SECRET, client_secret),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.filter(|s| !s.expose().is_empty()).map(|s| (k, s)))
    .collect())
}

/// Deletes the keychain items of secrets the new grant does not use; one the keychain could
/// not delete is said to remain.
fn forget_dropped(ctx: &Ctx, name: &str, dropped: &[&str]) -> Result<(), CliError> {
    for key in dropped {
        let item = SecretItem::new(&ctx.settings, name, key)?;
        match item.delete() {
            Ok(true) => output::note(format_args!(
                "  removed {key} of `{name}` from the {}",
                item.location()
            )),
            Ok(false) => {}
            Err(e) => output::note(format_args!(
                "  {key} of `{name}` may remain in the {} ({e}); it is no longer used",
                item.location()
            )),
        }
    }
    Ok(())
}

/// `default_environment` in the global file: the current value (or the first environment)
/// as the default; a change is shown and confirmed.
pub fn default_environment(ctx: &Ctx, journal: &mut Journal) -> Result<(), CliError> {
    let names = ctx.settings.environments().names;
    if names.is_empty() {
        output::note("No environment, so no default_environment to set.");
        return Ok(());
    }
    let path = ctx.settings.paths().global_env_file();
    let mut edit = EnvFileEdit::load(&path)?;
    let now = edit
        .get(DEFAULT_ENVIRONMENT)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let offered = now.clone().or_else(|| names.first().cloned());
    let list = crate::text::line(&names.join(", "), 300);
    let chosen = ask::checked(
        &format!("Default environment (default_environment; one of {list})"),
        offered.as_deref(),
        |a| {
            if names.iter().any(|n| n == a) {
                Ok(a.to_owned())
            } else {
                Err(format!("no environment `{a}`; one of {list}"))
            }
        },
    )?;
    if now.as_deref() == Some(chosen.as_str()) {
        output::note("  unchanged.");
        return Ok(());
    }
    output::note(format_args!(
        "  {}",
        shown_change(DEFAULT_ENVIRONMENT, now.as_deref(), Some(&chosen))
    ));
    if !ask::yes(&format!("  Write it to {}?", path.display()))? {
        output::note("  not written.");
        return Ok(());
    }
    edit.set(DEFAULT_ENVIRONMENT, &chosen)?;
    edit.save()?;
    journal.wrote(path, DEFAULT_ENVIRONMENT);
    output::note("  written.");
    Ok(())
}
