//! Authenticated requests to an environment's service (`OAUTH_SERVICE_URL`), on behalf of a
//! plugin: the path is resolved under the service URL (it cannot leave it), the bearer token
//! is attached by the host, and on a 401 the token is discarded (only if it is still the
//! cached one), a new one acquired and the request retried once. A second 401 is an
//! authentication failure naming the env and the token endpoint.

use super::AuthError;
use super::cache::AccessToken;
use super::http::{Http, SERVICE_BODY_LIMIT};
use super::service;
use crate::settings::Settings;

/// A request as a plugin asked for it (the path is relative to `OAUTH_SERVICE_URL`).
#[derive(Debug, Clone)]
pub struct ServiceCall {
    pub method: reqwest::Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct ServiceReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Headers the host sets itself (or the HTTP layer does); a plugin may not.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
];

pub fn send(settings: &Settings, env: &str, call: ServiceCall) -> Result<ServiceReply, AuthError> {
    let config = settings.env_config(env)?;
    let base = config.require_url("OAUTH_SERVICE_URL")?;
    let url = resolve(&base, &call.path)?;
    let headers = plugin_headers(&call.headers)?;
    let http = Http::new(settings)?;

    let token = service::token(settings, env)?;
    let reply = attempt(&http, &call, &url, &headers, &token, env)?;
    if reply.status != 401 {
        return Ok(reply);
    }
    tracing::info!(
        "environment `{env}`: the service answered 401; renewing the token and retrying once"
    );
    let renewed = service::renew_after_reject(settings, env, &token).map_err(|e| match e {
        AuthError::ServiceCredentials(m) => AuthError::ServiceCredentials(format!(
            "the service of environment `{env}` rejected its token (HTTP 401) and a new one could not be had: {m}"
        )),
        AuthError::Network(m) => AuthError::Network(format!(
            "the service of environment `{env}` rejected its token (HTTP 401) and a new one could not be had: {m}"
        )),
        other => other,
    })?;
    let reply = attempt(&http, &call, &url, &headers, &renewed, env)?;
    if reply.status == 401 {
        return Err(AuthError::ServiceCredentials(format!(
            "the service of environment `{env}` ({}) rejected a newly issued token from {} (HTTP 401 twice): \
             check that the env's client may use this service (OAUTH_SCOPE, OAUTH_AUDIENCE)",
            crate::logging::redact_url(&base),
            service::token_source(settings, env)
        )));
    }
    Ok(reply)
}

fn attempt(
    http: &Http,
    call: &ServiceCall,
    url: &url::Url,
    headers: &reqwest::header::HeaderMap,
    token: &AccessToken,
    env: &str,
) -> Result<ServiceReply, AuthError> {
    let mut builder = http
        .request(call.method.clone(), url.clone())
        .headers(headers.clone())
        .bearer_auth(token.secret());
    if let Some(body) = &call.body {
        builder = builder.body(body.clone());
    }
    let request = builder
        .build()
        .map_err(|e| AuthError::InvalidRequest(format!("cannot build the request: {e}")))?;
    let reply = http.execute(request, SERVICE_BODY_LIMIT).map_err(|e| {
        AuthError::Network(format!(
            "the service of environment `{env}` ({} {}): {e}",
            call.method,
            crate::logging::redact_url(url)
        ))
    })?;
    Ok(ServiceReply {
        status: reply.status.as_u16(),
        headers: reply
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: reply.body,
    })
}

/// `path` (with an optional query) under `base`. Absolute URLs, scheme-relative paths and
/// dot segments that climb out of the base path are refused.
pub fn resolve(base: &url::Url, path: &str) -> Result<url::Url, AuthError> {
    let refuse = |why: &str| AuthError::InvalidRequest(format!("path `{path}` {why}"));
    if path.contains("://") || path.starts_with("//") || path.contains('\\') {
        return Err(refuse("must be relative to the service URL"));
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(refuse("contains spaces or control characters"));
    }
    let path = path.split('#').next().unwrap_or_default();
    let (p, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let base_path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_fragment(None);
    url.set_path(&format!("{base_path}/{}", p.trim_start_matches('/')));
    url.set_query(query.filter(|q| !q.is_empty()));
    let inside = url.path() == base_path
        || url.path().starts_with(&format!("{base_path}/"))
        || (base_path.is_empty() && url.path().starts_with('/'));
    if !inside || url.origin() != base.origin() {
        return Err(refuse("leaves the service URL"));
    }
    Ok(url)
}

fn plugin_headers(headers: &[(String, String)]) -> Result<reqwest::header::HeaderMap, AuthError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let lname = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lname.as_str()) {
            return Err(AuthError::InvalidRequest(format!(
                "header `{name}` is set by lmi and may not be given by a plugin"
            )));
        }
        let n = HeaderName::from_bytes(lname.as_bytes()).map_err(|_| {
            AuthError::InvalidRequest(format!("`{name}` is not a valid header name"))
        })?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            AuthError::InvalidRequest(format!("header `{name}` has an invalid value"))
        })?;
        map.append(n, v);
    }
    Ok(map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(base: &str, path: &str) -> Result<String, String> {
        resolve(&url::Url::parse(base).unwrap(), path)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn paths_resolve_under_the_service_url() {
        assert_eq!(
            r("http://h:1/api", "v1/items?x=1").unwrap(),
            "http://h:1/api/v1/items?x=1"
        );
        assert_eq!(
            r("http://h:1/api/", "/v1/items").unwrap(),
            "http://h:1/api/v1/items"
        );
        assert_eq!(r("http://h:1", "whoami").unwrap(), "http://h:1/whoami");
        assert_eq!(r("http://h:1/api", "a/../b").unwrap(), "http://h:1/api/b");
        assert!(r("http://h:1/api", "../admin").is_err());
        assert!(r("http://h:1/api", "a/../../admin").is_err());
        assert!(r("http://h:1/api", "%2e%2e/admin").is_err());
        assert!(r("http://h:1/api", "http://evil/x").is_err());
        assert!(r("http://h:1/api", "//evil/x").is_err());
        assert!(r("http://h:1/api", "a b").is_err());
    }

    #[test]
    fn reserved_headers_are_refused() {
        assert!(plugin_headers(&[("Authorization".into(), "Bearer x".into())]).is_err());
        assert!(plugin_headers(&[("host".into(), "evil".into())]).is_err());
        assert!(plugin_headers(&[("accept".into(), "application/json".into())]).is_ok());
    }
}
