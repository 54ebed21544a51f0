//! The service token of one grant configuration: an environment's own, or a named service's
//! when it asks for its own scope or audience. Each has its own cache file and lock, its
//! own held token and its own single renewal per run.
//!
//! Order of business for [`TokenSource::token`]: the override (`LMI_ACCESS_TOKEN`, for the
//! active env's own token only, for CI); else the token this source already read or
//! fetched, while fresh; else a fresh cached token, read without a lock and without any
//! network; else take the cache's lock, re-read, and only if the token is still unusable ask
//! the token endpoint and write the answer atomically. Concurrent processes therefore make
//! one token request between them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::cache::{AccessToken, CacheState, CachedToken, TokenCache};
use super::handed::{self, HandedToken};
use super::http::Http;
use super::lifetime::now_secs;
use super::service::{self, ACCESS_TOKEN_VAR, GrantConfig};
use super::{AuthError, ServiceTokenError};
use crate::settings::{ConfigError, Settings};

/// One grant configuration's token; see the module docs.
pub struct TokenSource {
    /// What the token is for, in messages: "environment `prod`" or "service `billing` of
    /// environment `prod`".
    label: String,
    settings: Settings,
    grant: Result<GrantConfig, ConfigError>,
    override_token: Option<HandedToken>,
    cache: TokenCache,
    /// The token last read or fetched, used while fresh without reading the cache file again.
    held: Mutex<Option<CachedToken>>,
    /// Whether this source already renewed its token after a 401 (at most once per run).
    renewed: AtomicBool,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("label", &self.label)
            .field("overridden", &self.override_token.is_some())
            .finish()
    }
}

/// What a grant trial learnt; the token itself was dropped before this was made.
#[derive(Debug, Clone)]
pub struct GrantTrial {
    /// How long the token endpoint made the token valid, clamped as a kept token's is.
    pub lifetime_secs: u64,
}

/// A token handed out, and when it expires (unix seconds), if that is known.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: AccessToken,
    pub expires_at: Option<u64>,
}

/// What `auth status` shows for one token; never the token.
#[derive(Debug)]
pub struct EnvTokenStatus {
    pub grant: Result<GrantConfig, ConfigError>,
    pub cache: CacheState,
    /// `LMI_ACCESS_TOKEN` replaces the grant for this (the active) environment.
    pub overridden: bool,
    /// What the handed token claims (subject, issuer, expiry), when it is overridden.
    pub handed: Option<handed::Facts>,
    /// The cached token was issued for a different configuration.
    pub stale_config: bool,
}

impl TokenSource {
    /// `cache_key` names the cache file (`<env>` or `<env>.<service>`); `override_token` is
    /// the env's `LMI_ACCESS_TOKEN`, for the env's own token only.
    pub(super) fn new(
        label: String,
        settings: &Settings,
        grant: Result<GrantConfig, ConfigError>,
        override_token: Option<HandedToken>,
        cache_key: &str,
    ) -> Self {
        Self {
            label,
            settings: settings.clone(),
            grant,
            override_token,
            cache: TokenCache::new(&settings.paths().token_dir(), cache_key),
            held: Mutex::new(None),
            renewed: AtomicBool::new(false),
        }
    }

    /// A source for one grant trial ([`TokenSource::try_grant`]) of a configuration not yet
    /// saved (`lmi env add`): no override, and a cache it never touches.
    pub fn for_trial(settings: &Settings, grant: GrantConfig) -> Self {
        let env = grant.env.clone();
        Self::new(
            format!("environment `{env}`"),
            settings,
            Ok(grant),
            None,
            &env,
        )
    }

    fn grant(&self) -> Result<&GrantConfig, AuthError> {
        self.grant.as_ref().map_err(|e| e.clone().into())
    }

    pub fn grant_config(&self) -> Result<&GrantConfig, &ConfigError> {
        self.grant.as_ref()
    }

    /// Spends the source's one renewal; false if it was spent already.
    pub(super) fn take_renewal(&self) -> bool {
        !self.renewed.swap(true, Ordering::SeqCst)
    }

    /// The access token (see the module documentation for the order).
    pub fn token(&self) -> Result<AccessToken, AuthError> {
        let label = &self.label;
        if let Some(t) = &self.override_token {
            tracing::debug!("{label}: using the token from {ACCESS_TOKEN_VAR}");
            return t.usable(now_secs()).cloned();
        }
        if let Some(t) = self.held_fresh() {
            return Ok(t);
        }
        let grant = self.grant()?;
        let usable = |t: &CachedToken| t.is_fresh(now_secs()) && issued_for(t, grant);
        if let Some(t) = self.cache.read().filter(usable) {
            tracing::debug!("{label}: cached token valid until {}", t.expires_at);
            return Ok(self.hold(t));
        }
        let _lock = self.cache.lock(self.lock_wait());
        if let Some(t) = self.cache.read().filter(usable) {
            tracing::debug!("{label}: another lmi process fetched a token meanwhile");
            return Ok(self.hold(t));
        }
        self.fetch_and_store(grant)
    }

    /// [`Self::token`] with when it expires: what a credential helper hands out. The expiry
    /// is the cached token's, or a handed token's unverified `exp` (`None`: an opaque token,
    /// or a JWT without a usable `exp`).
    pub fn issued(&self) -> Result<Issued, AuthError> {
        let token = self.token()?;
        let expires_at = match &self.override_token {
            Some(t) => t.facts().exp(),
            None => self.held.lock().ok().and_then(|held| {
                held.as_ref()
                    .filter(|t| t.access_token == token)
                    .map(|t| t.expires_at)
            }),
        };
        Ok(Issued { token, expires_at })
    }

    /// The token if it is at hand, with no file or network to touch: the override, or the
    /// one this source holds while fresh. An expired override is not at hand: [`Self::token`]
    /// says why.
    pub(super) fn token_at_hand(&self) -> Option<AccessToken> {
        match &self.override_token {
            Some(t) => t.usable(now_secs()).ok().cloned(),
            None => self.held_fresh(),
        }
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
        let label = &self.label;
        if self.override_token.is_some() {
            return Err(ServiceTokenError::OverrideRejected(format!(
                "the service of {label} rejected the token given in {ACCESS_TOKEN_VAR} (HTTP 401); \
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
            tracing::info!("{label}: discarded the cached token the service rejected");
        }
        if let Some(t) = self.cache.read().filter(|t| {
            &t.access_token != rejected && t.is_fresh(now_secs()) && issued_for(t, grant)
        }) {
            tracing::debug!("{label}: another lmi process renewed the token meanwhile");
            return Ok(self.hold(t));
        }
        self.fetch_and_store(grant)
    }

    /// Whether `LMI_ACCESS_TOKEN` stands in for this source's grant.
    pub fn overridden(&self) -> bool {
        self.override_token.is_some()
    }

    /// Makes the grant's token request once, exactly as [`TokenSource::token`] would
    /// (`service::fetch`), and drops the token: nothing is held, cached, read from the cache
    /// or locked, and the override is not consulted. It proves the credentials as they stand
    /// without touching what a concurrent run relies on (`lmi doctor`); `http` carries the
    /// caller's deadline.
    pub fn try_grant(&self, http: &Http) -> Result<GrantTrial, AuthError> {
        let token = service::fetch(http, self.grant()?)?;
        Ok(GrantTrial {
            lifetime_secs: token.expires_at.saturating_sub(token.obtained_at),
        })
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
            handed: self.override_token.as_ref().map(|t| t.facts().clone()),
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
        let token = service::fetch(&Http::for_process(&self.settings)?, grant)?;
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
