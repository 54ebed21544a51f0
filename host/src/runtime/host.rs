//! `cli-context`: what a running plugin may ask of the host. Every capability is checked
//! against the permissions the user granted at install time.

use super::bindings::lmi::plugin::{cli_context, types};
use super::bindings::{HostError, Method, ServiceRequest, ServiceResponse, SsoUser};
use super::state::{State, off_runtime};
use crate::auth::request::ServiceCall;
use crate::auth::{AuthError, ServiceTokenError};

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

    async fn get_token(&mut self) -> Result<String, HostError> {
        let env = self
            .host
            .permitted_env(|p| p.service_token, "service_token")?;
        tracing::info!(plugin = %self.host.plugin, env = %env, "plugin read the service token");
        let session = self.host.session.clone();
        off_runtime(move || session.get(&env).token().map(|t| t.expose().to_owned()))
            .await?
            .map_err(host_error)
    }

    async fn send_request(
        &mut self,
        request: ServiceRequest,
    ) -> Result<ServiceResponse, HostError> {
        let env = self
            .host
            .permitted_env(|p| p.service_requests, "service_requests")?;
        let call = ServiceCall {
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
        };
        // The first call opens the session on a worker: it reads the env file and may read
        // the trusted roots, which must not block the run's runtime (and its deadline).
        let session = match self.host.session.opened(&env) {
            Some(session) => session,
            None => {
                let lazy = self.host.session.clone();
                off_runtime(move || {
                    let session = lazy.get(&env);
                    session.prepare();
                    session
                })
                .await?
            }
        };
        let reply = session.send(call).await.map_err(host_error)?;
        Ok(ServiceResponse {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }
}

/// Maps the host's own errors onto the contract's variants.
pub fn host_error(e: AuthError) -> HostError {
    let msg = e.to_string();
    match e {
        AuthError::Config(_) => HostError::NotConfigured(msg),
        AuthError::Failed(_)
        | AuthError::SsoRequired(_)
        | AuthError::Token(ServiceTokenError::Refused(_) | ServiceTokenError::Rejected(_)) => {
            HostError::AuthFailed(msg)
        }
        // A failing session store: the call did not complete (exit 1, as for lmi's own
        // commands); `auth-failed` would send the user to a sign-in that meets the same store.
        AuthError::Store(_)
        | AuthError::Http { .. }
        | AuthError::Token(ServiceTokenError::Unavailable(_)) => HostError::Network(msg),
        AuthError::InvalidRequest(_) => HostError::InvalidRequest(msg),
    }
}
