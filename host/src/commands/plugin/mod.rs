//! `lmi plugin install | list | info | config | remove | validate | new`: one module each;
//! `install` and `validate` share [`inspect`].

mod config;
mod info;
mod inspect;
mod install;
mod list;
pub mod new;
mod remove;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::{CliError, Ctx};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from a directory holding lmi-plugin.toml and its component.
    Install {
        /// The plugin directory.
        dir: PathBuf,
        /// Use the directory in place (for plugin development): changes to its component are
        /// picked up on the next run.
        #[arg(long)]
        link: bool,
        /// Grant the permissions the plugin asks for without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List installed plugins.
    List,
    /// Show an installed plugin's manifest, permissions and where it came from.
    Info { name: String },
    /// Show the settings an installed plugin declares, whether each is set and where from
    /// (secret values are never shown).
    Config { name: String },
    /// Uninstall a plugin, and delete its data directory (`data = true`).
    Remove {
        name: String,
        /// Keep the plugin's data directory (for a reinstall later).
        #[arg(long)]
        keep_data: bool,
    },
    /// Run every install check on a plugin directory without installing it.
    Validate { dir: PathBuf },
    /// Create a new plugin project: a Rust crate that builds to a component and installs as is.
    New {
        /// The plugin's name, which is also its command: lowercase letters, digits and `-`.
        name: String,
        /// The project directory to create (default: ./<NAME>); it must be new or empty.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// Build against the `plugin-sdk` directory of an lmi checkout instead of the published
        /// SDK (written as a `[patch.crates-io]` entry; default: LMI_SDK_PATH).
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
}

impl PluginCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            PluginCommand::Install { dir, link, yes } => install::run(ctx, &dir, link, yes),
            PluginCommand::List => list::run(ctx),
            PluginCommand::Info { name } => info::run(ctx, &name),
            PluginCommand::Config { name } => config::run(ctx, &name),
            PluginCommand::Remove { name, keep_data } => remove::run(ctx, &name, keep_data),
            PluginCommand::Validate { dir } => validate::run(ctx, &dir),
            PluginCommand::New {
                name,
                path,
                sdk_path,
            } => new::run(ctx, &name, path.as_deref(), sdk_path.as_deref()),
        }
    }
}
