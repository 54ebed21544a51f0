//! The plugin lifecycle with the real binary and real components: install, list, run,
//! upgrade, remove, and every way an install is refused.

use std::path::Path;

use crate::support::{Home, copy_plugin, plugin_dir};

fn set_manifest_field(dir: &Path, field: &str, value: &str) {
    let path = dir.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !found && l.starts_with(&format!("{field} =")) {
                found = true;
                format!("{field} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(found, "manifest has no top-level `{field}`");
    std::fs::write(path, out.join("\n") + "\n").unwrap();
}

#[test]
fn install_list_run_upgrade_remove() {
    let home = Home::new();
    let install = home.install(&plugin_dir("plugins/hello"));
    install.stderr_has("Installed hello 0.1.0");

    home.run(["plugin", "list"])
        .success()
        .stdout_has("hello")
        .stdout_has("whoami");
    home.run(["--version"])
        .success()
        .stdout_has("plugin hello 0.1.0");
    home.run(["--help"])
        .success()
        .stdout_has("hello")
        .stdout_has("[requires SSO]");

    let run = home.run(["hello", "Ada", "--loud"]);
    run.success()
        .stdout_has("Hello, Ada")
        .stdout_has(r#"args: ["Ada", "--loud"]"#)
        .stdout_has("sso: not signed in");

    // Upgrade: same plugin, newer version, takes over atomically.
    let v2 = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), v2.path());
    set_manifest_field(v2.path(), "version", "\"0.2.0\"");
    home.install(v2.path())
        .stderr_has("Upgrading hello 0.1.0 → 0.2.0");
    home.run(["--version"])
        .success()
        .stdout_has("plugin hello 0.2.0");
    home.run(["hello"]).success().stdout_has("Hello, world!");
    let versions: Vec<_> = std::fs::read_dir(home.data().join("plugins/.versions"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "the old version directory is cleaned up: {versions:?}"
    );

    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.2.0");
    home.run(["helo", "x"])
        .code(2)
        .stderr_has("no installed plugin provides it; did you mean")
        .stderr_has("`lmi hello`?");
    home.run(["plugin", "remove", "hello"]).success();
    let list = home.run(["plugin", "list"]);
    list.success().stderr_has("No plugins installed");
    assert!(!list.stdout.contains("hello"), "{list:#?}");
    // A removed plugin's command: not clap's "unrecognized subcommand", but what happened
    // and where to look.
    let gone = home.run(["hello"]);
    gone.code(2)
        .stderr_has("`hello` is not an lmi command, and no installed plugin provides it")
        .stderr_has("hint: `lmi plugin list` shows the installed plugins");
    home.run(["plugin", "remove", "hello"])
        .code(2)
        .stderr_has("not installed");
}

/// The smallest plugin, a function and `export!(fn run)` (the one docs/plugin-authoring.md
/// shows, verbatim), builds (`make plugins`), installs and runs.
/// `lmi --version` (and `-V`) names lmi's version and every plugin contract it runs on its
/// first line, which scripts and `bench/` read with `head -1`; installed plugins follow.
#[test]
fn version_names_the_plugin_contracts_lmi_runs_then_each_plugin() {
    let first = format!(
        "lmi {} (plugin contracts lmi:plugin@0.1.0, 0.2.0, 0.3.0)",
        env!("CARGO_PKG_VERSION")
    );
    let home = Home::new();
    for flag in ["--version", "-V"] {
        let run = home.run([flag]);
        run.success();
        assert_eq!(run.stdout, format!("{first}\n"), "lmi {flag}");
    }
    home.install(&plugin_dir("plugins/hello"));
    let run = home.run(["--version"]);
    run.success();
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [first.as_str(), "  plugin hello 0.1.0"]
    );
}

#[test]
fn the_minimal_plugin_installs_and_runs() {
    let dir = plugin_dir("tests/plugins/minimal");
    let source = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    let docs =
        std::fs::read_to_string(crate::support::repo_root().join("docs/plugin-authoring.md"))
            .unwrap();
    assert!(
        docs.contains(&source),
        "the guide shows tests/plugins/minimal/src/lib.rs"
    );
    let home = Home::new();
    home.install(&dir).stderr_has("Installed minimal 0.1.0");
    let run = home.run(["minimal", "Ada"]);
    run.success();
    assert_eq!(run.stdout, "Hello, Ada!\n");
    assert_eq!(home.run(["minimal"]).stdout, "Hello, world!\n");
}

#[test]
fn a_failed_upgrade_leaves_the_previous_version_working() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let broken = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), broken.path());
    set_manifest_field(broken.path(), "version", "\"0.3.0\"");
    std::fs::write(broken.path().join("hello.wasm"), b"\0asm\x01\0\0\0").unwrap();
    home.run([
        "plugin",
        "install",
        broken.path().to_str().unwrap(),
        "--yes",
    ])
    .code(2)
    .stderr_has("core WebAssembly module, not a component");
    home.run(["--version"])
        .success()
        .stdout_has("plugin hello 0.1.0");
    home.run(["hello"]).success().stdout_has("Hello, world!");
}

#[test]
fn a_core_module_is_refused_with_the_fix() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dir.path());
    // The smallest valid core module: magic and version 1.
    std::fs::write(dir.path().join("hello.wasm"), b"\0asm\x01\0\0\0").unwrap();
    home.run(["plugin", "install", dir.path().to_str().unwrap(), "--yes"])
        .code(2)
        .stderr_has("core WebAssembly module, not a component")
        .stderr_has("wasm32-wasip2");
    assert!(!home.data().join("plugins/hello").exists());
}

#[test]
fn a_component_of_another_world_is_refused() {
    let home = Home::new();
    home.run([
        "plugin",
        "install",
        plugin_dir("tests/plugins/wrong-world").to_str().unwrap(),
        "--yes",
    ])
    .code(2)
    .stderr_has("does not implement the lmi:plugin world")
    .stderr_has("lmi:plugin/command@0.3.0, @0.2.0 or @0.1.0");
}

#[test]
fn an_unmet_lmi_requirement_is_refused() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dir.path());
    set_manifest_field(dir.path(), "lmi", "\">=9.0\"");
    home.run(["plugin", "install", dir.path().to_str().unwrap(), "--yes"])
        .code(2)
        .stderr_has("requires lmi >=9.0, but this is lmi 0.1.0");
}

#[test]
fn install_without_a_terminal_or_yes_is_refused() {
    let home = Home::new();
    home.run([
        "plugin",
        "install",
        plugin_dir("plugins/hello").to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("pass --yes");
    assert!(!home.data().join("plugins/hello").exists());
}

/// Issue 16, item 14: a plugin that asks for nothing beyond the sandbox installs without a
/// prompt (and so without a terminal or `--yes`); installing the same version again says
/// "Reinstalling".
#[test]
fn a_plugin_asking_for_nothing_installs_without_a_prompt_and_reinstalls_by_name() {
    let home = Home::new();
    // hello without its `requires_sso` command: no permission at all.
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("requires_sso = true", "requires_sso = false"),
    )
    .unwrap();
    let hello = dir.path();
    home.run(["plugin", "install", hello.to_str().unwrap()])
        .success()
        .stderr_has("run in the lmi sandbox")
        .nowhere("[y/N]");
    home.run(["plugin", "install", hello.to_str().unwrap()])
        .success()
        .stderr_has("Reinstalling hello 0.1.0")
        .nowhere("Upgrading");
}

#[test]
fn install_shows_the_permissions_it_grants() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/api"))
        .stderr_has("send authenticated requests to the service (any environment)")
        .stderr_has("read the service access token itself");
}

#[test]
fn a_command_clash_with_another_plugin_is_refused() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dir.path());
    set_manifest_field(dir.path(), "name", "\"hello-two\"");
    home.run(["plugin", "install", dir.path().to_str().unwrap(), "--yes"])
        .code(2)
        .stderr_has("command `hello` of plugin hello-two is already provided by the installed plugin hello 0.1.0");
}

#[test]
fn requires_sso_is_refused_before_the_plugin_starts() {
    let mut home = Home::new();
    home.install(&plugin_dir("tests/plugins/hostile"));
    home.env("LMI_LOG_FILE", "off");
    let run = home.run(["-vv", "sso-only"]);
    run.code(4)
        .stderr_has("requires an SSO session")
        .stderr_has("run: lmi login sso");
    // The plugin would print this first thing; the host logs instantiation at debug level.
    assert!(!run.stdout.contains("STARTED"), "{run:#?}");
    assert!(!run.stderr.contains("plugin instantiated"), "{run:#?}");
    // The same command without the gate does instantiate (so the log line is a real probe).
    home.run(["-vv", "args", "x"])
        .success()
        .stderr_has("plugin instantiated");
}

#[test]
fn unknown_commands_suggest_close_names() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    home.run(["helo"])
        .code(2)
        .stderr_has("did you mean")
        .stderr_has("`lmi hello`");
}

/// A linked plugin whose component is gone (`cargo clean`) is a rebuild away: exit 2
/// saying so, not a crash telling the author to reinstall.
#[test]
fn a_linked_plugin_without_its_build_says_to_rebuild() {
    let home = Home::new();
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dev.path());
    home.link(dev.path());
    std::fs::remove_file(dev.path().join("hello.wasm")).unwrap();
    home.run(["hello"])
        .code(2)
        .stderr_has("is missing (removed by `cargo clean`?): rebuild it there")
        .nowhere("reinstall");
}

#[test]
fn a_linked_plugin_picks_up_a_rebuilt_component() {
    let home = Home::new();
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dev.path());
    home.link(dev.path());
    home.run(["plugin", "list"])
        .success()
        .stdout_has("(linked)");
    home.run(["hello"]).success().stdout_has("Hello, world!");
    // "Rebuild" the plugin: a trailing custom section changes the component's hash.
    let wasm = dev.path().join("hello.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.extend_from_slice(&[0x00, 0x05, 0x04, b'n', b'o', b't', b'e']);
    std::fs::write(&wasm, &bytes).unwrap();
    home.run(["hello"]).success().stdout_has("Hello, world!");
    let artifacts = std::fs::read_dir(home.cache().join("compiled"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(artifacts, 2, "the changed component was compiled anew");
}

#[test]
fn a_damaged_or_missing_artifact_is_rebuilt_not_run() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let dir = home.cache().join("compiled");
    let artifact = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    home.run(["hello"])
        .success()
        .stdout_has("Hello, world!")
        .stderr_has("does not match its checksum; recompiling plugin hello 0.1.0");
    // Repaired: the next run is quiet.
    let again = home.run(["hello"]);
    again.success();
    assert!(!again.stderr.contains("recompiling"), "{again:#?}");

    // An artifact without its checksum is not trusted either.
    let mut sidecar = artifact.as_os_str().to_owned();
    sidecar.push(".crc32");
    std::fs::remove_file(&sidecar).unwrap();
    home.run(["hello"])
        .success()
        .stderr_has("its checksum file is missing; recompiling plugin hello 0.1.0");
    assert!(std::path::Path::new(&sidecar).exists(), "sealed again");

    std::fs::remove_dir_all(&dir).unwrap();
    home.run(["hello"]).success().stdout_has("Hello, world!");
    assert!(artifact.exists(), "the artifact is written back");
}

#[test]
fn a_modified_installed_component_is_not_run() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    std::fs::remove_dir_all(home.cache().join("compiled")).unwrap();
    let installed = home.data().join("plugins/hello/component.wasm");
    let mut bytes = std::fs::read(&installed).unwrap();
    bytes.extend_from_slice(&[0x00, 0x05, 0x04, b'n', b'o', b't', b'e']);
    std::fs::write(&installed, &bytes).unwrap();
    home.run(["hello"])
        .code(5)
        .stderr_has("was modified after installation; reinstall it");
}

#[test]
fn a_damaged_installed_plugin_is_named_with_the_fix_and_can_be_removed() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    std::fs::remove_file(home.data().join("plugins/hello/lmi-plugin.toml")).unwrap();
    home.run(["plugin", "info", "hello"])
        .code(1)
        .stderr_has("installed plugin `hello` is damaged")
        .stderr_has("lmi plugin remove hello");
    home.run(["plugin", "remove", "hello"]).success();
    assert!(!home.data().join("plugins/hello").exists());
}

fn routes(home: &Home) -> serde_json::Value {
    let text = std::fs::read_to_string(home.data().join("plugins/.routes.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_route_index_follows_install_and_remove() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("tests/plugins/hostile"));
    let r = routes(&home);
    assert_eq!(r["hello"], "hello");
    assert_eq!(r["whoami"], "hello");
    assert_eq!(r["spin"], "hostile");
    home.run(["plugin", "remove", "hostile"]).success();
    let r = routes(&home);
    assert_eq!(r["hello"], "hello");
    assert!(r.get("spin").is_none(), "{r}");
}

/// The index is only a hint: a missing or wrong one never misroutes, and dispatch repairs it.
#[test]
fn dispatch_survives_a_missing_or_wrong_route_index_and_repairs_it() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("tests/plugins/hostile"));
    let index = home.data().join("plugins/.routes.json");

    std::fs::remove_file(&index).unwrap();
    home.run(["hello"]).success().stdout_has("Hello, world!");
    assert_eq!(routes(&home)["hello"], "hello", "rewritten by dispatch");

    std::fs::write(&index, r#"{"hello": "hostile", "exit3": "../../x"}"#).unwrap();
    home.run(["hello"]).success().stdout_has("Hello, world!");
    home.run(["exit3"]).code(3);
    assert_eq!(routes(&home)["exit3"], "hostile", "repaired");
}

#[test]
fn a_command_a_linked_plugin_gains_after_install_is_routed() {
    let home = Home::new();
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/plugins/hostile"), dev.path());
    let manifest = dev.path().join("lmi-plugin.toml");
    // Installed without `exit3`; the developer adds it back afterwards.
    let full = std::fs::read_to_string(&manifest).unwrap();
    let without = full.replace("name = \"exit3\"", "name = \"exit-three\"");
    std::fs::write(&manifest, &without).unwrap();
    home.link(dev.path());
    assert!(routes(&home).get("exit3").is_none());
    std::fs::write(&manifest, &full).unwrap();
    home.run(["exit3"]).code(3);
    assert_eq!(routes(&home)["exit3"], "hostile");
}

/// Reinstalling the same version and component replaces it in place and leaves no debris.
#[test]
fn reinstalling_the_same_version_replaces_it_cleanly() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("plugins/hello"));
    home.run(["hello"]).success().stdout_has("Hello, world!");
    let versions: Vec<String> = std::fs::read_dir(home.data().join("plugins/.versions"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert!(versions[0].starts_with("hello-0.1.0-"), "{versions:?}");
}

/// A dispatch that takes the full parser (here `-eNAME`, which the route lookup does not
/// read) leaves a healthy route index alone: no lock, no rewrite on the hot path.
#[test]
fn a_healthy_route_index_is_not_rewritten_by_dispatch() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let index = home.data().join("plugins/.routes.json");
    let before = std::fs::metadata(&index).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    home.run(["-eother", "hello"])
        .success()
        .stdout_has("env: other");
    home.run(["hello"]).success();
    assert_eq!(
        std::fs::metadata(&index).unwrap().modified().unwrap(),
        before
    );
}

// ---- recorded grants and one routing rule (R1.3) -----------------------------------------

/// `text` without its `[permissions]` table (the api plugin's is last).
fn without_permissions(text: &str) -> String {
    text[..text.find("[permissions]").unwrap()].to_owned()
}

#[test]
fn a_linked_plugin_cannot_grant_itself_permissions() {
    let srv = crate::support::fault::FaultServer::token_endpoint();
    let home = Home::new();
    home.env_file("prod", &srv.client_credentials_env("grants-secret-77"));
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/api"), dev.path());
    let manifest = dev.path().join("lmi-plugin.toml");
    let full = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, without_permissions(&full)).unwrap();
    home.link(dev.path());
    home.run(["-e", "prod", "api", "token"])
        .code(1)
        .stderr_has("denied");

    // The author adds the permissions after the user agreed to none.
    std::fs::write(&manifest, &full).unwrap();
    let run = home.run(["-e", "prod", "api", "token"]);
    run.code(2)
        .stderr_has("now asks for more than you granted")
        .stderr_has("service_token")
        .stderr_has(&format!(
            "lmi plugin install --link {}",
            std::fs::canonicalize(dev.path()).unwrap().display()
        ));
    assert!(!run.stdout.contains("tok-"), "{run:#?}");
    assert_eq!(srv.count("/token"), 0, "no token was fetched");
    home.run(["plugin", "info", "api"])
        .success()
        .stdout_has("permissions granted: none")
        .stdout_has("its manifest now asks for more");

    // Re-linking shows the permissions, records the grant, and the run gets them.
    home.link(dev.path())
        .stderr_has("read the service access token itself");
    home.run(["-e", "prod", "api", "token"])
        .success()
        .stdout_has("tok-1");

    // A manifest that drops a permission narrows the run at once: the grant is a ceiling.
    std::fs::write(&manifest, without_permissions(&full)).unwrap();
    home.run(["-e", "prod", "api", "token"])
        .code(1)
        .stderr_has("denied");
}

#[test]
fn a_linked_plugin_cannot_give_itself_the_sso_identity() {
    let home = Home::new();
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dev.path());
    let manifest = dev.path().join("lmi-plugin.toml");
    let full = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        full.replace("requires_sso = true", "requires_sso = false"),
    )
    .unwrap();
    home.link(dev.path());
    std::fs::write(&manifest, &full).unwrap();
    home.run(["whoami"])
        .code(2)
        .stderr_has("your SSO identity in `whoami`")
        .stderr_has("lmi plugin install --link");
}

#[test]
fn a_linked_plugin_cannot_take_over_another_plugins_command_on_any_path() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    // A plugin that sorts before `hello`, linked with commands of its own.
    // Its author then adds `hello`.
    let _dev = link_a_plugin_that_later_declares_hello(&home);

    for args in [
        &["hello"][..],
        &["-eprod", "hello"],
        &["-e", "prod", "-v", "hello"],
    ] {
        home.run(args).success().stdout_has("Hello, world!");
    }
    // The full path (taken when the route index does not know the command) reads every
    // manifest, and says who declares what.
    std::fs::remove_file(home.data().join("plugins/.routes.json")).unwrap();
    home.run(["-eprod", "hello"])
        .stdout_has("Hello, world!")
        .stderr_has("plugin aaa 0.1.0 declares `hello`, which plugin hello 0.1.0 provides");
    let help = home.run(["--help"]);
    help.success();
    assert!(!help.stdout.contains("Mine now"), "{help:#?}");
    // Its own commands still work.
    home.run(["-eprod", "exit3"]).code(3);
}

#[test]
fn a_linked_plugin_cannot_take_a_command_whose_owner_fails_to_load() {
    let home = Home::new();
    let owner = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), owner.path());
    home.link(owner.path());
    let _dev = link_a_plugin_that_later_declares_hello(&home);
    // The owner's manifest is mid-edit: it does not load.
    std::fs::write(owner.path().join("lmi-plugin.toml"), "name = \"hello\n").unwrap();

    for args in [&["hello", "my-secret-arg"][..], &["-eprod", "hello"]] {
        home.run(args)
            .code(2)
            .stderr_has("`hello` belongs to plugin `hello`, which does not load");
    }
    let help = home.run(["--help"]);
    assert!(!help.stdout.contains("Mine now"), "{help:#?}");
    home.run(["-eprod", "exit3"]).code(3);
}

#[test]
fn a_command_a_linked_plugin_merely_declares_does_not_block_installs() {
    let home = Home::new();
    let _dev = link_a_plugin_that_later_declares_hello(&home);
    // aaa never owned `hello`: the plugin installed with it gets it.
    home.install(&plugin_dir("plugins/hello"));
    home.run(["hello"]).success().stdout_has("Hello, world!");
}

// ---- upgrades (R1.8) ---------------------------------------------------------------------

#[test]
fn a_component_named_like_the_manifest_cannot_overwrite_lmis_copy() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let v2 = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), v2.path());
    std::fs::create_dir(v2.path().join("sub")).unwrap();
    std::fs::rename(
        v2.path().join("hello.wasm"),
        v2.path().join("sub/lmi-plugin.toml"),
    )
    .unwrap();
    set_manifest_field(v2.path(), "component", "\"sub/lmi-plugin.toml\"");
    set_manifest_field(v2.path(), "version", "\"0.2.0\"");
    home.install(v2.path())
        .stderr_has("Upgrading hello 0.1.0 → 0.2.0");
    home.run(["--version"])
        .success()
        .stdout_has("plugin hello 0.2.0");
    home.run(["hello"]).success().stdout_has("Hello, world!");
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("hello 0.2.0");
}

#[test]
fn an_upgrade_that_does_not_load_keeps_the_previous_version() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let v2 = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), v2.path());
    set_manifest_field(v2.path(), "version", "\"0.2.0\"");
    // lmi's cache cannot hold the new version's compiled code: the install must not switch.
    let compiled = home.cache().join("compiled");
    std::fs::remove_dir_all(&compiled).unwrap();
    std::fs::write(&compiled, "not a directory").unwrap();
    let run = home.run(["plugin", "install", v2.path().to_str().unwrap(), "--yes"]);
    assert_ne!(run.code, 0, "{run:#?}");
    assert!(!run.stderr.contains("Installed hello 0.2.0"), "{run:#?}");
    std::fs::remove_file(&compiled).unwrap();
    home.run(["--version"])
        .success()
        .stdout_has("plugin hello 0.1.0");
    home.run(["hello"]).success().stdout_has("Hello, world!");
}

/// Links `aaa` (the hostile fixture renamed: it sorts before `hello`), then adds a `hello`
/// command ("Mine now") to its manifest, as its author might after linking. The directory
/// must live as long as the link is used.
fn link_a_plugin_that_later_declares_hello(home: &Home) -> tempfile::TempDir {
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/plugins/hostile"), dev.path());
    set_manifest_field(dev.path(), "name", "\"aaa\"");
    home.link(dev.path());
    let manifest = dev.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[[commands]]\nname = \"hello\"\nabout = \"Mine now\"\n");
    std::fs::write(&manifest, text).unwrap();
    dev
}

// ---- grants on upgrade (issue 12 §8) -----------------------------------------------------

/// The hostile fixture at `version`, asking for `permissions` (the body of a `[permissions]`
/// table, empty for none), in a directory a test may edit.
fn hostile_asking(version: &str, permissions: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    set_manifest_field(dir.path(), "version", &format!("\"{version}\""));
    if !permissions.is_empty() {
        let manifest = dir.path().join("lmi-plugin.toml");
        let mut text = std::fs::read_to_string(&manifest).unwrap();
        text.push_str(&format!("\n[permissions]\n{permissions}\n"));
        std::fs::write(&manifest, text).unwrap();
    }
    dir
}

#[test]
fn an_upgrade_asking_for_more_is_refused_without_a_terminal_or_yes() {
    let home = Home::new();
    let v1 = hostile_asking("0.1.0", "service_requests = true\nenvironments = [\"dev\"]");
    home.install(v1.path());
    let v2 = hostile_asking(
        "0.2.0",
        "service_requests = true\nservice_token = true\nenvironments = [\"dev\"]",
    );
    let run = home.run(["plugin", "install", v2.path().to_str().unwrap()]);
    run.code(2)
        .stderr_has("hostile 0.2.0 now also asks to")
        .stderr_has("service_token")
        .stderr_has("pass --yes");
    // Only what is new: not the permission already granted, nor the sandbox line.
    for old in [
        "send authenticated requests",
        "service_requests",
        "run in the lmi sandbox",
    ] {
        assert!(!run.stderr.contains(old), "{old:?} shown again: {run:#?}");
    }
    home.run(["--version"])
        .success()
        .stdout_has("plugin hostile 0.1.0");
    home.run(["args", "still-here"])
        .success()
        .stdout_has("still-here");
    home.run(["plugin", "info", "hostile"])
        .success()
        .stdout_has("send authenticated requests to the service (environments: dev)");
}

#[test]
fn an_upgrade_asking_for_the_same_needs_no_yes() {
    let home = Home::new();
    let perms = "service_requests = true\nenvironments = [\"dev\"]";
    home.install(hostile_asking("0.1.0", perms).path());
    let v2 = hostile_asking("0.2.0", perms);
    let run = home.run(["plugin", "install", v2.path().to_str().unwrap()]);
    run.success()
        .stderr_has("hostile 0.2.0 asks for nothing new: its grants are unchanged")
        .stderr_has("Installed hostile 0.2.0");
    assert!(!run.stderr.contains("asks to:"), "{run:#?}");
    home.run(["--version"])
        .success()
        .stdout_has("plugin hostile 0.2.0");
}

/// Lowering asks nothing, and really lowers: the dropped permission is denied at run time.
#[test]
fn an_upgrade_asking_for_less_needs_no_yes_and_lowers_the_grants() {
    let srv = crate::support::fault::FaultServer::token_endpoint();
    let home = Home::new();
    home.env_file("dev", &srv.client_credentials_env("lowered-secret-31"));
    home.install(
        hostile_asking(
            "0.1.0",
            "service_requests = true\nservice_token = true\nenvironments = [\"dev\"]",
        )
        .path(),
    );
    home.run(["-e", "dev", "token"])
        .success()
        .stdout_has("token: GOT");

    let v2 = hostile_asking("0.2.0", "service_requests = true\nenvironments = [\"dev\"]");
    let run = home.run(["plugin", "install", v2.path().to_str().unwrap()]);
    run.success()
        .stderr_has("hostile 0.2.0 asks for nothing new: its grants are lowered")
        .stderr_has("no longer asks to read the service access token itself");
    assert!(!run.stderr.contains("asks to:"), "{run:#?}");
    home.run(["-e", "dev", "token"])
        .success()
        .stdout_has("token: denied")
        .stdout_has("service_token");
    let grants = std::fs::read_to_string(home.data().join("plugins/hostile/grants.toml")).unwrap();
    assert!(grants.contains("service_token = false"), "{grants}");
    assert!(grants.contains("service_requests = true"), "{grants}");
    assert_eq!(
        srv.count("/token"),
        1,
        "one token, fetched before the upgrade"
    );
}

#[test]
fn an_upgrade_asking_for_more_with_yes_is_granted_and_recorded() {
    let home = Home::new();
    home.install(hostile_asking("0.1.0", "").path());
    let v2 = hostile_asking("0.2.0", "sso_identity = true");
    home.install(v2.path())
        .stderr_has("hostile 0.2.0 now also asks to:")
        .stderr_has("see your SSO identity (subject, email, name) in every command")
        .stderr_has("Installed hostile 0.2.0");
    let grants = std::fs::read_to_string(home.data().join("plugins/hostile/grants.toml")).unwrap();
    assert!(grants.contains("sso_identity = true"), "{grants}");
    home.run(["plugin", "info", "hostile"])
        .success()
        .stdout_has("permissions granted: see your SSO identity");
}

#[test]
fn an_upgrade_adding_a_command_or_an_sso_command_asks_again() {
    let home = Home::new();
    home.install(hostile_asking("0.1.0", "").path());
    let v2 = hostile_asking("0.2.0", "");
    let manifest = v2.path().join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace(
        "name = \"args\"\nabout = \"Print each argument on its own line\"",
        "name = \"args\"\nabout = \"Print each argument on its own line\"\nrequires_sso = true",
    );
    std::fs::write(
        &manifest,
        text + "\n[[commands]]\nname = \"extra\"\nabout = \"New in 0.2.0\"\n",
    )
    .unwrap();
    let run = home.run(["plugin", "install", v2.path().to_str().unwrap()]);
    run.code(2)
        .stderr_has("provide the command `lmi extra`")
        .stderr_has("see your SSO identity in `args`")
        .stderr_has("pass --yes");
    assert!(!run.stderr.contains("`sso-only`"), "{run:#?}");
    home.run(["args", "x"]).success().stdout_has("x");
}

/// A re-link is an upgrade: asking less needs no `--yes`, and the grant it drops is gone,
/// so the author's manifest cannot take it back without asking.
#[test]
fn a_relink_asking_for_less_lowers_what_the_link_may_ask_for() {
    let home = Home::new();
    let dev = hostile_asking("0.1.0", "service_requests = true\nenvironments = [\"dev\"]");
    home.link(dev.path());
    let manifest = dev.path().join("lmi-plugin.toml");
    let full = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, full.replace("service_requests = true", "")).unwrap();
    home.run(["plugin", "install", dev.path().to_str().unwrap(), "--link"])
        .success()
        .stderr_has("its grants are lowered")
        .stderr_has("service_requests");
    std::fs::write(&manifest, &full).unwrap();
    home.run(["args", "x"])
        .code(2)
        .stderr_has("now asks for more than you granted")
        .stderr_has("service_requests");
    home.run(["plugin", "install", dev.path().to_str().unwrap(), "--link"])
        .code(2)
        .stderr_has("now also asks to send authenticated requests")
        .stderr_has("pass --yes");
}

/// `lmi help <plugin-command> [words]` is the plugin's own help, as `--help` after the
/// words gives it; lmi's own commands keep lmi's help, and an unknown word says what is
/// installed.
#[test]
fn help_for_a_plugin_command_is_the_plugins_help() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/api"));
    let own = home.run(["api", "--help"]);
    own.success().stdout_has("Usage: lmi api");
    let via_help = home.run(["help", "api"]);
    via_help.success();
    assert_eq!(via_help.stdout, own.stdout);
    assert!(!via_help.stdout.contains("Exit codes:"), "{via_help:#?}");

    home.run(["help", "api", "get"])
        .success()
        .stdout_has("Usage: lmi api get");
    home.run(["-e", "nowhere", "help", "api"])
        .success()
        .stdout_has("Usage: lmi api");
    home.run(["help", "plugin"])
        .success()
        .stdout_has("Usage: lmi plugin");
    home.run(["help", "nope"])
        .code(2)
        .stderr_has("`nope` is not an lmi command, and no installed plugin provides it");
}
