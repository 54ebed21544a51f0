//! The provider's form endpoints for SSO: token (authorization code, refresh, device code),
//! device authorization (RFC 8628) and revocation (RFC 7009). The CLI is a public client: it
//! authenticates with `client_id` alone (PKCE protects the code). Every token seen is
//! registered with the log scrubber before anything else happens to it.

use serde::Deserialize;
use url::Url;

use super::super::http::{Http, HttpFailure, Reply, TOKEN_BODY_LIMIT};

/// What a successful token request returned.
#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.is_some())
            .field("id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a form request to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The provider answered with an OAuth error (`invalid_grant`, `access_denied`, ...).
    #[error("{}", describe(.error, .description.as_deref()))]
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

/// `error (description)`, with the provider's text made safe for a terminal.
pub fn describe(error: &str, description: Option<&str>) -> String {
    let error = sanitize(error);
    match description.map(sanitize).filter(|d| !d.is_empty()) {
        Some(d) => format!("{error} ({d})"),
        None => error,
    }
}

/// Text from the network, fit for a terminal line: no control characters, at most 300 chars.
pub fn sanitize(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    crate::logging::scrub(clean.trim())
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
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(&reply.body) {
        Ok(b) => TokenError::OAuth {
            error: b.error,
            description: b.error_description,
        },
        Err(_) => TokenError::Malformed(format!(
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
    let tokens: Tokens = serde_json::from_slice(&reply.body).map_err(|_| {
        TokenError::Malformed(
            "the identity provider's token answer is not a token response (no access_token)"
                .to_owned(),
        )
    })?;
    crate::logging::register_secret(&tokens.access_token);
    for t in [&tokens.refresh_token, &tokens.id_token]
        .into_iter()
        .flatten()
    {
        crate::logging::register_secret(t);
    }
    Ok(tokens)
}

/// The device-authorization answer (RFC 8628 §3.2).
#[derive(Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    #[serde(default)]
    pub interval: Option<u64>,
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
    let auth: DeviceAuthorization = serde_json::from_slice(&reply.body).map_err(|_| {
        TokenError::Malformed(
            "the identity provider's device-authorization answer lacks device_code/user_code"
                .to_owned(),
        )
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_is_made_safe() {
        assert_eq!(
            describe(
                "access_denied",
                Some("End-User\x1b[31m aborted\ninteraction")
            ),
            "access_denied (End-User [31m aborted interaction)"
        );
        assert_eq!(describe("invalid_grant", Some("")), "invalid_grant");
        assert_eq!(sanitize(&"x".repeat(500)).len(), 300);
    }
}
