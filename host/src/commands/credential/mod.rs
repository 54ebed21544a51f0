//! `lmi credential git | docker | kube | process`: the user's lmi login handed to other
//! programs through their own credential protocols, one module each. They share [`core`]
//! (which environment, the policy gate, the token, the audit line), [`hosts`] (which
//! environment a host belongs to) and [`input`] (the bounded protocol input).
//!
//! Rules every helper keeps (they are run by other programs, not by a person):
//! - the environment is explicit: `-e NAME` on the command line, or the one environment whose
//!   service URL or `LMI_GIT_HOSTS` names the host asked about; never `LMI_ENV` or
//!   `default_environment`, and two environments claiming one host is an error, not a guess;
//! - nothing prompts and nothing opens a browser: a login that is needed is exit 4 with
//!   `run: lmi login sso`;
//! - an environment's token passes the same policy gate as `lmi auth token`, and is recorded
//!   in the audit trail;
//! - stdout carries the protocol's answer and nothing else; every message goes to stderr.

mod core;
mod docker;
mod git;
mod hosts;
mod input;
mod kube;
mod process;

use std::process::ExitCode;

use crate::commands::{CliError, Ctx};

#[derive(Debug, clap::Subcommand)]
pub enum CredentialCommand {
    /// git's credential helper: `git config --global credential.https://HOST.helper '!lmi credential git'`.
    Git {
        /// What git asks: `get` (answered for a host of an environment), `store` and `erase`
        /// (accepted, nothing kept); any other is ignored, as git asks of helpers.
        action: String,
    },
    /// docker's credential helper (`"credHelpers": {"HOST": "lmi"}` with `docker-credential-lmi`
    /// on PATH, a link to lmi).
    Docker {
        /// `get`, `list`, `store` or `erase`.
        action: String,
    },
    /// kubectl's exec credential plugin: prints an ExecCredential.
    Kube {
        /// `sso-id`: your SSO ID token (the API server trusts your identity provider);
        /// `service`: the environment's service token (with -e).
        #[arg(long, value_enum)]
        token: kube::TokenKind,
    },
    /// One JSON object with the environment's service token, for any other program (-e required).
    Process {
        /// The token of one of the environment's named services (OAUTH_SERVICE_<NAME>_URL).
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
    },
}

impl CredentialCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            CredentialCommand::Git { action } => git::run(ctx, &action),
            CredentialCommand::Docker { action } => docker::run(ctx, &action),
            CredentialCommand::Kube { token } => kube::run(ctx, token),
            CredentialCommand::Process { service } => process::run(ctx, service.as_deref()),
        }
    }
}
