//! `lmi env`: the environments in `~/.config/lmi/env/`. `list` shows them, `add` creates one
//! (its grant tried first), `show` prints one's keys and where each comes from, `remove`
//! deletes one with its cached tokens and keychain items, `secure` moves the plaintext
//! secrets of one's file into the keychain. Where an environment's secret is kept is decided
//! in one place, `secrets`.

mod add;
mod list;
mod remove;
mod secrets;
mod secure;
mod show;

use std::process::ExitCode;

use crate::commands::{CliError, Ctx};

pub use add::{Added, NewEnvironment, add_environment, try_planned};
pub use secrets::{Placement, check_placement, place_secrets, store_secret, with_left};
pub(crate) use secrets::{rotate_secret, rotation_placement, unset_secret};

#[derive(Debug, clap::Subcommand)]
pub enum EnvCommand {
    /// List the environments found in ~/.config/lmi/env/ and mark the default.
    List,
    /// Add an environment: writes ~/.config/lmi/env/NAME.env after trying its grant. The
    /// secret is read from stdin (--secret-stdin) or asked for with hidden input, never
    /// taken from an argument.
    Add(add::AddArgs),
    /// Show every key of an environment, its value and where it comes from (secrets masked).
    Show {
        /// The environment.
        name: String,
    },
    /// Remove an environment: its file, its cached tokens and its secrets in the OS keychain
    /// (asks first; --yes answers).
    Remove {
        /// The environment.
        name: String,
    },
    /// Move the plaintext OAUTH_CLIENT_SECRET / OAUTH_PASSWORD of NAME's file into the OS
    /// keychain and remove their lines from the file (a different item already there is
    /// replaced only after a question, or --yes).
    Secure {
        /// The environment.
        name: String,
    },
}

impl EnvCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            EnvCommand::List => list::run(ctx),
            EnvCommand::Add(args) => args.run(ctx),
            EnvCommand::Show { name } => show::run(ctx, &name),
            EnvCommand::Remove { name } => remove::run(ctx, &name),
            EnvCommand::Secure { name } => secure::run(ctx, &name),
        }
    }
}
