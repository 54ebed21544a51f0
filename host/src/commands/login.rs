//! `lmi login sso` and `lmi logout sso`. OWNER: SSO helper (issue 4).

use std::process::ExitCode;

use crate::cli::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum LoginCommand {
    /// Sign in with your organisation's identity provider (Authorization Code + PKCE).
    Sso(SsoLoginArgs),
}

#[derive(Debug, clap::Args)]
pub struct SsoLoginArgs {
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Use the device-authorization grant (a code to enter on another device).
    #[arg(long)]
    pub device: bool,
    /// Listen for the browser's redirect on this loopback port instead of a random one.
    #[arg(long, value_name = "N")]
    pub redirect_port: Option<u16>,
    /// Sign in again even if the current session is valid.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum LogoutCommand {
    /// Revoke the SSO session at the identity provider and delete it locally.
    Sso,
}

impl LoginCommand {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let _ = ctx;
        anyhow::bail!("`lmi login sso` is not implemented yet")
    }
}

impl LogoutCommand {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let _ = ctx;
        anyhow::bail!("`lmi logout sso` is not implemented yet")
    }
}
