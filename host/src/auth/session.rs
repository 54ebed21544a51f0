//! One environment's service side, built once per process: its configuration (the env
//! file is read once, when the session opens), its services — the default one
//! (`OAUTH_SERVICE_URL`) and the named ones (`OAUTH_SERVICE_<NAME>_URL`) — each with the
//! token it takes ([`TokenSource`]: the env's own, or the service's when it asks for its own
//! scope or audience), and one HTTP client (built on first network use, so a cached token
//! costs no client) whose connections are kept alive between requests.
//! [`EnvSession::send`] (in `request`) sends a plugin's request to one of the services.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::AuthError;
use super::cache::AccessToken;
use super::http::Http;
use super::service::{self, GrantConfig};
pub use super::tokens::EnvTokenStatus;
use super::tokens::TokenSource;
use crate::settings::{ConfigError, EnvConfig, Settings, keys};

/// One environment's configuration, services and HTTP client; see the module docs.
pub struct EnvSession {
    env: String,
    settings: Settings,
    /// The env file, or why it could not be read.
    config: Result<EnvConfig, ConfigError>,
    default: Service,
    /// The named services, by name (`billing-eu`).
    named: BTreeMap<String, Service>,
    http: OnceLock<Http>,
}

/// One of an environment's services: where it is and which token it takes.
#[derive(Debug)]
pub struct Service {
    /// `None`: the default service.
    pub name: Option<String>,
    pub url: Result<url::Url, ConfigError>,
    /// The token sent to it: the env's own, shared, unless the service has its own scope or
    /// audience.
    pub tokens: Arc<TokenSource>,
    /// The service asks for its own scope or audience, so it has a token of its own.
    pub own_token: bool,
}

impl Service {
    /// "the service `billing` of environment `prod`", or "the service of environment
    /// `prod`" for the default.
    pub fn describe(&self, env: &str) -> String {
        match &self.name {
            Some(name) => format!("the service `{name}` of environment `{env}`"),
            None => format!("the service of environment `{env}`"),
        }
    }

    /// The keys that choose this service's token's scope and audience, for hints.
    pub fn scope_keys(&self) -> String {
        match (&self.name, self.own_token) {
            (Some(name), true) => format!(
                "{}, {}",
                keys::service_key(name, keys::SERVICE_SCOPE_SUFFIX),
                keys::service_key(name, keys::SERVICE_AUDIENCE_SUFFIX)
            ),
            _ => format!("{}, {}", keys::SCOPE, keys::AUDIENCE),
        }
    }
}

impl std::fmt::Debug for EnvSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSession")
            .field("env", &self.env)
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .field("http_built", &self.http.get().is_some())
            .finish()
    }
}

impl EnvSession {
    /// Reads `env`'s configuration once. Problems in it are kept, not returned: a call that
    /// needs the broken part reports them (`auth status` shows them; an override token works
    /// without a grant).
    pub fn open(settings: &Settings, env: &str) -> Self {
        let config = settings.env_config(env);
        let grant = config
            .clone()
            .and_then(|c| GrantConfig::from_env(settings, &c));
        let env_tokens = Arc::new(TokenSource::new(
            format!("environment `{env}`"),
            settings,
            grant.clone(),
            service::override_token(settings, env),
            env,
        ));
        let default = Service {
            name: None,
            url: config
                .clone()
                .and_then(|c| c.require_url(keys::SERVICE_URL)),
            tokens: env_tokens.clone(),
            own_token: false,
        };
        let mut named = BTreeMap::new();
        if let Ok(config) = &config {
            for name in config
                .keys()
                .into_iter()
                .filter_map(keys::service_of_url_key)
            {
                let service = named_service(settings, config, &grant, &env_tokens, &name);
                named.insert(name, service);
            }
        }
        Self {
            env: env.to_owned(),
            settings: settings.clone(),
            config,
            default,
            named,
            http: OnceLock::new(),
        }
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    /// The default service (`None`) or a named one. A name the env does not configure is a
    /// configuration error naming the key to set; it is never sent to another service.
    pub fn service(&self, name: Option<&str>) -> Result<&Service, AuthError> {
        let Some(name) = name else {
            return Ok(&self.default);
        };
        if let Some(service) = self.named.get(name) {
            return Ok(service);
        }
        let config = self.config.as_ref().map_err(|e| e.clone())?;
        Err(config
            .missing(&keys::service_key(name, keys::SERVICE_URL_SUFFIX))
            .into())
    }

    /// Every service the environment configures, the default first.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        std::iter::once(&self.default).chain(self.named.values())
    }

    /// The session's one HTTP client, built on first use.
    pub(super) fn http(&self) -> Result<&Http, AuthError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let built = Http::for_process(&self.settings)?;
        Ok(self.http.get_or_init(|| built))
    }

    /// Does now what the first request to `service` would otherwise do on the caller's
    /// runtime and may block on: builds the client and reads the roots the service URL
    /// needs. Failures are left for `send` to report.
    pub fn prepare(&self, service: Option<&str>) {
        if let (Ok(http), Ok(service)) = (self.http(), self.service(service))
            && let Ok(url) = &service.url
        {
            let _ = http.prepare_for(url);
        }
    }

    /// The access token of the default service (the environment's own).
    pub fn token(&self) -> Result<AccessToken, AuthError> {
        self.default.tokens.token()
    }

    /// The default service's token state, for `auth status` and `doctor`; never the token.
    pub fn status(&self) -> EnvTokenStatus {
        self.default.tokens.status()
    }
}

/// The named service `name` of `config`: its URL, and its token — the env's own unless it
/// sets its own scope or audience (then a grant like the env's with those replaced, cached
/// apart as `<env>.<name>`).
fn named_service(
    settings: &Settings,
    config: &EnvConfig,
    grant: &Result<GrantConfig, ConfigError>,
    env_tokens: &Arc<TokenSource>,
    name: &str,
) -> Service {
    let env = config.name();
    let url = config.require_url(&keys::service_key(name, keys::SERVICE_URL_SUFFIX));
    let scope = config.get(&keys::service_key(name, keys::SERVICE_SCOPE_SUFFIX));
    let audience = config.get(&keys::service_key(name, keys::SERVICE_AUDIENCE_SUFFIX));
    let own_token = scope.is_some() || audience.is_some();
    let tokens = if own_token {
        let grant = grant.clone().map(|g| g.for_service(scope, audience));
        Arc::new(TokenSource::new(
            format!("service `{name}` of environment `{env}`"),
            settings,
            grant,
            None,
            &format!("{env}.{name}"),
        ))
    } else {
        env_tokens.clone()
    };
    Service {
        name: Some(name.to_owned()),
        url,
        tokens,
        own_token,
    }
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
