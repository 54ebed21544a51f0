//! `lmi completions <shell>`: completion scripts that know the installed plugin commands.
//!
//! The script is generated from the same `clap::Command` that parses the command line
//! (`cli::build_command`), so it lists exactly the built-ins and the commands of the plugins
//! installed at the time; it is static, so regenerate it after installing or removing one.

use std::process::ExitCode;

use crate::commands::{CliError, Ctx};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install the script where your shell looks for completions, for example:
  bash:  lmi completions bash > ~/.local/share/bash-completion/completions/lmi
  zsh:   lmi completions zsh > ~/.zfunc/_lmi   (with `fpath+=~/.zfunc` before `compinit`)
  fish:  lmi completions fish > ~/.config/fish/completions/lmi.fish
The script includes the commands of the plugins installed now: run it again after
`lmi plugin install` or `lmi plugin remove`.")]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl CompletionsArgs {
    pub fn run(self, _ctx: &Ctx, mut command: clap::Command) -> Result<ExitCode, CliError> {
        let mut out = Vec::new();
        clap_complete::generate(self.shell, &mut command, "lmi", &mut out);
        crate::output::line(String::from_utf8_lossy(&out).trim_end());
        Ok(ExitCode::SUCCESS)
    }
}
