//! A token handed to lmi in `LMI_ACCESS_TOKEN` (issue 17, item 4): when it is a JWT, its
//! `exp` is read without verifying the signature; an expired one is refused before any
//! request (exit 4), one ending within the hour is warned about, an opaque one is used as
//! before, and `auth status` shows whose it is and until when, never the token.
//!
//! Every server here counts what reaches it: the token endpoint and the service are one
//! loopback fault server, so "nothing was sent" is `requests().is_empty()`.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::support::Home;
use crate::support::fake_idp::unix_now;
use crate::support::fault::{FaultServer, Reply};

/// A JWT with `claims`, HS256-signed with a key lmi never sees (lmi cannot and does not
/// verify it: that is the service's job).
fn jwt(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(b"known-to-the-service-only");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// A server that answers everything (token endpoint and service) and records it.
fn counting_server() -> FaultServer {
    FaultServer::start(|req, n| match req.path() {
        "/token" => Reply::json(
            200,
            json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
        _ => Reply::json(200, json!({"items": 2})),
    })
}

/// `dev` (the default) against `srv`, with `token` in `LMI_ACCESS_TOKEN`.
fn home_with(srv: &FaultServer, token: &str) -> Home {
    let mut home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("handed-secret-5d2a"));
    home.env("LMI_ACCESS_TOKEN", token);
    home
}

#[test]
fn an_expired_jwt_is_refused_with_exit_4_before_any_request() {
    let srv = counting_server();
    let expired = jwt(json!({"sub": "ci-bot", "exp": unix_now() - 3 * 3600 - 120}));
    let home = home_with(&srv, &expired);
    home.install(&crate::support::plugin_dir("plugins/api"));

    for args in [
        vec!["auth", "token"],
        vec!["-vv", "auth", "token"],
        vec!["api", "get", "v1/items"],
        vec!["api", "token"],
    ] {
        let run = home.run(&args);
        run.code(4)
            .stderr_has("the token in LMI_ACCESS_TOKEN expired at ")
            .stderr_has(" UTC (3 h 2 min ago)")
            .stderr_has(
                "hint: get a new token into LMI_ACCESS_TOKEN, or unset LMI_ACCESS_TOKEN to use the environment's own grant",
            )
            .nowhere(&expired);
        assert!(!run.stdout.contains("items"), "{args:?}: {run:#?}");
    }
    assert!(
        srv.requests().is_empty(),
        "nothing may reach the token endpoint or the service: {:#?}",
        srv.requests()
    );
    home.log_lacks(&expired);

    // Doctor says so, offline, from the token alone.
    let run = home.run(["doctor", "--offline"]);
    run.code(1).nowhere(&expired);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("LMI_ACCESS_TOKEN: a JWT for `ci-bot`"))
        .unwrap_or_else(|| panic!("no FAIL line for the token: {run:#?}"));
    assert!(line.contains("expired at"), "{line}");
    assert!(srv.requests().is_empty());

    // Unsetting it brings the environment's own grant back.
    let fixed = Home::new();
    fixed.global_env("default_environment=dev\n");
    fixed.env_file("dev", &srv.client_credentials_env("handed-secret-5d2a"));
    fixed.run(["auth", "token"]).success().stdout_has("tok-1");
}

/// The dispatch gate: a plugin that may use the environment's token is refused before it
/// starts, even for a command that never asks for the token (`args` prints its arguments).
/// A plugin granted no credentials is not concerned by the token and runs.
#[test]
fn a_plugin_that_may_use_an_expired_token_is_refused_before_it_runs() {
    let srv = counting_server();
    let mut home = crate::sandbox::hostile_granted(&srv);
    let expired = jwt(json!({"exp": unix_now() - 600}));
    home.env("LMI_ACCESS_TOKEN", &expired);
    let run = home.run(["args", "printed-by-the-plugin"]);
    run.code(4)
        .stderr_has("the token in LMI_ACCESS_TOKEN expired at ")
        .nowhere(&expired);
    assert!(
        !run.stdout.contains("printed-by-the-plugin"),
        "the plugin ran: {run:#?}"
    );
    home.run(["token"]).code(4);
    assert!(srv.requests().is_empty(), "{:#?}", srv.requests());

    // `hello` asks for no credentials: the token is none of its business.
    home.install(&crate::support::plugin_dir("plugins/hello"));
    home.run(["hello"]).success();
}

#[test]
fn a_jwt_expiring_within_the_hour_is_used_and_warned_about_once() {
    let srv = counting_server();
    let soon = jwt(json!({"sub": "ci-bot", "exp": unix_now() + 600}));
    let home = home_with(&srv, &soon);
    home.install(&crate::support::plugin_dir("plugins/api"));

    let run = home.run(["auth", "token"]);
    run.success();
    assert_eq!(run.stdout.trim(), soon, "the token, alone on stdout");
    assert_eq!(
        run.stderr.matches("warning").count(),
        1,
        "one warning: {run:#?}"
    );
    assert!(
        run.stderr
            .contains("the token in LMI_ACCESS_TOKEN expires in 9 min")
            || run
                .stderr
                .contains("the token in LMI_ACCESS_TOKEN expires in 10 min"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(&soon));

    // A plugin run: the gate and the request both meet the token, the warning comes once.
    let run = home.run(["api", "get", "v1/items"]);
    run.success().stdout_has("\"items\":2").nowhere(&soon);
    assert_eq!(run.stderr.matches("expires in").count(), 1, "{run:#?}");
    let seen = srv.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].bearer(), Some(soon.as_str()));
    assert_eq!(srv.count("/token"), 0);
    // The trail records both uses; the token's unverified subject is not its to name.
    let trail = std::fs::read_to_string(home.data().join("audit.jsonl")).unwrap();
    assert!(trail.contains("\"use\":\"service-request\""), "{trail}");
    assert!(
        !trail.contains("ci-bot") && !trail.contains(&soon),
        "{trail}"
    );
}

/// Tokens lmi cannot read an expiry from are used as before, without a word: an opaque
/// token, and JWTs whose `exp` is missing, not a number, negative or absurd.
#[test]
fn an_opaque_token_or_a_jwt_without_a_usable_exp_is_used_silently() {
    let srv = counting_server();
    let tokens = [
        "opaque-ci-token-7f31".to_owned(),
        jwt(json!({"sub": "ci-bot"})),
        jwt(json!({"exp": "tomorrow"})),
        jwt(json!({"exp": "1000"})),
        jwt(json!({"exp": -5})),
        jwt(json!({"exp": 1e300})),
        jwt(json!({"exp": u64::MAX})),
        jwt(json!({"exp": [1]})),
        // Three dotted parts that are no JWT, and a JWT too large to read.
        "not.a.jwt".to_owned(),
        jwt(json!({"exp": 1, "pad": "x".repeat(20_000)})),
    ];
    for token in &tokens {
        let home = home_with(&srv, token);
        let run = home.run(["auth", "token"]);
        run.success();
        assert_eq!(&run.stdout.trim(), token);
        assert!(run.stderr.is_empty(), "no warning expected: {run:#?}");
    }
    assert_eq!(srv.count("/token"), 0);
}

#[test]
fn auth_status_shows_the_subject_and_expiry_and_never_the_token() {
    let srv = counting_server();
    let exp = unix_now() + 5 * 3600 + 29 * 60 + 50;
    let token = jwt(json!({
        "sub": "ci-bot\u{1b}]52;c;cHduZWQ=\u{7}",
        "iss": "https://issuer.example",
        "exp": exp,
    }));
    let home = home_with(&srv, &token);

    for verbosity in [None, Some("-vv")] {
        let mut args: Vec<&str> = verbosity.into_iter().collect();
        args.extend(["auth", "status"]);
        let run = home.run(&args);
        run.success()
            .stdout_has("LMI_ACCESS_TOKEN: a JWT for `ci-bot ]52;c;cHduZWQ=` from `https://issuer.example`, valid until ")
            .stdout_has(" UTC (in 5 h 29 min)")
            .stdout_has("; its claims are unverified (the service checks the token)")
            .nowhere(&token);
        assert!(!run.stdout.contains('\u{1b}'), "{run:#?}");
    }
    let run = home.run(["auth", "status", "--output", "json"]);
    run.success().nowhere(&token);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let handed = &v["environments"][0]["override_token"];
    assert_eq!(handed["jwt"], true);
    assert_eq!(handed["subject"], "ci-bot ]52;c;cHduZWQ=");
    assert_eq!(handed["issuer"], "https://issuer.example");
    assert_eq!(handed["expires_at"], exp);
    assert_eq!(handed["state"], "valid");
    assert_eq!(handed["verified"], false);
    home.log_lacks(&token);

    // An expired one is shown as such; an opaque one as having no expiry lmi can read.
    let expired = jwt(json!({"sub": "ci-bot", "exp": unix_now() - 7200}));
    let run = home_with(&srv, &expired).run(["auth", "status"]);
    run.success()
        .stdout_has("expired at ")
        .stdout_has("lmi will not send it")
        .nowhere(&expired);
    let run = home_with(&srv, "opaque-ci-token-7f31").run(["auth", "status", "--output", "json"]);
    let v: Value = serde_json::from_str(&run.success().stdout).unwrap();
    assert_eq!(v["environments"][0]["override_token"]["jwt"], false);
    assert_eq!(v["environments"][0]["override_token"]["state"], "unknown");
    assert!(srv.requests().is_empty());
}
