//! Contract 0.1's `cli-context`, for plugins built against it: each call goes to the 0.3
//! implementation (`host.rs`), so both versions pass the same permission checks; only the
//! types are converted. A 0.1 plugin cannot name a service, and has no `terminal`, `log` or
//! `config` to call.

use super::bindings::v0_1::lmi::plugin::{cli_context, types as v1};
use super::bindings::{self, HostError, Method, PluginError};
use super::state::State;

impl v1::Host for State {}

impl cli_context::Host for State {
    async fn environment(&mut self) -> Option<String> {
        bindings::v0_3::lmi::plugin::cli_context::Host::environment(self).await
    }

    async fn is_sso_authenticated(&mut self) -> bool {
        bindings::v0_3::lmi::plugin::cli_context::Host::is_sso_authenticated(self).await
    }

    async fn get_sso_user(&mut self) -> Option<v1::SsoUser> {
        bindings::v0_3::lmi::plugin::cli_context::Host::get_sso_user(self)
            .await
            .map(|u| v1::SsoUser {
                subject: u.subject,
                email: u.email,
                name: u.name,
                expires_at: u.expires_at,
            })
    }

    async fn get_token(&mut self) -> Result<String, v1::HostError> {
        bindings::v0_3::lmi::plugin::cli_context::Host::get_token(self, None)
            .await
            .map_err(to_v01)
    }

    async fn send_request(
        &mut self,
        request: v1::ServiceRequest,
    ) -> Result<v1::ServiceResponse, v1::HostError> {
        let request = bindings::ServiceRequest {
            service: None,
            method: match request.method {
                v1::Method::Get => Method::Get,
                v1::Method::Head => Method::Head,
                v1::Method::Post => Method::Post,
                v1::Method::Put => Method::Put,
                v1::Method::Patch => Method::Patch,
                v1::Method::Delete => Method::Delete,
            },
            path: request.path,
            // 0.1 let a plugin name its own User-Agent; 0.2 refuses it, as lmi names the
            // plugin. A 0.1 plugin keeps working: its value is dropped, lmi's is sent.
            headers: request
                .headers
                .into_iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("user-agent"))
                .collect(),
            body: request.body,
        };
        bindings::v0_3::lmi::plugin::cli_context::Host::send_request(self, request)
            .await
            .map(|r| v1::ServiceResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(to_v01)
    }
}

fn to_v01(e: HostError) -> v1::HostError {
    match e {
        HostError::NotConfigured(m) => v1::HostError::NotConfigured(m),
        HostError::Denied(m) => v1::HostError::Denied(m),
        HostError::AuthFailed(m) => v1::HostError::AuthFailed(m),
        HostError::Network(m) => v1::HostError::Network(m),
        HostError::InvalidRequest(m) => v1::HostError::InvalidRequest(m),
    }
}

/// A 0.1 plugin's failure, in the current contract's terms.
pub(super) fn plugin_error(e: v1::PluginError) -> PluginError {
    match e {
        v1::PluginError::Usage(m) => PluginError::Usage(m),
        v1::PluginError::Failed(m) => PluginError::Failed(m),
        v1::PluginError::Host(h) => PluginError::Host(match h {
            v1::HostError::NotConfigured(m) => HostError::NotConfigured(m),
            v1::HostError::Denied(m) => HostError::Denied(m),
            v1::HostError::AuthFailed(m) => HostError::AuthFailed(m),
            v1::HostError::Network(m) => HostError::Network(m),
            v1::HostError::InvalidRequest(m) => HostError::InvalidRequest(m),
        }),
    }
}
