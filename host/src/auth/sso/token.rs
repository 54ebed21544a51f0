//! The provider's form endpoints for SSO: token (authorization code, refresh, device code),
//! device authorization (RFC 8628) and revocation (RFC 7009). The CLI is a public client: it
//! authenticates with `client_id` alone (PKCE protects the code). Every token seen is
//! registered with the log scrubber before anything else happens to it. The answers are
//! parsed and bounded in `answers`.

use url::Url;

use super::answers::{self, DeviceAuthorization, Tokens};
use crate::auth::http::{Http, HttpFailure, Reply, TOKEN_BODY_LIMIT};
use crate::secrets::Secret;

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Why a form request to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenRequestError {
    /// The provider answered with an OAuth error (`invalid_grant`, `access_denied`, ...).
    #[error("{}", answers::describe(.error, .description.as_deref()))]
    OAuth {
        error: String,
        description: Option<String>,
    },
    #[error("{0}")]
    Http(#[from] HttpFailure),
    #[error("{0}")]
    Malformed(String),
}

impl TokenRequestError {
    pub fn oauth_code(&self) -> Option<&str> {
        match self {
            TokenRequestError::OAuth { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// POSTs a form and reads the answer.
fn post(http: &Http, url: &Url, form: &[(&str, &str)]) -> Result<Reply, HttpFailure> {
    let request = http
        .request(reqwest::Method::POST, url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .build()
        .map_err(|e| HttpFailure::Other(format!("cannot build the request: {e}")))?;
    http.execute(request, TOKEN_BODY_LIMIT)
}

/// The OAuth error in a non-2xx answer, or a description of the answer.
fn error_of(reply: &Reply) -> TokenRequestError {
    match answers::parse_error(&reply.body) {
        Some(e) => TokenRequestError::OAuth {
            error: e.error,
            description: e.description,
        },
        None => TokenRequestError::Malformed(format!(
            "the identity provider answered HTTP {} without an OAuth error",
            reply.status.as_u16()
        )),
    }
}

/// A token request (`grant_type` and its parameters in `form`).
fn request(http: &Http, url: &Url, form: &[(&str, &str)]) -> Result<Tokens, TokenRequestError> {
    let reply = post(http, url, form)?;
    if !reply.status.is_success() {
        return Err(error_of(&reply));
    }
    answers::parse_tokens(&reply.body).map_err(TokenRequestError::Malformed)
}

/// Redeems an authorization code with its PKCE verifier.
pub fn exchange_code(
    http: &Http,
    url: &Url,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Tokens, TokenRequestError> {
    request(
        http,
        url,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ],
    )
}

/// Renews the tokens with the refresh token.
pub fn refresh(
    http: &Http,
    url: &Url,
    client_id: &str,
    refresh_token: &Secret,
) -> Result<Tokens, TokenRequestError> {
    request(
        http,
        url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", client_id),
        ],
    )
}

/// Asks once whether the device code was approved (`authorization_pending` until it is).
pub fn poll_device(
    http: &Http,
    url: &Url,
    client_id: &str,
    device_code: &Secret,
) -> Result<Tokens, TokenRequestError> {
    request(
        http,
        url,
        &[
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device_code.expose()),
            ("client_id", client_id),
        ],
    )
}

/// Starts a device-authorization grant.
pub fn device_authorization(
    http: &Http,
    url: &Url,
    client_id: &str,
    scopes: &str,
) -> Result<DeviceAuthorization, TokenRequestError> {
    let reply = post(http, url, &[("client_id", client_id), ("scope", scopes)])?;
    if !reply.status.is_success() {
        return Err(error_of(&reply));
    }
    answers::parse_device_authorization(&reply.body).map_err(TokenRequestError::Malformed)
}

/// Revokes `token` (RFC 7009). Success is any 2xx: the provider also answers 200 for a token
/// it no longer knows.
pub fn revoke(
    http: &Http,
    url: &Url,
    client_id: &str,
    token: &Secret,
    kind: Revocable,
) -> Result<(), TokenRequestError> {
    let hint = match kind {
        Revocable::RefreshToken => "refresh_token",
        Revocable::AccessToken => "access_token",
    };
    let reply = post(
        http,
        url,
        &[
            ("token", token.expose()),
            ("token_type_hint", hint),
            ("client_id", client_id),
        ],
    )?;
    if reply.status.is_success() {
        Ok(())
    } else {
        Err(error_of(&reply))
    }
}

/// Which of the session's tokens is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocable {
    RefreshToken,
    AccessToken,
}
