//! Doctor's SSO checks: the keychain (or the opted-in file storage), the issuer's discovery
//! document, and the clock against the issuer's `Date` header. Each asks the SSO module's own
//! probe, so doctor and `lmi login sso` cannot disagree about a configuration. Then the
//! provider profile in use and its known pitfalls (`auth::sso::profile`): a redirect port the
//! provider cannot match, no device endpoint, a session without a refresh token, no groups
//! claim where a policy checks one. And how `lmi login sso` would sign in on this machine.

use std::time::SystemTime;

use super::probe::{doctor_http, parse_http_date, skew_secs};
use super::{DoctorCheck, MAX_SKEW_SECS, PROBE_TIMEOUT};
use crate::auth::sso::LoginOptions;
use crate::auth::sso::config::{REDIRECT_PORTS_KEY, SsoConfig};
use crate::auth::sso::discovery;
use crate::auth::sso::groups::Captured;
use crate::auth::sso::login::method::{Choice, Grant, Machine};
use crate::keychain;
use crate::settings::keys::SSO_ALLOWED_GROUPS;
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
    // The configuration alone, by login's rules (an http:// issuer off loopback fails).
    let cfg = match SsoConfig::load(settings) {
        Ok(cfg) => cfg,
        Err(e) => {
            return vec![DoctorCheck::fail(
                "sso",
                e.to_string(),
                format!("fix it in {where_}"),
            )];
        }
    };
    let mut checks = profile_checks(&cfg);
    checks.extend(session_checks(settings, &cfg));
    if !network {
        checks.push(method_check(settings, DeviceGrant::Unknown));
        checks.push(DoctorCheck::skip("sso", "issuer not contacted (--offline)"));
        return checks;
    }
    checks.extend(provider_checks(settings, &cfg, &where_));
    checks
}

/// What doctor learned of the provider's device sign-in.
enum DeviceGrant<'a> {
    /// The provider was not asked, or did not answer.
    Unknown,
    Offered,
    /// The issuer offers none.
    NotOffered(&'a str),
}

/// How `lmi login sso` would sign in here, and why, in login's own words (login decides it by
/// the same [`Choice`]): `auto` falls back to the browser as login would, and a device code
/// the provider cannot serve fails, as login will.
fn method_check(settings: &Settings, device: DeviceGrant<'_>) -> DoctorCheck {
    let method = match settings.sso_login_method() {
        Ok(method) => method,
        Err(e) => return DoctorCheck::fail("sso", e.to_string(), "fix the value it names"),
    };
    let choice = Choice::make(
        &LoginOptions::default(),
        method,
        Machine::of(settings.seat()),
        settings.global(keys::BROWSER).is_some(),
    );
    match device {
        DeviceGrant::NotOffered(issuer) if choice.needs_the_device_grant_offered() => {
            let choice = choice.without_device_grant(issuer);
            DoctorCheck::ok("sso", format!("lmi login sso here: {choice}"))
        }
        DeviceGrant::NotOffered(issuer) if choice.grant == Grant::Device => DoctorCheck::fail(
            "sso",
            format!("lmi login sso here: {choice} But {issuer} offers no device sign-in."),
            choice.other_way(),
        ),
        DeviceGrant::Unknown if choice.needs_the_device_grant_offered() => DoctorCheck::ok(
            "sso",
            format!(
                "lmi login sso here: {choice} Through the browser if the provider offers no device code or refuses it to this client."
            ),
        ),
        // Only the device request itself says whether the client may use the grant (Okta
        // and Auth0 until it is enabled, Google's Desktop clients): doctor does not start one.
        DeviceGrant::Offered if choice.needs_the_device_grant_offered() => DoctorCheck::ok(
            "sso",
            format!(
                "lmi login sso here: {choice} Through the browser if the provider refuses the device code to this client."
            ),
        ),
        _ => DoctorCheck::ok("sso", format!("lmi login sso here: {choice}")),
    }
}

/// The profile in use, and the redirect port a provider that matches it exactly needs.
fn profile_checks(cfg: &SsoConfig) -> Vec<DoctorCheck> {
    let provider = cfg.profile.provider;
    let mut checks = vec![DoctorCheck::ok(
        "sso",
        format!("provider profile {}", cfg.profile.describe()),
    )];
    if provider.needs_registered_port() && cfg.redirect_ports.is_empty() {
        checks.push(DoctorCheck::warn(
            "sso",
            format!(
                "{} matches redirect URIs exactly, port included, and {REDIRECT_PORTS_KEY} is not set: a browser sign-in on a random port is refused at the provider",
                provider.title()
            ),
            format!(
                "register http://127.0.0.1:<port>/callback for the app at {} and set {REDIRECT_PORTS_KEY}=<port> in the global .env (or run lmi login sso --redirect-port <port>)",
                provider.title()
            ),
        ));
    }
    checks
}

/// The stored session against the provider's pitfalls: no refresh token, no groups claim
/// where an environment checks one. Read as it is (no refresh, no network); a keychain that
/// cannot be read is the keychain check's to report.
fn session_checks(settings: &Settings, cfg: &SsoConfig) -> Vec<DoctorCheck> {
    let Ok(Some((user, refreshable))) = crate::auth::sso::stored_session(settings) else {
        return Vec::new();
    };
    let provider = cfg.profile.provider;
    let who = user.display_name();
    let mut checks = Vec::new();
    if !refreshable {
        checks.push(DoctorCheck::warn(
            "sso",
            format!(
                "the SSO session of {who} has no refresh token: it ends when its access token expires, and every expiry sends you back to the browser"
            ),
            format!("{}; then run lmi login sso --force", provider.refresh_token_fix()),
        ));
    }
    for claim in settings.group_claims_to_capture() {
        match user.groups.get(&claim) {
            Some(Captured::Groups(groups)) if groups.is_empty() => checks.push(DoctorCheck::warn(
                "sso",
                format!(
                    "an environment admits only members of some groups ({SSO_ALLOWED_GROUPS}), and the ID token of {who} has no `{claim}` claim (or an empty one): it will be refused"
                ),
                format!(
                    "{}; then run lmi auth refresh",
                    provider.groups_claim_fix()
                ),
            )),
            Some(Captured::Unusable { unusable }) => checks.push(DoctorCheck::warn(
                "sso",
                format!(
                    "an environment admits only members of some groups ({SSO_ALLOWED_GROUPS}), and the `{claim}` claim of {who}'s ID token cannot be read as groups: {unusable}"
                ),
                format!(
                    "{}; then run lmi auth refresh",
                    provider.groups_claim_fix()
                ),
            )),
            _ => {}
        }
    }
    checks
}

/// The issuer's discovery document, the device endpoint, and the clock.
fn provider_checks(settings: &Settings, cfg: &SsoConfig, where_: &str) -> Vec<DoctorCheck> {
    let http = match doctor_http(settings) {
        Ok(http) => http,
        Err(e) => {
            return vec![
                DoctorCheck::fail("sso", e.to_string(), "fix the value it names"),
                method_check(settings, DeviceGrant::Unknown),
            ];
        }
    };
    let probe = discovery::check(settings, &http);
    let device_missing = matches!(&probe.report, Ok(report) if !report.device);
    let method = method_check(
        settings,
        match &probe.report {
            Ok(report) if report.device => DeviceGrant::Offered,
            Ok(report) => DeviceGrant::NotOffered(&report.issuer),
            Err(_) => DeviceGrant::Unknown,
        },
    );
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
    checks.push(method);
    if device_missing {
        checks.push(DoctorCheck::warn(
            "sso",
            format!(
                "{} offers no device-authorization endpoint: lmi login sso --device will not work (browser sign-in does)",
                cfg.profile.provider.title()
            ),
            format!(
                "{}, or set OAUTH_SSO_DEVICE_AUTHORIZATION_URL if it has one discovery does not list",
                cfg.profile.provider.device_grant_fix()
            ),
        ));
    }
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
