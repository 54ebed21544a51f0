//! OpenID Connect discovery for whatever endpoint the keys do not set, and [`check`], the
//! same rules as a probe for `lmi doctor`.
//!
//! Discovery is fetched only when an endpoint the caller needs is missing from the keys, so a
//! fully configured provider costs no extra request. The discovery document's `issuer` must be
//! the configured one (OpenID Connect Discovery §4.3); it is then the value ID tokens' `iss`
//! is compared with. Every endpoint it names keeps the https rule of the keys
//! (`settings::check_url_from`).

use url::Url;

use super::config::{
    AUTHORIZATION_URL_KEY, ISSUER_KEY, JWKS_URL_KEY, SsoConfig, TOKEN_URL_KEY, check_url_from,
};
use crate::auth::AuthError;
use crate::auth::http::{Http, HttpFailure, TOKEN_BODY_LIMIT};
use crate::settings::Settings;

/// What `lmi doctor` learns from the provider, by exactly the rules `lmi login sso` applies
/// (the configuration's https rule, the discovery document's issuer and endpoints).
#[derive(Debug)]
pub struct DiscoveryReport {
    /// The issuer the document names (the configured one: anything else is an error).
    pub issuer: String,
    /// Endpoints a browser login needs that neither the keys nor the document give
    /// (`authorization_endpoint`, `token_endpoint`, `jwks_uri`).
    pub missing: Vec<&'static str>,
    /// The device-authorization endpoint is known (the keys or the document), so `lmi login
    /// sso --device` can start.
    pub device: bool,
}

/// [`check`]'s answer: the verdict, and the answer's `Date` header whatever the verdict (a
/// provider that names another issuer still tells the time, for doctor's clock check).
#[derive(Debug)]
pub struct DiscoveryProbe {
    pub report: Result<DiscoveryReport, AuthError>,
    pub date: Option<String>,
}

/// Loads the SSO configuration as login does and fetches the provider's discovery document
/// with `http` (the caller picks its deadline). The error is login's own, so `doctor` and
/// `login` cannot disagree about an issuer.
pub fn check(settings: &Settings, http: &Http) -> DiscoveryProbe {
    let cfg = match SsoConfig::load(settings) {
        Ok(cfg) => cfg,
        Err(e) => {
            return DiscoveryProbe {
                report: Err(e.into()),
                date: None,
            };
        }
    };
    let (reply, url) = match cfg.fetch_discovery(http) {
        Ok(fetched) => fetched,
        Err(e) => {
            return DiscoveryProbe {
                report: Err(e),
                date: None,
            };
        }
    };
    let date = date_of(&reply);
    let report = cfg.read_discovery(&reply, &url).map(|doc| {
        let missing = [
            (
                "authorization_endpoint",
                cfg.authorization.is_some() || doc.authorization.is_some(),
            ),
            ("token_endpoint", cfg.token.is_some() || doc.token.is_some()),
            ("jwks_uri", cfg.jwks.is_some() || doc.jwks.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        DiscoveryReport {
            issuer: doc.issuer,
            missing,
            device: cfg.device.is_some() || doc.device.is_some(),
        }
    });
    DiscoveryProbe { report, date }
}

fn date_of(reply: &crate::auth::http::Reply) -> Option<String> {
    reply
        .headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
        // A provider whose revocation endpoint is fixed but unlisted (Auth0's `/oauth/revoke`).
        ep.revocation = ep.revocation.or(doc.revocation).or_else(|| {
            self.profile
                .provider
                .revocation_without_discovery(&ep.issuer)
        });
        ep.device = ep.device.or(doc.device);
        Ok(ep)
    }

    /// `GET {issuer}/.well-known/openid-configuration`, checked.
    fn discover(&self, http: &Http) -> Result<Discovery, AuthError> {
        let (reply, url) = self.fetch_discovery(http)?;
        self.read_discovery(&reply, &url)
    }

    fn fetch_discovery(&self, http: &Http) -> Result<(crate::auth::http::Reply, Url), AuthError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer_base());
        let url = Url::parse(&url)
            .map_err(|e| AuthError::Failed(format!("cannot build the discovery URL: {e}")))?;
        let request = http
            .request(reqwest::Method::GET, url.clone())
            .map_err(|cause| AuthError::Http {
                context: "cannot build the discovery request".to_owned(),
                cause,
            })?
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| AuthError::Http {
                context: "cannot build the discovery request".to_owned(),
                cause: HttpFailure::Other(e.to_string()),
            })?;
        let reply = http
            .execute(request, TOKEN_BODY_LIMIT)
            .map_err(|cause| AuthError::Http {
                context: format!("cannot fetch the identity provider's discovery document {url}"),
                cause,
            })?;
        if !reply.status.is_success() {
            return Err(AuthError::Failed(format!(
                "the identity provider's discovery document {url} answered HTTP {}; check {ISSUER_KEY}",
                reply.status.as_u16()
            )));
        }
        Ok((reply, url))
    }

    fn read_discovery(
        &self,
        reply: &crate::auth::http::Reply,
        url: &Url,
    ) -> Result<Discovery, AuthError> {
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
