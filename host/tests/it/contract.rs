//! Contract versions: plugins built against `lmi:plugin@0.2.0` (today's SDK: the hostile
//! fixture) get 0.2's calls; a plugin built against `lmi:plugin@0.1.0` keeps installing and
//! running with 0.1's. `tests/fixtures/contract-0.1` is the hostile test plugin as built with
//! the 0.1 SDK, committed as a binary so later SDKs cannot rebuild it.

use crate::support::{Home, plugin_dir};

fn v01() -> Home {
    let mut home = Home::new();
    home.install(&plugin_dir("tests/fixtures/contract-0.1"));
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "5");
    home
}

#[test]
fn a_contract_0_1_plugin_installs_and_runs() {
    let home = v01();
    home.run(["args", "a b", "--c"])
        .success()
        .stdout_has("a b\n--c\n");
    home.run(["exit3"]).code(3);
    home.run(["usage"]).code(2);
}

/// The 0.1 plugin gets exactly 0.1's sandbox: no files, no token without a grant.
#[test]
fn a_contract_0_1_plugin_gets_no_more_than_0_1_allowed() {
    let home = v01();
    let secret = home.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    home.run(["read-file", secret.to_str().unwrap()])
        .success()
        .stdout_has("read-file: denied");
    home.run(["token"]).stdout_has("denied");
}

fn v02() -> Home {
    let mut home = Home::new();
    home.install(&plugin_dir("tests/plugins/hostile"));
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "5");
    home
}

#[test]
fn plugin_info_names_the_contract() {
    v01()
        .run(["plugin", "info", "hostile-v01"])
        .success()
        .stdout_has("contract: lmi:plugin@0.1.0");
    v02()
        .run(["plugin", "info", "hostile"])
        .success()
        .stdout_has("contract: lmi:plugin@0.2.0");
}

/// `terminal.info` needs no permission; colour follows NO_COLOR, CLICOLOR_FORCE and TERM.
#[test]
fn terminal_info_follows_the_colour_conventions() {
    let mut home = v02();
    home.run(["terminal"])
        .success()
        .stdout_has("terminal: stdin=false stdout=false stderr=false size=none color=false");
    home.env("CLICOLOR_FORCE", "1");
    home.run(["terminal"]).success().stdout_has("color=true");
    home.env("NO_COLOR", "1");
    home.run(["terminal"]).success().stdout_has("color=false");
}

/// `log.log` needs no permission: errors and warnings reach stderr, info at `-v`, debug and
/// trace at `-vv`; everything is one line without escapes, and in the log file.
#[test]
fn plugin_log_messages_follow_lmis_verbosity_without_escapes() {
    let home = v02();
    let run = home.run(["log", "x\u{1b}[2Jy"]);
    run.success()
        .stderr_has("plugin-log-error x")
        .stderr_has("plugin-log-warn x");
    assert!(!run.stderr.contains("plugin-log-info"), "{run:#?}");
    assert!(!run.stderr.contains('\u{1b}'), "{run:#?}");
    let run = home.run(["-v", "log", "v"]);
    run.success().stderr_has("plugin-log-info v");
    assert!(!run.stderr.contains("plugin-log-debug"), "{run:#?}");
    home.run(["-vv", "log", "vv"])
        .success()
        .stderr_has("plugin-log-debug vv")
        .stderr_has("plugin-log-trace vv");
    let log = std::fs::read_to_string(home.log_file()).unwrap();
    assert!(log.contains("plugin-log-info x"), "{log}");
}

/// Named services and configuration keys are not offered yet: a named service is `denied`
/// without `service_requests` and `not-configured` with it (never sent to the default
/// service); an undeclared key is `denied`.
#[test]
fn a_named_service_is_not_configured_and_an_undeclared_key_is_denied() {
    let home = v02();
    home.run(["service", "billing", "v1/x"])
        .success()
        .stdout_has("service: denied")
        .stdout_has("service_requests");
    let srv = crate::support::fault::FaultServer::token_endpoint();
    let granted = crate::sandbox::hostile_granted(&srv);
    granted
        .run(["service", "billing", "v1/x"])
        .success()
        .stdout_has("service: not-configured")
        .stdout_has("`billing`");
    assert_eq!(
        srv.requests().len(),
        0,
        "nothing reached the default service"
    );
    home.run(["config", "region"])
        .success()
        .stdout_has("config: denied")
        .stdout_has("`region`");
}
