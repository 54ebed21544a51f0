//! Doctor's online checks of one environment: each grant tried once, through the grant code
//! dispatch uses (`TokenSource::try_grant`: nothing cached, held or locked, the token dropped
//! unseen), and each service URL probed without a token (reachable, TLS valid with lmi's
//! roots, and the status a request without a token gets: any status is an answer).

use std::sync::Arc;

use super::DoctorCheck;
use super::probe::{Unanswered, doctor_http, service_status};
use crate::auth::http::HttpFailure;
use crate::auth::service::GrantType;
use crate::auth::session::{EnvSession, Service};
use crate::auth::tokens::TokenSource;
use crate::auth::{AuthError, ServiceTokenError};
use crate::settings::{EnvConfig, Settings, keys};

/// One check per distinct grant of the env: its own (unless `LMI_ACCESS_TOKEN` replaces it),
/// and each named service's that asks for its own scope or audience.
pub fn grant_checks(
    settings: &Settings,
    cfg: &EnvConfig,
    session: &EnvSession,
    name: &str,
) -> Vec<DoctorCheck> {
    let http = match http_for(settings, name) {
        Ok(http) => http,
        Err(failed) => return vec![failed],
    };
    let mut tried: Vec<&Arc<TokenSource>> = Vec::new();
    // Token endpoints that gave no answer: each later trial there would wait out the same
    // deadline, so it is skipped (doctor stays bounded behind a down VPN).
    let mut silent: Vec<String> = Vec::new();
    let mut checks = Vec::new();
    for service in session.services() {
        // A named service without its own scope or audience shares the env's token.
        if tried.iter().any(|t| Arc::ptr_eq(t, &service.tokens)) {
            continue;
        }
        tried.push(&service.tokens);
        if service.tokens.overridden() {
            continue; // said once, with the grant configuration
        }
        let what = match &service.name {
            Some(n) => format!("service `{n}` (its own scope or audience): "),
            None => String::new(),
        };
        let grant = service.tokens.grant_config().ok().map(|g| g.grant);
        let endpoint = service
            .tokens
            .grant_config()
            .ok()
            .map(|g| g.token_url.origin().ascii_serialization());
        if let Some(endpoint) = endpoint.as_ref().filter(|e| silent.contains(e)) {
            checks.push(DoctorCheck::skip(
                name,
                format!("{what}not tried: {endpoint} gave no answer above"),
            ));
            continue;
        }
        let result = service.tokens.try_grant(&http);
        if let (Err(AuthError::Http { cause, .. }), Some(endpoint)) = (&result, endpoint)
            && matches!(cause, HttpFailure::Timeout(..) | HttpFailure::Connect(_))
        {
            silent.push(endpoint);
        }
        checks.push(match result {
            Ok(trial) => DoctorCheck::ok(
                name,
                format!(
                    "{what}{} grant tried: token issued, valid {} s (not kept)",
                    grant.map_or("the", GrantType::as_str),
                    trial.lifetime_secs
                ),
            ),
            Err(e) => DoctorCheck::fail(
                name,
                format!("{what}{e}"),
                grant_fix(cfg, service, grant, &e),
            ),
        });
    }
    checks
}

/// What to look at when a grant trial failed, by why it failed.
fn grant_fix(
    cfg: &EnvConfig,
    service: &Service,
    grant: Option<GrantType>,
    e: &AuthError,
) -> String {
    let from = |key: &str| {
        cfg.lookup(key)
            .map(|(_, source)| source.to_string())
            .unwrap_or_else(|| cfg.file_path().display().to_string())
    };
    match e {
        AuthError::Token(ServiceTokenError::Refused(_)) => {
            let (credentials, secret) = match grant {
                Some(GrantType::Password) => (
                    "OAUTH_USERNAME, OAUTH_PASSWORD, OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET",
                    keys::PASSWORD,
                ),
                _ => (
                    "OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET",
                    keys::CLIENT_SECRET,
                ),
            };
            // A secret in neither the process environment nor the env file came from the
            // keychain, or else from the global file (the lookup order).
            let secret_from = match cfg.each_layer(secret) {
                [(_, Some(v)), ..] | [_, (_, Some(v)), _] if !v.is_empty() => from(secret),
                _ => format!(
                    "the OS keychain, which `lmi auth status` names, or {}",
                    from(secret)
                ),
            };
            format!(
                "check {credentials} (in {secret_from}), and the scope and audience ({}): the provider's error code says which",
                service.scope_keys()
            )
        }
        AuthError::Token(_) => format!(
            "check {} (in {}): it must be the provider's token endpoint, and the provider up",
            keys::TOKEN_URL,
            from(keys::TOKEN_URL)
        ),
        AuthError::Http {
            cause: HttpFailure::Tls(_),
            ..
        } => tls_fix(keys::TOKEN_URL, &from(keys::TOKEN_URL)),
        AuthError::Http { .. } => format!(
            "check {} (in {}) and your network or VPN",
            keys::TOKEN_URL,
            from(keys::TOKEN_URL)
        ),
        AuthError::Config(_) => format!("set the key in {}", cfg.file_path().display()),
        _ => "fix the value it names".to_owned(),
    }
}

/// One check per service URL: what a GET without a token gets, or what failed on the way.
pub fn probe_checks(
    settings: &Settings,
    cfg: &EnvConfig,
    session: &EnvSession,
    name: &str,
) -> Vec<DoctorCheck> {
    let http = match http_for(settings, name) {
        Ok(http) => http,
        Err(failed) => return vec![failed],
    };
    let mut checks = Vec::new();
    // Origins that gave no answer: a second probe there would wait out the same deadline.
    let mut silent: Vec<String> = Vec::new();
    for service in session.services() {
        let Ok(url) = &service.url else {
            continue; // warned about with the configuration
        };
        let origin = url.origin().ascii_serialization();
        let (what, key) = match &service.name {
            Some(n) => (
                format!("service `{n}`"),
                keys::service_key(n, keys::SERVICE_URL_SUFFIX),
            ),
            None => ("service".to_owned(), keys::SERVICE_URL.to_owned()),
        };
        let shown = crate::logging::redact_url(url);
        let from = cfg
            .lookup(&key)
            .map(|(_, source)| source.to_string())
            .unwrap_or_else(|| cfg.file_path().display().to_string());
        if silent.contains(&origin) {
            checks.push(DoctorCheck::skip(
                name,
                format!("{what} not probed: {origin} gave no answer above"),
            ));
            continue;
        }
        let status = service_status(&http, url);
        if matches!(status, Err(Unanswered::Network(_))) {
            silent.push(origin);
        }
        checks.push(match status {
            Ok(status) => DoctorCheck::ok(
                name,
                format!("{what} {shown} answers HTTP {status} to a request without a token"),
            ),
            Err(Unanswered::Tls(why)) => {
                DoctorCheck::fail(name, format!("{what} {shown}: {why}"), tls_fix(&key, &from))
            }
            Err(Unanswered::Network(why)) => DoctorCheck::fail(
                name,
                format!("{what} {shown}: {why}"),
                format!("check {key} (in {from}) and your network or VPN"),
            ),
        });
    }
    checks
}

/// What to do about a refused certificate (the detail says why it was refused).
fn tls_fix(key: &str, from: &str) -> String {
    format!(
        "if {key} (in {from}) is right, have the server's certificate renewed or trust the CA that signed it: the OS trust store, or {}=PATH",
        crate::tls::CA_BUNDLE_KEY
    )
}

/// Doctor's client, or the failing check that says why there is none.
fn http_for(settings: &Settings, name: &str) -> Result<crate::auth::http::Http, DoctorCheck> {
    doctor_http(settings)
        .map_err(|e| DoctorCheck::fail(name, e.to_string(), "fix the value it names"))
}
