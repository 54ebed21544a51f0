//! `lmi completions <shell>`: a script that asks lmi for candidates at each TAB, driven here
//! through the real bash and fish: commands, environments after `-e`, installed plugins after
//! `plugin info`, a plugin command's declared subcommands, and none of lmi's options after a
//! plugin command (every word there is the plugin's).

use std::process::Command;

use crate::support::{Home, plugin_dir};

/// A shell with the environment `home` gives lmi, and lmi's directory on its `PATH`.
fn shell(home: &Home, shell: &str) -> Option<Command> {
    if Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_err()
    {
        eprintln!("{shell} is not installed; skipping");
        return None;
    }
    let lmi = home.cmd(Vec::<&str>::new());
    let mut cmd = Command::new(shell);
    cmd.env_clear();
    for (k, v) in lmi.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_lmi"))
        .parent()
        .unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", bin_dir.display()));
    Some(cmd)
}

/// What bash offers for `line` (a trailing space: complete a new word), through the script
/// `lmi completions bash` prints, as bash's completion machinery calls it.
fn bash(home: &Home, line: &str) -> Vec<String> {
    let Some(mut cmd) = shell(home, "bash") else {
        return vec!["(no bash)".into()];
    };
    let mut words: Vec<&str> = line.split_whitespace().collect();
    if line.ends_with(' ') {
        words.push("");
    }
    let out = cmd
        .arg("-c")
        .arg(
            r#"source <(lmi completions bash) || exit 9
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_clap_complete_lmi lmi "${@: -1}" "${@: -2:1}"
printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .args(&words)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What fish offers for `line`: `value\tdescription` lines.
fn fish(home: &Home, line: &str) -> Option<String> {
    let mut cmd = shell(home, "fish")?;
    let out = cmd
        .arg("-c")
        .arg(format!(
            "lmi completions fish | source; complete -C '{line}'"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn with_environments(home: &Home) {
    home.env_file("dev", "")
        .env_file("prod", "")
        .env_file("staging", "");
}

#[test]
fn bash_completes_commands_environments_plugins_and_declared_subcommands() {
    let home = Home::new();
    with_environments(&home);
    assert_eq!(bash(&home, "lmi wh"), Vec::<String>::new(), "no plugin yet");
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("plugins/api"));

    assert_eq!(bash(&home, "lmi wh"), ["whoami"]);
    assert_eq!(bash(&home, "lmi -e "), ["dev", "prod", "staging"]);
    assert_eq!(bash(&home, "lmi --env p"), ["prod"]);
    assert_eq!(
        bash(&home, "lmi plugin info "),
        // `plugin info` uses neither `--env` nor `--color` (nor `--yes`, `--quiet`): hidden.
        ["api", "hello", "--verbose", "--output", "--help"]
    );
    assert_eq!(bash(&home, "lmi plugin remove h"), ["hello"]);
    // A built-in still takes lmi's options after its name, with their values.
    assert_eq!(bash(&home, "lmi auth status --e"), ["--env"]);
    assert_eq!(bash(&home, "lmi auth status -e s"), ["staging"]);
    // After a plugin command: its declared subcommands, never lmi's options.
    assert_eq!(
        bash(&home, "lmi -e dev api "),
        ["get", "post", "put", "patch", "delete", "token"]
    );
    assert_eq!(bash(&home, "lmi api p"), ["post", "put", "patch"]);
    assert_eq!(bash(&home, "lmi api -"), Vec::<String>::new());
    assert_eq!(bash(&home, "lmi hello "), Vec::<String>::new());
    assert_eq!(bash(&home, "lmi hello --e"), Vec::<String>::new());
    assert_eq!(bash(&home, "lmi api get --"), Vec::<String>::new());

    // Current at every TAB: a new environment, a removed plugin.
    home.env_file("qa", "");
    assert_eq!(bash(&home, "lmi -e q"), ["qa"]);
    home.run(["plugin", "remove", "api"]).success();
    assert_eq!(bash(&home, "lmi plugin info a"), Vec::<String>::new());
    assert!(!bash(&home, "lmi api ").contains(&"get".to_owned()));
}

#[test]
fn fish_shows_descriptions_of_commands_and_subcommands() {
    let home = Home::new();
    with_environments(&home);
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("plugins/api"));
    let Some(got) = fish(&home, "lmi wh") else {
        return;
    };
    assert!(
        got.starts_with("whoami\tShow the signed-in SSO user"),
        "{got}"
    );
    let got = fish(&home, "lmi api p").unwrap();
    assert!(
        got.starts_with("post\tSend an authenticated POST request"),
        "{got}"
    );
    assert_eq!(fish(&home, "lmi -e st").unwrap(), "staging\n");
    let got = fish(&home, "lmi plugin info h").unwrap();
    assert!(got.starts_with("hello\tGreets you"), "{got}");
}

#[test]
fn completion_scripts_are_valid_shell() {
    let home = Home::new();
    for (shell, check) in [
        ("bash", &["-n"][..]),
        ("zsh", &["-n"][..]),
        ("fish", &["--no-execute"][..]),
    ] {
        if Command::new(shell)
            .arg("-c")
            .arg("exit 0")
            .output()
            .is_err()
        {
            eprintln!("{shell} is not installed; skipping its syntax check");
            continue;
        }
        let run = home.run(["completions", shell]);
        run.success();
        let script = home.path().join(format!("lmi.{shell}"));
        std::fs::write(&script, &run.stdout).unwrap();
        let out = Command::new(shell)
            .args(check)
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell} rejects the script: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    Home::new()
        .run(["completions", "tcsh"])
        .code(2)
        .stderr_has("tcsh");
}

/// The candidates lmi answers for `words` in `shell`'s format, as the script asks for them.
fn candidates(home: &Home, shell: &str, words: &[&str]) -> crate::support::Run {
    let mut cmd = home.cmd(
        ["--", "lmi"]
            .into_iter()
            .chain(words.iter().copied())
            .collect::<Vec<_>>(),
    );
    cmd.env("LMI_COMPLETE", shell)
        .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
        .env("_CLAP_IFS", "\n");
    crate::support::Run::from(cmd.output().unwrap())
}

// ---- manifest text (R1.5, R2.6) ----------------------------------------------------------

/// Every shell `lmi completions` offers (clap_complete's `Shell`).
const EVERY_SHELL: [&str; 5] = ["bash", "elvish", "fish", "powershell", "zsh"];

/// Breaks out of a PowerShell string (clap_complete escapes `'` and `’`, not `‘`).
const POWERSHELL_BREAKOUT: &str = "List items\u{2018} + $(Start-Process calc.exe) + \u{2018}";
/// Puts `rm -rf ~` on the clipboard of a terminal that shows it (OSC 52).
const OSC52: &str = "Greet\u{1b}]52;c;cm0gLXJmIH4=\u{7} someone";

fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{2018}'..='\u{201F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    let bad: Vec<String> = text
        .chars()
        .filter(|&c| is_hostile(c))
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(bad.is_empty(), "{what} holds {bad:?}:\n{text}");
}

fn hello_with_about(dir: &std::path::Path, about: &str) {
    crate::support::copy_plugin(&plugin_dir("plugins/hello"), dir);
    let manifest = dir.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "about = \"Greet someone and show the active environment and SSO state\"",
        &format!("about = {}", toml_string(about)),
    );
    std::fs::write(&manifest, text).unwrap();
}

/// A TOML basic string with every control character escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn manifest_text_that_could_escape_a_terminal_or_a_completion_script_is_refused() {
    let home = Home::new();
    for (about, codepoint) in [(POWERSHELL_BREAKOUT, "U+2018"), (OSC52, "U+001B")] {
        let dir = tempfile::tempdir().unwrap();
        hello_with_about(dir.path(), about);
        let path = dir.path().to_str().unwrap();
        home.run(["plugin", "validate", path])
            .code(2)
            .stderr_has("command `hello`: `about` contains")
            .stderr_has(codepoint);
        home.run(["plugin", "install", path, "--yes"])
            .code(2)
            .stderr_has(codepoint);
    }
    assert!(!home.data().join("plugins/hello").exists());
}

/// A plugin linked before the rule (or edited since): nothing it says reaches a terminal or
/// a completion script raw, for any shell.
#[test]
fn completions_help_list_and_info_stay_clean_whatever_a_linked_manifest_says() {
    let home = Home::new();
    let dev = tempfile::tempdir().unwrap();
    hello_with_about(dev.path(), "Greet someone");
    home.link(dev.path());
    for about in [POWERSHELL_BREAKOUT, OSC52] {
        hello_with_about(dev.path(), about);
        for shell in EVERY_SHELL {
            let run = home.run(["completions", shell]);
            assert_clean(shell, &run.stdout);
            assert_clean(shell, &run.stderr);
            for words in [&[""][..], &["hello", ""], &["plugin", "info", ""]] {
                let run = candidates(&home, shell, words);
                assert_clean(&format!("{shell} {words:?}"), &run.stdout);
                assert_clean(&format!("{shell} {words:?}"), &run.stderr);
            }
        }
        for args in [
            &["--help"][..],
            &["plugin", "list"],
            &["plugin", "info", "hello"],
            &["hello", "x"],
        ] {
            let run = home.run(args);
            assert_clean(&format!("{args:?}"), &run.stdout);
            assert_clean(&format!("{args:?}"), &run.stderr);
        }
    }
}
