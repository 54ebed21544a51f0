//! What a running plugin may ask of the host, as contract 0.3 offers it (`cli-context`,
//! `terminal`, `log`, `config`, `invocation`). Every capability is checked against the permissions the
//! user granted at install time; 0.1 and 0.2 plugins reach the same functions through
//! `host_v01.rs` and `host_v02.rs`. The streams of 0.3 are `stream.rs`.

use super::bindings::v0_3::lmi::plugin::{cli_context, config, invocation, log, terminal, types};
use super::bindings::{Contract, HostError, Method, ServiceRequest, ServiceResponse, SsoUser};
use super::state::{State, off_runtime};
use crate::audit::{Actor, ErrorKind, Outcome, Refusal, Use};
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
        self.host.audit_ready()?;
        let result = self.read_token(service.clone()).await;
        self.host.audited(
            Use::Token {
                service: service.as_deref(),
            },
            result,
        )
    }

    async fn send_request(
        &mut self,
        request: ServiceRequest,
    ) -> Result<ServiceResponse, HostError> {
        self.host.audit_ready()?;
        let service = request.service.clone();
        let method = method_name(request.method);
        let path = crate::audit::record_path(&request.path);
        let result = self.send(request).await;
        let used = Use::ServiceRequest {
            service: service.as_deref(),
            method,
            path: &path,
            status: result.as_ref().ok().map(|r| r.status),
        };
        self.host.audited(used, result)
    }

    async fn send_request_streaming(
        &mut self,
        request: ServiceRequest,
    ) -> Result<cli_context::StreamedResponse, HostError> {
        self.send_streaming(request).await
    }

    async fn start_upload(
        &mut self,
        request: ServiceRequest,
    ) -> Result<wasmtime::component::Resource<super::stream::Upload>, HostError> {
        State::start_upload(self, request).await
    }
}

/// `cli-context`'s two uses of credentials, as the gate and the session carry them out; the
/// interface functions above wrap each in its audit record.
impl State {
    async fn read_token(&mut self, service: Option<String>) -> Result<String, HostError> {
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

    async fn send(&mut self, request: ServiceRequest) -> Result<ServiceResponse, HostError> {
        // Bodies held in memory are capped (a 0.2 plugin keeps 0.2's rule: its memory cap).
        if self.host.contract >= Contract::V0_3
            && request
                .body
                .as_ref()
                .is_some_and(|b| b.len() as u64 > crate::auth::http::SERVICE_BODY_LIMIT)
        {
            return Err(HostError::InvalidRequest(format!(
                "a request body held in memory may be at most {} MiB: stream a larger one with `start-upload`",
                crate::auth::http::SERVICE_BODY_LIMIT >> 20
            )));
        }
        let (session, call) = self.service_call(request).await?;
        let reply = session.send(call).await.map_err(|e| self.host.failed(e))?;
        Ok(ServiceResponse {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }

    /// The gate for a service request (the permission, the environment, the service), then
    /// the request as the session sends it, and the session (opened on first use).
    pub(super) async fn service_call(
        &mut self,
        request: ServiceRequest,
    ) -> Result<
        (
            std::sync::Arc<crate::auth::session::EnvSession>,
            ServiceCall,
        ),
        HostError,
    > {
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
        Ok((session, call))
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

pub(super) fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// How a host call ended, for the audit trail: `denied` is lmi's permission gate refusing
/// the use; the other kinds are uses lmi allowed that failed.
fn audit_outcome(e: &HostError) -> Outcome {
    match e {
        HostError::Denied(_) => Outcome::Refused(Refusal::Permission),
        HostError::NotConfigured(_) => Outcome::Failed(ErrorKind::NotConfigured),
        HostError::AuthFailed(_) => Outcome::Failed(ErrorKind::AuthFailed),
        HostError::Network(_) => Outcome::Failed(ErrorKind::Network),
        HostError::InvalidRequest(_) => Outcome::Failed(ErrorKind::InvalidRequest),
    }
}

impl super::state::HostState {
    /// Opens the audit trail before a credential is used: one that cannot be written refuses
    /// the use (`denied`) before anything is fetched or sent.
    pub(super) fn audit_ready(&mut self) -> Result<(), HostError> {
        self.audit
            .ready(&self.settings)
            .map_err(|e| self.audit_failure(e))
    }

    /// Records the use `used` that ended in `result`, and hands `result` on only if the
    /// record was written: otherwise the token or the answer is dropped (fail closed).
    pub(super) fn audited<T>(
        &mut self,
        used: Use<'_>,
        result: Result<T, HostError>,
    ) -> Result<T, HostError> {
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(e) => audit_outcome(e),
        };
        if let Some(known) = &self.sso {
            self.audit
                .know_subject(known.as_ref().map(|u| u.subject.clone()));
        }
        let actor = Actor::plugin(
            &self.invocation.name,
            &self.invocation.version,
            &self.command,
        );
        match self.audit.record(&self.settings, &actor, used, outcome) {
            Ok(()) => result,
            Err(e) => Err(self.audit_failure(e)),
        }
    }

    /// The trail cannot be written: said once per run on stderr in lmi's voice (whatever the
    /// plugin makes of its error), and `denied` to the plugin.
    fn audit_failure(&mut self, e: crate::audit::AuditError) -> HostError {
        if !self.audit_failed {
            self.audit_failed = true;
            tracing::error!("{e}");
        }
        HostError::Denied(e.to_string())
    }

    /// A host call failed with `e`: the contract's variant for the plugin, and the hint that
    /// fits the failure kept for the end of the run (the variant alone would lose it: a wrong
    /// client secret and a missing SSO login are both `auth-failed`).
    pub(super) fn failed(&mut self, e: AuthError) -> HostError {
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
            | ServiceTokenError::OverrideRejected(_)
            | ServiceTokenError::OverrideExpired(_),
        ) => HostError::AuthFailed(msg),
        // A failing session store or keychain: the call did not complete (exit 1, as for lmi's own
        // commands); `auth-failed` would send the user to a sign-in that meets the same store.
        AuthError::Store(_)
        | AuthError::Keychain(_)
        | AuthError::Http { .. }
        | AuthError::Token(ServiceTokenError::Unavailable(_)) => HostError::Network(msg),
        AuthError::InvalidRequest(_) => HostError::InvalidRequest(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::http::HttpFailure;
    use crate::auth::sso::store::SessionStoreError;

    /// The audit trail names the kind a plugin got: `ErrorKind::of_auth` (used where there
    /// is no plugin, `lmi auth token`) and `host_error` must agree on every cause.
    #[test]
    fn the_audit_kind_of_an_auth_error_is_the_one_the_plugin_gets() {
        let causes: Vec<fn() -> AuthError> = vec![
            || {
                AuthError::Config(crate::settings::ConfigError::MissingKey {
                    key: "OAUTH_TOKEN_URL".into(),
                    file: "dev.env".into(),
                })
            },
            || AuthError::Failed("x".into()),
            || AuthError::SsoRequired("x".into()),
            || AuthError::Store(SessionStoreError::Failed("x".into())),
            || AuthError::Keychain(crate::keychain::KeychainError::Unavailable("x".into())),
            || AuthError::Token(ServiceTokenError::Refused("x".into())),
            || AuthError::Token(ServiceTokenError::Rejected("x".into())),
            || AuthError::Token(ServiceTokenError::OverrideRejected("x".into())),
            || AuthError::Token(ServiceTokenError::OverrideExpired("x".into())),
            || AuthError::Token(ServiceTokenError::Unavailable("x".into())),
            || AuthError::Http {
                context: "x".into(),
                cause: HttpFailure::Timeout(3, "LMI_HTTP_TIMEOUT_SECS"),
            },
            || AuthError::InvalidRequest("x".into()),
        ];
        for cause in causes {
            assert_eq!(
                audit_outcome(&host_error(cause())),
                Outcome::Failed(ErrorKind::of_auth(&cause())),
                "{:?}",
                cause()
            );
        }
    }
}
