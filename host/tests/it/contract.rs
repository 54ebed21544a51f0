//! Contract versions: plugins built against `lmi:plugin@0.3.0` (today's SDK: the hostile
//! fixture) get 0.3's calls; a plugin built against `lmi:plugin@0.2.0`
//! (`tests/fixtures/contract-0.2`, the hostile plugin built with SDK 0.2) gets 0.2's through
//! the same implementation; a plugin built against `lmi:plugin@0.1.0` keeps installing and
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

/// Contract 0.2 only grows (here by `invocation`): a component built against 0.2.0 before
/// that, which imports less, still installs and runs. The fixture is the hello example as
/// built at commit a917073, committed as a binary.
#[test]
fn a_component_built_against_an_earlier_0_2_installs_and_runs() {
    let home = Home::new();
    home.install(&plugin_dir("tests/fixtures/contract-0.2.0"))
        .success();
    home.run(["hello", "Ada"])
        .success()
        .stdout_has("Hello, Ada!\nargs: [\"Ada\"]\n");
    home.run(["plugin", "info", "hello-v020"])
        .success()
        .stdout_has("contract: lmi:plugin@0.2.0");
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
        .stdout_has("contract: lmi:plugin@0.3.0");
    frozen_v02()
        .run(["plugin", "info", "hostile-v02"])
        .success()
        .stdout_has("contract: lmi:plugin@0.2.0");
}

fn frozen_v02() -> Home {
    let mut home = Home::new();
    home.install(&plugin_dir("tests/fixtures/contract-0.2"));
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "5");
    home
}

/// A plugin built with SDK 0.2 installs and runs with 0.2's calls, answered by the 0.3
/// implementation (`host_v02.rs`): its terminal facts, log, invocation and denials are the
/// ones a 0.3 plugin gets.
#[test]
fn a_contract_0_2_plugin_installs_and_runs_with_0_2s_calls() {
    let home = frozen_v02();
    home.run(["args", "a b", "--c"])
        .success()
        .stdout_has("a b\n--c\n");
    home.run(["exit3"]).code(3);
    home.run(["terminal"])
        .success()
        .stdout_has("terminal: stdin=false stdout=false stderr=false size=none color=false");
    home.run(["log", "x"])
        .success()
        .stderr_has("plugin-log-error x");
    home.run(["token"]).success().stdout_has("denied");
    home.run(["request", "v1"]).success().stdout_has("denied");
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
    // `--color` wins over the environment, either way.
    home.run(["--color", "always", "terminal"])
        .success()
        .stdout_has("color=true");
    home.env("NO_COLOR", ""); // unset: CLICOLOR_FORCE alone would say yes
    home.run(["--color", "never", "terminal"])
        .success()
        .stdout_has("color=false");
}

/// On a terminal (a pty from `script`), a plugin sees it both through `terminal.info` and
/// through Rust's own `std::io::IsTerminal` (WASI's terminal interfaces); piped, neither
/// says terminal. docs/plugin-authoring.md tells authors either works.
#[cfg(target_os = "linux")]
#[test]
fn a_plugin_sees_the_terminal_through_terminal_info_and_std_is_terminal() {
    let home = v02();
    home.run(["terminal"])
        .success()
        .stdout_has("std: stdin=false stdout=false stderr=false");
    let lmi = home.cmd(["terminal"]);
    let mut script = std::process::Command::new("script");
    script
        .args([
            "-qec",
            &format!("{} terminal < /dev/null", env!("CARGO_BIN_EXE_lmi")),
            "/dev/null",
        ])
        .env_clear()
        .stdin(std::process::Stdio::null());
    for (k, v) in lmi.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let out = script.output().expect("script(1) from util-linux");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("terminal: stdin=false stdout=true stderr=true"),
        "{shown:?}"
    );
    assert!(
        shown.contains("std: stdin=false stdout=true stderr=true"),
        "{shown:?}"
    );
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
    assert!(
        log.contains("plugin hostile 0.1.0: plugin-log-info x"),
        "{log}"
    );
}

/// A plugin needs no permission to log, so a run's log messages are capped (256 KiB): a
/// flood ends in one line saying so, and neither the file nor stderr grows without bound.
#[test]
fn a_plugin_cannot_flood_the_log() {
    let home = v02();
    let text = "f".repeat(1900);
    let run = home.run(["log", &text, "500"]); // 2,500 messages, about 4.8 MB
    run.success()
        .stderr_has("plugin hostile 0.1.0 logged more than 256 KiB in this run");
    assert!(
        run.stderr.len() < 300 << 10,
        "stderr: {} bytes",
        run.stderr.len()
    );
    let log = std::fs::metadata(home.log_file()).unwrap().len();
    assert!(log < 600 << 10, "log file: {log} bytes");
}

/// A secret lmi knows never leaves through `log.log`: the token the plugin was handed is
/// masked on stderr and in the file.
#[test]
fn a_logged_secret_is_masked() {
    let srv = crate::support::fault::FaultServer::token_endpoint();
    let home = crate::sandbox::hostile_granted(&srv);
    // The token endpoint issues tok-1; the plugin reads it and logs it.
    let run = home.run(["log-token"]);
    run.success().stderr_has("plugin hostile 0.1.0: leak");
    assert!(!run.stderr.contains("tok-1"), "{run:#?}");
    home.log_lacks("tok-1");
}

/// Named services and configuration keys are not offered yet: a named service is `denied`
/// without `service_requests` and `not-configured` with it (never sent to the default
/// service); an undeclared key is `denied`.
#[test]
fn a_named_service_needs_its_grant_and_an_undeclared_key_is_denied() {
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
        .stdout_has("service: denied")
        .stdout_has("`billing`")
        .stdout_has("`services`");
    assert_eq!(
        srv.requests().len(),
        0,
        "nothing reached the default service"
    );
    home.run(["setting", "region"])
        .success()
        .stdout_has("setting: denied")
        .stdout_has("`region`");
}

/// A component that exports 0.1's `command` but imports 0.2's `terminal` (an old-contract
/// shim reaching for a newer capability, the class that once bypassed Zed's checks): its
/// contract is 0.1, whose linker has no `terminal`, so install refuses it and nothing runs.
fn mixed_contract_component() -> Vec<u8> {
    // terminal.info(retptr)
    let core = crate::support::v01_module_importing("lmi:plugin/terminal@0.2.0", "info", 1);

    let root = crate::support::repo_root();
    let mut resolve = wit_parser::Resolve::default();
    resolve.push_dir(root.join("host/wit/v0.1")).unwrap();
    resolve.push_dir(root.join("host/wit/v0.2")).unwrap();
    let mixed = resolve
        .push_str(
            "mixed.wit",
            "package test:mixed;\n\
             world mixed {\n  import lmi:plugin/terminal@0.2.0;\n  export lmi:plugin/command@0.1.0;\n}\n",
        )
        .unwrap();
    let world = resolve.select_world(&[mixed], Some("mixed")).unwrap();
    crate::support::component_of(core, &resolve, world)
}

#[test]
fn a_0_1_component_importing_a_0_2_interface_is_refused() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mixed.wasm"), mixed_contract_component()).unwrap();
    // (What a run would do is the unit test runtime::linker::a_contract_0_1_linker_has_none_of_0_2s_interfaces.)
    std::fs::write(
        dir.path().join("lmi-plugin.toml"),
        "name = \"mixed\"\nversion = \"0.1.0\"\nlmi = \"^0.1\"\ncomponent = \"mixed.wasm\"\n\n\
         [[commands]]\nname = \"mixed\"\nabout = \"Exports 0.1, imports 0.2\"\n",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();
    home.run(["plugin", "install", path, "--yes"])
        .code(2)
        .stderr_has("lmi:plugin/terminal@0.2.0");
}

/// The hostile fixture declaring `region` (optional), `api-key` (secret) and, if
/// `required`, `project` (required).
fn with_settings(required: bool) -> Home {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "\n[[config]]\nname = \"region\"\nabout = \"Default region\"\n\n\
         [[config]]\nname = \"api-key\"\nabout = \"Key for the public API\"\nsecret = true\n",
    );
    if required {
        text.push_str(
            "\n[[config]]\nname = \"project\"\nabout = \"Project id\"\nrequired = true\n",
        );
    }
    std::fs::write(&manifest, text).unwrap();
    let mut home = Home::new();
    home.install(dir.path());
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "5");
    home
}

/// Settings come from LMI_PLUGIN_<PLUGIN>__<KEY>: process environment, then the active
/// environment's file, then the global `.env`; undeclared keys stay denied.
#[test]
fn a_plugin_reads_its_declared_settings_with_the_usual_precedence() {
    let mut home = with_settings(false);
    home.run(["setting", "region"])
        .success()
        .stdout_has("setting: None");
    home.global_env("LMI_PLUGIN_HOSTILE__REGION=global-1\n");
    home.run(["setting", "region"])
        .success()
        .stdout_has("setting: Some(\"global-1\")");
    home.env_file("dev", "LMI_PLUGIN_HOSTILE__REGION=dev-1\n");
    home.run(["-e", "dev", "setting", "region"])
        .success()
        .stdout_has("setting: Some(\"dev-1\")");
    home.env("LMI_PLUGIN_HOSTILE__REGION", "process-1");
    home.run(["-e", "dev", "setting", "region"])
        .success()
        .stdout_has("setting: Some(\"process-1\")");
    home.run(["setting", "token-url"])
        .success()
        .stdout_has("setting: denied");
}

/// A required setting that is unset refuses the command before the plugin starts (exit 2,
/// naming the variable and the file); set, the command runs.
#[test]
fn a_missing_required_setting_refuses_the_command_before_it_starts() {
    let home = with_settings(true);
    let run = home.run(["args", "x"]);
    run.code(2)
        .stderr_has("`project`")
        .stderr_has("LMI_PLUGIN_HOSTILE__PROJECT")
        .stderr_has(".env");
    assert!(!run.stdout.contains('x'), "the plugin ran: {run:#?}");
    home.global_env("LMI_PLUGIN_HOSTILE__PROJECT=p-42\n");
    home.run(["args", "x"]).success().stdout_has("x");
}

/// `lmi plugin config` lists each setting, whether it is set and where from, and never a
/// secret value; a secret value the plugin logs is masked.
#[test]
fn plugin_config_lists_settings_without_secret_values() {
    let home = with_settings(false);
    let secret = "pk-9f31-secret-value";
    home.global_env(&format!(
        "LMI_PLUGIN_HOSTILE__REGION=eu-west-1\nLMI_PLUGIN_HOSTILE__API_KEY={secret}\n"
    ));
    let run = home.run(["plugin", "config", "hostile"]);
    run.success()
        .stdout_has("LMI_PLUGIN_HOSTILE__REGION = eu-west-1")
        .stdout_has("LMI_PLUGIN_HOSTILE__API_KEY = (secret, not shown)");
    assert!(!run.stdout.contains(secret), "{run:#?}");
    let json = home.run(["--output", "json", "plugin", "config", "hostile"]);
    json.success();
    assert!(!json.stdout.contains(secret), "{json:#?}");
    let run = home.run(["log", secret]);
    run.success();
    assert!(!run.stderr.contains(secret), "{run:#?}");
    home.log_lacks(secret);
}

/// A plugin whose name holds `--` cannot declare settings: its variables could be another
/// plugin's (`a--b` / `c` and `a` / `b--c` would share LMI_PLUGIN_A__B__C).
#[test]
fn a_plugin_name_with_a_double_dash_cannot_declare_settings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lmi-plugin.toml"),
        "name = \"a--b\"\nversion = \"0.1.0\"\nlmi = \"^0.1\"\ncomponent = \"x.wasm\"\n\
         [[commands]]\nname = \"ab\"\nabout = \"x\"\n[[config]]\nname = \"c\"\nabout = \"x\"\n",
    )
    .unwrap();
    Home::new()
        .run(["plugin", "validate", dir.path().to_str().unwrap()])
        .code(2)
        .stderr_has("declares [[config]] keys, which a name holding `--` cannot");
}

/// 0.1 let a plugin send its own `User-Agent`; 0.2 refuses the header because lmi names the
/// plugin. A 0.1 plugin that sets one keeps working: its value is dropped and the service
/// sees lmi's.
#[test]
fn a_0_1_plugin_setting_its_own_user_agent_keeps_working_and_is_named_by_lmi() {
    use crate::support::fault::{FaultServer, Reply};
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => Reply::json(
            200,
            serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
        _ => Reply::status(200),
    });
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_plugin(&plugin_dir("tests/fixtures/contract-0.1"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[permissions]\nservice_requests = true\nenvironments = [\"dev\"]\n");
    std::fs::write(&manifest, text).unwrap();
    let home = Home::new();
    home.install(dir.path());
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("v01-secret-5d2e"));
    home.run(["request-header", "v1/items", "User-Agent", "old-tool/1.0"])
        .success()
        .stdout_has("request: status 200");
    let requests = srv.requests();
    let reached: Vec<_> = requests.iter().filter(|r| r.path() != "/token").collect();
    assert_eq!(reached.len(), 1, "{reached:#?}");
    assert_eq!(
        reached[0].header("user-agent"),
        Some(concat!("hostile-v01/0.1.0 lmi/", env!("CARGO_PKG_VERSION")))
    );
}
