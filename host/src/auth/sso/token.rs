//! The provider's form endpoints for SSO: token (authorization code, refresh, device code),
//! device authorization (RFC 8628) and revocation (RFC 7009). The CLI is a public client: it
//! authenticates with `client_id` alone (PKCE protects the code). Every token seen is
//! registered with the log scrubber before anything else happens to it. The answers are
//! parsed and bounded in `answers`.

use url::Url;

use super::super::http::{Http, HttpFailure, Reply, TOKEN_BODY_LIMIT};
use super::answers::{self, DeviceAuthorization, Tokens};

/// Why a form request to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
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

impl TokenError {
    pub fn oauth_code(&self) -> Option<&str> {
        match self {
            TokenError::OAuth { error, .. } => Some(error),
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
fn error_of(reply: &Reply) -> TokenError {
    match answers::parse_error(&reply.body) {
        Some(e) => TokenError::OAuth {
            error: e.error,
            description: e.description,
        },
        None => TokenError::Malformed(format!(
            "the identity provider answered HTTP {} without an OAuth error",
            reply.status.as_u16()
        )),
    }
}

/// A token request (`grant_type` and its parameters in `form`).
pub fn request(http: &Http, url: &Url, form: &[(&str, &str)]) -> Result<Tokens, TokenError> {
    let reply = post(http, url, form)?;
    if !reply.status.is_success() {
        return Err(error_of(&reply));
    }
    let tokens = answers::parse_tokens(&reply.body).map_err(TokenError::Malformed)?;
    crate::logging::register_secret(&tokens.access_token);
    for t in [&tokens.refresh_token, &tokens.id_token]
        .into_iter()
        .flatten()
    {
        crate::logging::register_secret(t);
    }
    Ok(tokens)
}

/// Starts a device-authorization grant.
pub fn device_authorization(
    http: &Http,
    url: &Url,
    client_id: &str,
    scopes: &str,
) -> Result<DeviceAuthorization, TokenError> {
    let reply = post(http, url, &[("client_id", client_id), ("scope", scopes)])?;
    if !reply.status.is_success() {
        return Err(error_of(&reply));
    }
    let auth = answers::parse_device_authorization(&reply.body).map_err(TokenError::Malformed)?;
    crate::logging::register_secret(&auth.device_code);
    Ok(auth)
}

/// Revokes `token` (RFC 7009). Success is any 2xx: the provider also answers 200 for a token
/// it no longer knows.
pub fn revoke(
    http: &Http,
    url: &Url,
    client_id: &str,
    token: &str,
    hint: &str,
) -> Result<(), TokenError> {
    let reply = post(
        http,
        url,
        &[
            ("token", token),
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
