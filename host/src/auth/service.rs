//! Service tokens per environment: the Client Credentials or Password grant through the
//! `oauth2` crate, cached in `~/.cache/lmi/tokens/<env>.json` (see [`super::cache`]).
//!
//! When a token is fetched, and how the cache is consulted first, is [`super::session`]'s
//! business; this module reads the grant's configuration and makes the one request.
//!
//! Secrets (client secret, password) are looked up only when a token is requested
//! ([`super::env_secrets`]: the process environment, the env's `.env` file, the OS keychain,
//! the global `.env`), so a cached token costs no keychain call; they are never prompted for,
//! cached, printed or logged (they are registered with the log scrubber when loaded, and
//! `oauth2`'s secret types redact themselves in `Debug`).

use std::cell::Cell;

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AuthType, ClientId, ClientSecret, RequestTokenError, ResourceOwnerPassword,
    ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};
use sha2::Digest;

use super::cache::{AccessToken, CachedToken};
use super::env_secrets::GrantSecrets;
use super::http::{Http, HttpFailure};
use super::lifetime::now_secs;
use super::{AuthError, ServiceTokenError};
use crate::settings::keys;
use crate::settings::{ConfigError, EnvConfig, Settings};

/// Overrides the grant for the active environment: a token handed to lmi from elsewhere.
pub use crate::settings::keys::ACCESS_TOKEN as ACCESS_TOKEN_VAR;
/// Lifetime assumed when a token response has no `expires_in`.
pub const DEFAULT_LIFETIME_SECS: u64 = super::lifetime::DEFAULT_TOKEN_LIFETIME_SECS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    ClientCredentials,
    Password,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        }
    }
}

/// How the grant is configured for one environment. Its secrets are looked up when a token
/// is requested ([`GrantSecrets`]), and then stay inside `oauth2`'s redacting newtypes.
#[derive(Debug, Clone)]
pub struct GrantConfig {
    pub env: String,
    pub grant: GrantType,
    pub token_url: url::Url,
    pub client_id: String,
    secrets: GrantSecrets,
    username: Option<String>,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    pub auth_type: ClientAuth,
}

/// How the client authenticates at the token endpoint (`OAUTH_CLIENT_AUTH_METHOD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` (the default): HTTP Basic.
    Basic,
    /// `client_secret_post`: in the form body.
    Post,
}

impl GrantConfig {
    /// Reads and checks the grant keys of one environment, but for its secrets (see
    /// [`GrantConfig::secret_keys`]), which wait until a token is requested.
    pub fn from_env(settings: &Settings, cfg: &EnvConfig) -> Result<Self, ConfigError> {
        let grant = match cfg.get(keys::GRANT_TYPE).map(str::trim) {
            None | Some("client_credentials") => GrantType::ClientCredentials,
            Some("password") => GrantType::Password,
            Some(other) => {
                return Err(cfg.invalid(
                    keys::GRANT_TYPE,
                    format!("`{other}` is not supported: use client_credentials or password"),
                ));
            }
        };
        let token_url = cfg.require_url(keys::TOKEN_URL)?;
        let client_id = cfg.require(keys::CLIENT_ID)?.trim().to_owned();
        let username = match grant {
            GrantType::ClientCredentials => None,
            GrantType::Password => Some(cfg.require(keys::USERNAME)?.to_owned()),
        };
        let scopes = cfg.get(keys::SCOPE).map(parse_scopes).unwrap_or_default();
        let audience = cfg.get(keys::AUDIENCE).map(|s| s.trim().to_owned());
        let auth_type = match cfg.get(keys::CLIENT_AUTH_METHOD).map(str::trim) {
            None | Some("client_secret_basic") => ClientAuth::Basic,
            Some("client_secret_post") => ClientAuth::Post,
            Some(other) => {
                return Err(cfg.invalid(
                    keys::CLIENT_AUTH_METHOD,
                    format!(
                        "`{other}` is not supported: use client_secret_basic or client_secret_post"
                    ),
                ));
            }
        };
        Ok(Self {
            env: cfg.name().to_owned(),
            grant,
            token_url,
            client_id,
            secrets: GrantSecrets::new(settings, cfg),
            username,
            scopes,
            audience,
            auth_type,
        })
    }

    /// This grant for a named service that sets its own scope or audience (each replaces
    /// the env's; one left unset keeps the env's): a different fingerprint, so a token of
    /// its own.
    pub fn for_service(mut self, scope: Option<&str>, audience: Option<&str>) -> Self {
        if let Some(scope) = scope {
            self.scopes = parse_scopes(scope);
        }
        if let Some(audience) = audience {
            self.audience = Some(audience.trim().to_owned());
        }
        self
    }

    /// The secrets this grant sends, each with whether it is required: the client secret
    /// (optional for the password grant, whose client may be public) and the password.
    pub fn secret_keys(&self) -> &'static [(&'static str, bool)] {
        match self.grant {
            GrantType::ClientCredentials => &[(keys::CLIENT_SECRET, true)],
            GrantType::Password => &[(keys::CLIENT_SECRET, false), (keys::PASSWORD, true)],
        }
    }

    /// Looks up the secrets now (once per run), as a token request does: for checks that
    /// must report a missing or unreadable secret without requesting a token (`lmi doctor`
    /// offline).
    pub fn check_secrets(&self) -> Result<(), AuthError> {
        self.secrets.resolve(self.secret_keys()).map(|_| ())
    }

    /// The token URL as it may appear in messages and logs.
    pub fn endpoint(&self) -> String {
        crate::logging::redact_url(&self.token_url)
    }

    /// A digest of the non-secret parameters a token was issued for: a cached token from a
    /// different configuration (another client, scope or endpoint) is not reused.
    pub fn fingerprint(&self) -> String {
        let mut h = sha2::Sha256::new();
        for part in [
            self.grant.as_str(),
            self.token_url.as_str(),
            &self.client_id,
            self.username.as_deref().unwrap_or(""),
            &self.scopes.join(" "),
            self.audience.as_deref().unwrap_or(""),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..8])
    }
}

/// Scopes as written in a `.env` file: separated by spaces or commas.
fn parse_scopes(raw: &str) -> Vec<String> {
    raw.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The token handed over in `LMI_ACCESS_TOKEN`, if it applies to `env` (the active one),
/// with what its unverified claims say of its expiry (`super::handed`).
pub fn override_token(settings: &Settings, env: &str) -> Option<super::handed::HandedToken> {
    super::handed::for_env(settings, env)
}

/// One request to the token endpoint.
pub fn fetch(http: &Http, grant: &GrantConfig) -> Result<CachedToken, AuthError> {
    let env = &grant.env;
    let endpoint = grant.endpoint();
    // The one place the secrets are needed: looked up here, not when the grant was read.
    let secrets = grant.secrets.resolve(grant.secret_keys())?;
    tracing::info!(
        "environment `{env}`: requesting a service token ({} grant) from {endpoint}",
        grant.grant.as_str()
    );
    let mut client = BasicClient::new(ClientId::new(grant.client_id.clone()))
        .set_token_uri(TokenUrl::from_url(grant.token_url.clone()))
        .set_auth_type(match grant.auth_type {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post => AuthType::RequestBody,
        });
    if let Some(secret) = &secrets.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    let scopes = grant.scopes.iter().cloned().map(Scope::new);
    let seen = Cell::new(None::<Answer>);
    let send = |req: oauth2::HttpRequest| {
        let reply = http.oauth(req);
        seen.set(reply.as_ref().ok().map(Answer::of));
        reply
    };
    let obtained_at = now_secs();
    let result = match grant.grant {
        GrantType::ClientCredentials => {
            let mut req = client.exchange_client_credentials().add_scopes(scopes);
            if let Some(aud) = &grant.audience {
                req = req.add_extra_param("audience", aud.clone());
            }
            req.request(&send)
        }
        GrantType::Password => {
            let username = ResourceOwnerUsername::new(grant.username.clone().unwrap_or_default());
            let password = ResourceOwnerPassword::new(
                secrets
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
            );
            let mut req = client
                .exchange_password(&username, &password)
                .add_scopes(scopes);
            if let Some(aud) = &grant.audience {
                req = req.add_extra_param("audience", aud.clone());
            }
            req.request(&send)
        }
    };
    let response = result.map_err(|e| token_error(grant, seen.take(), e))?;

    let access_token = AccessToken::new(response.access_token().secret().clone());
    let token_type = match response.token_type() {
        BasicTokenType::Bearer => "Bearer".to_owned(),
        other => {
            return Err(ServiceTokenError::Refused(format!(
                "the token endpoint {endpoint} of environment `{env}` issued a `{}` token; lmi can only use Bearer tokens",
                other.as_ref()
            ))
            .into());
        }
    };
    // The provider's number is clamped (a year at most) before any arithmetic: an
    // `expires_in` of u64::MAX must not wrap into a token that is already expired.
    let stated = response.expires_in().map(|d| d.as_secs());
    if stated.is_none() {
        tracing::debug!("no expires_in in the token response; assuming {DEFAULT_LIFETIME_SECS} s");
    }
    let lifetime = super::lifetime::token_lifetime_secs(stated);
    let scope = match response.scopes() {
        Some(s) => Some(s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        None if !grant.scopes.is_empty() => Some(grant.scopes.join(" ")),
        None => None,
    };
    tracing::info!("environment `{env}`: got a service token valid for {lifetime} s");
    Ok(CachedToken {
        access_token,
        token_type,
        scope,
        expires_at: super::lifetime::expiry_after(obtained_at, lifetime),
        obtained_at,
        issued_for: Some(grant.fingerprint()),
    })
}

type OauthError =
    RequestTokenError<HttpFailure, oauth2::StandardErrorResponse<BasicErrorResponseType>>;

/// What the token endpoint answered, as far as a message may say: its status and the media
/// type it named (never the body).
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    /// The `Content-Type` without parameters, terminal-safe and short; `None` if absent.
    media_type: Option<String>,
}

impl Answer {
    fn of(reply: &oauth2::HttpResponse) -> Self {
        let media_type = reply
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| crate::text::line(v.trim(), 60))
            .filter(|v| !v.is_empty());
        Self {
            status: reply.status().as_u16(),
            media_type,
        }
    }

    /// Whether it said it is JSON (`application/json`, `…+json`), or said nothing.
    fn may_be_json(&self) -> bool {
        self.media_type.as_deref().is_none_or(|t| {
            let t = t.to_ascii_lowercase();
            t == "application/json" || t.ends_with("+json")
        })
    }
}

/// Describes a failed token request; names the env and the endpoint, never echoes a body.
/// The provider refusing the credentials is an authentication failure (exit 4); a provider
/// that cannot be reached, errs (5xx) or answers garbage is a network failure (exit 1).
fn token_error(grant: &GrantConfig, answer: Option<Answer>, e: OauthError) -> AuthError {
    let env = &grant.env;
    let endpoint = grant.endpoint();
    let status = answer.as_ref().map(|a| a.status);
    let http_status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    // The provider's words are shown, scrubbed of secrets and stripped of control sequences.
    let scrub = |text: &str| crate::text::line(&crate::logging::scrub(text), 300);
    // A page or plain text (a 404 from a wrong URL, a login page, a proxy's error) is named
    // by what it says it is: "malformed JSON" would mislead.
    if let Some(media_type) = answer
        .as_ref()
        .filter(|a| !a.may_be_json())
        .and_then(|a| a.media_type.as_deref())
        && matches!(
            e,
            RequestTokenError::Parse(..) | RequestTokenError::Other(_)
        )
    {
        return ServiceTokenError::Unavailable(format!(
            "the token endpoint {endpoint} of environment `{env}` answered with a `{media_type}` document, not an OAuth answer{http_status}"
        ))
        .into();
    }
    match e {
        RequestTokenError::ServerResponse(resp) => {
            let code = resp.error().as_ref().to_owned();
            let detail = resp
                .error_description()
                .map(|d| format!(": {}", scrub(d)))
                .unwrap_or_default();
            let server_side = status.is_some_and(|s| s >= 500)
                || matches!(code.as_str(), "server_error" | "temporarily_unavailable");
            let msg = format!(
                "the token endpoint {endpoint} refused the {} grant for environment `{env}`{http_status}: {}{detail}",
                grant.grant.as_str(),
                scrub(&code)
            );
            if server_side {
                ServiceTokenError::Unavailable(msg).into()
            } else {
                ServiceTokenError::Refused(msg).into()
            }
        }
        RequestTokenError::Request(cause) => AuthError::Http {
            context: format!("cannot get a service token for environment `{env}` from {endpoint}"),
            cause,
        },
        RequestTokenError::Parse(err, _body) => {
            let at = err.path().to_string();
            let at = if at == "." {
                String::new()
            } else {
                format!(" at `{at}`")
            };
            let what = match err.inner().classify() {
                serde_json::error::Category::Data => "an unexpected token response",
                _ => "malformed JSON",
            };
            ServiceTokenError::Unavailable(format!(
                "the token endpoint {endpoint} of environment `{env}` answered with {what}{at}{http_status}"
            ))
            .into()
        }
        RequestTokenError::Other(why) => ServiceTokenError::Unavailable(format!(
            "the token endpoint {endpoint} of environment `{env}` gave an unusable answer{http_status}: {}",
            scrub(&why)
        ))
        .into(),
    }
}
