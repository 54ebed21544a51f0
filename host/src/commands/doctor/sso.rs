//! Doctor's SSO checks: the keychain (or the opted-in file storage), the issuer's discovery
//! document, and the clock against the issuer's `Date` header.
//!
//! TODO(issue 11): use sso::... — the discovery check and the keychain probe below are
//! doctor's own copies; call the SSO module's probes once it offers them (the copy accepts an
//! `http://` issuer that `login` refuses).

use std::sync::mpsc;
use std::time::SystemTime;

use super::probe::{probe, skew_secs};
use super::{DoctorCheck, MAX_SKEW_SECS, PROBE_TIMEOUT};
use crate::settings::Settings;

pub fn keychain_check(settings: &Settings) -> DoctorCheck {
    if settings
        .global("LMI_SSO_STORAGE")
        .is_some_and(|v| v.eq_ignore_ascii_case("file"))
    {
        return DoctorCheck::ok(
            "keychain",
            "not used: LMI_SSO_STORAGE=file keeps the SSO session in a 0600 file",
        );
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = keyring::Entry::new("lmi-doctor", "probe").and_then(|e| e.get_password());
        let _ = tx.send(result);
    });
    // Without SSO configured nothing needs the keychain yet: a missing one is only a warning.
    let sso_configured = settings.global("OAUTH_SSO_ISSUER").is_some()
        || settings.global("OAUTH_SSO_CLIENT_ID").is_some();
    let problem = match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Ok(_)) | Ok(Err(keyring::Error::NoEntry)) => {
            return DoctorCheck::ok("keychain", "the OS keychain answers");
        }
        Ok(Err(e)) => format!("the OS keychain is not reachable: {e}"),
        Err(_) => format!(
            "the OS keychain did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ),
    };
    if sso_configured {
        DoctorCheck::fail("keychain", problem, KEYCHAIN_FIX)
    } else {
        DoctorCheck::warn(
            "keychain",
            format!("{problem} (needed once SSO is configured)"),
            KEYCHAIN_FIX,
        )
    }
}

const KEYCHAIN_FIX: &str = "start and unlock a Secret Service (gnome-keyring, KWallet, KeePassXC; over SSH: `dbus-run-session` and `gnome-keyring-daemon --unlock`), or opt into file storage with LMI_SSO_STORAGE=file";

pub fn sso_checks(settings: &Settings, network: bool) -> Vec<DoctorCheck> {
    let Some(raw) = settings.global("OAUTH_SSO_ISSUER") else {
        return vec![DoctorCheck::skip(
            "sso",
            "OAUTH_SSO_ISSUER is not set (SSO not configured)",
        )];
    };
    let where_ = settings.source_of("OAUTH_SSO_ISSUER");
    let issuer = match url::Url::parse(raw.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            return vec![DoctorCheck::fail(
                "sso",
                format!("OAUTH_SSO_ISSUER in {where_} is not an http(s) URL"),
                format!(
                    "set OAUTH_SSO_ISSUER in {where_} to the issuer URL, e.g. https://login.example.com"
                ),
            )];
        }
    };
    if !network {
        return vec![DoctorCheck::skip("sso", "issuer not contacted (--offline)")];
    }
    let well_known = format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    );
    let discovery = match url::Url::parse(&well_known) {
        Ok(u) => u,
        Err(e) => {
            return vec![DoctorCheck::fail(
                "sso",
                e.to_string(),
                "fix OAUTH_SSO_ISSUER",
            )];
        }
    };
    let shown = crate::logging::redact_url(&discovery);
    let p = match probe(settings, &discovery) {
        Ok(p) => p,
        Err(why) => {
            return vec![DoctorCheck::fail(
                "sso",
                format!("discovery document {shown} is unreachable: {why}"),
                format!("check OAUTH_SSO_ISSUER in {where_} and your network or VPN"),
            )];
        }
    };
    let mut checks = Vec::new();
    let doc: Option<serde_json::Value> = serde_json::from_slice(&p.body).ok();
    checks.push(match (p.status, doc) {
        (200, Some(doc)) => {
            let said = doc
                .get("issuer")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            if said.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
                DoctorCheck::fail(
                    "sso",
                    format!("the discovery document names the issuer `{said}`, not `{raw}`"),
                    format!("set OAUTH_SSO_ISSUER in {where_} to exactly `{said}`"),
                )
            } else {
                let missing: Vec<&str> = ["authorization_endpoint", "token_endpoint", "jwks_uri"]
                    .into_iter()
                    .filter(|k| doc.get(*k).and_then(|v| v.as_str()).is_none())
                    .collect();
                if missing.is_empty() {
                    DoctorCheck::ok(
                        "sso",
                        format!("issuer {said} publishes its discovery document"),
                    )
                } else {
                    DoctorCheck::warn(
                        "sso",
                        format!("the discovery document lacks {}", missing.join(", ")),
                        "set the matching OAUTH_SSO_*_URL keys in the global .env",
                    )
                }
            }
        }
        (200, None) => DoctorCheck::fail(
            "sso",
            format!("{shown} is not a JSON discovery document"),
            format!("check OAUTH_SSO_ISSUER in {where_}"),
        ),
        (status, _) => DoctorCheck::fail(
            "sso",
            format!("{shown} answered HTTP {status}"),
            format!("check OAUTH_SSO_ISSUER in {where_}"),
        ),
    });
    checks.push(match p.date {
        None => DoctorCheck::skip("clock", "the issuer sent no Date header to compare with"),
        Some(theirs) => {
            let skew = skew_secs(SystemTime::now(), theirs);
            if skew.abs() > MAX_SKEW_SECS {
                DoctorCheck::fail(
                    "clock",
                    format!("this machine's clock is {skew:+} s off the issuer's"),
                    "synchronise the system clock (e.g. `timedatectl set-ntp true`): ID tokens are rejected beyond a small leeway",
                )
            } else {
                DoctorCheck::ok("clock", format!("within {} s of the issuer's", skew.abs().max(1)))
            }
        }
    });
    checks
}
