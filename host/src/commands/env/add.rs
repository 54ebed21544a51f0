//! `lmi env add NAME …`: a new environment's file, written once its answers are checked and
//! its grant tried. [`add_environment`] does the whole of it from plain answers, so a wizard
//! can call it; the command around it reads the secret from stdin or a hidden prompt.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::secrets::{self, Placement};
use crate::auth::http::Http;
use crate::auth::service::{GrantConfig, GrantType};
use crate::auth::tokens::{GrantTrial, TokenSource};
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::prompt::{self, PromptError};
use crate::secrets::Secret;
use crate::settings::{EnvFile, EnvFileEdit, Source, check_value, keys, validate_env_name};

/// The grant, as `--grant` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GrantArg {
    #[value(name = "client_credentials")]
    ClientCredentials,
    #[value(name = "password")]
    Password,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The secret is never taken from an argument. With --secret-stdin it is read from stdin, one
line each: for client_credentials the client secret; for password the user's password first,
then (optional: an empty or absent line means none) the client secret. Without --secret-stdin
lmi asks on the terminal with hidden input. Nothing is written until every answer is checked
and the grant has issued a token (--no-verify skips that); an existing environment is never
overwritten: change it with `lmi config set -e NAME KEY VALUE`, or `lmi env remove NAME`.")]
pub struct AddArgs {
    /// The environment's name (letters, digits, `-` and `_`).
    pub name: String,
    /// The base URL of the environment's service (OAUTH_SERVICE_URL).
    #[arg(long, value_name = "URL")]
    pub service_url: String,
    /// The token endpoint (OAUTH_TOKEN_URL).
    #[arg(long, value_name = "URL")]
    pub token_url: String,
    /// The grant (OAUTH_GRANT_TYPE).
    #[arg(long, value_enum)]
    pub grant: GrantArg,
    /// The client id (OAUTH_CLIENT_ID).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// The scope to ask for (OAUTH_SCOPE), space-separated.
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// The audience to ask for (OAUTH_AUDIENCE).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// The user, for the password grant (OAUTH_USERNAME).
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the secret (and for the password grant the password) from stdin, one line each.
    #[arg(long)]
    pub secret_stdin: bool,
    /// Keep the secret in the environment's file (0600, plaintext) instead of the OS keychain.
    #[arg(long)]
    pub store_in_file: bool,
    /// Save without trying the grant first.
    #[arg(long)]
    pub no_verify: bool,
}

/// Everything an environment is made of, as the user answered it.
#[derive(Debug)]
pub struct NewEnvironment {
    pub name: String,
    pub service_url: String,
    pub token_url: String,
    pub grant: GrantType,
    pub client_id: String,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub username: Option<String>,
    /// Needed for client_credentials; optional for the password grant.
    pub client_secret: Option<Secret<String>>,
    /// The password grant's.
    pub password: Option<Secret<String>>,
    pub placement: Placement,
    /// Try the grant before saving.
    pub verify: bool,
}

/// The secrets an environment is given: the client secret, and the password grant's password.
type GivenSecrets = (Option<Secret<String>>, Option<Secret<String>>);

/// What [`add_environment`] did.
#[derive(Debug)]
pub struct Added {
    pub file: PathBuf,
    /// The grant trial's outcome; `None` when it was not tried.
    pub trial: Option<GrantTrial>,
}

impl AddArgs {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        let mut new = NewEnvironment {
            name: self.name,
            service_url: self.service_url,
            token_url: self.token_url,
            grant: match self.grant {
                GrantArg::ClientCredentials => GrantType::ClientCredentials,
                GrantArg::Password => GrantType::Password,
            },
            client_id: self.client_id,
            scope: self.scope,
            audience: self.audience,
            username: self.username,
            client_secret: None,
            password: None,
            placement: Placement::from_flag(self.store_in_file),
            verify: !self.no_verify,
        };
        // Everything that can be wrong with the arguments is said before a secret is asked.
        check(ctx, &new, false)?;
        let (client_secret, password) = if self.secret_stdin {
            read_piped(new.grant)?
        } else {
            ask(&new)?
        };
        new.client_secret = client_secret;
        new.password = password;
        let added = add_environment(ctx, &new)?;
        report(ctx, &new, &added);
        Ok(ExitCode::SUCCESS)
    }
}

/// Checks `new`, tries its grant (unless told not to), then places its secrets
/// ([`secrets::place_secrets`]: the keychain items, each read back) and writes its file (0600,
/// atomic). Nothing is left written when anything fails (keychain items written before a
/// failed file write are put back as they were); an existing environment is refused.
pub fn add_environment(ctx: &Ctx, new: &NewEnvironment) -> Result<Added, CliError> {
    check(ctx, new, true)?;
    let env = new.name.as_str();
    let path = ctx.settings.paths().env_file(env);
    let mut file = EnvFileEdit::load(&path)?;
    if file.existed() {
        return Err(exists(env, &path));
    }
    for (key, value) in plain_keys(new) {
        file.set(key, value)?;
    }
    let secrets = secret_keys(new);
    if new.grant == GrantType::Password && !secrets.iter().any(|(k, _)| *k == keys::CLIENT_SECRET) {
        // The client has no secret: the file says so (empty: none), so neither a keychain
        // item left from an earlier `env` nor the global file's secret is sent in its place,
        // at the trial as at every run.
        file.set(keys::CLIENT_SECRET, "")?;
    }
    let trial = if new.verify {
        Some(try_grant(ctx, new, &file, &secrets)?)
    } else {
        None
    };
    // The keychain items first, then the file: a file that cannot be written puts the items
    // back as they were, so a failure leaves no half-made environment either way.
    let placed = secrets::place_secrets(ctx, env, &mut file, &secrets, new.placement)?;
    if let Err(e) = file.save() {
        let left = placed.undo();
        return Err(secrets::with_left(e.into(), &left)
            .with_context(format!("environment `{env}` was not saved")));
    }
    tracing::info!(env, "added environment");
    Ok(Added { file: path, trial })
}

/// The answers' own checks (no network, nothing written); with `secrets`, also that the
/// grant's secrets are there.
fn check(ctx: &Ctx, new: &NewEnvironment, secrets: bool) -> Result<(), CliError> {
    let env = new.name.as_str();
    validate_env_name(env)?;
    let path = ctx.settings.paths().env_file(env);
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(exists(env, &path));
    }
    let source = Source::EnvFile(path.clone());
    let blank = |what: &str| CliError::usage(format!("{what} is empty"));
    if new.client_id.trim().is_empty() {
        return Err(blank("--client-id"));
    }
    for (key, value) in plain_keys(new) {
        check_value(key, value, &source)?;
        crate::settings::edit::encode(value)
            .map_err(|reason| CliError::usage(format!("the value given for {key} {reason}")))?;
    }
    match (new.grant, &new.username) {
        (GrantType::Password, None) => {
            return Err(CliError::usage(
                "the password grant needs --username (OAUTH_USERNAME)",
            ));
        }
        (GrantType::Password, Some(u)) if u.trim().is_empty() => return Err(blank("--username")),
        (GrantType::ClientCredentials, Some(_)) => {
            return Err(CliError::usage(
                "--username is for the password grant; the client_credentials grant authenticates the client alone",
            ));
        }
        _ => {}
    }
    secrets::check_placement(ctx, new.placement)?;
    if secrets {
        let missing = |what: &str| {
            CliError::usage(format!(
                "no {what} was given for environment `{env}`: it is read from stdin (--secret-stdin) or asked on the terminal, never taken from an argument"
            ))
        };
        let given = |s: &Option<Secret<String>>| s.as_ref().is_some_and(|s| !s.expose().is_empty());
        match new.grant {
            GrantType::ClientCredentials if !given(&new.client_secret) => {
                return Err(missing("client secret"));
            }
            GrantType::Password if !given(&new.password) => return Err(missing("password")),
            _ => {}
        }
    }
    Ok(())
}

/// The keys written as they are, in the order they are written.
fn plain_keys(new: &NewEnvironment) -> Vec<(&'static str, &str)> {
    let mut keys = vec![
        (keys::SERVICE_URL, new.service_url.trim()),
        (keys::TOKEN_URL, new.token_url.trim()),
        (keys::GRANT_TYPE, new.grant.as_str()),
        (keys::CLIENT_ID, new.client_id.trim()),
    ];
    for (key, value) in [
        (keys::SCOPE, &new.scope),
        (keys::AUDIENCE, &new.audience),
        (keys::USERNAME, &new.username),
    ] {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            keys.push((key, v));
        }
    }
    keys
}

/// The secrets given, by key (an empty one counts as none).
fn secret_keys(new: &NewEnvironment) -> Vec<(&'static str, &Secret<String>)> {
    [
        (keys::CLIENT_SECRET, &new.client_secret),
        (keys::PASSWORD, &new.password),
    ]
    .into_iter()
    .filter_map(|(k, s)| {
        s.as_ref()
            .filter(|s| !s.expose().is_empty())
            .map(|s| (k, s))
    })
    .collect()
}

/// One token request with the configuration about to be saved (and the global file's keys,
/// as a run would read them), through the grant trial `lmi doctor` uses: the token is
/// dropped, nothing is cached.
fn try_grant(
    ctx: &Ctx,
    new: &NewEnvironment,
    file: &EnvFileEdit,
    secrets: &[(&str, &Secret<String>)],
) -> Result<GrantTrial, CliError> {
    try_planned(ctx, &new.name, file, secrets).map_err(|mut err| {
        err.cause = err.cause.context(format!(
            "environment `{}` was not saved: its {} grant was tried and failed",
            new.name,
            new.grant.as_str()
        ));
        err.hint = Some(
            "check the client id and secret (or user and password) you gave, the token URL, scope and audience; --no-verify saves without trying",
        );
        err
    })
}

/// The grant trial on a planned, not yet saved, env file of `env` (`file` as it would be
/// written, `secrets` as they would be placed): the one trial `env add` and `lmi setup` run.
pub fn try_planned(
    ctx: &Ctx,
    env: &str,
    file: &EnvFileEdit,
    secrets: &[(&str, &Secret<String>)],
) -> Result<GrantTrial, CliError> {
    let mut values: BTreeMap<String, String> = file
        .keys()
        .filter_map(|k| Some((k.to_owned(), file.get(k)?.to_owned())))
        .collect();
    for (key, secret) in secrets {
        values.insert((*key).to_owned(), secret.expose().to_owned());
    }
    let config = ctx
        .settings
        .env_config_with(env, EnvFile::from_values(file.path(), values))?;
    let grant = GrantConfig::from_env(&ctx.settings, &config)?;
    let http = Http::for_process(&ctx.settings)?;
    Ok(TokenSource::for_trial(&ctx.settings, grant).try_grant(&http)?)
}

fn exists(env: &str, path: &std::path::Path) -> CliError {
    CliError::usage(format!(
        "environment `{env}` already exists ({}); lmi never overwrites one: change a key with `lmi config set -e {env} KEY VALUE`, or remove it with `lmi env remove {env}`",
        path.display()
    ))
}

/// The secrets from stdin, one line each (see the command's help for the order).
fn read_piped(grant: GrantType) -> Result<GivenSecrets, CliError> {
    if prompt::stdin_is_terminal() {
        return Err(CliError::usage(
            "--secret-stdin reads a pipe, but stdin is a terminal, where the secret would show as you type: leave out --secret-stdin and lmi asks with hidden input",
        ));
    }
    let line = |what: &str| {
        prompt::piped_line()
            .map_err(|e| CliError::usage(format!("--secret-stdin: the {what}: {e}")))
    };
    let present = |s: Option<Secret<String>>| s.filter(|s| !s.expose().is_empty());
    Ok(match grant {
        GrantType::ClientCredentials => (present(line("client secret")?), None),
        GrantType::Password => {
            let password = present(line("password")?);
            (present(line("client secret")?), password)
        }
    })
}

/// The secrets asked on the terminal with hidden input.
fn ask(new: &NewEnvironment) -> Result<GivenSecrets, CliError> {
    let no_terminal = |e: PromptError| match e {
        PromptError::NoTerminal => CliError::usage(
            "no terminal to ask for the secret on: pipe it to stdin with --secret-stdin (lmi never takes it from an argument)",
        ),
        e => e.into(),
    };
    let env = &new.name;
    Ok(match new.grant {
        GrantType::ClientCredentials => (
            Some(
                prompt::secret(&format!(
                    "Client secret of `{}` for environment `{env}` (hidden)",
                    new.client_id
                ))
                .map_err(no_terminal)?,
            ),
            None,
        ),
        GrantType::Password => {
            let user = new.username.as_deref().unwrap_or_default();
            let password = prompt::secret(&format!(
                "Password of `{user}` for environment `{env}` (hidden)"
            ))
            .map_err(no_terminal)?;
            let client_secret = prompt::secret(&format!(
                "Client secret of `{}` (hidden; Enter if the client has none)",
                new.client_id
            ))
            .map_err(no_terminal)?;
            (Some(client_secret), Some(password))
        }
    })
}

fn report(ctx: &Ctx, new: &NewEnvironment, added: &Added) {
    let secrets_in = match new.placement {
        Placement::File => "file",
        Placement::Keychain => "keychain",
    };
    match ctx.output {
        OutputFormat::Json => output::json(&json!({
            "name": new.name,
            "file": added.file,
            "grant": new.grant.as_str(),
            "verified": added.trial.is_some(),
            "token_lifetime_secs": added.trial.as_ref().map(|t| t.lifetime_secs),
            "secrets": secrets_in,
        })),
        OutputFormat::Text => {
            output::line(format_args!(
                "added environment `{}`: {}",
                new.name,
                added.file.display()
            ));
            if new.placement == Placement::Keychain {
                for (key, _) in secret_keys(new) {
                    let item = ctx.settings.paths().config_dir();
                    output::line(format_args!(
                        "{key} is kept in the {} (service `{}`, account `{}`)",
                        crate::keychain::name(),
                        crate::keychain::SERVICE,
                        crate::auth::env_secrets::account(item, &new.name, key)
                    ));
                }
            }
            match &added.trial {
                Some(t) => output::line(format_args!(
                    "its {} grant was tried: a token was issued, valid {} s (not kept)",
                    new.grant.as_str(),
                    t.lifetime_secs
                )),
                None => output::line("its grant was not tried (--no-verify)"),
            }
            if ctx.settings.default_env().is_none() {
                output::note(format_args!(
                    "to use it without -e: lmi config set {} {}",
                    keys::DEFAULT_ENVIRONMENT,
                    new.name
                ));
            }
        }
    }
}
