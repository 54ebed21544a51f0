//! The state a run's store holds: WASI's context and resource table, the memory cap, and
//! what the host knows about the plugin ([`HostState`]), which the `cli-context`
//! implementation (`host.rs`) answers from.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::HostError;
use super::limits::MemoryCap;
use crate::auth::sso::SsoUser;
use crate::plugins::manifest::Permissions;
use crate::settings::Settings;

/// What the host knows while a plugin runs.
pub struct HostState {
    pub plugin: String,
    pub permissions: Permissions,
    pub settings: Settings,
    pub(super) sso: Option<Option<SsoUser>>,
    /// Whether `get-sso-user` answers: the command `requires_sso` (the install prompt
    /// promised it the identity) or the plugin was granted `sso_identity`.
    identity: bool,
    /// The active env's service session, opened by the first host call that needs it.
    pub(super) session: crate::auth::session::LazySession,
    /// How many more bytes of `log.log` messages this run may write (see `host.rs`).
    pub(super) log_budget: usize,
    /// The plugin's declared settings and their values (`config.get`).
    pub(super) config: std::collections::BTreeMap<String, Option<String>>,
    /// `--color`, for `terminal.info`.
    pub(super) color: crate::output::ColorChoice,
    /// What to tell the user if the run ends in `auth-failed`: the hint of the last host
    /// call that failed authentication (`None`: the plugin's own verdict; sign in).
    pub(super) auth_hint: Option<&'static str>,
    /// The directories the run may open (`files`, `data`); none by default.
    pub(super) preopens: super::preopens::Preopens,
    /// The `User-Agent` of the plugin's requests ([`user_agent`]).
    pub(super) user_agent: String,
    /// What `invocation` answers: lmi's own options and the plugin's identity.
    pub(super) invocation: Invocation,
    /// The audit trail of the run's credential use (`host.rs` writes it).
    pub(super) audit: crate::audit::Trail,
    /// The command word the plugin runs as (set by the sandbox), for the audit trail.
    pub(super) command: String,
    /// The run already printed that its audit trail cannot be written.
    pub(super) audit_failed: bool,
    /// The contract the plugin was built against (set by the sandbox): 0.2 keeps 0.2's
    /// limits where 0.3 changed them.
    pub(super) contract: super::bindings::Contract,
    /// Slots for the streamed answers and uploads open at once (`stream.rs`).
    pub(super) streams: std::sync::Arc<tokio::sync::Semaphore>,
}

/// What the `invocation` interface tells a plugin: the options given to lmi before the
/// command word, and the plugin's name and version from its installed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `-v` counted: 1 for `-v`, 2 for `-vv`.
    pub verbosity: u8,
    pub output: crate::output::OutputFormat,
    pub name: String,
    pub version: String,
}

/// The `User-Agent` of the requests a plugin makes through lmi, to its services and to its
/// `allowed_hosts`: `<plugin>/<version> lmi/<version>`, so a service can tell plugins apart.
/// `label` is the plugin's `name version` (`Installed::label`); the manifest's rules for
/// both (a lowercase name, a semver version) keep them valid in the header.
pub fn user_agent(label: &str) -> String {
    let lmi = concat!("lmi/", env!("CARGO_PKG_VERSION"));
    let plugin = label.trim().replacen(' ', "/", 1);
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c);
    if plugin.is_empty() || !plugin.chars().all(token) {
        return lmi.to_owned();
    }
    format!("{plugin} {lmi}")
}

impl HostState {
    pub fn new(plugin: String, permissions: Permissions, settings: Settings) -> Self {
        Self {
            user_agent: user_agent(&plugin),
            identity: permissions.sso_identity,
            permissions,
            session: crate::auth::session::LazySession::new(settings.clone()),
            audit: crate::audit::Trail::new(),
            command: String::new(),
            audit_failed: false,
            contract: super::bindings::Contract::V0_3,
            streams: super::stream::slots(),
            settings,
            sso: None,
            log_budget: super::host::LOG_RUN_BUDGET,
            config: std::collections::BTreeMap::new(),
            color: crate::output::ColorChoice::Auto,
            auth_hint: None,
            preopens: super::preopens::Preopens::default(),
            // Dispatch sets it from the command line and the manifest (`with_invocation`).
            invocation: Invocation {
                verbosity: 0,
                output: crate::output::OutputFormat::Text,
                name: plugin.clone(),
                version: String::new(),
            },
            plugin,
        }
    }

    /// lmi's `-v` and `--output`, and the plugin's name and version, for `invocation`.
    pub fn with_invocation(mut self, invocation: Invocation) -> Self {
        self.invocation = invocation;
        self
    }

    /// The directories the run may open, decided from the same permissions
    /// ([`super::preopens::Preopens::for_run`]).
    pub fn with_preopens(mut self, preopens: super::preopens::Preopens) -> Self {
        self.preopens = preopens;
        self
    }

    /// `--color`, which `terminal.info` honours before the environment's conventions.
    pub fn with_color(mut self, color: crate::output::ColorChoice) -> Self {
        self.color = color;
        self
    }

    /// The plugin's declared settings and their values (`plugins::config::values`).
    pub fn with_config(
        mut self,
        config: std::collections::BTreeMap<String, Option<String>>,
    ) -> Self {
        self.config = config;
        self
    }

    /// The command being run `requires_sso`: it was promised the user's identity.
    pub fn requires_sso(mut self, requires: bool) -> Self {
        self.identity |= requires;
        self
    }

    /// The SSO user's identity, if this run may see it (see `identity`).
    pub async fn sso_identity(&mut self) -> Option<SsoUser> {
        if !self.identity {
            tracing::debug!(plugin = %self.plugin, "withheld the SSO identity: not requires_sso, no sso_identity grant");
            return None;
        }
        self.sso_user().await
    }

    /// Seeds the SSO lookup with a result the caller already has (the `requires_sso` gate).
    pub fn with_sso(mut self, user: Option<SsoUser>) -> Self {
        self.sso = Some(user);
        self
    }

    /// The SSO user, looked up once per run (it may involve the keychain, never the
    /// network): a host call never renews the session, see `sso::stored_user`.
    pub async fn sso_user(&mut self) -> Option<SsoUser> {
        if self.sso.is_none() {
            use crate::auth::sso;
            let found = match sso::current_user_without_keychain(&self.settings) {
                Some(found) => found,
                None => {
                    let settings = self.settings.clone();
                    match off_runtime(move || sso::stored_user(&settings)).await {
                        Ok(found) => found,
                        Err(e) => {
                            tracing::warn!("SSO session unavailable to plugin: {e:?}");
                            Ok(None)
                        }
                    }
                }
            };
            let user = match found {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!("SSO session unavailable to plugin: {e}");
                    None
                }
            };
            self.sso = Some(user);
        }
        self.sso.clone().flatten()
    }

    /// The active env, if the plugin holds `permission` for it.
    pub fn permitted_env(
        &self,
        has: impl Fn(&Permissions) -> bool,
        permission: &str,
    ) -> Result<String, HostError> {
        if !has(&self.permissions) {
            return Err(HostError::Denied(format!(
                "plugin {} did not ask for the `{permission}` permission in its manifest",
                self.plugin
            )));
        }
        let env = self
            .settings
            .require_env()
            .map_err(|e| HostError::NotConfigured(e.to_string()))?;
        if !self.permissions.allows_env(env) {
            return Err(HostError::Denied(format!(
                "plugin {} may not use credentials in environment `{env}` (it may use: {})",
                self.plugin,
                self.permissions.environments.join(", ")
            )));
        }
        Ok(env.to_owned())
    }
}

impl HostState {
    /// Whether the plugin may use its service permissions with `service` (`None`: the
    /// environment's default service, which every service permission covers).
    pub fn permitted_service(&self, service: Option<&str>) -> Result<(), HostError> {
        match service {
            None => Ok(()),
            Some(name)
                if self
                    .permissions
                    .services
                    .iter()
                    .any(|s| s == name || s == "*") =>
            {
                Ok(())
            }
            Some(name) => Err(HostError::Denied(format!(
                "plugin {} did not ask for the service `{}` in its manifest (`services` in [permissions])",
                self.plugin,
                crate::text::line(name, 80)
            ))),
        }
    }
}

/// [`crate::blocking::off_runtime`], failing as a host call does: for the keychain (the
/// stored SSO user, `sso::stored_user`, which never refreshes), the env file and the token
/// path. Never for an SSO refresh with rotation, which must not be abandoned between
/// spending a refresh token and storing its successor.
pub async fn off_runtime<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, HostError> {
    crate::blocking::off_runtime(work)
        .await
        .map_err(|e| HostError::Network(format!("the host call failed: {e}")))
}

pub struct State {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryCap,
    pub host: HostState,
    /// `wasi:http` (contract 0.2, `allowed_hosts`): set up on the plugin's first request.
    pub(super) http: super::outbound::Outbound,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::user_agent;

    #[test]
    fn the_user_agent_names_the_plugin_and_lmi() {
        let lmi = concat!("lmi/", env!("CARGO_PKG_VERSION"));
        assert_eq!(user_agent("tickets 1.2.0"), format!("tickets/1.2.0 {lmi}"));
        assert_eq!(
            user_agent("api 0.3.0-rc.1+build.5"),
            format!("api/0.3.0-rc.1+build.5 {lmi}")
        );
        // What cannot be a header token is left out rather than sent.
        for label in ["", "bad name 1.0", "x\r\nInjected: 1 1.0", "caf\u{e9} 1.0"] {
            assert_eq!(user_agent(label), lmi, "{label:?}");
        }
    }
}
