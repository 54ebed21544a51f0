//! ID-token validation (OpenID Connect Core §3.1.3.7): the signature against the provider's
//! JWKS, `iss`, `aud` (and `azp` when there are several audiences), `exp`, `nbf` and `iat`
//! with a small leeway, `nonce`, and on refresh the same `sub`.
//!
//! Keys: the JWKS is fetched once per operation (the login fetches it while the user is in
//! the browser). A token signed with a key id the set does not have causes exactly one
//! refetch — the provider may have rotated its keys — and then is refused.
//!
//! Only asymmetric algorithms are accepted, and the key's own `alg`, when published, must be
//! the token's: an `HS256` token "signed" with a public key, or `none`, never verifies.

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use url::Url;

use super::super::http::{Http, TOKEN_BODY_LIMIT};

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// OpenID Connect Core §2: `sub` is at most 255 ASCII characters.
const MAX_SUBJECT_BYTES: usize = 255;
/// How much of a user's email or name lmi keeps and shows.
const MAX_NAME_CHARS: usize = 256;

const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// Another spelling of the issuer the provider's tokens use (Google's
    /// `accounts.google.com`, `profile::Provider::issuer_alias`).
    pub issuer_alias: Option<&'a str>,
    pub client_id: &'a str,
    /// The nonce sent with the authorization request (none in the device and refresh grants).
    pub nonce: Option<&'a str>,
    /// The subject of the session being refreshed.
    pub subject: Option<&'a str>,
}

/// The validated claims lmi keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// What names the user where there is no `email` (Entra ID often sends none).
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub upn: Option<String>,
    /// Every claim of the verified token, for what a caller keeps of it (the groups,
    /// `groups::capture`); unbounded provider text: never shown as it is.
    #[serde(skip)]
    pub verified: serde_json::Value,
}

impl Claims {
    /// What names the user when there is no `email`: `preferred_username`, else `upn`.
    pub fn login_name(&self) -> Option<super::LoginName> {
        if self.email.is_some() {
            return None;
        }
        use super::NameClaim;
        [
            (NameClaim::PreferredUsername, &self.preferred_username),
            (NameClaim::Upn, &self.upn),
        ]
        .into_iter()
        .find_map(|(claim, value)| value.clone().map(|value| super::LoginName { claim, value }))
    }
}

#[derive(Deserialize)]
struct Checked {
    iat: Option<u64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    aud: Audience,
    #[serde(default)]
    azp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Audience {
    Many(Vec<String>),
    One(serde::de::IgnoredAny),
    #[default]
    None,
}

/// The provider's signing keys, fetched lazily, refetched at most once.
pub struct KeySource<'a> {
    http: &'a Http,
    url: Url,
    keys: Option<Vec<Jwk>>,
    refetched: bool,
    /// The last fetch failed (network, HTTP status, not a key set): a rejection then says
    /// nothing about the token itself.
    unreachable: bool,
}

impl<'a> KeySource<'a> {
    pub fn new(http: &'a Http, url: Url) -> Self {
        Self {
            http,
            url,
            keys: None,
            refetched: false,
            unreachable: false,
        }
    }

    /// Whether the keys could not be fetched the last time they were needed.
    pub fn unreachable(&self) -> bool {
        self.unreachable
    }

    /// Fetches the set now (best effort: a failure is retried when a key is needed).
    pub fn prefetch(&mut self) {
        if self.keys.is_none()
            && let Err(e) = self.fetch()
        {
            tracing::debug!("JWKS prefetch failed: {e}");
        }
    }

    fn fetch(&mut self) -> Result<(), String> {
        let fetched = self.fetch_once();
        self.unreachable = fetched.is_err();
        fetched
    }

    fn fetch_once(&mut self) -> Result<(), String> {
        let request = self
            .http
            .request(reqwest::Method::GET, self.url.clone())
            .map_err(|e| format!("cannot build the JWKS request: {e}"))?
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| format!("cannot build the JWKS request: {e}"))?;
        let reply = self.http.execute(request, TOKEN_BODY_LIMIT).map_err(|e| {
            format!(
                "cannot fetch the identity provider's keys ({}): {e}",
                self.url
            )
        })?;
        if !reply.status.is_success() {
            return Err(format!(
                "the identity provider's keys ({}) answered HTTP {}",
                self.url,
                reply.status.as_u16()
            ));
        }
        let doc: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|_| format!("{} is not a JWK set (not JSON)", self.url))?;
        // Keys lmi cannot parse (other kinds, private extensions) are skipped, not fatal.
        let keys: Vec<Jwk> = doc["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| serde_json::from_value(k.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        tracing::debug!("fetched {} signing key(s) from {}", keys.len(), self.url);
        self.keys = Some(keys);
        Ok(())
    }

    /// The key for `kid`/`alg`, refetching the set once if it is not there.
    fn key_for(&mut self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, String> {
        if self.keys.is_none() {
            self.fetch()?;
        }
        loop {
            if let Some(jwk) = self.find(kid, alg)? {
                return DecodingKey::from_jwk(&jwk)
                    .map_err(|e| format!("the identity provider's key is unusable: {e}"));
            }
            if self.refetched {
                return Err(match kid {
                    Some(k) => format!(
                        "it is signed with key `{}`, which the identity provider does not publish",
                        super::answers::provider_text(k)
                    ),
                    None => "it names no key id and the identity provider publishes no single matching key"
                        .to_owned(),
                });
            }
            tracing::debug!("ID token key {kid:?} not in the JWKS; fetching it again");
            self.refetched = true;
            self.fetch()?;
        }
    }

    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<Jwk>, String> {
        let keys = self.keys.as_deref().unwrap_or_default();
        let fits = |k: &&Jwk| match k.common.key_algorithm {
            None => true,
            Some(ka) => key_algorithm_is(ka, alg),
        };
        let found = match kid {
            Some(kid) => keys
                .iter()
                .find(|k| k.common.key_id.as_deref() == Some(kid)),
            None => {
                let mut candidates = keys.iter().filter(fits);
                match (candidates.next(), candidates.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                }
            }
        };
        match found {
            Some(k) if !fits(&k) => Err(format!(
                "it is signed with {alg:?}, but the identity provider's key is for another algorithm"
            )),
            other => Ok(other.cloned()),
        }
    }
}

fn key_algorithm_is(ka: KeyAlgorithm, alg: Algorithm) -> bool {
    matches!(
        (ka, alg),
        (KeyAlgorithm::RS256, Algorithm::RS256)
            | (KeyAlgorithm::RS384, Algorithm::RS384)
            | (KeyAlgorithm::RS512, Algorithm::RS512)
            | (KeyAlgorithm::PS256, Algorithm::PS256)
            | (KeyAlgorithm::PS384, Algorithm::PS384)
            | (KeyAlgorithm::PS512, Algorithm::PS512)
            | (KeyAlgorithm::ES256, Algorithm::ES256)
            | (KeyAlgorithm::ES384, Algorithm::ES384)
            | (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
    )
}

/// How a refreshed ID token fared (see [`check_refreshed`]).
#[derive(Debug)]
pub enum Refreshed {
    /// Every check passed: the claims may update the session.
    Valid(Claims),
    /// It cannot be checked now (the provider's keys could not be fetched).
    Unverifiable(String),
    /// Only its time claims (`exp`, `nbf`, `iat`) disagree with this computer's clock; the
    /// signature, issuer, audience and subject are right.
    ClockSkew(String),
    /// A real mismatch: signature, issuer, audience, subject or form.
    Rejected(String),
}

/// Checks the ID token of a refresh answer, telling a token that is not the user's from one
/// lmi cannot judge right now (its keys are unreachable, or the clock is off).
pub fn check_refreshed(
    token: &str,
    keys: &mut KeySource<'_>,
    expect: Expect<'_>,
    now: u64,
) -> Refreshed {
    let why = match validate_with(token, keys, expect, now, true) {
        Ok(claims) => return Refreshed::Valid(claims),
        Err(why) => why,
    };
    if keys.unreachable() {
        return Refreshed::Unverifiable(why);
    }
    match validate_with(token, keys, expect, now, false) {
        Ok(_) => Refreshed::ClockSkew(why),
        Err(_) if keys.unreachable() => Refreshed::Unverifiable(why),
        Err(mismatch) => Refreshed::Rejected(mismatch),
    }
}

/// Validates `token`; the error says what was wrong, in words for the user.
pub fn validate(
    token: &str,
    keys: &mut KeySource<'_>,
    expect: Expect<'_>,
    now: u64,
) -> Result<Claims, String> {
    validate_with(token, keys, expect, now, true)
}

/// [`validate`], with the time claims (`exp`, `nbf`, `iat`) checked only if `check_time`.
fn validate_with(
    token: &str,
    keys: &mut KeySource<'_>,
    expect: Expect<'_>,
    now: u64,
    check_time: bool,
) -> Result<Claims, String> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| "it is not a signed JWT".to_owned())?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(format!(
            "it is signed with {:?}, which lmi does not accept for ID tokens",
            header.alg
        ));
    }
    let key = keys.key_for(header.kid.as_deref(), header.alg)?;

    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = check_time;
    validation.validate_nbf = check_time;
    match expect.issuer_alias {
        Some(alias) => validation.set_issuer(&[expect.issuer, alias]),
        None => validation.set_issuer(&[expect.issuer]),
    }
    validation.set_audience(&[expect.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature => {
                    "its signature does not verify against the identity provider's keys".to_owned()
                }
                K::ExpiredSignature => "it has expired".to_owned(),
                K::ImmatureSignature => "it is not valid yet (nbf)".to_owned(),
                K::InvalidIssuer => format!(
                    "it was issued by `{}`, not by the configured issuer `{}`",
                    unverified_claim(token, "iss"),
                    expect.issuer
                ),
                K::InvalidAudience => format!(
                    "it was issued for `{}`, not for this client `{}`",
                    unverified_claim(token, "aud"),
                    expect.client_id
                ),
                K::MissingRequiredClaim(c) => format!("it lacks the `{c}` claim"),
                K::InvalidAlgorithm => "its algorithm does not match the key".to_owned(),
                _ => format!("it cannot be verified ({e})"),
            }
        })?;
    let claims: Claims = serde_json::from_value(data.claims.clone())
        .map_err(|_| "its claims are malformed (sub, exp)".to_owned())?;
    let checked: Checked = serde_json::from_value(data.claims.clone())
        .map_err(|_| "its claims are malformed (iat, nonce, aud)".to_owned())?;

    let Some(iat) = checked.iat else {
        return Err("it lacks the `iat` claim".to_owned());
    };
    if check_time && iat > now.saturating_add(LEEWAY_SECS) {
        return Err(format!(
            "it claims to be issued {} s in the future (check this computer's clock)",
            iat - now
        ));
    }
    if let Audience::Many(auds) = &checked.aud
        && auds.len() > 1
        && checked.azp.as_deref() != Some(expect.client_id)
    {
        return Err("it has several audiences and `azp` is not this client".to_owned());
    }
    if let Some(want) = expect.nonce {
        let same = checked
            .nonce
            .as_deref()
            .is_some_and(|got| bool::from(got.as_bytes().ct_eq(want.as_bytes())));
        if !same {
            return Err(
                "its nonce does not match this login's (a replayed or injected token?)".to_owned(),
            );
        }
    }
    if let Some(sub) = expect.subject
        && claims.sub != sub
    {
        return Err("it names a different user than the session being refreshed".to_owned());
    }
    if claims.sub.is_empty() {
        return Err("its subject is empty".to_owned());
    }
    // `sub` identifies the user (compared, shown, given to plugins): refused rather than
    // altered when it is not printable text. Names are only shown: stripped.
    if claims.sub.len() > MAX_SUBJECT_BYTES || crate::text::first_unsafe(&claims.sub).is_some() {
        return Err(format!(
            "its subject is longer than {MAX_SUBJECT_BYTES} bytes or holds control characters"
        ));
    }
    let shown = |v: Option<String>| {
        v.map(|v| crate::text::line(&v, MAX_NAME_CHARS))
            .filter(|v| !v.is_empty())
    };
    Ok(Claims {
        email: shown(claims.email),
        name: shown(claims.name),
        preferred_username: shown(claims.preferred_username),
        upn: shown(claims.upn),
        verified: data.claims,
        ..claims
    })
}

/// A claim read without verification (`jsonwebtoken`'s insecure decode), only to explain a
/// rejection.
fn unverified_claim(token: &str, name: &str) -> String {
    let value = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token)
        .map(|data| match &data.claims[name] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "(none)".to_owned(),
            other => other.to_string(),
        })
        .unwrap_or_else(|_| "(unreadable)".to_owned());
    super::answers::provider_text(&value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn explains_with_unverified_claims() {
        // {"alg":"RS256"}.{"iss":"https://evil","aud":["a","b"]}.(no signature)
        let t = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2V2aWwiLCJhdWQiOlsiYSIsImIiXX0.";
        assert_eq!(unverified_claim(t, "iss"), "https://evil");
        assert_eq!(unverified_claim(t, "aud"), r#"["a","b"]"#);
        assert_eq!(unverified_claim(t, "sub"), "(none)");
        assert_eq!(unverified_claim("not.a-jwt", "iss"), "(unreadable)");
    }
}
