//! `lmi completions bash|zsh|fish`: scripts that complete the built-in commands and the
//! commands of the plugins installed when they were generated.

use std::process::Command;

use crate::support::{Home, plugin_dir};

const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

#[test]
fn completions_include_installed_plugin_commands() {
    let home = Home::new();
    for shell in SHELLS {
        let before = home.run(["completions", shell]);
        before.success().stdout_has("plugin").stdout_has("login");
        assert!(
            !before.stdout.contains("whoami"),
            "{shell}: no plugin yet, yet: {before:#?}"
        );
    }

    home.install(&plugin_dir("plugins/hello"));
    for shell in SHELLS {
        let run = home.run(["completions", shell]);
        run.success().stdout_has("whoami").stdout_has("hello");
        if shell != "bash" {
            // zsh and fish show each command's description.
            run.stdout_has("Show the signed-in SSO user");
        }
    }
}

#[test]
fn completion_scripts_are_valid_shell() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
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

/// Sources the script in the real shell and asks it to complete `lmi wh`.
#[test]
fn bash_and_fish_complete_a_plugin_command() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let write = |shell: &str| {
        let path = home.path().join(format!("lmi.{shell}"));
        std::fs::write(
            &path,
            home.run(["completions", shell]).success().stdout.as_bytes(),
        )
        .unwrap();
        path
    };

    let bash = write("bash");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=(lmi wh); COMP_CWORD=1; COMP_LINE='lmi wh'; COMP_POINT=6; \
             _lmi lmi wh lmi; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "whoami\n", "{out:?}");

    if Command::new("fish")
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_err()
    {
        eprintln!("fish is not installed; skipping its completion check");
        return;
    }
    let fish = write("fish");
    let out = Command::new("fish")
        .arg("-c")
        .arg(format!("source '{}'; complete -C 'lmi wh'", fish.display()))
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(
        got.starts_with("whoami\tShow the signed-in SSO user"),
        "{out:?}"
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    Home::new()
        .run(["completions", "tcsh"])
        .code(2)
        .stderr_has("tcsh");
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
