//! What a plugin author relies on (issue 16): lmi's own options reach a plugin through the
//! context (`invocation`), not its arguments; the SDK's `clap` feature parses in one call,
//! with one `error:` prefix, exit 2, and `--version` from the installed manifest.

use crate::support::{Home, plugin_dir};

fn with(plugins: &[&str]) -> Home {
    let home = Home::new();
    for plugin in plugins {
        home.install(&plugin_dir(plugin));
    }
    home
}

/// `lmi -vv --output json hello` hands hello no words, and tells it `-vv` and json: hello
/// answers with one JSON object that says so. After the command, `-v` is hello's.
#[test]
fn a_plugin_sees_lmis_verbosity_and_output_format_and_its_own_identity() {
    let home = with(&["plugins/hello"]);
    let run = home.run(["-vv", "--output", "json", "hello", "Ada"]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim_end())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout));
    assert_eq!(json["greeting"], "Hello, Ada!");
    assert_eq!(json["args"], serde_json::json!(["Ada"]));
    assert_eq!(json["verbosity"], 2);
    assert_eq!(json["plugin"]["name"], "hello");
    assert_eq!(json["plugin"]["version"], "0.1.0");

    // Text, and `-v` after the command is a word for hello, not lmi's verbosity.
    let run = home.run(["hello", "-v"]);
    run.success().stdout_has("Hello, -v!\nargs: [\"-v\"]\n");
    assert!(!run.stdout.contains("plugin: hello"), "{run:#?}");
    home.run(["-v", "hello"])
        .success()
        .stdout_has("plugin: hello 0.1.0 (lmi -v: 1)\n");
}

/// `--version` of a plugin is its installed manifest's version, the one `lmi plugin list`
/// and `lmi --version` show (Cargo.toml states none).
#[test]
fn a_plugins_version_flag_says_the_manifests_version() {
    let home = with(&["plugins/hello", "plugins/api"]);
    let list = home.run(["plugin", "list", "--output", "json"]);
    list.success();
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    for (command, plugin) in [("hello", "hello"), ("api", "api")] {
        let listed = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plugin)
            .unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned();
        let run = home.run([command, "--version"]);
        run.success();
        assert_eq!(
            run.stdout,
            format!("{plugin} {listed}\n"),
            "lmi {command} --version"
        );
        home.run(["--version"])
            .success()
            .stdout_has(&format!("plugin {plugin} {listed}"));
    }
}

/// A parse error through the SDK's `clap` feature: one `error:` (lmi's), clap's message and
/// usage naming `lmi api`, exit 2; no arguments at all is the short usage error, not the
/// whole help printed as an error. `--help` is normal output.
#[test]
fn a_plugins_usage_error_has_one_error_prefix_and_exits_2() {
    let home = with(&["plugins/api"]);
    let run = home.run(["api", "get"]);
    run.code(2)
        .stderr_has("error: the following required arguments were not provided:\n  <PATH>")
        .stderr_has("Usage: lmi api get <PATH>");
    assert_eq!(run.stderr.matches("error:").count(), 1, "{run:#?}");
    assert_eq!(run.stdout, "");

    let run = home.run(["api"]);
    run.code(2)
        .stderr_has("error: 'lmi api' requires a subcommand but one was not provided")
        .stderr_has("Usage: lmi api [OPTIONS] <COMMAND>");
    assert_eq!(run.stderr.matches("error:").count(), 1, "{run:#?}");
    assert!(
        !run.stderr.contains("Send an authenticated GET request"),
        "not the help: {run:#?}"
    );

    let run = home.run(["api", "--help"]);
    run.success()
        .stdout_has("Usage: lmi api [OPTIONS] <COMMAND>")
        .stdout_has("Send an authenticated GET request");
    assert_eq!(run.stderr, "");
    home.run(["api", "--bogus"])
        .code(2)
        .stderr_has("error: unexpected argument '--bogus' found");
}

/// `lmi plugin new --help` lists what means something there: not `--env` or `--color`.
#[test]
fn plugin_new_help_lists_only_options_that_apply() {
    let run = Home::new().run(["plugin", "new", "--help"]);
    run.success()
        .stdout_has("--sdk-git <URL>")
        .stdout_has("--sdk-registry <NAME>")
        .stdout_has("--sdk-path <DIR>")
        .stdout_has("--description <TEXT>")
        .stdout_has("--output <OUTPUT>")
        .stdout_has("--verbose");
    for hidden in ["--env", "--color"] {
        assert!(!run.stdout.contains(hidden), "{hidden}: {}", run.stdout);
    }
}
