//! Contract versions: a plugin built against `lmi:plugin@0.1.0` keeps installing and running.
//! `tests/fixtures/contract-0.1` is the hostile test plugin as built with the 0.1 SDK,
//! committed as a binary so later SDKs cannot rebuild it.

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
