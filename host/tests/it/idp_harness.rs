//! Smoke tests of the test harness itself: the real OpenID provider (tests/idp/server.mjs) and
//! the headless browser (tests/idp/browser.sh), driven without `lmi`, so a failure here points
//! at the harness and not at the host.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::browser::{self, Browser};
use crate::support::idp::{self, Idp};

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url: {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(val(*c)) << (18 - 6 * i))
        });
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// Unpredictable enough for a test: sha256 over time, pid and a label.
fn random_token(label: &str) -> String {
    let seed = format!(
        "{label}:{:?}:{}:{:?}",
        Instant::now(),
        std::process::id(),
        std::time::SystemTime::now()
    );
    b64url(&Sha256::digest(seed.as_bytes()))
}

fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&b64url_decode(payload)).expect("JWT payload is JSON")
}

#[test]
fn b64url_round_trips() {
    assert_eq!(b64url(b""), "");
    assert_eq!(b64url(b"f"), "Zg");
    assert_eq!(b64url(b"fo"), "Zm8");
    assert_eq!(b64url(b"foo"), "Zm9v");
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(b64url_decode("Zm9vYg"), b"foob");
    // RFC 7636 appendix B
    assert_eq!(
        b64url(&Sha256::digest(
            b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        )),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn discovery_names_the_exact_issuer_and_endpoints() {
    let started = Instant::now();
    let idp = Idp::start();
    eprintln!("provider ready in {:?}", started.elapsed());
    assert_eq!(idp.issuer(), format!("http://127.0.0.1:{}", idp.port()));

    let doc: serde_json::Value = idp
        .http()
        .get(idp.discovery_url())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(doc["authorization_endpoint"], idp.authorization_url());
    assert_eq!(doc["token_endpoint"], idp.token_url());
    assert_eq!(doc["jwks_uri"], idp.jwks_url());
    assert_eq!(doc["revocation_endpoint"], idp.revocation_url());
    assert_eq!(
        doc["device_authorization_endpoint"],
        idp.device_authorization_url()
    );
    assert_eq!(doc["userinfo_endpoint"], idp.userinfo_url());
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let grants = doc["grant_types_supported"].as_array().unwrap();
    for g in [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        idp::DEVICE_CODE_GRANT,
    ] {
        assert!(grants.iter().any(|v| v == g), "{g} missing from {grants:?}");
    }

    let jwks = idp.jwks();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "the private key must not be published"
    );
}

#[test]
fn client_credentials_token_is_counted() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    assert_eq!(idp.token_requests("client_credentials"), 0);

    let resp = idp
        .http()
        .post(idp.token_url())
        .basic_auth(idp::SERVICE_CLIENT_ID, Some(idp::SERVICE_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 2,
        "IDP_ACCESS_TOKEN_TTL applies: {body}"
    );
    assert_eq!(body["scope"], "api:read");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], idp::DEFAULT_API_AUDIENCE);
    assert_eq!(claims["client_id"], idp::SERVICE_CLIENT_ID);
    assert_eq!(idp.token_requests("client_credentials"), 1);

    // a wrong secret (sent in the body: client_secret_post) still reaches and counts
    let resp = idp
        .http()
        .post(idp.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", idp::SERVICE_CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(idp.token_requests("client_credentials"), 2);
    assert_eq!(idp.request_log()[1]["error"], "invalid_client");

    idp.reset();
    assert_eq!(idp.token_requests("client_credentials"), 0);
    assert_eq!(idp.counters()["revocation"], 0);
}

/// The app's side of the redirect: serves the loopback listener until `/callback` arrives and
/// returns its query. Each connection gets its own thread (Chromium may open idle sockets).
fn await_callback(listener: TcpListener, timeout: Duration) -> HashMap<String, String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let tx = tx.clone();
            std::thread::spawn(move || serve_one(stream, &tx));
        }
    });
    let target = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|e| panic!("no callback within {timeout:?}: {e}"));
    let url = url::Url::parse(&format!("http://127.0.0.1{target}")).unwrap();
    url.query_pairs().into_owned().collect()
}

fn serve_one(mut stream: TcpStream, tx: &mpsc::Sender<String>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let (status, body) = if target.starts_with("/callback") {
        ("200 OK", "signed in; you may close this window")
    } else {
        ("404 Not Found", "not found")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if target.starts_with("/callback") {
        let _ = tx.send(target);
    }
}

#[test]
fn browser_completes_authorization_code_with_pkce() {
    let idp = Idp::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );
    let verifier = random_token("verifier");
    let challenge = b64url(&Sha256::digest(verifier.as_bytes()));
    let state = random_token("state");
    let nonce = random_token("nonce");
    let authorize = url::Url::parse_with_params(
        &idp.authorization_url(),
        [
            ("client_id", idp::CLI_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid profile email offline_access"),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();

    // As an app does: start $BROWSER, do not wait for it, wait for the callback instead.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("browser.log");
    let started = Instant::now();
    let mut child = browser::spawn(authorize.as_str(), &Browser::approve("alice"), &log);
    let params = await_callback(listener, Duration::from_secs(60));
    let login_time = started.elapsed();
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "browser login reached the callback in {login_time:?}, exited after {:?}\n{log}",
        started.elapsed()
    );
    assert!(status.success(), "browser.sh failed: {status}\n{log}");

    assert_eq!(params.get("state"), Some(&state));
    assert_eq!(
        params.get("iss").map(String::as_str),
        Some(idp.issuer()),
        "RFC 9207 iss"
    );
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("no code in {params:?}"));

    let resp = idp
        .http()
        .post(idp.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", idp::CLI_CLIENT_ID),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tokens: serde_json::Value = resp.json().unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token: {tokens}"));
    assert!(
        tokens["refresh_token"].is_string(),
        "no refresh_token: {tokens}"
    );
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(idp.token_requests("authorization_code"), 1);

    // The ID token verifies against the published JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = idp
        .http()
        .get(idp.jwks_url())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[idp::CLI_CLIENT_ID]);
    validation.set_issuer(&[idp.issuer()]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.test");
    assert_eq!(claims["name"], "Test User alice");
    assert_eq!(claims["nonce"], nonce.as_str());

    // Refresh rotates; the old refresh token is then refused.
    let refresh = |rt: &str| {
        idp.http()
            .post(idp.token_url())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", idp::CLI_CLIENT_ID),
                ("refresh_token", rt),
            ])
            .send()
            .unwrap()
    };
    let first_rt = tokens["refresh_token"].as_str().unwrap();
    let rotated: serde_json::Value = refresh(first_rt).json().unwrap();
    assert!(
        rotated["refresh_token"].is_string() && rotated["refresh_token"] != tokens["refresh_token"]
    );
    assert_eq!(refresh(first_rt).status(), 400);
    assert_eq!(idp.token_requests("refresh_token"), 2);

    // Revocation (RFC 7009) answers 200 and counts.
    let resp = idp
        .http()
        .post(idp.revocation_url())
        .form(&[
            ("client_id", idp::CLI_CLIENT_ID),
            ("token", rotated["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(idp.revocations(), 1);
}

#[test]
fn browser_denial_reaches_the_app_as_access_denied() {
    let idp = Idp::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );
    let authorize = url::Url::parse_with_params(
        &idp.authorization_url(),
        [
            ("client_id", idp::CLI_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", &redirect_uri),
            ("scope", "openid offline_access"),
            ("state", "s1"),
            (
                "code_challenge",
                &b64url(&Sha256::digest(random_token("v").as_bytes())),
            ),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = browser::spawn(
        authorize.as_str(),
        &Browser::deny("alice"),
        &dir.path().join("b.log"),
    );
    let params = await_callback(listener, Duration::from_secs(60));
    assert!(child.wait().unwrap().success());
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied"),
        "{params:?}"
    );
    assert_eq!(params.get("state").map(String::as_str), Some("s1"));
}

fn start_device_flow(idp: &Idp) -> serde_json::Value {
    let resp = idp
        .http()
        .post(idp.device_authorization_url())
        .form(&[
            ("client_id", idp::CLI_CLIENT_ID),
            ("scope", "openid profile email offline_access"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().unwrap()
}

fn poll_device(idp: &Idp, device: &serde_json::Value) -> serde_json::Value {
    idp.http()
        .post(idp.token_url())
        .form(&[
            ("grant_type", idp::DEVICE_CODE_GRANT),
            ("client_id", idp::CLI_CLIENT_ID),
            ("device_code", device["device_code"].as_str().unwrap()),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn device_flow_by_admin_endpoint_and_by_browser() {
    let idp = Idp::start();

    let device = start_device_flow(&idp);
    assert_eq!(poll_device(&idp, &device)["error"], "authorization_pending");
    idp.approve_device(device["user_code"].as_str().unwrap(), "dave");
    let tokens = poll_device(&idp, &device);
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["email"],
        "dave@example.test",
        "{tokens}"
    );
    assert!(tokens["refresh_token"].is_string());

    let device = start_device_flow(&idp);
    let out = browser::run(
        device["verification_uri_complete"].as_str().unwrap(),
        &Browser::device("erin"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens = poll_device(&idp, &device);
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        "erin",
        "{tokens}"
    );

    let device = start_device_flow(&idp);
    idp.deny_device(device["user_code"].as_str().unwrap());
    assert_eq!(poll_device(&idp, &device)["error"], "access_denied");
    assert_eq!(idp.token_requests(idp::DEVICE_CODE_GRANT), 4);
    assert_eq!(idp.counters()["device_authorization"], 3);
}

#[test]
fn restart_keeps_the_issuer_but_rotates_the_key_and_forgets_tokens() {
    let mut idp = Idp::start();
    let issuer = idp.issuer().to_string();
    let kid = |idp: &Idp| {
        let jwks = idp.jwks();
        jwks["keys"][0]["kid"].as_str().unwrap().to_string()
    };
    let before = kid(&idp);
    idp.restart();
    assert_eq!(idp.issuer(), issuer);
    assert_ne!(kid(&idp), before, "a restart is a key rotation");
    assert_eq!(idp.token_requests("client_credentials"), 0);
}

/// Starts `profile`, fetches its discovery document over HTTP, and checks the issuer and
/// that every URL method agrees with discovery. Returns the provider and the document.
fn profile_smoke(profile: &str, env: &[(&str, &str)]) -> (Idp, serde_json::Value) {
    let idp = Idp::start_profile(profile, env);
    assert_eq!(idp.profile(), profile);
    let d: serde_json::Value = idp
        .http()
        .get(idp.discovery_url())
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        d["issuer"],
        idp.issuer(),
        "{profile}: discovery names the issuer"
    );
    assert_eq!(
        d["authorization_endpoint"],
        idp.authorization_url().as_str()
    );
    assert_eq!(d["token_endpoint"], idp.token_url().as_str());
    assert_eq!(d["jwks_uri"], idp.jwks_url().as_str());
    assert_eq!(d["userinfo_endpoint"], idp.userinfo_url().as_str());
    assert_eq!(
        d["device_authorization_endpoint"],
        idp.device_authorization_url().as_str()
    );
    for field in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        let url = d[field].as_str().unwrap();
        assert!(url.starts_with(idp.origin()), "{profile}: {field} {url}");
    }
    let jwks = idp.jwks();
    assert_eq!(jwks["keys"][0]["alg"], "RS256", "{profile}: JWKS served");
    (idp, d)
}

#[test]
fn profile_generic_is_the_default_provider() {
    let (idp, d) = profile_smoke("generic", &[]);
    assert_eq!(idp.issuer(), format!("http://127.0.0.1:{}", idp.port()));
    assert_eq!(d["token_endpoint"], format!("{}/token", idp.issuer()));
    assert_eq!(idp.client_id(), idp::CLI_CLIENT_ID);
    assert_eq!(idp.client_secret(), None);
}

#[test]
fn profile_entra_has_a_tenant_path_issuer_and_no_revocation() {
    let (idp, d) = profile_smoke("entra", &[]);
    let path = idp.issuer().strip_prefix(idp.origin()).unwrap();
    let tenant = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/v2.0"))
        .unwrap_or_else(|| panic!("issuer path {path}"));
    assert_eq!(tenant.len(), 36, "a GUID: {tenant}");
    assert_eq!(
        d["token_endpoint"],
        format!("{}/{tenant}/oauth2/v2.0/token", idp.origin())
    );
    assert!(d.get("revocation_endpoint").is_none(), "{d}");
    assert_eq!(idp.endpoint("revocation_endpoint"), None);
}

#[test]
fn profile_okta_org_and_custom_use_oktas_paths() {
    let (org, d) = profile_smoke("okta-org", &[]);
    assert_eq!(org.issuer(), org.origin());
    assert_eq!(
        d["revocation_endpoint"],
        format!("{}/oauth2/v1/revoke", org.origin())
    );
    let (custom, d) = profile_smoke("okta-custom", &[("IDP_DEVICE_GRANT", "off")]);
    assert_eq!(
        custom.issuer(),
        format!("{}/oauth2/default", custom.origin())
    );
    assert_eq!(
        d["device_authorization_endpoint"],
        format!("{}/oauth2/default/v1/device/authorize", custom.origin())
    );
    // An unregistered redirect port gets Okta's error page, not a redirect.
    let resp = custom
        .http()
        .get(custom.authorization_url())
        .query(&[
            ("client_id", custom.client_id()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "http://127.0.0.1:1/callback"),
        ])
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .unwrap()
            .contains("must be a Login redirect URI")
    );
    let requests = custom.authorization_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["redirect_uri"], "http://127.0.0.1:1/callback");
    assert_eq!(requests[0]["scope"], "openid");
}

#[test]
fn profile_keycloak_has_a_realm_issuer() {
    let (idp, d) = profile_smoke("keycloak", &[]);
    assert_eq!(idp.issuer(), format!("{}/realms/lmi", idp.origin()));
    assert_eq!(
        d["token_endpoint"],
        format!("{}/realms/lmi/protocol/openid-connect/token", idp.origin())
    );
}

#[test]
fn profile_auth0_issuer_has_a_trailing_slash() {
    let (idp, d) = profile_smoke("auth0", &[]);
    assert_eq!(idp.issuer(), format!("{}/", idp.origin()));
    assert_eq!(d["token_endpoint"], format!("{}/oauth/token", idp.origin()));
    assert_eq!(
        d["revocation_endpoint"],
        format!("{}/oauth/revoke", idp.origin())
    );
    assert!(
        idp.sso_env()
            .starts_with(&format!("OAUTH_SSO_ISSUER={}/\n", idp.origin()))
    );
}

#[test]
fn profile_google_has_a_desktop_client_with_a_secret() {
    let (idp, d) = profile_smoke("google", &[]);
    assert_eq!(idp.issuer(), idp.origin());
    assert_eq!(d["revocation_endpoint"], format!("{}/revoke", idp.origin()));
    assert_eq!(idp.client_id(), "lmi-desktop");
    let secret = idp.client_secret().expect("a desktop client has a secret");
    assert!(idp.sso_env().contains(&format!(
        "OAUTH_SSO_CLIENT_ID=lmi-desktop\nOAUTH_SSO_CLIENT_SECRET={secret}\n"
    )));
    idp.set_claims("bob", serde_json::json!({ "hd": "example.test" }));
}
