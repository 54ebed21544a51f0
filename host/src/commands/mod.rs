//! One module per verb, findable in one guess: `commands/auth/token.rs` is `lmi auth token`.
//! Each parses nothing itself (clap did) and calls into the library; each returns a
//! [`CliError`], whose exit code comes from the error's type.

pub mod auth;
pub mod completions;
pub mod config;
pub mod credential;
pub mod doctor;
pub mod env;
pub mod error;
pub mod login;
pub mod plugin;
pub mod run;
pub mod setup;

use std::process::ExitCode;

use clap::Subcommand;

pub use crate::commands::error::CliError;
use crate::output::OutputFormat;
use crate::plugins::store::InstalledPlugin;
use crate::settings::Settings;

/// What every command receives: merged settings and the global flags. It lives here, below
/// `cli`, so commands never reach back up into the parser.
#[derive(Debug)]
pub struct Ctx {
    pub settings: Settings,
    pub output: OutputFormat,
    /// `--color`: passed to plugins through `terminal.info`.
    pub color: crate::output::ColorChoice,
    pub verbose: u8,
    /// `--yes`: confirmations answered yes (a protected environment's, `plugin install`'s).
    pub yes: bool,
    /// `--quiet`: no banner before a plugin command in a protected environment.
    pub quiet: bool,
    pub plugins: Vec<InstalledPlugin>,
}

/// lmi's own commands. Their names are reserved: no plugin command may take one.
#[derive(Debug, Subcommand)]
pub enum Builtin {
    /// Sign in (`lmi login sso`).
    #[command(subcommand)]
    Login(login::LoginCommand),
    /// Sign out (`lmi logout sso`).
    #[command(subcommand)]
    Logout(login::LogoutCommand),
    /// Inspect and manage credentials.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Install, inspect and create plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Environments: list, add, show, secure and remove them.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Get, set or unset one configuration key, in the global .env or (-e NAME) an
    /// environment's file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Set lmi up interactively: SSO, environments and the default one (on a terminal).
    Setup(setup::SetupArgs),
    /// Print the script that lets your shell complete lmi's commands, environments and plugins.
    Completions(completions::CompletionsArgs),
    /// Check configuration, credentials, the keychain and installed plugins; one line per check.
    Doctor(doctor::DoctorArgs),
    /// Credential helpers for other tools: git, docker, kubectl, and any program (JSON).
    #[command(subcommand)]
    Credential(credential::CredentialCommand),
}

impl Builtin {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            Builtin::Login(cmd) => cmd.run(ctx),
            Builtin::Logout(cmd) => cmd.run(ctx),
            Builtin::Auth(cmd) => cmd.run(ctx),
            Builtin::Plugin(cmd) => cmd.run(ctx),
            Builtin::Env(cmd) => cmd.run(ctx),
            Builtin::Config(cmd) => cmd.run(ctx),
            Builtin::Setup(args) => args.run(ctx),
            Builtin::Completions(args) => args.run(ctx),
            Builtin::Doctor(args) => args.run(ctx),
            Builtin::Credential(cmd) => cmd.run(ctx),
        }
    }

    /// Whether the command looks at installed plugins: a credential helper, run by other
    /// programs before each of their requests, reads none.
    pub fn needs_plugins(&self) -> bool {
        !matches!(self, Builtin::Credential(_))
    }
}

/// Whether `name` is one of lmi's own commands (clap's `help` included), as derived from
/// [`Builtin`]: no list to keep in step by hand.
pub fn is_builtin(name: &str) -> bool {
    name == "help" || Builtin::has_subcommand(name)
}

/// The names of lmi's own commands, from the clap definition.
pub fn builtin_names() -> Vec<String> {
    let cmd = Builtin::augment_subcommands(clap::Command::new("lmi"));
    cmd.get_subcommands()
        .map(|c| c.get_name().to_owned())
        .chain(["help".to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_is_reserved_and_nothing_else() {
        let names = builtin_names();
        assert!(names.len() >= 8, "{names:?}");
        for name in &names {
            assert!(is_builtin(name), "{name}");
        }
        assert!(!is_builtin("hello"));
        // Reserved before a plugin can take them.
        assert!(is_builtin("config") && is_builtin("setup"));
        assert!(!is_builtin("logi"));
    }
}
