//! `lmi doctor`: one line per check, a fix for each failure, non-zero exit when something is
//! wrong. OWNER: hardening helper (issue 6).

use std::process::ExitCode;

use crate::cli::Ctx;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

impl DoctorArgs {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let _ = ctx;
        anyhow::bail!("`lmi doctor` is not implemented yet")
    }
}
