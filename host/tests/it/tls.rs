//! The company network: real TLS with a private CA (support/tls.rs), trusted through
//! `LMI_CA_BUNDLE` or the OS store's `SSL_CERT_FILE`, refused when signed by anyone else, and
//! reached through a CONNECT proxy as a TLS-inspecting company network requires.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::json;

use crate::support::browser::{self, Browser};
use crate::support::fault::{FaultServer, Reply};
use crate::support::idp::Idp;
use crate::support::tls::{Proxy, ServerIdentity, TlsFront, pki};
use crate::support::{Home, plugin_dir};

const SECRET: &str = "corp-client-secret-5b1e";

/// A token endpoint issuing `corp-tok-<n>`, behind TLS with `identity`.
fn token_endpoint(identity: &ServerIdentity) -> (FaultServer, TlsFront) {
    let plain = FaultServer::start(|req, n| {
        if req.path() == "/token" {
            Reply::json(
                200,
                json!({"access_token": format!("corp-tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
            )
        } else {
            Reply::status(404)
        }
    });
    let backend: SocketAddr = plain.base().trim_start_matches("http://").parse().unwrap();
    let front = TlsFront::start(identity, backend);
    (plain, front)
}

/// `corp` configured with the client-credentials grant at `token_url`.
fn corp_home(token_url: &str) -> Home {
    let home = Home::new();
    home.env_file(
        "corp",
        &format!(
            "OAUTH_TOKEN_URL={token_url}\nOAUTH_SERVICE_URL=https://api.corp.test\n\
             OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID=lmi\nOAUTH_CLIENT_SECRET={SECRET}\n"
        ),
    );
    home
}

#[test]
fn a_private_ca_is_trusted_through_lmi_ca_bundle() {
    let (plain, front) = token_endpoint(&pki().good);
    let mut home = corp_home(&front.url("localhost", "/token"));
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .success()
        .stdout_has("corp-tok-1");
    assert_eq!(plain.count("/token"), 1);
}

#[test]
fn a_private_ca_in_the_global_env_file_is_trusted_too() {
    let (_plain, front) = token_endpoint(&pki().good);
    let home = corp_home(&front.url("127.0.0.1", "/token"));
    home.global_env(&format!("LMI_CA_BUNDLE={}\n", pki().ca_pem.display()));
    home.run(["-e", "corp", "auth", "token"])
        .success()
        .stdout_has("corp-tok-1");
}

/// The OS trust store as OpenSSL-based tools read it: `SSL_CERT_FILE` names the bundle.
#[test]
fn the_os_trust_store_is_used_as_openssl_tools_use_it() {
    let (_plain, front) = token_endpoint(&pki().good);
    let mut home = corp_home(&front.url("localhost", "/token"));
    home.env("SSL_CERT_FILE", pki().ca_pem.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .success()
        .stdout_has("corp-tok-1");
}

#[test]
fn an_unknown_ca_is_refused_with_the_fix_and_nothing_is_sent() {
    let (plain, front) = token_endpoint(&pki().good);
    let home = corp_home(&front.url("localhost", "/token"));
    home.run(["-e", "corp", "auth", "token"])
        .code(1)
        .stderr_has(
            "TLS certificate of localhost is not signed by a certificate authority lmi trusts",
        )
        .stderr_has("LMI_CA_BUNDLE")
        .nowhere(SECRET);
    assert_eq!(plain.count("/token"), 0, "the secret never left");
}

#[test]
fn a_certificate_from_another_ca_is_refused_even_with_a_bundle() {
    let (plain, front) = token_endpoint(&pki().untrusted);
    let mut home = corp_home(&front.url("localhost", "/token"));
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .code(1)
        .stderr_has("not signed by a certificate authority lmi trusts");
    assert_eq!(plain.count("/token"), 0);
}

#[test]
fn expired_and_wrong_name_certificates_get_their_own_messages() {
    let (_p1, expired) = token_endpoint(&pki().expired);
    let mut home = corp_home(&expired.url("localhost", "/token"));
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .code(1)
        .stderr_has("TLS certificate of localhost has expired");

    let (_p2, wrong) = token_endpoint(&pki().wrong_name);
    let mut home = corp_home(&wrong.url("localhost", "/token"));
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .code(1)
        .stderr_has("TLS certificate of localhost was issued for another name");
}

#[test]
fn an_unreadable_or_empty_ca_bundle_is_a_configuration_error_naming_it() {
    let (plain, front) = token_endpoint(&pki().good);
    let mut home = corp_home(&front.url("localhost", "/token"));
    let missing = home.path().join("no-such-ca.pem");
    home.env("LMI_CA_BUNDLE", missing.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .code(2)
        .stderr_has("LMI_CA_BUNDLE")
        .stderr_has("no-such-ca.pem");
    let junk = home.path().join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    home.env("LMI_CA_BUNDLE", junk.to_str().unwrap());
    home.run(["-e", "corp", "auth", "token"])
        .code(2)
        .stderr_has("holds no PEM certificate");
    assert_eq!(plain.count("/token"), 0);
}

/// Behind a company proxy: the token request goes through a CONNECT tunnel, TLS is checked
/// end to end against the company CA, and the proxy's password never shows.
#[test]
fn a_token_request_goes_through_a_connect_proxy() {
    let (plain, front) = token_endpoint(&pki().good);
    let routes = BTreeMap::from([("idp.corp.test:443".to_owned(), front.addr())]);
    let proxy = Proxy::start(routes);
    let mut home = corp_home("https://idp.corp.test/token");
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    let proxy_password = "proxy-pass-77c1";
    let authed = proxy
        .url()
        .replace("http://", &format!("http://alice:{proxy_password}@"));
    home.env("HTTPS_PROXY", &authed);
    home.run(["-vv", "-e", "corp", "auth", "token"])
        .success()
        .stdout_has("corp-tok-1")
        .nowhere(proxy_password);
    home.log_lacks(proxy_password);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, "idp.corp.test:443");
    assert!(
        seen[0]
            .proxy_authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "the proxy credentials were offered: {seen:?}"
    );
    assert_eq!(plain.count("/token"), 1);
    assert_eq!(front.handshakes(), 1);

    // Lower case works as curl reads it, and NO_PROXY sends the host direct (where the
    // name does not resolve, so it fails without touching the proxy).
    let mut home = corp_home("https://idp.corp.test/token");
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.env("https_proxy", &proxy.url());
    home.env("NO_PROXY", ".corp.test");
    home.run(["-e", "corp", "auth", "token"]).code(1);
    assert_eq!(
        proxy.seen().len(),
        1,
        "NO_PROXY kept the request off the proxy"
    );
}

/// The keychain tests need the private Secret Service `make test` starts.
fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "run under scripts/with-keyring (make test does)"
    );
}

/// The interactive sign-in against a provider on the company CA, trusted via LMI_CA_BUNDLE:
/// discovery, JWKS, the code exchange and the service grant all speak TLS.
#[test]
fn browser_login_and_service_grant_over_tls_with_lmi_ca_bundle() {
    require_keyring();
    let idp = Idp::start_tls();
    assert!(idp.issuer().starts_with("https://"), "{}", idp.issuer());
    let mut home = Home::new();
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    home.env("LMI_TEST_BROWSER_ANY_CERT", "1");
    browser::set_browser(&mut home, Browser::approve("tess"));
    home.global_env(&format!("{}default_environment=dev\n", idp.sso_env()));
    home.env_file("dev", &idp.service_env());
    home.run(["login", "sso"])
        .success()
        .stdout_has("Signed in as tess@example.test");
    home.run(["auth", "token"]).success();
    home.install(&plugin_dir("plugins/hello"));
    home.run(["whoami"])
        .success()
        .stdout_has("tess@example.test");

    // Without the CA, the same provider is refused with the fix.
    let mut other = Home::new();
    other.global_env(&idp.sso_env());
    other.env("BROWSER", "/bin/false");
    other
        .run(["login", "sso", "--no-browser", "--force"])
        .code(1)
        .stderr_has("not signed by a certificate authority lmi trusts");
}

/// The device flow against the same provider, trusted through the OS store's SSL_CERT_FILE.
#[test]
fn device_login_over_tls_with_ssl_cert_file() {
    require_keyring();
    let idp = Idp::start_tls();
    let mut home = Home::new();
    home.env("SSL_CERT_FILE", pki().ca_pem.to_str().unwrap());
    home.env("LMI_TEST_BROWSER_ANY_CERT", "1");
    browser::set_browser(&mut home, Browser::device("uma"));
    home.global_env(&idp.sso_env());
    home.run(["login", "sso", "--device"])
        .success()
        .stdout_has("Signed in as uma@example.test");
}

/// `lmi doctor` names the roots in use, and its probes trust exactly what lmi trusts.
#[test]
fn doctor_reports_the_trust_sources_and_probes_with_them() {
    let (_plain, front) = token_endpoint(&pki().good);
    let mut home = corp_home(&front.url("localhost", "/token"));
    let run = home.run(["doctor", "--offline"]);
    assert!(
        run.stdout.contains("the OS trust store") && !run.stdout.contains("LMI_CA_BUNDLE"),
        "{run:#?}"
    );
    home.run(["doctor"])
        .stdout_has("not signed by a certificate authority lmi trusts");

    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    let run = home.run(["doctor", "--offline"]);
    assert!(
        run.stdout.contains("the OS trust store") && run.stdout.contains("LMI_CA_BUNDLE"),
        "{run:#?}"
    );
    let run = home.run(["doctor"]);
    assert!(!run.stdout.contains("not signed by"), "{run:#?}");

    home.env("LMI_CA_BUNDLE", "/nonexistent/ca.pem");
    home.run(["doctor", "--offline"])
        .stdout_has("/nonexistent/ca.pem");
}
