//! The provider's form endpoints for SSO: token (authorization code, refresh, device code),
//! device authorization (RFC 8628) and revocation (RFC 7009). The CLI is a public client: it
//! authenticates with `client_id` alone (PKCE protects the code), plus, where a provider
//! requires one of an installed app (Google), `OAUTH_SSO_CLIENT_SECRET` in the body.
//!
//! The code exchange, the refresh and the device authorization are built and sent by the
//! `oauth2` crate's client over `Http::oauth`. Its verdict is used only for a request that got
//! no answer: every answer is read by `answers` (bounded, lenient with numbers, every URL a
//! `SafeUrl`, every token a `Secret`), since `oauth2`'s own parsing would refuse `"3600"` and
//! `1.5` and accept any `expires_in` or `verification_uri`. Two calls stay plain form posts:
//! a single device-code poll (`oauth2` offers only its own polling loop, without our bounds
//! and deadline) and revocation (`oauth2` refuses any `http://` revocation endpoint, where
//! lmi allows loopback like every other endpoint).

use std::cell::RefCell;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, DeviceAuthorizationUrl, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenUrl,
};
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
        .request(reqwest::Method::POST, url.clone())?
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

/// One `oauth2` exchange whose answer is kept for `answers` to read.
struct Exchange<'a> {
    http: &'a Http,
    reply: RefCell<Option<Reply>>,
}

impl<'a> Exchange<'a> {
    fn new(http: &'a Http) -> Self {
        Self {
            http,
            reply: RefCell::new(None),
        }
    }

    /// `oauth2`'s HTTP client: `Http::oauth`, remembering the answer.
    fn send(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpFailure> {
        let response = self.http.oauth(request)?;
        *self.reply.borrow_mut() = Some(Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.body().clone(),
        });
        Ok(response)
    }

    /// The answer, whatever `oauth2` made of it; its failure only when there was none.
    fn answer<T, E: oauth2::ErrorResponse>(
        self,
        result: Result<T, RequestTokenError<HttpFailure, E>>,
    ) -> Result<Reply, TokenRequestError> {
        let reply = self.reply.into_inner();
        match (result, reply) {
            (_, Some(reply)) => Ok(reply),
            (Err(RequestTokenError::Request(e)), None) => Err(TokenRequestError::Http(e)),
            (Err(e), None) => Err(TokenRequestError::Malformed(crate::text::line(
                &crate::logging::scrub(&e.to_string()),
                300,
            ))),
            (Ok(_), None) => Err(TokenRequestError::Malformed(
                "the token request was not sent".to_owned(),
            )),
        }
    }
}

/// Who lmi is at the provider: its client id, and the secret some providers require of an
/// installed app (not confidential there, still never shown).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: Option<&'a Secret>,
}

impl Client<'_> {
    /// The client's form fields: `client_id`, and `client_secret` when it has one.
    fn form(&self) -> Vec<(&str, &str)> {
        let mut form = vec![("client_id", self.id)];
        if let Some(secret) = self.secret {
            form.push(("client_secret", secret.expose()));
        }
        form
    }

    /// The `oauth2` client (credentials in the request body).
    fn oauth(&self) -> BasicClient {
        let client = BasicClient::new(ClientId::new(self.id.to_owned()))
            .set_auth_type(AuthType::RequestBody);
        match self.secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().to_owned())),
            None => client,
        }
    }
}

/// A token answer: tokens on 2xx, the provider's OAuth error otherwise.
fn tokens_of(reply: &Reply) -> Result<Tokens, TokenRequestError> {
    if !reply.status.is_success() {
        return Err(error_of(reply));
    }
    answers::parse_tokens(&reply.body).map_err(TokenRequestError::Malformed)
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
    client: Client<'_>,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Tokens, TokenRequestError> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| TokenRequestError::Malformed(format!("bad redirect URI: {e}")))?;
    let client = client
        .oauth()
        .set_token_uri(TokenUrl::from_url(url.clone()))
        .set_redirect_uri(redirect);
    let exchange = Exchange::new(http);
    let result = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .request(&|r| exchange.send(r));
    tokens_of(&exchange.answer(result)?)
}

/// Renews the tokens with the refresh token.
pub fn refresh(
    http: &Http,
    url: &Url,
    client: Client<'_>,
    refresh_token: &Secret,
) -> Result<Tokens, TokenRequestError> {
    let client = client
        .oauth()
        .set_token_uri(TokenUrl::from_url(url.clone()));
    let exchange = Exchange::new(http);
    let refresh_token = RefreshToken::new(refresh_token.expose().to_owned());
    let result = client
        .exchange_refresh_token(&refresh_token)
        .request(&|r| exchange.send(r));
    tokens_of(&exchange.answer(result)?)
}

/// Asks once whether the device code was approved (`authorization_pending` until it is).
pub fn poll_device(
    http: &Http,
    url: &Url,
    client: Client<'_>,
    device_code: &Secret,
) -> Result<Tokens, TokenRequestError> {
    let mut form = vec![
        ("grant_type", DEVICE_CODE_GRANT),
        ("device_code", device_code.expose()),
    ];
    form.extend(client.form());
    request(http, url, &form)
}

/// Starts a device-authorization grant.
pub fn device_authorization(
    http: &Http,
    url: &Url,
    client: Client<'_>,
    scopes: &str,
    audience: Option<&str>,
) -> Result<DeviceAuthorization, TokenRequestError> {
    let client = client
        .oauth()
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(url.clone()));
    let exchange = Exchange::new(http);
    let mut request = client
        .exchange_device_code()
        .add_scopes(scopes.split(' ').map(|s| Scope::new(s.to_owned())));
    if let Some(audience) = audience {
        request = request.add_extra_param("audience", audience);
    }
    let result: Result<oauth2::StandardDeviceAuthorizationResponse, _> =
        request.request(&|r| exchange.send(r));
    let reply = exchange.answer(result)?;
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
    client: Client<'_>,
    token: &Secret,
    kind: Revocable,
) -> Result<(), TokenRequestError> {
    let hint = match kind {
        Revocable::RefreshToken => "refresh_token",
        Revocable::AccessToken => "access_token",
    };
    let mut form = vec![("token", token.expose()), ("token_type_hint", hint)];
    form.extend(client.form());
    let reply = post(http, url, &form)?;
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
