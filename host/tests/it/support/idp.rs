//! A real OpenID provider on loopback: `node tests/idp/server.mjs` (npm `oidc-provider`), one
//! per test, on an ephemeral port. See tests/idp/README.md for its clients and knobs.
//!
//! ```ignore
//! let idp = Idp::start();                                   // defaults: 300 s access tokens
//! let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
//! let idp = Idp::start_profile("entra", &[]);                // a real provider's quirks
//! home.global_env(&idp.sso_env());                          // lmi's SSO settings
//! home.env_file("dev", &idp.service_env());                 // a client_credentials env
//! assert_eq!(idp.token_requests("client_credentials"), 1);
//! ```
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::repo_root;

/// The public native client `lmi login sso` uses (authorization code + PKCE, refresh tokens,
/// device flow; any `http://127.0.0.1:<port>/callback`).
pub const CLI_CLIENT_ID: &str = "lmi-cli";
/// The confidential client for service tokens (client_credentials; basic or post auth).
pub const SERVICE_CLIENT_ID: &str = "lmi-service";
pub const SERVICE_CLIENT_SECRET: &str = "service-secret-123";
/// The audience client_credentials tokens get when the request names none.
pub const DEFAULT_API_AUDIENCE: &str = "urn:lmi:test-api";

/// The grant-type names `token_requests` takes.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

// Generous: with the whole suite running on 2 cores, a Node start has taken over 30 s.
const READY_TIMEOUT: Duration = Duration::from_secs(45);

/// The directory of the Node parts (server.mjs, browser.mjs, package.json).
pub fn idp_dir() -> PathBuf {
    repo_root().join("tests/idp")
}

/// Panics with the fix when `npm ci --prefix tests/idp` has not run.
pub fn require_node_modules() {
    let dir = idp_dir();
    for module in ["oidc-provider", "playwright-core"] {
        assert!(
            dir.join("node_modules").join(module).is_dir(),
            "{} is missing: run `npm ci --prefix tests/idp` (Node 20+) first",
            dir.join("node_modules").join(module).display()
        );
    }
}

fn node() -> String {
    std::env::var("LMI_TEST_NODE").unwrap_or_else(|_| "node".into())
}

/// A running provider; killed when dropped. If the test is panicking, its log goes to stderr.
pub struct Idp {
    child: Child,
    // Held open: the server runs with --watch-stdin and exits when this pipe closes, so a
    // provider never outlives a test process that was killed before `Drop` ran.
    _stdin: ChildStdin,
    issuer: String,
    // `http://127.0.0.1:<port>`: where the /__test endpoints are, whatever the issuer's path.
    origin: String,
    port: u16,
    profile: String,
    client_id: String,
    client_secret: Option<String>,
    // The discovery document, fetched once at start: every endpoint URL comes from it.
    discovery: serde_json::Value,
    envs: Vec<(String, String)>,
    log: Arc<Mutex<String>>,
    http: reqwest::blocking::Client,
}

impl Idp {
    /// Starts a provider with the default lifetimes (access 300 s, ID 300 s, refresh 1 day).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a provider with extra environment, e.g. `("IDP_ACCESS_TOKEN_TTL", "2")`,
    /// `("IDP_ID_TOKEN_TTL", ..)`, `("IDP_REFRESH_TOKEN_TTL", ..)`,
    /// `("IDP_STRICT_OFFLINE_ACCESS", "1")`.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let envs: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let idp = Self::spawn(0, envs);
        // A fresh provider owns its issuer: a session stored for it belongs to an earlier
        // test whose provider had this port.
        super::forget_keychain_session(&idp.client_id, &idp.issuer);
        idp
    }

    /// Starts a provider emulating a real one (`IDP_PROFILE`): `generic` (what `start` gives),
    /// `entra`, `okta-org`, `okta-custom`, `keycloak`, `auth0`, `google`; `env` adds knobs such
    /// as `("IDP_REDIRECT_PORTS", "8400")`, `("IDP_DEVICE_GRANT", "off")`,
    /// `("IDP_REFRESH_TOKEN_BYTES", "1700")`. See tests/idp/README.md for each profile.
    pub fn start_profile(profile: &str, env: &[(&str, &str)]) -> Self {
        let mut all = vec![("IDP_PROFILE", profile)];
        all.extend_from_slice(env);
        Self::start_with(&all)
    }

    /// Starts a provider that serves HTTPS with a certificate of the tests' private CA
    /// (`support::tls::pki()`), for `127.0.0.1` and `localhost`.
    pub fn start_tls() -> Self {
        let pki = super::tls::pki();
        Self::start_with(&[
            (
                "IDP_TLS_CERT",
                pki.good.cert_pem.to_str().expect("utf-8 path"),
            ),
            (
                "IDP_TLS_KEY",
                pki.good.key_pem.to_str().expect("utf-8 path"),
            ),
        ])
    }

    fn spawn(port: u16, envs: Vec<(String, String)>) -> Self {
        Self::spawn_trying(port, envs, true)
    }

    /// Starts the provider; one that prints no READY in time is killed and, if `retry`,
    /// started once more. (Node has been seen to stall at start on a busy CI machine for
    /// over 90 s, where it normally takes about a second.)
    fn spawn_trying(port: u16, envs: Vec<(String, String)>, retry: bool) -> Self {
        require_node_modules();
        let started = Instant::now();
        let mut cmd = Command::new(node());
        cmd.arg(idp_dir().join("server.mjs"))
            .args(["--port", &port.to_string(), "--watch-stdin"])
            .current_dir(idp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run `{} tests/idp/server.mjs`: {e} (is Node 20+ installed and on PATH?)",
                node()
            )
        });
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");

        let log = Arc::new(Mutex::new(String::new()));
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(json) = line.strip_prefix("READY ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(json.to_string());
                }
            }
        });

        let ready = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(json) => json,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                let log = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if retry {
                    eprintln!(
                        "the test IdP printed no READY within {READY_TIMEOUT:?} ({e}; exit: {status:?}); starting it once more\n--- its stderr ---\n{log}"
                    );
                    return Self::spawn_trying(port, envs, false);
                }
                let hint = if log.contains("Cannot find package")
                    || log.contains("ERR_MODULE_NOT_FOUND")
                {
                    "\nhint: run `npm ci --prefix tests/idp`"
                } else {
                    ""
                };
                panic!(
                    "the test IdP (tests/idp/server.mjs) did not print READY within {READY_TIMEOUT:?} ({e}; exit: {status:?}).\n\
                     If tests/idp/node_modules is missing, run `npm ci --prefix tests/idp`.{hint}\n--- its stderr ---\n{log}"
                );
            }
        };
        let ready: serde_json::Value = serde_json::from_str(&ready).expect("READY line is JSON");
        let issuer = ready["issuer"]
            .as_str()
            .expect("READY names the issuer")
            .to_string();
        let port = u16::try_from(ready["port"].as_u64().expect("READY names the port"))
            .expect("port fits u16");
        let text = |key: &str| ready[key].as_str().map(str::to_string);
        let origin = text("origin").unwrap_or_else(|| issuer.clone());
        let profile = text("profile").unwrap_or_else(|| "generic".into());
        let client_id = text("client_id").unwrap_or_else(|| CLI_CLIENT_ID.into());
        let client_secret = text("client_secret");
        let mut http = reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10));
        if envs.iter().any(|(k, _)| k == "IDP_TLS_CERT") {
            let ca = std::fs::read(&super::tls::pki().ca_pem).expect("test CA");
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("PEM"));
        }
        let http = http.build().expect("reqwest client");
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: serde_json::Value = http
            .get(&discovery_url)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {discovery_url}: {e}"));
        let idp = Self {
            child,
            _stdin: stdin,
            issuer,
            origin,
            port,
            profile,
            client_id,
            client_secret,
            discovery,
            envs,
            log,
            http,
        };
        if std::env::var_os("LMI_TEST_IDP_TIMING").is_some() {
            eprintln!(
                "test IdP ready at {} in {:?}",
                idp.issuer,
                started.elapsed()
            );
        }
        idp
    }

    /// Stops the provider and starts a new one on the same port with the same environment:
    /// same issuer, but a new signing key (a JWKS rotation) and nothing remembered (every token,
    /// grant and session is gone). Counters start at zero.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        let envs = std::mem::take(&mut self.envs);
        let deadline = Instant::now() + Duration::from_secs(10);
        // the port may take a moment to be free again
        loop {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() || Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let fresh = Self::spawn(port, envs);
        let old = std::mem::replace(self, fresh);
        drop(old); // its child is already dead; Drop just reaps it
    }

    /// The issuer, exactly as discovery and the tokens say: `http://127.0.0.1:<port>` for the
    /// generic profile, with the profile's path (`/<tenant>/v2.0`, `/oauth2/default`,
    /// `/realms/lmi`, Auth0's trailing `/`) otherwise.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// `http://127.0.0.1:<port>`, without the issuer's path.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `generic`, `entra`, `okta-org`, `okta-custom`, `keycloak`, `auth0` or `google`.
    pub fn profile(&self) -> &str {
        &self.profile
    }
    /// The native client lmi logs in with (`lmi-cli`; google: `lmi-desktop`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The native client's secret (google's "Desktop app" client only).
    pub fn client_secret(&self) -> Option<String> {
        self.client_secret.clone()
    }
    /// The discovery document fetched at start.
    pub fn discovery(&self) -> &serde_json::Value {
        &self.discovery
    }
    /// A discovery field (`"revocation_endpoint"`...), `None` when the profile has none.
    pub fn endpoint(&self, field: &str) -> Option<String> {
        self.discovery[field].as_str().map(str::to_string)
    }
    fn required(&self, field: &str) -> String {
        self.endpoint(field)
            .unwrap_or_else(|| panic!("the {} profile's discovery has no {field}", self.profile))
    }
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
    pub fn authorization_url(&self) -> String {
        self.required("authorization_endpoint")
    }
    pub fn token_url(&self) -> String {
        self.required("token_endpoint")
    }
    /// Panics for a profile without one (entra): use `endpoint("revocation_endpoint")`.
    pub fn revocation_url(&self) -> String {
        self.required("revocation_endpoint")
    }
    pub fn device_authorization_url(&self) -> String {
        self.required("device_authorization_endpoint")
    }
    pub fn jwks_url(&self) -> String {
        self.required("jwks_uri")
    }
    pub fn userinfo_url(&self) -> String {
        self.required("userinfo_endpoint")
    }

    /// Global `.env` lines for lmi's SSO against this provider (discovery fills in the rest);
    /// with a client secret (google) also `OAUTH_SSO_CLIENT_SECRET`.
    pub fn sso_env(&self) -> String {
        let mut env = format!(
            "OAUTH_SSO_ISSUER={}\nOAUTH_SSO_CLIENT_ID={}\n",
            self.issuer, self.client_id
        );
        if let Some(secret) = &self.client_secret {
            env.push_str(&format!("OAUTH_SSO_CLIENT_SECRET={secret}\n"));
        }
        env
    }

    /// Per-environment `.env` lines for a client_credentials service token from this provider.
    pub fn service_env(&self) -> String {
        format!(
            "OAUTH_TOKEN_URL={}\nOAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\n\
             OAUTH_CLIENT_SECRET={SERVICE_CLIENT_SECRET}\nOAUTH_SCOPE=api:read\n",
            self.token_url()
        )
    }

    /// An HTTP client for talking to the provider in a test (no proxy, no redirects, 10 s).
    /// The key set the provider publishes now.
    pub fn jwks(&self) -> serde_json::Value {
        self.http()
            .get(self.jwks_url())
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn http(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// `GET /__test/counters`: `{"token": {<grant_type>: n, ...}, "revocation": n,
    /// "device_authorization": n, "userinfo": n}` — every request counts, failed ones too.
    pub fn counters(&self) -> serde_json::Value {
        self.admin_get("/__test/counters")
    }

    /// Requests that reached the token endpoint with this `grant_type`.
    pub fn token_requests(&self, grant: &str) -> u64 {
        self.counters()["token"][grant].as_u64().unwrap_or(0)
    }

    /// Requests that reached the revocation endpoint.
    pub fn revocations(&self) -> u64 {
        self.counters()["revocation"].as_u64().unwrap_or(0)
    }

    /// `GET /__test/log`: the last requests to the counted endpoints with status and error.
    pub fn request_log(&self) -> serde_json::Value {
        self.admin_get("/__test/log")
    }

    /// Zeroes the counters (and the request log).
    pub fn reset(&self) {
        self.admin_post("/__test/reset", &serde_json::json!({}));
    }

    /// Forgets every token, grant, session and device code: refresh tokens issued so far now
    /// fail with `invalid_grant`.
    pub fn forget(&self) {
        self.admin_post("/__test/forget", &serde_json::json!({}));
    }

    /// Approves a pending device-flow `user_code` as `login`, without a browser.
    pub fn approve_device(&self, user_code: &str, login: &str) {
        self.admin_post(
            "/__test/device/approve",
            &serde_json::json!({ "user_code": user_code, "login": login }),
        );
    }

    /// Gives `login` this `groups` claim in every token issued from now on (a refresh
    /// included): any JSON value, `null` to leave the claim out.
    pub fn set_groups(&self, login: &str, groups: serde_json::Value) {
        self.admin_post(
            "/__test/groups",
            &serde_json::json!({ "login": login, "groups": groups }),
        );
    }

    /// Per-login claim overrides in the ID token and at userinfo from now on (a refresh
    /// included): `{"upn": "...", "preferred_username": null}` (null removes a claim);
    /// `Value::Null` goes back to the profile's claims.
    pub fn set_claims(&self, login: &str, claims: serde_json::Value) {
        let body = if claims.is_null() {
            serde_json::json!({ "login": login })
        } else {
            serde_json::json!({ "login": login, "claims": claims })
        };
        self.admin_post("/__test/claims", &body);
    }

    /// The authorization requests in the request log, oldest first: `{"at", "path",
    /// "endpoint": "authorization", "status"}` and, when the request had them, `scope`,
    /// `audience`, `access_type`, `prompt`, `redirect_uri` as sent.
    pub fn authorization_requests(&self) -> Vec<serde_json::Value> {
        self.request_log()
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["endpoint"] == "authorization")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Denies a pending device-flow `user_code` (the app's poll then gets `access_denied`).
    pub fn deny_device(&self, user_code: &str) {
        self.admin_post(
            "/__test/device/approve",
            &serde_json::json!({ "user_code": user_code, "deny": true }),
        );
    }

    /// Everything the provider wrote to stderr so far (one line per counted request).
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn admin_get(&self, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.origin);
        let resp = self
            .http
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
        resp.json().unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    fn admin_post(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let url = format!("{}{path}", self.origin);
        let resp = self
            .http
            .post(&url)
            .json(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        assert!(status.is_success(), "POST {url}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- test IdP {} log ---\n{}", self.issuer, self.log());
        }
    }
}
