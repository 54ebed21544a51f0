//! SSO configuration: the global `OAUTH_SSO_*` keys, OpenID Connect discovery for whatever
//! endpoint is not set, and the rule that no endpoint is plain `http://` off loopback.
//!
//! Discovery is fetched only when an endpoint the caller needs is missing from the keys, so a
//! fully configured provider costs no extra request. The discovery document's `issuer` must be
//! the configured one (OpenID Connect Discovery §4.3); it is then the value ID tokens' `iss`
//! is compared with.

use url::Url;

use super::super::AuthError;
use super::super::http::{Http, TOKEN_BODY_LIMIT};
use crate::settings::{ConfigError, Settings};

pub const CLIENT_ID_KEY: &str = "OAUTH_SSO_CLIENT_ID";
pub const ISSUER_KEY: &str = "OAUTH_SSO_ISSUER";
pub const SCOPES_KEY: &str = "OAUTH_SSO_SCOPES";
pub const AUTHORIZATION_URL_KEY: &str = "OAUTH_SSO_AUTHORIZATION_URL";
pub const TOKEN_URL_KEY: &str = "OAUTH_SSO_TOKEN_URL";
pub const JWKS_URL_KEY: &str = "OAUTH_SSO_JWKS_URL";
pub const REVOCATION_URL_KEY: &str = "OAUTH_SSO_REVOCATION_URL";
pub const DEVICE_URL_KEY: &str = "OAUTH_SSO_DEVICE_AUTHORIZATION_URL";
/// How long `lmi login sso` waits for the browser (or the device approval), in seconds.
pub const LOGIN_TIMEOUT_KEY: &str = "LMI_SSO_LOGIN_TIMEOUT_SECS";

pub const DEFAULT_SCOPES: &str = "openid profile email offline_access";
pub const DEFAULT_LOGIN_TIMEOUT_SECS: u64 = 300;

/// The SSO keys, checked. Endpoints set here are used as they are; the rest come from
/// discovery on the issuer.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    pub client_id: String,
    /// As configured (ID tokens' `iss` must match it exactly when discovery is not used).
    pub issuer: String,
    pub scopes: String,
    authorization: Option<Url>,
    token: Option<Url>,
    jwks: Option<Url>,
    revocation: Option<Url>,
    device: Option<Url>,
}

/// What an operation needs from the provider: discovery is fetched only if one is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Authorization code: authorization, token and JWKS endpoints.
    Login,
    /// Device grant: device-authorization (if offered), token and JWKS endpoints.
    Device,
    /// Refresh: token and JWKS endpoints.
    Refresh,
    /// Logout: the revocation endpoint, if the provider has one.
    Logout,
}

/// The provider's endpoints for one operation.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The value ID tokens' `iss` must equal.
    pub issuer: String,
    pub authorization: Option<Url>,
    pub token: Option<Url>,
    pub jwks: Option<Url>,
    pub revocation: Option<Url>,
    pub device: Option<Url>,
    /// The provider sends `iss` with the authorization response (RFC 9207).
    pub iss_parameter: bool,
}

impl Endpoints {
    pub fn token(&self) -> Result<&Url, AuthError> {
        self.token
            .as_ref()
            .ok_or_else(|| missing_endpoint("token_endpoint", TOKEN_URL_KEY))
    }
    pub fn jwks(&self) -> Result<&Url, AuthError> {
        self.jwks
            .as_ref()
            .ok_or_else(|| missing_endpoint("jwks_uri", JWKS_URL_KEY))
    }
    pub fn authorization(&self) -> Result<&Url, AuthError> {
        self.authorization
            .as_ref()
            .ok_or_else(|| missing_endpoint("authorization_endpoint", AUTHORIZATION_URL_KEY))
    }
}

fn missing_endpoint(field: &str, key: &str) -> AuthError {
    AuthError::Failed(format!(
        "the identity provider's discovery document has no `{field}`; set {key}"
    ))
}

impl SsoConfig {
    /// The configuration, or `None` when SSO is not configured at all (no client id).
    pub fn load_optional(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        if settings.global(CLIENT_ID_KEY).is_none() {
            return Ok(None);
        }
        Self::load(settings).map(Some)
    }

    /// The configuration; a missing client id or issuer is an error naming the key.
    pub fn load(settings: &Settings) -> Result<Self, ConfigError> {
        let require = |key: &str| {
            settings
                .global(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::MissingKey {
                    key: key.to_owned(),
                    file: settings.paths().global_env_file(),
                })
        };
        let client_id = require(CLIENT_ID_KEY)?;
        let issuer_raw = require(ISSUER_KEY)?;
        let issuer_url = check_url(settings, ISSUER_KEY, &issuer_raw)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(invalid(
                settings,
                ISSUER_KEY,
                "an issuer has no query or fragment",
            ));
        }
        let issuer = issuer_raw;
        let optional = |key: &str| -> Result<Option<Url>, ConfigError> {
            settings
                .global(key)
                .map(|raw| check_url(settings, key, raw.trim()))
                .transpose()
        };
        let scopes = settings
            .global(SCOPES_KEY)
            .map(|s| {
                s.split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SCOPES.to_owned());
        if !scopes.split(' ').any(|s| s == "openid") {
            return Err(invalid(
                settings,
                SCOPES_KEY,
                "the scopes must include `openid` (lmi signs you in with an ID token)",
            ));
        }
        Ok(Self {
            client_id,
            issuer,
            scopes,
            authorization: optional(AUTHORIZATION_URL_KEY)?,
            token: optional(TOKEN_URL_KEY)?,
            jwks: optional(JWKS_URL_KEY)?,
            revocation: optional(REVOCATION_URL_KEY)?,
            device: optional(DEVICE_URL_KEY)?,
        })
    }

    /// The provider and client a stored session was issued by, for revoking it after the
    /// configuration moved on (endpoints come from discovery on that issuer).
    pub fn for_session(issuer: &str, client_id: &str) -> Result<Self, ConfigError> {
        check_url_from(ISSUER_KEY, "the stored SSO session", issuer)?;
        Ok(Self {
            client_id: client_id.to_owned(),
            issuer: issuer.to_owned(),
            scopes: DEFAULT_SCOPES.to_owned(),
            authorization: None,
            token: None,
            jwks: None,
            revocation: None,
            device: None,
        })
    }

    /// The issuer without a trailing `/`: the base of the discovery URL, and how sessions are
    /// matched to the configuration.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    /// The endpoints `purpose` needs, from the keys and, where one is missing, discovery.
    pub fn endpoints(&self, http: &Http, purpose: Purpose) -> Result<Endpoints, AuthError> {
        let mut ep = Endpoints {
            issuer: self.issuer.clone(),
            authorization: self.authorization.clone(),
            token: self.token.clone(),
            jwks: self.jwks.clone(),
            revocation: self.revocation.clone(),
            device: self.device.clone(),
            iss_parameter: false,
        };
        let complete = match purpose {
            Purpose::Login => ep.authorization.is_some() && ep.token.is_some() && ep.jwks.is_some(),
            Purpose::Device => ep.device.is_some() && ep.token.is_some() && ep.jwks.is_some(),
            Purpose::Refresh => ep.token.is_some() && ep.jwks.is_some(),
            Purpose::Logout => ep.revocation.is_some(),
        };
        if complete {
            return Ok(ep);
        }
        let doc = self.discover(http)?;
        ep.issuer = doc.issuer;
        ep.iss_parameter = doc.iss_parameter;
        ep.authorization = ep.authorization.or(doc.authorization);
        ep.token = ep.token.or(doc.token);
        ep.jwks = ep.jwks.or(doc.jwks);
        ep.revocation = ep.revocation.or(doc.revocation);
        ep.device = ep.device.or(doc.device);
        Ok(ep)
    }

    /// `GET {issuer}/.well-known/openid-configuration`, checked.
    fn discover(&self, http: &Http) -> Result<Discovery, AuthError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer_base());
        let url = Url::parse(&url)
            .map_err(|e| AuthError::Failed(format!("cannot build the discovery URL: {e}")))?;
        let request = http
            .request(reqwest::Method::GET, url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| AuthError::Network(format!("cannot build the discovery request: {e}")))?;
        let reply = http.execute(request, TOKEN_BODY_LIMIT).map_err(|e| {
            AuthError::Network(format!(
                "cannot fetch the identity provider's discovery document {url}: {e}"
            ))
        })?;
        if !reply.status.is_success() {
            return Err(AuthError::Failed(format!(
                "the identity provider's discovery document {url} answered HTTP {}; check {ISSUER_KEY}",
                reply.status.as_u16()
            )));
        }
        let doc: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|_| {
            AuthError::Failed(format!(
                "{url} is not an OpenID Connect discovery document (not JSON)"
            ))
        })?;
        let issuer = doc["issuer"].as_str().unwrap_or_default();
        if issuer.trim_end_matches('/') != self.issuer_base() {
            return Err(AuthError::Failed(format!(
                "the discovery document at {url} names the issuer `{}`, not `{}` ({ISSUER_KEY}); \
                 set {ISSUER_KEY} to the exact issuer",
                super::answers::provider_text(issuer),
                self.issuer
            )));
        }
        let source = format!("the discovery document at {url}");
        let endpoint = |field: &str| -> Result<Option<Url>, AuthError> {
            match doc[field].as_str() {
                None => Ok(None),
                // The error would quote it: text that is not a URL is refused unquoted.
                Some(raw) if crate::text::first_unsafe(raw).is_some() => Err(AuthError::Failed(
                    format!("{source} has a `{field}` holding control characters; it is not a URL"),
                )),
                Some(raw) => check_url_from(field, &source, raw)
                    .map(Some)
                    .map_err(AuthError::Config),
            }
        };
        Ok(Discovery {
            issuer: issuer.to_owned(),
            authorization: endpoint("authorization_endpoint")?,
            token: endpoint("token_endpoint")?,
            jwks: endpoint("jwks_uri")?,
            revocation: endpoint("revocation_endpoint")?,
            device: endpoint("device_authorization_endpoint")?,
            iss_parameter: doc["authorization_response_iss_parameter_supported"]
                .as_bool()
                .unwrap_or(false),
        })
    }
}

struct Discovery {
    issuer: String,
    authorization: Option<Url>,
    token: Option<Url>,
    jwks: Option<Url>,
    revocation: Option<Url>,
    device: Option<Url>,
    iss_parameter: bool,
}

/// The login timeout (`LMI_SSO_LOGIN_TIMEOUT_SECS`, default 300 s, at least 1 s).
pub fn login_timeout(settings: &Settings) -> Result<std::time::Duration, ConfigError> {
    let secs = settings.global_u64(LOGIN_TIMEOUT_KEY, DEFAULT_LOGIN_TIMEOUT_SECS)?;
    Ok(std::time::Duration::from_secs(secs.max(1)))
}

fn invalid(settings: &Settings, key: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        source_name: settings.source_of(key),
        reason: reason.to_owned(),
    }
}

fn check_url(settings: &Settings, key: &str, raw: &str) -> Result<Url, ConfigError> {
    check_url_from(key, &settings.source_of(key), raw)
}

pub use crate::settings::{check_url_from, is_loopback};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    fn settings(global_env: &str) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.config_dir()).unwrap();
        std::fs::write(paths.global_env_file(), global_env).unwrap();
        let settings = Settings::load(paths, None).unwrap();
        (dir, settings)
    }

    #[test]
    fn keys_are_read_and_checked() {
        let (_d, s) = settings("");
        assert!(
            SsoConfig::load_optional(&s).unwrap().is_none(),
            "not configured"
        );

        let (_d, s) = settings("OAUTH_SSO_CLIENT_ID=cli\n");
        let e = SsoConfig::load_optional(&s).unwrap_err().to_string();
        assert!(e.contains("OAUTH_SSO_ISSUER is not set"), "{e}");

        // An issuer with a trailing slash (Auth0) is kept exactly for `iss` comparisons.
        let (_d, s) = settings("OAUTH_SSO_CLIENT_ID=cli\nOAUTH_SSO_ISSUER=https://t.example/\n");
        let cfg = SsoConfig::load(&s).unwrap();
        assert_eq!(cfg.issuer, "https://t.example/");
        assert_eq!(cfg.issuer_base(), "https://t.example");
        assert_eq!(cfg.scopes, DEFAULT_SCOPES);

        let (_d, s) = settings(
            "OAUTH_SSO_CLIENT_ID=cli\nOAUTH_SSO_ISSUER=https://t.example\nOAUTH_SSO_SCOPES=profile,email\n",
        );
        let e = SsoConfig::load(&s).unwrap_err().to_string();
        assert!(e.contains("must include `openid`"), "{e}");

        let (_d, s) = settings(
            "OAUTH_SSO_CLIENT_ID=cli\nOAUTH_SSO_ISSUER=https://t.example\nOAUTH_SSO_JWKS_URL=http://t.example/jwks\n",
        );
        let e = SsoConfig::load(&s).unwrap_err().to_string();
        assert!(
            e.contains("OAUTH_SSO_JWKS_URL") && e.contains("non-loopback"),
            "{e}"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "https://idp.example.com/token",
            "http://127.0.0.1:9000/token",
            "http://127.1.2.3/x",
            "http://[::1]:8080/x",
            "http://localhost:1/x",
        ] {
            assert!(check_url_from("K", "here", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com/token",
            "http://10.0.0.1/token",
            "http://localhost.evil.com/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            let e = check_url_from("K", "here", bad).unwrap_err().to_string();
            assert!(e.contains("K"), "{bad}: {e}");
        }
    }
}
