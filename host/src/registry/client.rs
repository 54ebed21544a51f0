//! One repository on one registry, spoken to with the distribution API over lmi's one HTTP
//! client (its trusted roots and proxy settings, its deadlines, its bounded bodies, its log
//! line per exchange).
//!
//! Authentication follows the registry's challenge on `GET /v2/`: none, `Basic` (the docker
//! configuration's credentials, sent only to the registry itself), or `Bearer` (a token from
//! the realm the registry names, which must be HTTPS or loopback, for exactly this repository
//! and the access asked for). The token lives for this process only.
//!
//! Every answer is hostile: manifests and token answers are read to a bound, blobs to the size
//! their descriptor declares and the caller allows, and a blob is returned only when its
//! SHA-256 is the digest asked for. A blob may be redirected (registries serve them from
//! storage elsewhere): at most [`MAX_REDIRECTS`] hops, never from HTTPS to plain HTTP off
//! loopback, and the registry's credentials never go along to another origin.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderValue};

use super::credentials::{self, Credentials};
use super::error::RegistryError;
use super::reference::{Reference, digest_of};
use crate::auth::http::{Http, Reply};
use crate::secrets::Secret;

/// An image manifest is small; the spec asks registries to accept at least 4 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// A token answer, a tag list page, an error body.
const MAX_SMALL_BYTES: u64 = 1 << 20;
/// Tags read from one repository: at most 10 pages of at most 1,000.
const MAX_TAGS: usize = 10_000;
const TAG_PAGE: usize = 1_000;
const MAX_TAG_PAGES: usize = 10;
const MAX_REDIRECTS: usize = 4;
/// What is read of an answer to a layer request beyond the layer's size (a redirect's page).
const REDIRECT_BODY_BYTES: u64 = 64 * 1024;
/// One blob transfer (a component of up to 32 MiB) gets this long, whatever the
/// per-exchange deadline is.
const TRANSFER_DEADLINE: Duration = Duration::from_secs(300);

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

/// An authenticated conversation with one repository.
pub struct Session {
    http: Http,
    transfer: Http,
    base: url::Url,
    repository: String,
    registry: String,
    credentials: Credentials,
    /// `Basic …` or `Bearer …`, sent to the registry's own origin only.
    authorization: Option<Secret>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("registry", &self.registry)
            .field("repository", &self.repository)
            .field("authorized", &self.authorization.is_some())
            .finish()
    }
}

impl Session {
    /// Opens `reference`'s repository for `access`, answering the registry's challenge.
    pub fn open(http: &Http, reference: &Reference, access: Access) -> Result<Self, RegistryError> {
        let credentials = credentials::for_registry(&reference.registry, http.timeout())
            .map_err(RegistryError::Config)?;
        let timeout = http.timeout().max(TRANSFER_DEADLINE);
        let mut session = Self {
            http: http.clone(),
            transfer: http.with_timeout(timeout, "lmi's 5-minute limit on one plugin transfer"),
            base: reference.base_url(),
            repository: reference.repository.clone(),
            registry: reference.registry.clone(),
            credentials,
            authorization: None,
        };
        session.authenticate(access)?;
        Ok(session)
    }

    fn url(&self, path: &str) -> url::Url {
        // `path` is built from checked parts only (repository, tag, digest).
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    fn authenticate(&mut self, access: Access) -> Result<(), RegistryError> {
        let ping = self.url("v2/");
        let reply = self.exchange(
            &self.http,
            Method::GET,
            ping.clone(),
            &[],
            None,
            MAX_SMALL_BYTES,
            false,
        )?;
        if reply.status.is_success() {
            return Ok(());
        }
        if reply.status != reqwest::StatusCode::UNAUTHORIZED {
            return Err(self.unexpected("answered `GET /v2/`", &reply));
        }
        let challenge = reply
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let challenges = http_auth::parse_challenges(&challenge).map_err(|_| {
            RegistryError::Invalid(format!(
                "{} sent an authentication challenge lmi cannot read",
                self.registry
            ))
        })?;
        if let Some(bearer) = challenges
            .iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        {
            let param = |name: &str| {
                bearer
                    .params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            let realm = param("realm").ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{} asks for a token but names no realm to get it from",
                    self.registry
                ))
            })?;
            let token = self.token(&realm, param("service"), access)?;
            self.authorization = Some(Secret::new(format!("Bearer {}", token.expose())));
        } else if challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
        {
            let basic = self
                .credentials
                .basic_header()
                .ok_or_else(|| self.needs_login())?;
            self.authorization = Some(basic);
        } else {
            return Err(RegistryError::Invalid(format!(
                "{} asks for an authentication scheme lmi does not speak (only Basic and Bearer)",
                self.registry
            )));
        }
        // Basic credentials are checked now, so the user hears at once which login to fix (a
        // token service has already checked what it was given).
        if challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        {
            return Ok(());
        }
        let reply = self.exchange(
            &self.http,
            Method::GET,
            ping,
            &[],
            None,
            MAX_SMALL_BYTES,
            true,
        )?;
        match reply.status {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                Err(self.refused())
            }
            _ => Err(self.unexpected("answered `GET /v2/`", &reply)),
        }
    }

    /// A bearer token from `realm` for this repository.
    fn token(
        &self,
        realm: &str,
        service: Option<String>,
        access: Access,
    ) -> Result<Secret, RegistryError> {
        let mut url = url::Url::parse(realm).map_err(|_| {
            RegistryError::Invalid(format!(
                "{} names a token realm that is not a URL",
                self.registry
            ))
        })?;
        if !(url.scheme() == "https"
            || (url.scheme() == "http" && crate::settings::is_loopback(&url)))
        {
            return Err(RegistryError::Invalid(format!(
                "{} names a token realm over plain HTTP ({}): lmi sends credentials over HTTPS only, except on loopback",
                self.registry,
                crate::text::without_userinfo(url.as_str())
            )));
        }
        let actions = match access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &service {
                query.append_pair("service", service);
            }
            query.append_pair(
                "scope",
                &format!("repository:{}:{actions}", self.repository),
            );
        }
        let mut request = self
            .http
            .request(Method::GET, url)
            .map_err(|e| self.unreachable(e))?;
        if let Some(basic) = self.credentials.basic_header() {
            request = request.header(header::AUTHORIZATION, sensitive(basic.expose())?);
        }
        let request = request
            .build()
            .map_err(|e| RegistryError::Invalid(format!("cannot build the token request: {e}")))?;
        let reply = self
            .http
            .execute(request, MAX_SMALL_BYTES)
            .map_err(|e| self.unreachable(e))?;
        match reply.status {
            s if s.is_success() => {}
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                return Err(self.refused());
            }
            _ => return Err(self.unexpected("'s token service answered", &reply)),
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<Secret>,
            access_token: Option<Secret>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&reply.body).map_err(|_| {
            RegistryError::Invalid(format!(
                "{}'s token service did not answer with a token",
                self.registry
            ))
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.expose().is_empty() && t.expose().len() <= 16 * 1024)
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{}'s token service did not answer with a token",
                    self.registry
                ))
            })
    }

    /// The manifest `name` (a tag or a digest) names, and its digest. A manifest asked for by
    /// digest must hash to it.
    pub fn manifest(&self, name: &str) -> Result<(String, Vec<u8>), RegistryError> {
        let url = self.url(&format!("v2/{}/manifests/{name}", self.repository));
        let reply = self.exchange(
            &self.http,
            Method::GET,
            url,
            &[(header::ACCEPT, OCI_MANIFEST)],
            None,
            MAX_MANIFEST_BYTES,
            true,
        )?;
        self.answered(&reply, "answered a manifest request", || {
            RegistryError::NotFound(format!(
                "{} has no `{name}` in {}",
                self.registry, self.repository
            ))
        })?;
        let digest = digest_of(&reply.body);
        if name.starts_with("sha256:") && name != digest {
            return Err(RegistryError::Invalid(format!(
                "{} answered {name} with a manifest whose digest is {digest}: refused",
                self.registry
            )));
        }
        Ok((digest, reply.body))
    }

    /// The blob `digest`, which its descriptor says is `size` bytes (at most `limit`).
    pub fn blob(&self, digest: &str, size: u64, limit: u64) -> Result<Vec<u8>, RegistryError> {
        if size > limit {
            return Err(RegistryError::Invalid(format!(
                "a layer of {size} bytes is larger than lmi's limit of {limit} bytes"
            )));
        }
        let mut url = self.url(&format!("v2/{}/blobs/{digest}", self.repository));
        for _ in 0..=MAX_REDIRECTS {
            let own = same_origin(&url, &self.base);
            // A redirect's own body (Go's `http.Redirect` writes a small HTML page) may be
            // longer than a small layer: read up to a small bound; the layer's length is
            // checked exactly below.
            let limit = size.max(REDIRECT_BODY_BYTES);
            let reply = self.exchange(
                &self.transfer,
                Method::GET,
                url.clone(),
                &[],
                None,
                limit,
                own,
            )?;
            if reply.status.is_redirection() {
                url = self.redirect(&url, &reply)?;
                continue;
            }
            self.answered(&reply, "answered a layer request", || {
                RegistryError::Invalid(format!(
                    "{} lists layer {digest} but does not have it",
                    self.registry
                ))
            })?;
            let got = digest_of(&reply.body);
            if reply.body.len() as u64 != size || got != digest {
                return Err(RegistryError::Invalid(format!(
                    "layer {digest} from {} is not what its manifest says (got {} bytes with digest {got}, expected {size} bytes): refused; the registry's copy was changed or damaged",
                    self.registry,
                    reply.body.len()
                )));
            }
            return Ok(reply.body);
        }
        Err(RegistryError::Invalid(format!(
            "{} redirected layer {digest} more than {MAX_REDIRECTS} times",
            self.registry
        )))
    }

    /// Where a redirect answer sends the next request: HTTPS, or plain HTTP only on loopback.
    fn redirect(&self, from: &url::Url, reply: &Reply) -> Result<url::Url, RegistryError> {
        let location = reply
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| from.join(l).ok())
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{} redirected a layer request without a usable Location",
                    self.registry
                ))
            })?;
        if !redirect_allowed(&self.base, &location) {
            return Err(RegistryError::Invalid(format!(
                "{} redirected a layer request to {}: lmi fetches over HTTPS only, except from a loopback registry to loopback",
                self.registry,
                crate::text::line(&crate::text::without_userinfo(location.as_str()), 200)
            )));
        }
        Ok(location)
    }

    /// Uploads `bytes` as a blob (unless the repository has it already); returns its digest.
    pub fn push_blob(&self, bytes: &[u8]) -> Result<String, RegistryError> {
        let digest = digest_of(bytes);
        let head = self.url(&format!("v2/{}/blobs/{digest}", self.repository));
        let reply = self.exchange(&self.http, Method::HEAD, head, &[], None, 0, true)?;
        if reply.status.is_success() {
            return Ok(digest);
        }
        let start = self.url(&format!("v2/{}/blobs/uploads/", self.repository));
        let reply = self.exchange(
            &self.http,
            Method::POST,
            start,
            &[],
            Some(Vec::new()),
            MAX_SMALL_BYTES,
            true,
        )?;
        if reply.status != reqwest::StatusCode::ACCEPTED {
            return Err(self.push_refused("would not start an upload", &reply));
        }
        let mut upload = reply
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| self.base.join(l).ok())
            .ok_or_else(|| {
                RegistryError::Invalid(format!(
                    "{} started an upload without saying where to send it",
                    self.registry
                ))
            })?;
        if !same_origin(&upload, &self.base) {
            return Err(RegistryError::Invalid(format!(
                "{} sent the upload to another host ({}): lmi sends plugins to the registry named only",
                self.registry,
                upload.host_str().unwrap_or("?")
            )));
        }
        upload.query_pairs_mut().append_pair("digest", &digest);
        let reply = self.exchange(
            &self.transfer,
            Method::PUT,
            upload,
            &[(header::CONTENT_TYPE, "application/octet-stream")],
            Some(bytes.to_vec()),
            MAX_SMALL_BYTES,
            true,
        )?;
        if reply.status != reqwest::StatusCode::CREATED {
            return Err(self.push_refused("refused a layer", &reply));
        }
        Ok(digest)
    }

    /// Puts `manifest` under `tag`; returns its digest.
    pub fn push_manifest(&self, tag: &str, manifest: &[u8]) -> Result<String, RegistryError> {
        let url = self.url(&format!("v2/{}/manifests/{tag}", self.repository));
        let reply = self.exchange(
            &self.http,
            Method::PUT,
            url,
            &[(header::CONTENT_TYPE, OCI_MANIFEST)],
            Some(manifest.to_vec()),
            MAX_SMALL_BYTES,
            true,
        )?;
        if reply.status != reqwest::StatusCode::CREATED {
            return Err(self.push_refused("refused the manifest", &reply));
        }
        Ok(digest_of(manifest))
    }

    /// The repository's tags, following the registry's pages, at most [`MAX_TAGS`].
    pub fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        let mut next = Some(self.url(&format!("v2/{}/tags/list?n={TAG_PAGE}", self.repository)));
        let mut pages = 0;
        while let Some(url) = next.take() {
            // A registry whose pages never end (or are empty) is not followed forever.
            pages += 1;
            if pages > MAX_TAG_PAGES {
                break;
            }
            let reply = self.exchange(
                &self.http,
                Method::GET,
                url.clone(),
                &[],
                None,
                MAX_SMALL_BYTES,
                true,
            )?;
            self.answered(&reply, "answered the tag list", || {
                RegistryError::NotFound(format!(
                    "{} has no repository {}",
                    self.registry, self.repository
                ))
            })?;
            #[derive(serde::Deserialize)]
            struct Page {
                tags: Option<Vec<String>>,
            }
            let page: Page = serde_json::from_slice(&reply.body).map_err(|_| {
                RegistryError::Invalid(format!("{} sent a tag list lmi cannot read", self.registry))
            })?;
            tags.extend(page.tags.unwrap_or_default());
            if tags.len() >= MAX_TAGS {
                tags.truncate(MAX_TAGS);
                break;
            }
            // `Link: </v2/…/tags/list?last=x&n=1000>; rel="next"`, on this origin only.
            next = reply
                .headers
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| l.trim().trim_start_matches('<').trim_end_matches('>'))
                .and_then(|l| url.join(l).ok())
                .filter(|u| same_origin(u, &self.base));
        }
        Ok(tags)
    }

    /// One exchange; `authorized` adds the session's credentials (only ever for its own
    /// origin).
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        http: &Http,
        method: Method,
        url: url::Url,
        headers: &[(header::HeaderName, &str)],
        body: Option<Vec<u8>>,
        limit: u64,
        authorized: bool,
    ) -> Result<Reply, RegistryError> {
        let mut request = http
            .request(method, url.clone())
            .map_err(|e| self.unreachable(e))?;
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        if authorized
            && same_origin(&url, &self.base)
            && let Some(auth) = &self.authorization
        {
            request = request.header(header::AUTHORIZATION, sensitive(auth.expose())?);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let request = request
            .build()
            .map_err(|e| RegistryError::Invalid(format!("cannot build a request: {e}")))?;
        http.execute(request, limit)
            .map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, e: crate::auth::http::HttpFailure) -> RegistryError {
        if let crate::auth::http::HttpFailure::TooLarge(limit) = e {
            return RegistryError::Invalid(format!(
                "{} answered more than {limit} bytes where lmi reads at most that (a manifest, a token, a tag list or a layer of the size its manifest declares): refused",
                self.registry
            ));
        }
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            why: e.to_string(),
        }
    }

    fn needs_login(&self) -> RegistryError {
        RegistryError::Credentials(format!(
            "{} asks for credentials and your docker configuration has none for it: run `docker login {}` (lmi reads {})",
            self.registry,
            self.registry,
            credentials::config_path().map_or_else(
                || "~/.docker/config.json".into(),
                |p| p.display().to_string()
            )
        ))
    }

    fn refused(&self) -> RegistryError {
        match &self.credentials {
            Credentials::Anonymous => self.needs_login(),
            c => RegistryError::Credentials(format!(
                "{} refused {} for {}: check it with `docker login {}`",
                self.registry,
                c.describe(),
                self.repository,
                self.registry
            )),
        }
    }

    /// `Ok` for a success; otherwise the error the status means: `not_found` for a 404,
    /// a credentials error for a 401 or 403, else the registry's own message.
    fn answered(
        &self,
        reply: &Reply,
        what: &str,
        not_found: impl FnOnce() -> RegistryError,
    ) -> Result<(), RegistryError> {
        match reply.status {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::NOT_FOUND => Err(not_found()),
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                Err(self.refused())
            }
            _ => Err(self.unexpected(what, reply)),
        }
    }

    fn push_refused(&self, what: &str, reply: &Reply) -> RegistryError {
        match reply.status {
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => self.refused(),
            _ => self.unexpected(what, reply),
        }
    }

    fn unexpected(&self, what: &str, reply: &Reply) -> RegistryError {
        RegistryError::Invalid(format!(
            "{} {what} with HTTP {}{}",
            self.registry,
            reply.status.as_u16(),
            registry_message(&reply.body)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ))
    }
}

/// The first message of a distribution error body (`{"errors":[{"code","message"}]}`),
/// stripped and bounded.
fn registry_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = v.get("errors")?.get(0)?;
    let code = first.get("code").and_then(|c| c.as_str()).unwrap_or("");
    let message = first.get("message").and_then(|c| c.as_str()).unwrap_or("");
    Some(crate::text::line(format!("{code} {message}").trim(), 200))
}

/// Where a layer may be redirected from `base`: HTTPS anywhere; plain HTTP only from a
/// loopback registry to loopback (a remote registry may not point lmi at a service on this
/// machine, nor fetch in the clear).
fn redirect_allowed(base: &url::Url, to: &url::Url) -> bool {
    to.scheme() == "https"
        || (to.scheme() == "http"
            && crate::settings::is_loopback(to)
            && crate::settings::is_loopback(base))
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.origin() == b.origin()
}

/// A header value that reqwest marks sensitive (never shown by its `Debug`).
fn sensitive(value: &str) -> Result<HeaderValue, RegistryError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        RegistryError::Invalid("a credential holds a character a header cannot carry".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_registry_cannot_redirect_to_plain_http_on_this_machine() {
        let allowed = |base: &str, to: &str| {
            let base = url::Url::parse(base).unwrap();
            let to = url::Url::parse(to).unwrap();
            redirect_allowed(&base, &to)
        };
        assert!(allowed("https://r.example/", "https://storage.example/x"));
        assert!(allowed("http://127.0.0.1:5000/", "http://127.0.0.1:9000/x"));
        assert!(!allowed("https://r.example/", "http://127.0.0.1:9000/x"));
        assert!(!allowed("https://r.example/", "http://storage.example/x"));
        assert!(!allowed(
            "http://127.0.0.1:5000/",
            "http://storage.example/x"
        ));
        assert!(!allowed("https://r.example/", "file:///etc/passwd"));
    }
}
