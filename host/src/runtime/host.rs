//! What a running plugin may ask of the host, as contract 0.2 offers it (`cli-context`,
//! `terminal`, `log`, `config`, `invocation`). Every capability is checked against the permissions the
//! user granted at install time; a 0.1 plugin reaches the same functions through
//! `host_v01.rs`.

use super::bindings::v0_2::lmi::plugin::{cli_context, config, invocation, log, terminal, types};
use super::bindings::{HostError, Method, ServiceRequest, ServiceResponse, SsoUser};
use super::state::{State, off_runtime};
use crate::auth::request::ServiceCall;
use crate::auth::{AuthError, ServiceTokenError};

/// Longest plugin log message kept, in characters.
const LOG_LINE_LIMIT: usize = 2000;
/// Bytes of log messages one run may write: a plugin needs no permission to log, so it must
/// not be able to fill the disk or drown the terminal (the log file is not rotated).
pub(super) const LOG_RUN_BUDGET: usize = 256 << 10;

impl types::Host for State {}

impl cli_context::Host for State {
    async fn environment(&mut self) -> Option<String> {
        self.host.settings.active_env().map(str::to_owned)
    }

    async fn is_sso_authenticated(&mut self) -> bool {
        self.host.sso_user().await.is_some()
    }

    async fn get_sso_user(&mut self) -> Option<SsoUser> {
        self.host.sso_identity().await.map(|u| SsoUser {
            subject: u.subject,
            email: u.email,
            name: u.name,
            expires_at: u.expires_at,
        })
    }

    async fn get_token(&mut self, service: Option<String>) -> Result<String, HostError> {
        let env = self
            .host
            .permitted_env(|p| p.service_token, "service_token")?;
        self.host.permitted_service(service.as_deref())?;
        tracing::info!(
            plugin = %self.host.plugin,
            env = %env,
            service = service.as_deref().map(|s| crate::text::line(s, 80)),
            "plugin read a service token"
        );
        let session = self.host.session.clone();
        off_runtime(move || {
            let session = session.get(&env);
            let token = session.service(service.as_deref())?.tokens.token()?;
            Ok(token.expose().to_owned())
        })
        .await?
        .inspect(|_| self.host.auth_hint = None)
        .map_err(|e| self.host.failed(e))
    }

    async fn send_request(
        &mut self,
        request: ServiceRequest,
    ) -> Result<ServiceResponse, HostError> {
        let env = self
            .host
            .permitted_env(|p| p.service_requests, "service_requests")?;
        self.host.permitted_service(request.service.as_deref())?;
        let service = request.service.clone();
        let call = ServiceCall {
            service: request.service,
            method: match request.method {
                Method::Get => reqwest::Method::GET,
                Method::Head => reqwest::Method::HEAD,
                Method::Post => reqwest::Method::POST,
                Method::Put => reqwest::Method::PUT,
                Method::Patch => reqwest::Method::PATCH,
                Method::Delete => reqwest::Method::DELETE,
            },
            path: request.path,
            headers: request.headers,
            body: request.body,
            agent: Some(self.host.user_agent.clone()),
        };
        // The first call opens the session on a worker: it reads the env file and may read
        // the trusted roots, which must not block the run's runtime (and its deadline).
        let session = match self.host.session.opened(&env) {
            Some(session) => session,
            None => {
                let lazy = self.host.session.clone();
                off_runtime(move || {
                    let session = lazy.get(&env);
                    session.prepare(service.as_deref());
                    session
                })
                .await?
            }
        };
        let reply = session.send(call).await.map_err(|e| self.host.failed(e))?;
        Ok(ServiceResponse {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }
}

impl terminal::Host for State {
    async fn info(&mut self) -> terminal::TerminalInfo {
        let t = super::terminal_info::info(&self.host.settings, self.host.color);
        terminal::TerminalInfo {
            stdin_is_terminal: t.stdin,
            stdout_is_terminal: t.stdout,
            stderr_is_terminal: t.stderr,
            width: t.size.map(|(w, _)| w),
            height: t.size.map(|(_, h)| h),
            color: t.color,
        }
    }
}

impl log::Host for State {
    async fn log(&mut self, level: log::Level, message: String) {
        // Plugin text: one line, bounded, no escapes; secrets lmi knows are masked by the
        // log writer (`logging::scrub`) as for every other line. It starts with the plugin's
        // name, so it cannot pass for one of lmi's own lines.
        let plugin = &self.host.plugin;
        if self.host.log_budget == 0 {
            return;
        }
        let text = crate::text::line(&message, LOG_LINE_LIMIT);
        self.host.log_budget = self.host.log_budget.saturating_sub(text.len().max(1));
        if self.host.log_budget == 0 {
            tracing::warn!(
                "plugin {plugin} logged more than {} KiB in this run; its further log messages are dropped",
                LOG_RUN_BUDGET >> 10
            );
            return;
        }
        let message = format!("plugin {plugin}: {text}");
        match level {
            log::Level::Error => tracing::error!("{message}"),
            log::Level::Warn => tracing::warn!("{message}"),
            log::Level::Info => tracing::info!("{message}"),
            // lmi's own finest level is debug (`-vv`): a plugin's trace shows there too.
            log::Level::Debug | log::Level::Trace => tracing::debug!("{message}"),
        }
    }
}

impl config::Host for State {
    /// A declared key's value (resolved before the run, `plugins::config`); any other key
    /// is denied.
    async fn get(&mut self, name: String) -> Result<Option<String>, HostError> {
        self.host.config.get(&name).cloned().ok_or_else(|| {
            HostError::Denied(format!(
                "plugin {} does not declare the configuration key `{}` in its manifest",
                self.host.plugin,
                crate::text::line(&name, 80)
            ))
        })
    }
}

impl invocation::Host for State {
    async fn verbosity(&mut self) -> u8 {
        self.host.invocation.verbosity
    }

    async fn output(&mut self) -> invocation::OutputFormat {
        match self.host.invocation.output {
            crate::output::OutputFormat::Text => invocation::OutputFormat::Text,
            crate::output::OutputFormat::Json => invocation::OutputFormat::Json,
        }
    }

    /// From lmi's copy of the manifest, which install checked (name and semver version).
    async fn plugin(&mut self) -> invocation::PluginIdentity {
        invocation::PluginIdentity {
            name: self.host.invocation.name.clone(),
            version: self.host.invocation.version.clone(),
        }
    }
}

impl super::state::HostState {
    /// A host call failed with `e`: the contract's variant for the plugin, and the hint that
    /// fits the failure kept for the end of the run (the variant alone would lose it: a wrong
    /// client secret and a missing SSO login are both `auth-failed`).
    fn failed(&mut self, e: AuthError) -> HostError {
        if crate::exit::ExitStatus::exit(&e) == crate::exit::Exit::Auth {
            self.auth_hint = e.hint();
        }
        host_error(e)
    }
}

/// Maps the host's own errors onto the contract's variants.
pub fn host_error(e: AuthError) -> HostError {
    let msg = e.to_string();
    match e {
        AuthError::Config(_) => HostError::NotConfigured(msg),
        AuthError::Failed(_)
        | AuthError::SsoRequired(_)
        | AuthError::Token(
            ServiceTokenError::Refused(_)
            | ServiceTokenError::Rejected(_)
            | ServiceTokenError::OverrideRejected(_),
        ) => HostError::AuthFailed(msg),
        // A failing session store: the call did not complete (exit 1, as for lmi's own
        // commands); `auth-failed` would send the user to a sign-in that meets the same store.
        AuthError::Store(_)
        | AuthError::Http { .. }
        | AuthError::Token(ServiceTokenError::Unavailable(_)) => HostError::Network(msg),
        AuthError::InvalidRequest(_) => HostError::InvalidRequest(msg),
    }
}
