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
