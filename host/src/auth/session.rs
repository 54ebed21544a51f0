//! One environment's service side, built once per process: its configuration and grant (the
//! env file is read once, when the session opens), the token cache, the `LMI_ACCESS_TOKEN`
//! override, one HTTP client (built on first network use, so a cached token costs no client)
//! whose connections are kept alive between requests, and the run's one token renewal.
//!
//! Order of business for [`EnvSession::token`]: the override (for the active env only, for
//! CI); else the token this session already read or fetched, while fresh; else a fresh cached
//! token, read without a lock and without any network; else take the
//! env's lock, re-read, and only if the token is still unusable ask the token endpoint and
//! write the answer atomically. Concurrent processes therefore make one token request between
//! them. [`EnvSession::send`] (in `request`) sends a plugin's request with that token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::cache::{AccessToken, CacheState, CachedToken, TokenCache};
use super::http::Http;
use super::lifetime::now_secs;
use super::service::{self, ACCESS_TOKEN_VAR, GrantConfig};
use super::{AuthError, ServiceTokenError};
use crate::settings::{ConfigError, Settings};

/// One environment's configuration, token cache and HTTP client; see the module docs.
pub struct EnvSession {
    env: String,
    settings: Settings,
    grant: Result<GrantConfig, ConfigError>,
    service_url: Result<url::Url, ConfigError>,
    override_token: Option<AccessToken>,
    cache: TokenCache,
    http: OnceLock<Http>,
    /// The token last read or fetched, used while fresh without reading the cache file again.
    held: Mutex<Option<CachedToken>>,
    /// Whether this session already renewed its token after a 401 (at most once).
    renewed: AtomicBool,
}

impl std::fmt::Debug for EnvSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSession")
            .field("env", &self.env)
            .field("overridden", &self.override_token.is_some())
            .field("http_built", &self.http.get().is_some())
            .finish()
    }
}

/// What `auth status` shows for one environment; never the token.
#[derive(Debug)]
pub struct EnvTokenStatus {
    pub grant: Result<GrantConfig, ConfigError>,
    pub cache: CacheState,
    /// `LMI_ACCESS_TOKEN` replaces the grant for this (the active) environment.
    pub overridden: bool,
    /// The cached token was issued for a different configuration.
    pub stale_config: bool,
}

impl EnvSession {
    /// Reads `env`'s configuration once. Problems in it are kept, not returned: a call that
    /// needs the broken part reports them (`auth status` shows them; an override token works
    /// without a grant).
    pub fn open(settings: &Settings, env: &str) -> Self {
        let config = settings.env_config(env);
        let grant = config.clone().and_then(|c| GrantConfig::from_env(&c));
        let service_url = config.and_then(|c| c.require_url(crate::settings::keys::SERVICE_URL));
        Self {
            env: env.to_owned(),
            settings: settings.clone(),
            grant,
            service_url,
            override_token: service::override_token(settings, env),
            cache: TokenCache::new(&settings.paths().token_dir(), env),
            http: OnceLock::new(),
            held: Mutex::new(None),
            renewed: AtomicBool::new(false),
        }
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    pub(super) fn service_url(&self) -> Result<&url::Url, AuthError> {
        self.service_url.as_ref().map_err(|e| e.clone().into())
    }

    fn grant(&self) -> Result<&GrantConfig, AuthError> {
        self.grant.as_ref().map_err(|e| e.clone().into())
    }

    /// The session's one HTTP client, built on first use.
    pub(super) fn http(&self) -> Result<&Http, AuthError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let built = Http::for_process(&self.settings)?;
        Ok(self.http.get_or_init(|| built))
    }

    /// Does now what the first request would otherwise do on the caller's runtime and may
    /// block on: builds the client and reads the roots the service URL needs. Failures are
    /// left for `send` to report.
    pub fn prepare(&self) {
        if let (Ok(http), Ok(url)) = (self.http(), self.service_url()) {
            let _ = http.prepare_for(url);
        }
    }

    /// Spends the session's one renewal; false if it was spent already.
    pub(super) fn take_renewal(&self) -> bool {
        !self.renewed.swap(true, Ordering::SeqCst)
    }

    /// The environment's service access token (see the module documentation for the order).
    pub fn token(&self) -> Result<AccessToken, AuthError> {
        let env = &self.env;
        if let Some(t) = &self.override_token {
            tracing::debug!("environment `{env}`: using the token from {ACCESS_TOKEN_VAR}");
            return Ok(t.clone());
        }
        if let Some(t) = self.held_fresh() {
            return Ok(t);
        }
        let grant = self.grant()?;
        let usable = |t: &CachedToken| t.is_fresh(now_secs()) && issued_for(t, grant);
        if let Some(t) = self.cache.read().filter(usable) {
            tracing::debug!(
                "environment `{env}`: cached token valid until {}",
                t.expires_at
            );
            return Ok(self.hold(t));
        }
        let _lock = self.cache.lock(self.lock_wait());
        if let Some(t) = self.cache.read().filter(usable) {
            tracing::debug!("environment `{env}`: another lmi process fetched a token meanwhile");
            return Ok(self.hold(t));
        }
        self.fetch_and_store(grant)
    }

    /// The token if it is at hand, with no file or network to touch: the override, or the
    /// one this session holds while fresh.
    pub(super) fn token_at_hand(&self) -> Option<AccessToken> {
        self.override_token.clone().or_else(|| self.held_fresh())
    }

    /// The held token, if still fresh.
    fn held_fresh(&self) -> Option<AccessToken> {
        let held = self.held.lock().ok()?;
        held.as_ref()
            .filter(|t| t.is_fresh(now_secs()))
            .map(|t| t.access_token.clone())
    }

    /// Keeps `t` for the next call and returns its token.
    fn hold(&self, t: CachedToken) -> AccessToken {
        let token = t.access_token.clone();
        if let Ok(mut held) = self.held.lock() {
            *held = Some(t);
        }
        token
    }

    /// After the service rejected `rejected` with a 401: discard it from the cache (only if
    /// it is still the cached one) and return a different, valid token — one another process
    /// already fetched, or a new one.
    pub fn renew_after_reject(&self, rejected: &AccessToken) -> Result<AccessToken, AuthError> {
        let env = &self.env;
        if self.override_token.is_some() {
            return Err(ServiceTokenError::Rejected(format!(
                "the service of environment `{env}` rejected the token given in {ACCESS_TOKEN_VAR} (HTTP 401); \
                 lmi cannot renew a token it did not obtain: provide a valid one, or unset {ACCESS_TOKEN_VAR} to use the env's grant"
            ))
            .into());
        }
        let grant = self.grant()?;
        if let Ok(mut held) = self.held.lock() {
            *held = None;
        }
        let _lock = self.cache.lock(self.lock_wait());
        if self.cache.discard_if(rejected) {
            tracing::info!("environment `{env}`: discarded the cached token the service rejected");
        }
        if let Some(t) = self.cache.read().filter(|t| {
            &t.access_token != rejected && t.is_fresh(now_secs()) && issued_for(t, grant)
        }) {
            tracing::debug!("environment `{env}`: another lmi process renewed the token meanwhile");
            return Ok(self.hold(t));
        }
        self.fetch_and_store(grant)
    }

    /// Where the tokens come from, for error messages: the token endpoint, or the variable.
    pub fn source(&self) -> String {
        if self.override_token.is_some() {
            return ACCESS_TOKEN_VAR.to_owned();
        }
        match &self.grant {
            Ok(g) => g.endpoint(),
            Err(_) => "its token endpoint".to_owned(),
        }
    }

    /// The grant, the cache and the override as they stand; never the token.
    pub fn status(&self) -> EnvTokenStatus {
        let cache = self.cache.state();
        let stale_config = match (&self.grant, &cache) {
            (Ok(g), CacheState::Present(t)) => !issued_for(t, g),
            _ => false,
        };
        EnvTokenStatus {
            grant: self.grant.clone(),
            cache,
            overridden: self.override_token.is_some(),
            stale_config,
        }
    }

    /// How long to wait for another process's fetch: its whole HTTP budget and some.
    fn lock_wait(&self) -> Duration {
        let http = self.settings.http_options().map_or(
            Duration::from_secs(crate::settings::HttpOptions::DEFAULT_TIMEOUT_SECS),
            |o| o.timeout,
        );
        http + Duration::from_secs(15)
    }

    fn fetch_and_store(&self, grant: &GrantConfig) -> Result<AccessToken, AuthError> {
        let token = service::fetch(self.http()?, grant)?;
        if let Err(e) = self.cache.write(&token) {
            tracing::warn!(
                "cannot write the token cache {}: {e}; the token is used but not kept",
                self.cache.path().display()
            );
        }
        Ok(self.hold(token))
    }
}

fn issued_for(t: &CachedToken, grant: &GrantConfig) -> bool {
    t.issued_for
        .as_deref()
        .is_none_or(|f| f == grant.fingerprint())
}

/// The active environment's session for one plugin run, opened by the first host call that
/// needs it (a run that never calls the service reads no env file and builds no client) and
/// shared by every later one. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LazySession(Arc<Lazy>);

#[derive(Debug)]
struct Lazy {
    settings: Settings,
    session: OnceLock<Arc<EnvSession>>,
}

impl LazySession {
    pub fn new(settings: Settings) -> Self {
        Self(Arc::new(Lazy {
            settings,
            session: OnceLock::new(),
        }))
    }

    /// The run's session for `env` if it is open already (no file is read).
    pub fn opened(&self, env: &str) -> Option<Arc<EnvSession>> {
        self.0.session.get().filter(|s| s.env() == env).cloned()
    }

    /// `env`'s session: the run's shared one (a plugin only ever reaches the active env; any
    /// other gets a session of its own).
    pub fn get(&self, env: &str) -> Arc<EnvSession> {
        let Lazy { settings, session } = &*self.0;
        let shared = session.get_or_init(|| Arc::new(EnvSession::open(settings, env)));
        if shared.env() == env {
            shared.clone()
        } else {
            Arc::new(EnvSession::open(settings, env))
        }
    }
}
