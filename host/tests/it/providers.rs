//! The identity providers companies run (issue 19): each provider's departure from the plain
//! OpenID Connect path, emulated by the real test provider (`IDP_PROFILE`, see
//! tests/idp/README.md), and lmi's real login path (browser or device) against it, with the
//! provider profile (`OAUTH_SSO_PROVIDER` or detection) that handles it.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::json;

use crate::sso::{browser_login, device_login, keychain_records};
use crate::support::browser::{self, Browser};
use crate::support::idp::Idp;
use crate::support::{Home, plugin_dir};

/// A home configured for `idp`'s profile (plus `extra` global lines), `hello` and `whoami`
/// installed.
fn home_for(idp: &Idp, extra: &str) -> Home {
    crate::sso::require_keyring();
    let home = Home::new();
    home.global_env(&format!("{}{extra}", idp.sso_env()));
    home.install(&plugin_dir("plugins/hello"));
    home
}

// ---- Microsoft Entra ID ----------------------------------------------------------------------

/// Entra: a tenant issuer (`/<tenant>/v2.0`), no `email` in the ID token, no revocation.
/// The user is named by `preferred_username`, saying so; logout says plainly that nothing was
/// revoked and what stays valid.
#[test]
fn entra_names_the_user_by_preferred_username_and_logout_says_nothing_was_revoked() {
    let idp = Idp::start_profile("entra", &[]);
    assert!(idp.issuer().ends_with("/v2.0"), "{}", idp.issuer());
    let mut home = home_for(&idp, "OAUTH_SSO_PROVIDER=entra\n");
    let run = browser_login(&mut home, "alice");
    run.stdout_has(
        "Signed in as alice@contoso.test (the ID token's `preferred_username`: it carries no `email`).",
    );
    home.run(["auth", "status"])
        .success()
        .stdout_has("SSO: signed in as alice@contoso.test (the ID token's `preferred_username`");
    let status = home.run(["auth", "status", "--output", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["sso"]["named_by"], "preferred_username", "{status}");
    assert_eq!(status["sso"]["provider"], "entra", "{status}");
    assert!(status["sso"]["email"].is_null(), "{status}");
    // Plugins get what the contract says: no email invented from the login name.
    home.run(["whoami"])
        .success()
        .stdout_has("subject: alice")
        .stdout_lacks("email: alice@contoso.test");

    home.run(["doctor", "--offline"])
        .stdout_has("provider profile entra: Microsoft Entra ID (set by OAUTH_SSO_PROVIDER)");

    let out = home.run(["logout", "sso"]);
    out.success()
        .stdout_has("Signed out alice@contoso.test")
        .stderr_has("nothing was revoked: Microsoft Entra ID offers apps no token revocation");
    assert_eq!(idp.revocations(), 0);
    assert!(keychain_records(&idp).is_empty(), "deleted locally");
}

/// Entra without `preferred_username`: the optional `upn` claim names the user.
#[test]
fn entra_falls_back_to_upn() {
    let idp = Idp::start_profile("entra", &[]);
    idp.set_claims(
        "bob",
        json!({ "preferred_username": null, "upn": "bob.smith@contoso.test" }),
    );
    let mut home = home_for(&idp, "OAUTH_SSO_PROVIDER=entra\n");
    browser_login(&mut home, "bob").stdout_has(
        "Signed in as bob.smith@contoso.test (the ID token's `upn`: it carries no `email`).",
    );
}

/// Entra past 200 groups sends an overage indicator instead of the groups: an environment
/// that checks groups refuses (exit 4) and says why, never silently; `hasgroups` likewise.
/// Doctor names the pitfall.
#[test]
fn entra_groups_overage_fails_closed_with_an_explanation() {
    let idp = Idp::start_profile("entra", &[]);
    let many: Vec<String> = (0..250).map(|i| format!("group-{i:03}")).collect();
    idp.set_groups("carol", json!(many));
    let home = home_for(&idp, "OAUTH_SSO_PROVIDER=entra\n");
    home.env_file("prod", "LMI_SSO_ALLOWED_GROUPS=group-007\n");
    device_login(&idp, &home, "carol").success();

    let refused = home.run(["-e", "prod", "hello"]);
    refused
        .code(4)
        .stderr_has("may not use environment `prod`")
        .stderr_has("overage indicator (`_claim_names`)")
        .stderr_has("Groups assigned to the application")
        .stdout_lacks("Hello");
    home.run(["doctor", "--offline"])
        .stdout_has("cannot be read as groups: the identity provider sent an overage indicator");

    // The implicit-flow form of the indicator.
    idp.set_groups("carol", serde_json::Value::Null);
    idp.set_claims("carol", json!({ "hasgroups": true }));
    home.run(["auth", "refresh"]).success();
    home.run(["-e", "prod", "hello"])
        .code(4)
        .stderr_has("overage indicator (`hasgroups`)");

    // Groups within the limit admit again.
    idp.set_claims("carol", json!({ "hasgroups": null }));
    idp.set_groups("carol", json!(["group-007"]));
    home.run(["auth", "refresh"]).success();
    home.run(["-e", "prod", "hello"])
        .success()
        .stdout_has("Hello");
}

/// Entra's tokens are large: the keychain record still fits Windows Credential Manager's
/// 2,560 bytes per secret, and a refresh with the large refresh token works.
#[test]
fn entra_sized_tokens_fit_the_smallest_keychain_and_refresh() {
    let idp = Idp::start_profile("entra", &[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let mut home = home_for(&idp, "OAUTH_SSO_PROVIDER=entra\n");
    browser_login(&mut home, "dave");
    let records = keychain_records(&idp);
    // Split, not trimmed: the access token is kept.
    assert!(records.len() >= 2, "{} item(s)", records.len());
    let (header, first) = records[0]
        .split_once('\n')
        .expect("a split record's header");
    assert!(header.starts_with("lmi-split/1 parts="), "{header}");
    let whole: String = std::iter::once(first)
        .chain(records[1..].iter().map(String::as_str))
        .collect();
    let record: serde_json::Value = serde_json::from_str(&whole).unwrap();
    assert!(
        record["access_token"].as_str().unwrap().len() >= 2000,
        "the large access token is kept"
    );
    let total: usize = records.iter().map(String::len).sum();
    for r in &records {
        assert!(r.len() <= 2560, "{} bytes in one keychain item", r.len());
    }
    eprintln!(
        "FIGURE keychain-record entra: {} item(s), {} bytes in all, largest {} (limit 2560)",
        records.len(),
        total,
        records.iter().map(String::len).max().unwrap_or(0)
    );
    std::thread::sleep(Duration::from_millis(2500));
    home.run(["whoami"]).success().stdout_has("subject: dave");
    assert_eq!(idp.token_requests("refresh_token"), 1);
}

// ---- Okta ------------------------------------------------------------------------------------

/// Two free loopback ports; the first stays taken while the listener lives.
fn two_ports() -> (TcpListener, u16, u16) {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, b) = (
        held.local_addr().unwrap().port(),
        free.local_addr().unwrap().port(),
    );
    drop(free);
    (held, a, b)
}

/// Okta (custom authorization server `/oauth2/default`) matches redirect URIs exactly, port
/// included: with the registered ports in OAUTH_SSO_REDIRECT_PORTS lmi listens on the first
/// free one (the first is busy here) and the sign-in works; without them doctor warns.
#[test]
fn okta_exact_redirect_ports_are_tried_in_order() {
    let (held, busy, free) = two_ports();
    let ports = format!("{busy},{free}");
    let idp = Idp::start_profile("okta-custom", &[("IDP_REDIRECT_PORTS", ports.as_str())]);
    assert!(
        idp.issuer().ends_with("/oauth2/default"),
        "{}",
        idp.issuer()
    );
    let mut home = home_for(&idp, "OAUTH_SSO_PROVIDER=okta\n");
    home.run(["doctor", "--offline"])
        .stdout_has("Okta matches redirect URIs exactly, port included")
        .stdout_has("OAUTH_SSO_REDIRECT_PORTS");
    home.global_env(&format!(
        "{}OAUTH_SSO_PROVIDER=okta\nOAUTH_SSO_REDIRECT_PORTS=\"{busy}, {free}\"\n",
        idp.sso_env()
    ));
    browser::set_browser(&mut home, Browser::approve("erin"));
    let run = home.run(["login", "sso", "--force"]);
    run.success().stdout_has("Signed in as erin@");
    let asked = idp.authorization_requests();
    let redirect = asked.last().unwrap()["redirect_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(redirect, format!("http://127.0.0.1:{free}/callback"));
    home.run(["doctor", "--offline"])
        .stdout_has("provider profile okta: Okta (set by OAUTH_SSO_PROVIDER)")
        .stdout_lacks("matches redirect URIs exactly");
    drop(held);
}

/// Okta without the device grant enabled for the app: the error says so and who fixes it
/// (usage error, exit 2), and nothing is stored.
#[test]
fn okta_device_flow_not_enabled_says_so() {
    let idp = Idp::start_profile("okta-org", &[("IDP_DEVICE_GRANT", "off")]);
    let home = home_for(&idp, "OAUTH_SSO_PROVIDER=okta\n");
    home.run(["login", "sso", "--device", "--no-browser"])
        .code(2)
        .stderr_has("Okta does not allow the device flow for the client")
        .stderr_has("unauthorized_client")
        .stderr_has("adds the Device Authorization grant type")
        .stderr_has("sign in without --device");
    assert!(keychain_records(&idp).is_empty());
}

/// Okta's org authorization server sends `groups` only for the `groups` scope: doctor names
/// the missing claim and the fix; with the scope added, the environment admits the user.
#[test]
fn okta_org_server_groups_need_the_groups_scope() {
    let idp = Idp::start_profile("okta-org", &[]);
    let home = home_for(&idp, "OAUTH_SSO_PROVIDER=okta\n");
    home.env_file("prod", "LMI_SSO_ALLOWED_GROUPS=lmi-users\n");
    device_login(&idp, &home, "frank").success();
    home.run(["-e", "prod", "hello"]).code(4);
    home.run(["doctor", "--offline"])
        .stdout_has("has no `groups` claim")
        .stdout_has("add `groups` to OAUTH_SSO_SCOPES");
    home.global_env(&format!(
        "{}OAUTH_SSO_PROVIDER=okta\nOAUTH_SSO_SCOPES=\"openid profile email offline_access groups\"\n",
        idp.sso_env()
    ));
    device_login(&idp, &home, "frank").success();
    home.run(["-e", "prod", "hello"])
        .success()
        .stdout_has("Hello");
}

// ---- Keycloak --------------------------------------------------------------------------------

/// Keycloak (`/realms/<realm>`, detected from the issuer): `refresh_expires_in` is the
/// session's end in `auth status`; the device flow and revocation work at its own paths.
#[test]
fn keycloak_realm_is_detected_and_its_session_end_shown() {
    let idp = Idp::start_profile("keycloak", &[("IDP_REFRESH_TOKEN_TTL", "7200")]);
    assert!(idp.issuer().ends_with("/realms/lmi"), "{}", idp.issuer());
    let home = home_for(&idp, "");
    device_login(&idp, &home, "grace").success();
    home.run(["auth", "status"])
        .success()
        .stdout_has("session valid until");
    let status = home.run(["auth", "status", "--output", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["sso"]["provider"], "keycloak");
    assert!(status["sso"]["session_ends_at"].is_u64(), "{status}");
    home.run(["doctor", "--offline"])
        .stdout_has("provider profile keycloak: Keycloak (detected from the issuer)");
    home.run(["logout", "sso"])
        .success()
        .stdout_has("revoked at the identity provider");
    assert_eq!(idp.revocations(), 1);
}

// ---- Auth0 -----------------------------------------------------------------------------------

/// Auth0: an issuer with a trailing slash, `audience` for an API access token
/// (OAUTH_SSO_AUDIENCE, on the browser and the device request), revocation at /oauth/revoke.
#[test]
fn auth0_trailing_slash_issuer_audience_and_revocation() {
    let idp = Idp::start_profile("auth0", &[]);
    assert!(idp.issuer().ends_with('/'), "{}", idp.issuer());
    let mut home = home_for(
        &idp,
        "OAUTH_SSO_PROVIDER=auth0\nOAUTH_SSO_AUDIENCE=https://api.acme.test\n",
    );
    browser_login(&mut home, "heidi").stdout_has("Signed in as heidi@");
    let asked = idp.authorization_requests();
    assert_eq!(
        asked.last().unwrap()["audience"],
        "https://api.acme.test",
        "{asked:?}"
    );
    home.run(["logout", "sso"])
        .success()
        .stdout_has("revoked at the identity provider");
    assert_eq!(idp.revocations(), 1);

    idp.reset();
    device_login(&idp, &home, "heidi").success();
    let log = idp.request_log();
    let device = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "device_authorization")
        .expect("a device-authorization request");
    assert_eq!(device["audience"], "https://api.acme.test", "{device}");
}

/// An Auth0 tenant whose discovery does not list `revocation_endpoint`: the `auth0` profile
/// revokes at `<issuer>oauth/revoke` all the same; without the profile, nothing is revoked
/// and lmi says so.
#[test]
fn auth0_revokes_at_oauth_revoke_when_discovery_does_not_say() {
    let idp = Idp::start_profile("auth0", &[("IDP_HIDE_DISCOVERY", "revocation_endpoint")]);
    assert!(idp.discovery().get("revocation_endpoint").is_none());
    let mut home = home_for(&idp, "OAUTH_SSO_PROVIDER=generic\n");
    browser_login(&mut home, "ivy");
    home.run(["logout", "sso"])
        .success()
        .stderr_has("nothing was revoked");
    assert_eq!(idp.revocations(), 0);

    home.global_env(&format!("{}OAUTH_SSO_PROVIDER=auth0\n", idp.sso_env()));
    browser_login(&mut home, "ivy");
    home.run(["logout", "sso"])
        .success()
        .stdout_has("revoked at the identity provider");
    assert_eq!(idp.revocations(), 1);
    let log = idp.request_log();
    assert!(log.to_string().contains("/oauth/revoke"), "{log}");
}

/// A provider whose discovery lists no device endpoint: doctor names the pitfall and the
/// profile's fix; `--device` says the provider does not offer it (exit 2).
#[test]
fn a_missing_device_endpoint_is_a_doctor_pitfall() {
    let idp = Idp::start_profile(
        "keycloak",
        &[("IDP_HIDE_DISCOVERY", "device_authorization_endpoint")],
    );
    let home = home_for(&idp, "");
    home.run(["doctor"])
        .stdout_has("Keycloak offers no device-authorization endpoint: lmi login sso --device will not work")
        .stdout_has("OAuth 2.0 Device Authorization Grant");
    home.run(["login", "sso", "--device", "--no-browser"])
        .code(2)
        .stderr_has("does not offer the device-authorization grant");
}

/// The browser lmi starts inherits none of lmi's secrets: a client secret, a service secret
/// and a plugin's setting in lmi's environment never reach its environment.
#[test]
fn the_browser_never_inherits_lmis_secrets() {
    let idp = Idp::start_profile("google", &[]);
    let secret = idp.client_secret().unwrap();
    let home = home_for(&idp, "");
    // Keep the secret out of the file: it comes from the process environment only.
    let env: String = idp
        .sso_env()
        .lines()
        .filter(|l| !l.starts_with("OAUTH_SSO_CLIENT_SECRET="))
        .map(|l| format!("{l}\n"))
        .collect();
    home.global_env(&format!(
        "{env}OAUTH_SSO_PROVIDER=google\nLMI_SSO_LOGIN_TIMEOUT_SECS=2\n"
    ));
    let dump = home.path().join("browser-env.txt");
    let script = home.path().join("dump-env.sh");
    std::fs::write(&script, format!("#!/bin/sh\nenv > '{}'\n", dump.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = home
        .cmd(["login", "sso", "--force"])
        .env("BROWSER", &script)
        .env("OAUTH_SSO_CLIENT_SECRET", &secret)
        .env("OAUTH_CLIENT_SECRET", "service-secret-in-env")
        .env("LMI_PLUGIN_API__TOKEN", "plugin-setting-in-env")
        .output()
        .unwrap();
    assert!(
        !run.status.success(),
        "no sign-in happens: the timeout ends it"
    );
    let seen = std::fs::read_to_string(&dump).expect("the browser ran");
    assert!(seen.contains("PATH="), "{seen}");
    for leaked in [
        secret.as_str(),
        "service-secret-in-env",
        "plugin-setting-in-env",
    ] {
        assert!(!seen.contains(leaked), "the browser got {leaked}");
    }
}

// ---- Google ----------------------------------------------------------------------------------

/// Google: no `offline_access` scope; a refresh token comes from `access_type=offline` and
/// `prompt=consent`; the Desktop-app client's secret (OAUTH_SSO_CLIENT_SECRET) is required
/// at the token endpoint and never shown.
#[test]
fn google_gets_a_refresh_token_its_own_way_with_the_desktop_secret() {
    let idp = Idp::start_profile("google", &[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let secret = idp
        .client_secret()
        .expect("Google's desktop client has a secret");
    let mut home = home_for(&idp, "OAUTH_SSO_PROVIDER=google\n");
    let run = browser_login(&mut home, "ivan");
    run.stdout_has("Signed in as ivan@")
        .stderr_lacks("issued no refresh token")
        .nowhere(&secret);
    let asked = idp.authorization_requests();
    let last = asked.last().unwrap();
    assert_eq!(last["access_type"], "offline", "{last}");
    assert_eq!(last["prompt"], "consent", "{last}");
    assert!(
        !last["scope"].as_str().unwrap().contains("offline_access"),
        "{last}"
    );

    std::thread::sleep(Duration::from_millis(2500));
    home.run(["-vv", "whoami"]).success().nowhere(&secret);
    assert_eq!(idp.token_requests("refresh_token"), 1);
    home.log_lacks(&secret);

    // Asking Google for offline_access is refused before any browser.
    home.global_env(&format!(
        "{}OAUTH_SSO_PROVIDER=google\nOAUTH_SSO_SCOPES=\"openid email offline_access\"\n",
        idp.sso_env()
    ));
    home.run(["login", "sso", "--force"])
        .code(2)
        .stderr_has("OAUTH_SSO_SCOPES")
        .stderr_has("access_type=offline");
}

/// Without the Desktop-app secret Google refuses the code: lmi reports the provider's error
/// and the key that holds the secret (exit 4), and stores nothing.
#[test]
fn google_without_the_client_secret_is_refused_and_nothing_is_stored() {
    let idp = Idp::start_profile("google", &[]);
    let env: String = idp
        .sso_env()
        .lines()
        .filter(|l| !l.starts_with("OAUTH_SSO_CLIENT_SECRET="))
        .map(|l| format!("{l}\n"))
        .collect();
    crate::sso::require_keyring();
    let mut home = Home::new();
    home.global_env(&format!("{env}OAUTH_SSO_PROVIDER=google\n"));
    browser::set_browser(&mut home, Browser::approve("judy"));
    home.run(["login", "sso", "--force"])
        .code(4)
        .stderr_has(
            "did not accept the authorization code: invalid_request (client_secret is missing.)",
        )
        .stderr_has("Google requires this client's secret: set OAUTH_SSO_CLIENT_SECRET");
    assert!(keychain_records(&idp).is_empty());
}

/// A configuration lmi cannot read (a misspelt provider) does not keep anyone signed in:
/// `lmi logout sso` warns, then ends the session where its record says it was issued.
#[test]
fn logout_works_when_the_provider_key_is_wrong() {
    let idp = Idp::start_profile("keycloak", &[]);
    let home = home_for(&idp, "");
    device_login(&idp, &home, "kim").success();
    home.global_env(&format!("{}OAUTH_SSO_PROVIDER=azure\n", idp.sso_env()));
    home.run(["auth", "status"])
        .stdout_has("OAUTH_SSO_PROVIDER");
    home.run(["logout", "sso"])
        .success()
        .stderr_has("the SSO configuration cannot be read")
        .stdout_has("revoked at the identity provider");
    assert_eq!(idp.revocations(), 1);
    assert!(keychain_records(&idp).is_empty());
}
