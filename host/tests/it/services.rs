//! Several services per environment (contract 0.2): `OAUTH_SERVICE_<NAME>_URL` names a
//! service beside the default one, the manifest's `services` says which a plugin may call,
//! and a service with its own scope or audience gets a token of its own.

use crate::support::fault::{FaultServer, Reply};
use crate::support::{Home, plugin_dir};

/// A token endpoint and default service (`/token`, `/api`) that issues `tok-<n>` (counting
/// from 1) and echoes the scope it was asked for into the token (`tok-<n>-<scope>`), so a test can see
/// which grant a token came from.
fn provider() -> FaultServer {
    FaultServer::start(|req, n| match req.path() {
        "/token" => {
            let scope = req.form().get("scope").cloned().unwrap_or_default();
            Reply::json(
                200,
                serde_json::json!({
                    "access_token": format!("tok-{n}-{scope}"),
                    "token_type": "Bearer",
                    "expires_in": 3600
                }),
            )
        }
        _ => Reply::json(200, serde_json::json!({"service": "default"})),
    })
}

/// A second service: answers everything.
fn billing() -> FaultServer {
    FaultServer::start(|_, _| Reply::json(200, serde_json::json!({"service": "billing"})))
}

/// An env file for `idp`'s grant whose named service `billing` is `bill` at `path`, with
/// `more` lines after it.
fn env_with_billing(idp: &FaultServer, bill: &FaultServer, path: &str, more: &str) -> String {
    format!(
        "{}OAUTH_SERVICE_BILLING_URL={}\n{more}",
        idp.client_credentials_env("svc-secret-5e1"),
        bill.url(path)
    )
}

/// The hostile plugin with the service permissions in `dev` and `services` as given.
fn granted(services: &str, env: &str) -> Home {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(&format!(
        "\n[permissions]\nservice_token = true\nservice_requests = true\nenvironments = [\"dev\"]\nservices = {services}\n"
    ));
    std::fs::write(&manifest, text).unwrap();
    let home = Home::new();
    home.install(dir.path()).success();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", env);
    home
}

/// A request to a named service the plugin was granted goes to that service's URL, with
/// the environment's token; the default service sees nothing.
#[test]
fn a_granted_named_service_is_called_with_the_environments_token() {
    let idp = provider();
    let bill = billing();
    let env = env_with_billing(&idp, &bill, "/billing/v2", "");
    let home = granted("[\"billing\"]", &env);
    home.run(["service", "billing", "invoices?open=1"])
        .success()
        .stdout_has("service: 200");
    let reqs = bill.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].path(), "/billing/v2/invoices");
    assert_eq!(reqs[0].bearer(), Some("tok-1-"));
    assert_eq!(idp.count("/api"), 0, "the default service saw nothing");
    // The default service still works, with the same token (one token request in all).
    home.run(["request", "v1/x"])
        .success()
        .stdout_has("request: status 200");
    assert_eq!(idp.count("/token"), 1);
    // A path cannot climb out of the named service's URL either.
    home.run(["service", "billing", "../../api/v1/x"])
        .success()
        .stdout_has("service: invalid-request");
    assert_eq!(bill.requests().len(), 1);
}

/// A named service the manifest does not list is denied, naming `services`; one the env
/// does not configure is not-configured, naming the key to set. Neither sends anything,
/// least of all to the default service.
#[test]
fn an_unlisted_or_unconfigured_service_is_refused_and_nothing_is_sent() {
    let idp = provider();
    let bill = billing();
    let env = env_with_billing(&idp, &bill, "/billing", "");
    let home = granted("[\"search\"]", &env);
    home.run(["service", "billing", "v1/x"])
        .success()
        .stdout_has("service: denied")
        .stdout_has("`billing`")
        .stdout_has("`services`");
    home.run(["service-token", "billing"])
        .success()
        .stdout_has("service-token: denied");
    home.run(["service", "search", "v1/x"])
        .success()
        .stdout_has("service: not-configured")
        .stdout_has("OAUTH_SERVICE_SEARCH_URL");
    assert_eq!(bill.requests().len(), 0);
    assert_eq!(idp.requests().len(), 0, "no token, no default service");
}

/// `"*"` grants any named service (a generic client), and shows so at install.
#[test]
fn any_service_is_granted_with_a_star() {
    let idp = provider();
    let bill = billing();
    let env = env_with_billing(&idp, &bill, "/billing", "");
    let home = granted("[\"*\"]", &env);
    home.run(["service", "billing", "v1/x"])
        .success()
        .stdout_has("service: 200");
    home.run(["service-token", "billing"])
        .success()
        .stdout_has("service-token: GOT");
}

/// A service with its own scope gets a token of its own, asked for with that scope and
/// cached apart (`<env>.<service>.json`); the environment's token is untouched. `lmi auth
/// token --service` prints it, and `lmi auth status` lists every service.
#[test]
fn a_service_with_its_own_scope_has_its_own_token_and_cache() {
    let idp = provider();
    let bill = billing();
    let env = env_with_billing(
        &idp,
        &bill,
        "/billing",
        "OAUTH_SCOPE=api.read\nOAUTH_SERVICE_BILLING_SCOPE=billing.read\n",
    );
    let home = granted("[\"billing\"]", &env);
    home.run(["service", "billing", "v1/x"])
        .success()
        .stdout_has("service: 200");
    assert_eq!(bill.requests()[0].bearer(), Some("tok-1-billing.read"));
    home.run(["request", "v1/x"]).success();
    assert_eq!(
        idp.requests()
            .iter()
            .find(|r| r.path() == "/api/v1/x")
            .and_then(|r| r.bearer().map(str::to_owned))
            .as_deref(),
        Some("tok-2-api.read")
    );
    let tokens = home.cache().join("tokens");
    assert!(tokens.join("dev.json").is_file());
    assert!(tokens.join("dev.billing.json").is_file());
    // Cached: a second run fetches nothing.
    home.run(["service", "billing", "v1/y"]).success();
    assert_eq!(idp.count("/token"), 2);

    home.run(["auth", "token", "--service", "billing"])
        .success()
        .stdout_has("tok-1-billing.read");
    home.run(["auth", "token"])
        .success()
        .stdout_has("tok-2-api.read");
    home.run(["auth", "token", "--service", "search"])
        .code(2)
        .stderr_has("OAUTH_SERVICE_SEARCH_URL");

    let status = home.run(["auth", "status"]);
    status
        .success()
        .stdout_has(&format!("service: {}", idp.url("/api")))
        .stdout_has(&format!(
            "service `billing`: {} (own token: scope billing.read)",
            bill.url("/billing")
        ))
        .nowhere("tok-1-billing.read")
        .nowhere("svc-secret-5e1");
    let json = home.run(["--output", "json", "auth", "status"]);
    json.success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let services = &v["environments"][0]["services"];
    assert_eq!(services[0]["name"], serde_json::Value::Null);
    assert_eq!(services[1]["name"], "billing");
    assert_eq!(services[1]["own_token"], true);
    assert_eq!(services[1]["token"]["state"], "valid");
    assert!(!json.stdout.contains("tok-1"), "{}", json.stdout);
}

/// A malformed named service URL is a configuration error for that service alone: the
/// default service keeps working.
#[test]
fn a_broken_named_service_does_not_break_the_default_one() {
    let idp = provider();
    let env = format!(
        "{}OAUTH_SERVICE_BILLING_URL=http://billing.example.com/\n",
        idp.client_credentials_env("svc-secret-5e1"),
    );
    let home = granted("[\"billing\"]", &env);
    home.run(["service", "billing", "v1/x"])
        .success()
        .stdout_has("service: not-configured")
        .stdout_has("OAUTH_SERVICE_BILLING_URL");
    home.run(["request", "v1/x"])
        .success()
        .stdout_has("request: status 200");
}

/// An upgrade that asks for another service asks again; without a TTY or `--yes` it is
/// refused and the installed plugin keeps running with what it had.
#[test]
fn an_upgrade_asking_for_another_service_needs_consent() {
    let idp = provider();
    let home = granted(
        "[\"billing\"]",
        &idp.client_credentials_env("svc-secret-5e1"),
    );
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("version = \"0.1.0\"", "version = \"0.1.1\"");
    std::fs::write(
        &manifest,
        format!(
            "{text}\n[permissions]\nservice_token = true\nservice_requests = true\nenvironments = [\"dev\"]\nservices = [\"billing\", \"search\"]\n"
        ),
    )
    .unwrap();
    home.run(["plugin", "install", dir.path().to_str().unwrap()])
        .code(2)
        .stderr_has("service `search`")
        .stderr_has("pass --yes");
    home.run(["service", "search", "v1/x"])
        .success()
        .stdout_has("service: denied");
    home.install(dir.path());
    home.run(["service", "search", "v1/x"])
        .success()
        .stdout_has("service: not-configured");
}

/// A plugin's service call with no environment selected is told how to select one, naming
/// the file `default_environment` goes in.
#[test]
fn a_plugin_without_an_environment_learns_where_to_choose_one() {
    let idp = provider();
    let home = granted("[]", &idp.client_credentials_env("svc-secret-5e1"));
    home.global_env("");
    home.run(["request", "v1/x"])
        .success()
        .stdout_has("request: not-configured: no environment selected")
        .stdout_has("lmi/.env");
    assert_eq!(idp.requests().len(), 0);
}

/// The api example (§9): `--service` reaches a named service, and its `service` setting,
/// set per environment in the env file, chooses one when the flag is absent.
#[test]
fn the_api_example_uses_a_second_service_and_its_setting() {
    let idp = provider();
    let bill = billing();
    let home = Home::new();
    home.install(&plugin_dir("plugins/api"));
    home.global_env("default_environment=dev\n");
    let env = env_with_billing(&idp, &bill, "/billing", "");
    home.env_file("dev", &env);
    home.run(["api", "get", "v1/x"])
        .success()
        .stdout_has("\"default\"");
    home.run(["api", "--service", "billing", "get", "v1/x"])
        .success()
        .stdout_has("\"billing\"");
    home.env_file("dev", &format!("{env}LMI_PLUGIN_API__SERVICE=billing\n"));
    home.run(["api", "get", "v1/invoices"])
        .success()
        .stdout_has("\"billing\"");
    home.run(["plugin", "config", "api"])
        .success()
        .stdout_has("service")
        .stdout_has("dev.env");
    assert_eq!(bill.count("/billing/v1/invoices"), 1);
    home.run(["api", "-s", "search", "get", "v1/x"])
        .code(2)
        .stderr_has("OAUTH_SERVICE_SEARCH_URL");
}
