//! `lmi completions <shell>`: completion scripts that know the installed plugin commands.

use std::process::ExitCode;

use crate::cli::Ctx;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl CompletionsArgs {
    pub fn run(self, _ctx: &Ctx, mut command: clap::Command) -> anyhow::Result<ExitCode> {
        let mut out = Vec::new();
        clap_complete::generate(self.shell, &mut command, "lmi", &mut out);
        crate::output::line(String::from_utf8_lossy(&out).trim_end());
        Ok(ExitCode::SUCCESS)
    }
}
