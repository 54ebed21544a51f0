//! The wizard's environment steps: existing environments changed key by key, new ones added
//! through [`add_environment`] (the code `lmi env add` runs: answers checked, the grant tried,
//! then one atomic write), and `default_environment`.

use crate::auth::service::GrantType;
use crate::commands::env::{
    NewEnvironment, Placement, add_environment, check_placement, store_secret,
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
        while prompt::confirm("Change an existing environment?")? {
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
    while prompt::confirm("Add an environment?")? {
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
                if prompt::confirm("  Type the secret again?")? {
                    ask_all = false;
                } else if prompt::confirm("  Change the other answers?")? {
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
            let yes = prompt::confirm(&format!(
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

/// An existing environment: each key asked with its current value as the default, the
/// changes shown and confirmed, then written with the editor. A secret is replaced only when
/// asked to.
fn edit(ctx: &Ctx, journal: &mut Journal, name: &str) -> Result<(), CliError> {
    let path = ctx.settings.paths().env_file(name);
    let mut file = EnvFileEdit::load(&path)?;
    let current = |key: &str| file.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
    let grant_now = match current(keys::GRANT_TYPE).as_deref() {
        Some("password") => Some(GrantType::Password),
        Some("client_credentials") => Some(GrantType::ClientCredentials),
        _ => None,
    };
    let answers = ask_answers(&Answers {
        service_url: current(keys::SERVICE_URL),
        token_url: current(keys::TOKEN_URL),
        grant: grant_now,
        client_id: current(keys::CLIENT_ID),
        scope: current(keys::SCOPE),
        audience: current(keys::AUDIENCE),
        username: current(keys::USERNAME),
    })?;
    let grant = answers.grant.unwrap_or(GrantType::ClientCredentials);
    let mut planned: Vec<(&str, Option<String>)> = vec![
        (keys::SERVICE_URL, answers.service_url.clone()),
        (keys::TOKEN_URL, answers.token_url.clone()),
        (keys::GRANT_TYPE, Some(grant.as_str().to_owned())),
        (keys::CLIENT_ID, answers.client_id.clone()),
        (keys::SCOPE, answers.scope.clone()),
        (keys::AUDIENCE, answers.audience.clone()),
    ];
    if grant == GrantType::Password {
        planned.push((keys::USERNAME, answers.username.clone()));
    }
    let changes: Vec<(&str, Option<String>, Option<String>)> = planned
        .into_iter()
        .map(|(key, new)| (key, current(key), new))
        .filter(|(_, old, new)| old != new)
        .collect();

    let mut secrets: Vec<(&str, Secret<String>)> = Vec::new();
    let client_id = answers.client_id.clone().unwrap_or_default();
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
                    answers.username.as_deref().unwrap_or_default()
                ),
            ),
        );
    }
    for (key, question) in asked {
        if prompt::confirm(&format!("  Replace {key}?"))? {
            secrets.push((key, required_secret(&question)?));
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
    if !prompt::confirm(&format!("  Write these to {}?", path.display()))? {
        output::note("  not written.");
        return Ok(());
    }
    // A secret stays where it is: in the file if the file holds it, else where a new one goes.
    let mut placed = Vec::new();
    for (key, secret) in &secrets {
        let placement = if file.get(key).is_some() {
            Placement::File
        } else {
            match placement(ctx, &path)? {
                Some(p) => p,
                None => {
                    output::note("  not written.");
                    return Ok(());
                }
            }
        };
        placed.push((*key, secret, placement));
    }
    for (key, _, new) in &changes {
        match new {
            Some(v) => file.set(key, v)?,
            None => file.unset(key)?,
        };
    }
    for (key, secret, placement) in &placed {
        store_secret(ctx, name, &mut file, key, secret, *placement)?;
    }
    file.save()?;
    let mut what: Vec<&str> = changes.iter().map(|(k, _, _)| *k).collect();
    what.extend(placed.iter().map(|(k, _, _)| *k));
    journal.wrote(path, format!("environment `{name}`: {}", what.join(", ")));
    for (key, _, placement) in &placed {
        journal.secrets.push(secret_line(key, name, *placement));
    }
    output::note("  written.");
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
    if !prompt::confirm(&format!("  Write it to {}?", path.display()))? {
        output::note("  not written.");
        return Ok(());
    }
    edit.set(DEFAULT_ENVIRONMENT, &chosen)?;
    edit.save()?;
    journal.wrote(path, DEFAULT_ENVIRONMENT);
    output::note("  written.");
    Ok(())
}
