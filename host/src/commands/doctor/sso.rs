//! Doctor's SSO checks: the keychain (or the opted-in file storage), the issuer's discovery
//! document, and the clock against the issuer's `Date` header. Each asks the SSO module's own
//! probe, so doctor and `lmi login sso` cannot disagree about a configuration.

use std::time::SystemTime;

use super::probe::{doctor_http, parse_http_date, skew_secs};
use super::{DoctorCheck, MAX_SKEW_SECS, PROBE_TIMEOUT};
use crate::auth::sso::discovery;
use crate::keychain;
use crate::settings::{SessionStorage, Settings, keys};

pub fn keychain_check(settings: &Settings) -> DoctorCheck {
    match settings.sso_options() {
        Ok(o) if o.storage == SessionStorage::File => {
            return DoctorCheck::ok(
                "keychain",
                "not used: LMI_SSO_STORAGE=file keeps the SSO session in a 0600 file",
            );
        }
        Ok(_) => {}
        Err(e) => return DoctorCheck::fail("keychain", e.to_string(), "fix the value it names"),
    }
    let Err(problem) = keychain::probe(PROBE_TIMEOUT) else {
        return DoctorCheck::ok("keychain", "the OS keychain answers");
    };
    // Without SSO configured nothing needs the keychain yet: a missing one is only a warning.
    let sso_configured = settings.global(keys::SSO_ISSUER).is_some()
        || settings.global(keys::SSO_CLIENT_ID).is_some();
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
    if settings.global(keys::SSO_ISSUER).is_none() {
        return vec![DoctorCheck::skip(
            "sso",
            "OAUTH_SSO_ISSUER is not set (SSO not configured)",
        )];
    }
    let where_ = settings.source_of(keys::SSO_ISSUER);
    if !network {
        // The configuration alone, by login's rules (an http:// issuer off loopback fails).
        return vec![match crate::auth::sso::config::SsoConfig::load(settings) {
            Ok(_) => DoctorCheck::skip("sso", "issuer not contacted (--offline)"),
            Err(e) => DoctorCheck::fail("sso", e.to_string(), format!("fix it in {where_}")),
        }];
    }
    let http = match doctor_http(settings) {
        Ok(http) => http,
        Err(e) => {
            return vec![DoctorCheck::fail(
                "sso",
                e.to_string(),
                "fix the value it names",
            )];
        }
    };
    let probe = discovery::check(settings, &http);
    let mut checks = vec![match probe.report {
        Ok(report) if report.missing.is_empty() => DoctorCheck::ok(
            "sso",
            format!("issuer {} publishes its discovery document", report.issuer),
        ),
        Ok(report) => DoctorCheck::warn(
            "sso",
            format!("the discovery document lacks {}", report.missing.join(", ")),
            "set the matching OAUTH_SSO_*_URL keys in the global .env",
        ),
        Err(e) => DoctorCheck::fail(
            "sso",
            e.to_string(),
            format!(
                "check OAUTH_SSO_ISSUER and OAUTH_SSO_CLIENT_ID in {where_}, and your network or VPN"
            ),
        ),
    }];
    checks.push(match probe.date.as_deref().and_then(parse_http_date) {
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
