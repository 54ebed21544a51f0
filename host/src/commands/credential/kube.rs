//! `lmi credential kube --token sso-id|service`: a kubectl exec credential plugin. It prints
//! one `ExecCredential` (`client.authentication.k8s.io/v1`, or `v1beta1` when kubectl's
//! `KUBERNETES_EXEC_INFO` asks for it) with `status.token` and `status.expirationTimestamp`
//! (RFC 3339).
//!
//! kubectl runs the plugin before every request it makes, so the answer comes from what lmi
//! keeps: the SSO session's verified ID token (`sso-id`, renewed through the one refresh
//! under its lock when it is no longer fresh) or the environment's cached service token
//! (`service`, with `-e`). It never signs in: whatever `interactiveMode` kubectl passes
//! (`Never`, `IfAvailable`, `Always`), a login that is needed is exit 4 with
//! `run: lmi login sso`, which the user runs themselves.

use std::process::ExitCode;

use serde::Deserialize;

use super::core::{self, Chosen};
use crate::commands::{CliError, Ctx};
use crate::output;

const COMMAND: &str = "credential kube";
const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
/// Most bytes of `KUBERNETES_EXEC_INFO` read (kubectl's holds a cluster's CA at most).
const EXEC_INFO_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenKind {
    /// The SSO ID token (an API server configured for your identity provider's OIDC).
    SsoId,
    /// The environment's service token (-e NAME).
    Service,
}

/// What kubectl says about the call, from `KUBERNETES_EXEC_INFO`.
#[derive(Debug, Default, Deserialize)]
struct ExecInfo {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
struct Spec {
    #[serde(default)]
    interactive: Option<bool>,
    #[serde(rename = "interactiveMode", default)]
    interactive_mode: Option<String>,
}

pub fn run(ctx: &Ctx, token: TokenKind) -> Result<ExitCode, CliError> {
    let info = exec_info();
    tracing::debug!(
        "credential kube: kubectl says interactive {:?}, interactiveMode {:?}",
        info.spec.interactive,
        info.spec.interactive_mode
    );
    let api_version = match info.api_version.as_deref() {
        Some(V1BETA1) => V1BETA1,
        _ => V1,
    };
    let (token, expires_at) = match token {
        TokenKind::SsoId => {
            // With -e, the environment's policy (allowed groups) holds for the identity too.
            if let Some(env) = core::named_env(ctx) {
                core::gate(&core::acting_in(ctx, env, Chosen::Named)?, COMMAND)?;
            }
            let (id, warnings) = crate::auth::sso::handout::id_token(&ctx.settings)?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            core::printable(id.token.expose())?;
            (id.token, Some(id.expires_at))
        }
        TokenKind::Service => {
            let env = core::require_named_env(ctx, "credential kube --token service")?;
            let handed = core::service_token(ctx, COMMAND, env, Chosen::Named, None)?;
            (handed.token, handed.expires_at)
        }
    };
    let mut status = serde_json::json!({ "token": token.expose() });
    if let Some(at) = expires_at {
        status["expirationTimestamp"] = core::rfc3339(at).into();
    }
    output::line(serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": status,
    }));
    Ok(ExitCode::SUCCESS)
}

/// `KUBERNETES_EXEC_INFO` as kubectl sets it; absent, too long or malformed counts as absent
/// (logged): it only chooses the answer's version.
fn exec_info() -> ExecInfo {
    #[allow(clippy::disallowed_methods)] // kubectl's own variable, read as kubectl sets it
    let Some(raw) = std::env::var_os("KUBERNETES_EXEC_INFO") else {
        return ExecInfo::default();
    };
    let Some(raw) = raw.to_str().filter(|r| r.len() <= EXEC_INFO_LIMIT) else {
        tracing::warn!("KUBERNETES_EXEC_INFO is not UTF-8 or longer than 1 MiB; ignored");
        return ExecInfo::default();
    };
    serde_json::from_str(raw).unwrap_or_else(|e| {
        tracing::warn!("KUBERNETES_EXEC_INFO is not an ExecCredential ({e}); ignored");
        ExecInfo::default()
    })
}
