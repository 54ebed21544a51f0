//! Golden files for manifest errors: every `tests/manifests/<case>.toml` is a broken
//! `lmi-plugin.toml`, and `<case>.err` is exactly what lmi says about it (the `Display` of
//! the error from `Manifest::parse`). `LMI_BLESS=1 cargo test -p lmi --test it manifests`
//! rewrites the `.err` files; review the diff before committing it.

use std::path::{Path, PathBuf};

use lmi::plugins::manifest::Manifest;

fn cases() -> Vec<PathBuf> {
    let dir = crate::support::repo_root().join("tests/manifests");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    cases
}

#[test]
fn each_broken_manifest_gets_its_own_message() {
    let bless = std::env::var_os("LMI_BLESS").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(
        cases.len() >= 15,
        "expected the golden cases in tests/manifests, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut messages = std::collections::BTreeMap::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        // Messages name the file as a user sees it, not as the test found it.
        let got = match Manifest::parse_reserving(
            &text,
            Path::new("lmi-plugin.toml"),
            &lmi::commands::is_builtin,
        ) {
            Ok(m) => {
                failures.push(format!("{}: parsed without error: {m:?}", case.display()));
                continue;
            }
            Err(e) => format!("{e}\n"),
        };
        let err_path = case.with_extension("err");
        if bless {
            std::fs::write(&err_path, &got).unwrap();
        }
        match std::fs::read_to_string(&err_path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}:\n--- expected ({})\n{want}--- got\n{got}",
                case.display(),
                err_path.display()
            )),
            Err(_) => failures.push(format!(
                "{}: no {} (run with LMI_BLESS=1 to create it); got:\n{got}",
                case.display(),
                err_path.display()
            )),
        }
        if let Some(other) = messages.insert(got.clone(), case.clone()) {
            failures.push(format!(
                "{} and {} produce the same message; each case should pin down its own",
                other.display(),
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_golden_error_has_its_manifest() {
    let dir = crate::support::repo_root().join("tests/manifests");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "err") {
            assert!(
                path.with_extension("toml").is_file(),
                "{} has no .toml beside it",
                path.display()
            );
        }
    }
}
