//! `lmi setup`: an interactive walk from nothing to a working configuration, on a terminal
//! only. It asks on stderr (through [`crate::prompt`]) and keeps stdout quiet.
//!
//! Steps, each ending in its own atomic write (or none):
//! 1. SSO (`sso`): the issuer and client id, discovery shown, the changed keys written to the
//!    global file after a confirmation; then, if asked, the sign-in `lmi login sso` runs.
//! 2. Environments (`envs`): existing ones changed key by key (current values as defaults,
//!    changes confirmed, written with [`crate::settings::EnvFileEdit`]); new ones added
//!    through [`crate::commands::env::add_environment`], the code `lmi env add` runs, after
//!    their grant was tried.
//! 3. `default_environment` (`envs`), confirmed like any other change.
//!
//! Nothing is overwritten without the old and new values shown and a yes; Enter through
//! every question changes nothing. A run that stops (end of input, a deadline, an error)
//! keeps what earlier steps wrote, and says what that was.

mod ask;
mod envs;
mod sso;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::{CliError, Ctx};
use crate::output;
use crate::prompt;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Asks on the terminal (stdin and stderr must be one) for the SSO issuer and client id, shows
what discovery finds and offers to sign in; then adds or changes environments one by one
(trying each new one's grant before saving it) and sets default_environment. Current values
are the defaults: Enter keeps them, and nothing is written without a confirmation. Without a
terminal, use `lmi env add`, `lmi config set` and `lmi login sso`.")]
pub struct SetupArgs {}

/// One write the wizard did, for the summary.
#[derive(Debug)]
struct Written {
    file: PathBuf,
    /// What was written there (`OAUTH_SSO_ISSUER`, `environment dev`).
    what: String,
}

/// What the run wrote, in order, and where the environments' secrets went.
#[derive(Debug, Default)]
struct Journal {
    written: Vec<Written>,
    /// Lines about secrets (`OAUTH_CLIENT_SECRET of dev: in its file (plaintext, 0600)`).
    secrets: Vec<String>,
    signed_in: bool,
}

impl Journal {
    fn wrote(&mut self, file: PathBuf, what: impl Into<String>) {
        self.written.push(Written {
            file,
            what: what.into(),
        });
    }

    /// What was written where, one line each.
    fn show(&self) {
        if self.written.is_empty() {
            output::note("  nothing was written");
        }
        for w in &self.written {
            output::note(format_args!("  {}: {}", w.file.display(), w.what));
        }
        for s in &self.secrets {
            output::note(format_args!("  {s}"));
        }
    }
}

impl SetupArgs {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        if !prompt::terminal_available() {
            return Err(no_terminal());
        }
        let mut journal = Journal::default();
        match walk(ctx, &mut journal) {
            Ok(settings) => {
                output::note("\nSetup is done. Written:");
                journal.show();
                next_steps(&settings, &journal);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                output::note("\nSetup stopped. Written before it stopped (each write is whole):");
                journal.show();
                Err(e)
            }
        }
    }
}

/// The steps in order; returns the settings as they are after the last write.
fn walk(ctx: &Ctx, journal: &mut Journal) -> Result<Settings, CliError> {
    output::note(format_args!(
        "lmi setup: answers in [brackets] are the current values (Enter keeps them); nothing is written without a yes.\nConfiguration directory: {}\n",
        ctx.settings
            .paths()
            .global_env_file()
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    ));
    let found = sso::step(ctx, journal)?;
    let ctx = reloaded(ctx)?;
    let token_url = found
        .as_ref()
        .and_then(|f| f.token.as_ref())
        .map(|u| u.to_string());
    envs::environments(&ctx, journal, token_url.as_deref())?;
    let ctx = reloaded(&ctx)?;
    envs::default_environment(&ctx, journal)?;
    Ok(reloaded(&ctx)?.settings)
}

/// The context again, its settings read anew from the files the last step may have written.
fn reloaded(ctx: &Ctx) -> Result<Ctx, CliError> {
    Ok(Ctx {
        settings: Settings::load(ctx.settings.paths().clone(), None)?,
        output: ctx.output,
        color: ctx.color,
        verbose: ctx.verbose,
        yes: ctx.yes,
        quiet: ctx.quiet,
        plugins: ctx.plugins.clone(),
    })
}

/// The command to try next, after what was set up.
fn next_steps(settings: &Settings, journal: &Journal) {
    let mut next = Vec::new();
    if settings
        .global(crate::settings::keys::SSO_CLIENT_ID)
        .is_some()
        && !journal.signed_in
    {
        next.push("lmi login sso          # sign in".to_owned());
    }
    match settings.default_env() {
        Some(env) => next.push(format!(
            "lmi auth token         # a service token for environment `{env}`"
        )),
        None => {
            next.push("lmi env add NAME ...   # an environment (or run lmi setup again)".into())
        }
    }
    next.push("lmi doctor             # checks all of it".to_owned());
    output::note("\nNext:");
    for n in next {
        output::note(format_args!("  {n}"));
    }
}

fn no_terminal() -> CliError {
    CliError::usage(
        "lmi setup asks its questions on a terminal, and stdin and stderr are not both one; without a terminal, set lmi up with: `lmi env add NAME --service-url URL --token-url URL --grant client_credentials|password --client-id ID --secret-stdin` (an environment), `lmi config set KEY VALUE` (a key such as OAUTH_SSO_ISSUER, OAUTH_SSO_CLIENT_ID or default_environment) and `lmi login sso` (sign in)",
    )
}
