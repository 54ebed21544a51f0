//! `lmi plugin install | list | info | config | remove | validate | new | sign | digest |
//! verify`: one module each; `install` and `validate` share [`inspect`].

mod config;
mod info;
mod inspect;
mod install;
mod list;
pub mod new;
mod publish;
mod remove;
mod sign;
mod upgrade;
mod validate;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands::{CliError, Ctx};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from a directory holding lmi-plugin.toml and its component, or from
    /// a registry: oci://HOST[:PORT]/REPOSITORY:TAG or oci://HOST/REPOSITORY@sha256:DIGEST.
    Install {
        /// The plugin directory, or an oci:// reference.
        #[arg(value_name = "DIR|oci://…")]
        source: PathBuf,
        /// Use the directory in place (for plugin development): changes to its component are
        /// picked up on the next run.
        #[arg(long)]
        link: bool,
        /// Grant the permissions the plugin asks for without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Install it even though LMI_PLUGIN_REQUIRE_SIGNATURE=true and it is not signed by a
        /// trusted key. A signature that does not verify is refused all the same.
        #[arg(long)]
        allow_unsigned: bool,
        /// Keep a registry plugin on the digest installed: `upgrade` reports newer versions
        /// but leaves it.
        #[arg(long)]
        pin: bool,
    },
    /// Check a plugin directory as install would, then push it to a registry as an OCI
    /// artifact (with its lmi-plugin.minisig when the directory has one).
    Publish {
        /// The plugin directory.
        dir: PathBuf,
        /// Where to: oci://HOST[:PORT]/REPOSITORY:TAG.
        #[arg(value_name = "oci://…:TAG")]
        target: String,
        /// Sign it first with this minisign secret key (as `lmi plugin sign DIR --key FILE`
        /// does), so the signature travels with it.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// List plugins installed from a registry whose repository has a newer version this lmi
    /// can run (or whose tag moved).
    Outdated,
    /// Install the newer versions `outdated` lists; new permissions are asked for.
    Upgrade {
        /// The plugin to upgrade.
        name: Option<String>,
        /// Upgrade every plugin installed from a registry.
        #[arg(long)]
        all: bool,
        /// Say what would be upgraded, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Grant what a new version asks for without asking (for scripts).
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
    /// Sign a plugin directory: writes DIR/lmi-plugin.minisig, a minisign signature of its
    /// component's and manifest's digests (see `lmi plugin digest`).
    ///
    /// An encrypted key's password is asked for on the terminal, or read from
    /// LMI_SIGNING_KEY_PASSWORD.
    Sign {
        /// The plugin directory.
        dir: PathBuf,
        /// A minisign secret key file (`minisign -G` makes one).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Print the statement a plugin signature signs, for signing with the minisign tool:
    /// `lmi plugin digest DIR > stmt && minisign -S -s KEY -m stmt -x DIR/lmi-plugin.minisig`.
    Digest { dir: PathBuf },
    /// Check an installed plugin's files against its signature and the trusted keys now:
    /// exit 0 only when a trusted key's signature verifies.
    Verify { name: String },
    /// Create a new plugin project: a Rust crate that builds to a component and installs as is.
    ///
    /// The SDK comes from where you say (--sdk-git, --sdk-registry or --sdk-path, or the
    /// LMI_SDK_GIT, LMI_SDK_REGISTRY or LMI_SDK_PATH setting); lmi does not take it from
    /// crates.io, where the name is not lmi's.
    New {
        /// The plugin's name, which is also its command: lowercase letters, digits and `-`.
        name: String,
        /// The project directory to create (default: ./<NAME>); it must be new or empty.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// What the plugin does, in one line: the manifest's `description` and its command's
        /// `about` (shown by `lmi --help`), and Cargo's `description`.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Take the SDK from this git repository (an lmi repository or fork holding
        /// plugin-sdk/; https, ssh, or http on loopback); or the setting LMI_SDK_GIT.
        #[arg(long, value_name = "URL", group = "sdk")]
        sdk_git: Option<String>,
        /// The tag, branch or commit of --sdk-git (or LMI_SDK_GIT) to build against.
        #[arg(long, value_name = "REV")]
        sdk_rev: Option<String>,
        /// Take the SDK from this cargo registry, as named in your cargo configuration
        /// ([registries.NAME]); or the setting LMI_SDK_REGISTRY.
        #[arg(long, value_name = "NAME", group = "sdk")]
        sdk_registry: Option<String>,
        /// Take the SDK from this directory: the plugin-sdk of an lmi checkout, written
        /// relative to the project; or the setting LMI_SDK_PATH.
        #[arg(long, value_name = "DIR", group = "sdk")]
        sdk_path: Option<PathBuf>,
    },
}

impl PluginCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            // `lmi --yes plugin install DIR` answers as `lmi plugin install DIR --yes` does.
            PluginCommand::Install {
                source,
                link,
                yes,
                pin,
                allow_unsigned,
            } => install::run(
                ctx,
                &source,
                install::Options {
                    link,
                    yes: yes || ctx.yes,
                    pin,
                    allow_unsigned,
                },
            ),
            PluginCommand::Publish { dir, target, sign } => {
                publish::run(ctx, &dir, &target, sign.as_deref())
            }
            PluginCommand::Outdated => upgrade::outdated(ctx),
            PluginCommand::Upgrade {
                name,
                all,
                dry_run,
                yes,
            } => upgrade::upgrade(ctx, name.as_deref(), all, dry_run, yes),
            PluginCommand::List => list::run(ctx),
            PluginCommand::Info { name } => info::run(ctx, &name),
            PluginCommand::Config { name } => config::run(ctx, &name),
            PluginCommand::Remove { name, keep_data } => remove::run(ctx, &name, keep_data),
            PluginCommand::Validate { dir } => validate::run(ctx, &dir),
            PluginCommand::Sign { dir, key } => sign::sign(ctx, &dir, &key),
            PluginCommand::Digest { dir } => sign::digest(ctx, &dir),
            PluginCommand::Verify { name } => verify::run(ctx, &name),
            PluginCommand::New {
                name,
                path,
                description,
                sdk_git,
                sdk_rev,
                sdk_registry,
                sdk_path,
            } => {
                let sdk = new::SdkFlags {
                    path: sdk_path,
                    git: sdk_git,
                    rev: sdk_rev,
                    registry: sdk_registry,
                };
                new::run(ctx, &name, path.as_deref(), description.as_deref(), &sdk)
            }
        }
    }
}
