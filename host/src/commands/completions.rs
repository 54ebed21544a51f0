//! Shell completion, computed when the user presses TAB: `lmi completions <shell>` prints a
//! small script that asks lmi itself for the candidates ([`VAR`] set, the words after `--`),
//! so environments, installed plugins and their commands are always current.
//!
//! What completes: lmi's commands and options, environment names after `-e`, installed
//! plugin names after `plugin info|config|remove`, and after a plugin command the
//! subcommands its manifest declares. Never lmi's options after a plugin command: every word
//! there is the plugin's.

use std::ffi::OsString;
use std::process::ExitCode;

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::Shells;

use crate::commands::{CliError, Ctx};
use crate::paths::Paths;
use crate::plugins::store::Store;

/// The variable the script sets when it asks lmi for candidates (it names the shell).
pub const VAR: &str = "LMI_COMPLETE";

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Load it from your shell's start-up file, so it always matches the lmi you run:
  bash:  echo 'source <(lmi completions bash)' >> ~/.bashrc
  zsh:   echo 'source <(lmi completions zsh)' >> ~/.zshrc   (after `autoload -U compinit && compinit`)
  fish:  echo 'lmi completions fish | source' >> ~/.config/fish/config.fish
The script asks lmi for candidates as you type, so new environments and plugins complete
without generating it again.")]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl CompletionsArgs {
    pub fn run(self, _ctx: &Ctx) -> Result<ExitCode, CliError> {
        let name = self.shell.to_string();
        let shells = Shells::builtins();
        let shell = shells.completer(&name).ok_or_else(|| {
            CliError::usage(format!("lmi cannot complete for the shell `{name}`"))
        })?;
        let mut out = Vec::new();
        shell
            .write_registration(VAR, "lmi", "lmi", &completer(), &mut out)
            .map_err(|e| CliError::failure(anyhow::anyhow!("cannot write the script: {e}")))?;
        crate::output::line(String::from_utf8_lossy(&out).trim_end());
        Ok(ExitCode::SUCCESS)
    }
}

/// The program the script runs for candidates: `lmi` when it was found on `PATH`, so the
/// script follows upgrades; else this binary's absolute path.
fn completer() -> String {
    let argv0 = std::env::args_os().next().unwrap_or_else(|| "lmi".into());
    let path = std::path::Path::new(&argv0);
    if path.components().count() <= 1 {
        return path.to_string_lossy().into_owned();
    }
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Answers a completion request when [`VAR`] is set: prints the candidates for the words
/// in `argv` and returns the exit code. `None` on a normal run (one variable lookup).
pub fn answer_if_asked(argv: &[OsString], command: impl Fn() -> clap::Command) -> Option<ExitCode> {
    // Not configuration: the completion script's request, read before settings exist.
    #[allow(clippy::disallowed_methods)]
    std::env::var_os(VAR)?;
    let current_dir = std::env::current_dir().ok();
    match clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .try_complete(argv.iter().cloned(), current_dir.as_deref())
    {
        Ok(true) => Some(ExitCode::SUCCESS),
        Ok(false) => None,
        // Nothing reaches the shell but an empty list: a TAB must not print errors.
        Err(_) => Some(ExitCode::FAILURE),
    }
}

/// Candidates for `-e/--env`: the environments in the configuration directory.
pub fn environments() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Ok(paths) = Paths::from_env() else {
            return Vec::new();
        };
        crate::settings::Environments::in_dir(&paths.env_dir())
            .names
            .into_iter()
            .map(CompletionCandidate::new)
            .collect()
    })
}

/// Candidates for a plugin name: the installed plugins, with their descriptions.
pub fn plugin_names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Ok(paths) = Paths::from_env() else {
            return Vec::new();
        };
        let (plugins, _) = Store::new(&paths).list();
        plugins
            .into_iter()
            .map(|p| {
                let about = p.manifest.description.as_deref().unwrap_or_default();
                CompletionCandidate::new(p.manifest.name.clone())
                    .help(Some(crate::text::shell_safe_line(about, 200).into()))
            })
            .collect()
    })
}
