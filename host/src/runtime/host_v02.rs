//! Contract 0.2's interfaces, for plugins built against it: each call goes to the 0.3
//! implementation (`host.rs`), so both versions pass the same permission checks. 0.2's
//! `types` are 0.3's (`bindings.rs` shares them), so only the small records and enums of
//! `terminal`, `log` and `invocation` are converted. A 0.2 plugin has no streams: it cannot
//! name `send-request-streaming` or `start-upload`, and its `wasi:http` answers keep 0.2's
//! 32 MiB cap.

use super::bindings::v0_2::lmi::plugin as v2;
use super::bindings::v0_3::lmi::plugin as v3;
use super::bindings::{HostError, ServiceRequest, ServiceResponse, SsoUser};
use super::state::State;

impl v2::cli_context::Host for State {
    async fn environment(&mut self) -> Option<String> {
        v3::cli_context::Host::environment(self).await
    }

    async fn is_sso_authenticated(&mut self) -> bool {
        v3::cli_context::Host::is_sso_authenticated(self).await
    }

    async fn get_sso_user(&mut self) -> Option<SsoUser> {
        v3::cli_context::Host::get_sso_user(self).await
    }

    async fn get_token(&mut self, service: Option<String>) -> Result<String, HostError> {
        v3::cli_context::Host::get_token(self, service).await
    }

    async fn send_request(
        &mut self,
        request: ServiceRequest,
    ) -> Result<ServiceResponse, HostError> {
        v3::cli_context::Host::send_request(self, request).await
    }
}

impl v2::terminal::Host for State {
    async fn info(&mut self) -> v2::terminal::TerminalInfo {
        let t = v3::terminal::Host::info(self).await;
        v2::terminal::TerminalInfo {
            stdin_is_terminal: t.stdin_is_terminal,
            stdout_is_terminal: t.stdout_is_terminal,
            stderr_is_terminal: t.stderr_is_terminal,
            width: t.width,
            height: t.height,
            color: t.color,
        }
    }
}

impl v2::log::Host for State {
    async fn log(&mut self, level: v2::log::Level, message: String) {
        use v2::log::Level as L2;
        use v3::log::Level as L3;
        let level = match level {
            L2::Error => L3::Error,
            L2::Warn => L3::Warn,
            L2::Info => L3::Info,
            L2::Debug => L3::Debug,
            L2::Trace => L3::Trace,
        };
        v3::log::Host::log(self, level, message).await
    }
}

impl v2::config::Host for State {
    async fn get(&mut self, name: String) -> Result<Option<String>, HostError> {
        v3::config::Host::get(self, name).await
    }
}

impl v2::invocation::Host for State {
    async fn verbosity(&mut self) -> u8 {
        v3::invocation::Host::verbosity(self).await
    }

    async fn output(&mut self) -> v2::invocation::OutputFormat {
        match v3::invocation::Host::output(self).await {
            v3::invocation::OutputFormat::Text => v2::invocation::OutputFormat::Text,
            v3::invocation::OutputFormat::Json => v2::invocation::OutputFormat::Json,
        }
    }

    async fn plugin(&mut self) -> v2::invocation::PluginIdentity {
        let p = v3::invocation::Host::plugin(self).await;
        v2::invocation::PluginIdentity {
            name: p.name,
            version: p.version,
        }
    }
}
