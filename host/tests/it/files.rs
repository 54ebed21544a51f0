//! Files and a private data directory (contract 0.2): `files = "read" | "read-write"` gives
//! a plugin the directory lmi runs in, `data = true` a directory of its own at `/data`, and
//! nothing else, whatever path, `..` or link the plugin tries. The hostile fixture's
//! `read-file`, `write-file`, `list` and `fs <OP>` commands print what happened, with the
//! SDK's explanation of a refusal (`lmi_plugin_sdk::files`).

use std::path::{Path, PathBuf};

use crate::support::{Home, copy_plugin, plugin_dir};

/// The hostile fixture asking for `permissions`, installed into a fresh home; a working
/// directory holding `a.txt`; and a directory outside it holding `secret.txt`.
struct Fixture {
    home: Home,
    plugin: tempfile::TempDir,
    work: tempfile::TempDir,
    outside: tempfile::TempDir,
}

const SECRET: &str = "outside-secret-5d1e";

impl Fixture {
    fn new(permissions: &str) -> Self {
        let plugin = tempfile::tempdir().unwrap();
        copy_plugin(&plugin_dir("tests/plugins/hostile"), plugin.path());
        let f = Self {
            home: Home::new(),
            plugin,
            work: tempfile::tempdir().unwrap(),
            outside: tempfile::tempdir().unwrap(),
        };
        f.ask(permissions, "0.1.0");
        f.home.install(f.plugin.path());
        std::fs::write(f.work.path().join("a.txt"), "hello").unwrap();
        std::fs::write(f.outside.path().join("secret.txt"), SECRET).unwrap();
        f
    }

    /// Rewrites the fixture's manifest to version `version` asking for `permissions`.
    fn ask(&self, permissions: &str, version: &str) {
        let path = self.plugin.path().join("lmi-plugin.toml");
        let text =
            std::fs::read_to_string(plugin_dir("tests/plugins/hostile").join("lmi-plugin.toml"))
                .unwrap()
                .replacen(
                    "version = \"0.1.0\"",
                    &format!("version = \"{version}\""),
                    1,
                );
        std::fs::write(path, format!("{text}\n[permissions]\n{permissions}\n")).unwrap();
    }

    fn run(&self, args: &[&str]) -> crate::support::Run {
        self.home.run_in(self.work.path(), args)
    }

    fn data_dir(&self) -> PathBuf {
        self.home.data().join("plugin-data/hostile")
    }
}

/// Names and contents of everything in `dir`, links as their targets, to show nothing
/// changed.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if meta.is_dir() {
                "dir".to_owned()
            } else {
                format!(
                    "{:?} {:?}",
                    std::fs::read_to_string(e.path()).unwrap(),
                    meta.modified().unwrap()
                )
            };
            (e.file_name().to_string_lossy().into_owned(), what)
        })
        .collect();
    all.sort();
    all
}

#[test]
fn read_write_files_are_the_working_directory() {
    let f = Fixture::new("files = \"read-write\"");
    f.run(&["read-file", "a.txt"])
        .success()
        .stdout_has("READ 5 bytes: hello");
    f.run(&["write-file", "b.txt", "written"])
        .success()
        .stdout_has("write-file: WROTE 7 bytes");
    assert_eq!(
        std::fs::read_to_string(f.work.path().join("b.txt")).unwrap(),
        "written"
    );
    f.run(&["fs", "mkdir", "sub"])
        .success()
        .stdout_has("fs mkdir: DONE");
    f.run(&["fs", "rename", "b.txt", "sub/c.txt"])
        .success()
        .stdout_has("DONE");
    f.run(&["list", "."])
        .success()
        .stdout_has("list: LISTED a.txt sub");
    f.run(&["list", "sub"])
        .success()
        .stdout_has("list: LISTED c.txt");
    f.run(&["files-access"])
        .success()
        .stdout_has("files-access: ReadWrite");
    // lmi's own directories are nowhere in sight, and no data directory was made.
    assert!(!f.data_dir().exists());
}

/// Without `files` no directory is preopened: the plugin's refusal names the permission.
#[test]
fn without_files_no_file_is_reachable_and_the_refusal_names_the_permission() {
    let f = Fixture::new("");
    let denied = "no access: the plugin was not granted `files` (the directory lmi runs in)";
    f.run(&["read-file", "a.txt"]).success().stdout_has(denied);
    f.run(&["write-file", "b.txt", "x"])
        .success()
        .stdout_has(denied);
    f.run(&["list", "."]).success().stdout_has(denied);
    f.run(&["write-file", "/data/x", "y"])
        .success()
        .stdout_has("no access: the plugin was not granted `data`");
    f.run(&["files-access"])
        .success()
        .stdout_has("files-access: None");
    assert_eq!(snapshot(f.work.path()).len(), 1, "nothing was created");
    assert!(!f.data_dir().exists());
}

/// A read-only grant refuses every change, each naming the grant; the directory is as it was
/// (contents and modification times).
#[test]
fn read_only_files_refuse_every_change() {
    let f = Fixture::new("files = \"read\"");
    std::fs::create_dir(f.work.path().join("d")).unwrap();
    let before = snapshot(f.work.path());
    f.run(&["read-file", "a.txt"])
        .success()
        .stdout_has("READ 5 bytes");
    f.run(&["list", "."])
        .success()
        .stdout_has("list: LISTED a.txt d");
    let read_only = "no access: the plugin was granted `files = \"read\"`: it may read files but not change them";
    f.run(&["write-file", "a.txt", "x"])
        .success()
        .stdout_has(read_only);
    f.run(&["write-file", "new.txt", "x"])
        .success()
        .stdout_has(read_only);
    for op in [
        &["create", "c.txt"][..],
        &["append", "a.txt", "more"],
        &["truncate", "a.txt"],
        &["rename", "a.txt", "b.txt"],
        &["unlink", "a.txt"],
        &["mkdir", "e"],
        &["rmdir", "d"],
        &["symlink", "l", "a.txt"],
        &["hardlink", "h", "a.txt"],
        &["touch", "a.txt"],
    ] {
        let mut args = vec!["fs"];
        args.extend_from_slice(op);
        f.run(&args)
            .success()
            .stdout_has(&format!("fs {}: denied: ", op[0]))
            .stdout_has(read_only);
    }
    assert_eq!(snapshot(f.work.path()), before);
    f.run(&["files-access"])
        .success()
        .stdout_has("files-access: Read");
}

/// Nothing outside the working directory and the data directory: `..`, absolute host paths
/// (which name files inside the working directory), links out of it (relative or absolute),
/// `/data/..`, links the plugin makes in its data directory, hard links to outside files.
#[test]
fn no_path_leads_out_of_the_granted_directories() {
    let f = Fixture::new("files = \"read-write\"\ndata = true");
    let outside = f.outside.path();
    let secret = outside.join("secret.txt");
    let rel_out = format!(
        "../{}/secret.txt",
        outside.file_name().unwrap().to_str().unwrap()
    );
    std::os::unix::fs::symlink(&secret, f.work.path().join("abs-link")).unwrap();
    std::os::unix::fs::symlink(&rel_out, f.work.path().join("rel-link")).unwrap();
    std::os::unix::fs::symlink(outside, f.work.path().join("dir-link")).unwrap();
    let leads_outside = "no access: it leads outside the directories the plugin may use";
    for path in [
        &rel_out,
        "rel-link",
        "abs-link",
        "dir-link/secret.txt",
        "..",
    ] {
        let command = if path == ".." { "list" } else { "read-file" };
        let run = f.run(&[command, path]);
        run.success().stdout_has(leads_outside);
        assert!(!run.stdout.contains(SECRET), "{run:#?}");
    }
    // An absolute path names a file inside the working directory, never the host's.
    let run = f.run(&["read-file", secret.to_str().unwrap()]);
    run.success().stdout_has("no such file: a plugin sees only");
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
    f.run(&["read-file", "/a.txt"])
        .success()
        .stdout_has("READ 5 bytes: hello");
    f.run(&["list", "/etc"])
        .success()
        .stdout_has("no such file");
    // `/data/..` is not the host's parent of the data directory.
    for path in ["/data/..", "/data/../../../.."] {
        f.run(&["list", path]).success().stdout_has(leads_outside);
    }
    let grants = "/data/../../plugins/hostile/grants.toml";
    f.run(&["read-file", grants])
        .success()
        .stdout_has(leads_outside);
    // A link the plugin plants in its data directory does not lead out either.
    let up = "../".repeat(12);
    f.run(&[
        "fs",
        "symlink",
        "/data/out",
        &format!("{up}{}", outside.display()),
    ])
    .success()
    .stdout_has("fs symlink: DONE");
    let run = f.run(&["read-file", "/data/out/secret.txt"]);
    run.success().stdout_has(leads_outside);
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
    // Absolute link targets are refused when the link is made; hard links to the outside
    // cannot be made at all.
    f.run(&["fs", "symlink", "/data/abs", secret.to_str().unwrap()])
        .success()
        .stdout_has(leads_outside);
    f.run(&["fs", "hardlink", "/data/h", &rel_out])
        .success()
        .stdout_has(leads_outside);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), SECRET);
}

/// The data directory: 0700, kept across runs and upgrades, deleted by `plugin remove`
/// (`--keep-data` keeps it, and a reinstall finds it).
#[test]
fn the_data_directory_persists_until_the_plugin_is_removed() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new("data = true");
    f.run(&["read-file", "/data/state"])
        .success()
        .stdout_has("denied");
    f.run(&["write-file", "/data/state", "run-1"])
        .success()
        .stdout_has("WROTE");
    let mode = std::fs::metadata(f.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    f.run(&["read-file", "/data/state"])
        .success()
        .stdout_has("READ 5 bytes: run-1");
    // `data` without `files`: the working directory stays out of reach.
    f.run(&["read-file", "a.txt"])
        .success()
        .stdout_has("not granted `files`");

    f.ask("data = true", "0.1.1");
    f.home.install(f.plugin.path());
    f.run(&["read-file", "/data/state"])
        .success()
        .stdout_has("READ 5 bytes: run-1");

    f.home
        .run(["plugin", "remove", "hostile", "--keep-data"])
        .success()
        .stderr_has("Kept its data in");
    assert!(f.data_dir().join("state").exists());
    f.home.install(f.plugin.path());
    f.run(&["read-file", "/data/state"])
        .success()
        .stdout_has("READ 5 bytes: run-1");

    f.home
        .run(["plugin", "remove", "hostile"])
        .success()
        .stderr_has(&format!("Deleted its data in {}", f.data_dir().display()));
    assert!(!f.data_dir().exists());
}

/// `plugin remove` deletes the data directory without following the links in it: one the
/// plugin made (relative, the only kind it can make) and an absolute one planted beside it.
#[test]
fn removing_a_plugin_never_follows_links_in_its_data_directory() {
    let f = Fixture::new("data = true");
    let victim = f.outside.path();
    let up = "../".repeat(12);
    f.run(&[
        "fs",
        "symlink",
        "/data/victim",
        &format!("{up}{}", victim.display()),
    ])
    .success()
    .stdout_has("DONE");
    f.run(&["fs", "mkdir", "/data/sub"]).success();
    let data = f.data_dir();
    assert!(
        data.join("victim")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink()
    );
    std::os::unix::fs::symlink(victim, data.join("sub/abs")).unwrap();
    f.home.run(["plugin", "remove", "hostile"]).success();
    assert!(!data.exists());
    assert_eq!(
        std::fs::read_to_string(victim.join("secret.txt")).unwrap(),
        SECRET
    );
}

/// Something in place of the data directory (a link, a file) is refused naming it, and
/// `plugin remove` leaves it there: lmi neither uses nor deletes what it did not make.
#[test]
fn a_link_or_file_in_place_of_the_data_directory_is_refused_and_kept() {
    let f = Fixture::new("data = true");
    std::fs::create_dir_all(f.data_dir().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(f.outside.path(), f.data_dir()).unwrap();
    let run = f.run(&["write-file", "/data/secret.txt", "overwritten"]);
    run.code(2)
        .stderr_has(&f.data_dir().display().to_string())
        .stderr_has("is a symbolic link, not the data directory lmi makes");
    assert!(!run.stdout.contains("WROTE"), "{run:#?}");
    f.home
        .run(["plugin", "remove", "hostile"])
        .success()
        .stderr_has("is a symbolic link");
    assert!(f.data_dir().symlink_metadata().is_ok(), "the link is left");
    assert_eq!(
        std::fs::read_to_string(f.outside.path().join("secret.txt")).unwrap(),
        SECRET
    );

    let g = Fixture::new("data = true");
    std::fs::create_dir_all(g.data_dir().parent().unwrap()).unwrap();
    std::fs::write(g.data_dir(), "someone's file").unwrap();
    g.run(&["list", "/data"])
        .code(2)
        .stderr_has("not a directory");
    assert_eq!(
        std::fs::read_to_string(g.data_dir()).unwrap(),
        "someone's file"
    );
}

/// lmi's own directories (credentials, tokens, grants) are never a plugin's working
/// directory: run from a directory that holds them (here the home; `~` for most users) or
/// lies inside them, the plugin runs without files, and lmi says why.
#[test]
fn a_working_directory_holding_lmis_files_is_withheld() {
    let f = Fixture::new("files = \"read\"");
    f.home
        .env_file("dev", "OAUTH_CLIENT_SECRET=env-secret-91aa\n");
    let env_file = "config/lmi/env/dev.env";
    let run = f.home.run_in(f.home.path(), ["read-file", env_file]);
    run.success()
        .stderr_has("runs without the files of")
        .stderr_has("lmi's own files")
        .stdout_has("not granted `files`");
    assert!(!run.stdout.contains("env-secret-91aa"), "{run:#?}");
    let run = f
        .home
        .run_in(&f.home.config(), ["read-file", "env/dev.env"]);
    run.success().stderr_has("runs without the files of");
    assert!(!run.stdout.contains("env-secret-91aa"), "{run:#?}");
    // The same plugin in a project directory gets its files.
    f.run(&["read-file", "a.txt"])
        .success()
        .stdout_has("READ 5 bytes");
}

/// `files` is ordered: raising it asks again (refused without a terminal or --yes), lowering
/// never asks; `data` is a switch. A linked manifest raising it is refused at run time.
#[test]
fn raising_files_or_adding_data_asks_again_and_lowering_does_not() {
    let f = Fixture::new("files = \"read\"");
    f.ask("files = \"read-write\"", "0.1.1");
    let path = f.plugin.path().to_str().unwrap();
    f.home
        .run(["plugin", "install", path])
        .code(2)
        .stderr_has("now also asks to read and write files in the directory you run it from (`files = \"read-write\"`)");
    f.run(&["write-file", "b.txt", "x"])
        .success()
        .stdout_has("granted `files = \"read\"`");
    f.ask("files = \"read\"\ndata = true", "0.1.1");
    f.home
        .run(["plugin", "install", path])
        .code(2)
        .stderr_has("keep its own data between runs (`data`)");
    f.ask("files = \"read-write\"\ndata = true", "0.1.1");
    f.home.run(["plugin", "install", path, "--yes"]).success();
    f.run(&["write-file", "b.txt", "x"])
        .success()
        .stdout_has("WROTE");
    f.ask("files = \"read\"", "0.1.2");
    f.home
        .run(["plugin", "install", path])
        .success()
        .stderr_has("its grants are lowered");
    f.run(&["write-file", "c.txt", "x"])
        .success()
        .stdout_has("granted `files = \"read\"`");
    f.home
        .run(["plugin", "info", "hostile"])
        .success()
        .stdout_has("read files in the directory you run it from");

    // Linked: the author raises the grant after the user agreed to `read`.
    let g = Fixture::new("");
    g.home.run(["plugin", "remove", "hostile"]).success();
    g.ask("files = \"read\"", "0.1.0");
    g.home.link(g.plugin.path());
    g.ask("files = \"read-write\"", "0.1.0");
    let run = g.run(&["write-file", "b.txt", "x"]);
    run.code(2).stderr_has("files = \"read-write\"");
    assert!(!g.work.path().join("b.txt").exists());
}

/// A plugin built against contract 0.1 has no files: asking for them is refused at install,
/// naming the contract.
#[test]
fn a_contract_0_1_plugin_asking_for_files_is_refused_at_install() {
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/fixtures/contract-0.1"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[permissions]\nfiles = \"read\"\ndata = true\n"),
    )
    .unwrap();
    let home = Home::new();
    home.run(["plugin", "install", dir.path().to_str().unwrap(), "--yes"])
        .code(2)
        .stderr_has("asks for `files` and `data`")
        .stderr_has("implements lmi:plugin@0.1.0, which has no files or data directory");
    home.run(["plugin", "list"]).success();
    assert!(!home.data().join("plugins/hostile-v01").exists());
}

/// `api --data @FILE` sends a file of the working directory and `-o FILE` writes the answer
/// there (the api example's `files = "read-write"`), against a loopback service.
#[test]
fn the_api_plugin_sends_and_saves_files_in_the_working_directory() {
    use crate::support::fault::{FaultServer, Reply};
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => Reply::json(
            200,
            serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
        "/api/v1/items" if req.method == "POST" => {
            Reply::raw(201, "application/json", req.body.clone())
        }
        "/api/v1/items" => Reply::json(200, serde_json::json!([{"id": 1}])),
        _ => Reply::status(404),
    });
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("files-secret-3c"));
    home.install(&plugin_dir("plugins/api"))
        .stderr_has("read and write files in the directory you run it from");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("item.json"), r#"{"name":"widget"}"#).unwrap();
    home.run_in(
        work.path(),
        [
            "api",
            "post",
            "--data",
            "@item.json",
            "-o",
            "made.json",
            "v1/items",
        ],
    )
    .success();
    let post = srv
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path() == "/api/v1/items")
        .unwrap();
    assert_eq!(post.body, br#"{"name":"widget"}"#);
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(
        std::fs::read_to_string(work.path().join("made.json")).unwrap(),
        r#"{"name":"widget"}"#
    );
    home.run_in(work.path(), ["api", "get", "-o", "items.json", "v1/items"])
        .success();
    assert_eq!(
        std::fs::read_to_string(work.path().join("items.json")).unwrap(),
        r#"[{"id":1}]"#
    );
    // A file outside the working directory is refused before anything is sent.
    let sent = srv.requests().len();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.json"), "{}").unwrap();
    let at = format!(
        "@../{}/secret.json",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    home.run_in(work.path(), ["api", "post", "-d", &at, "v1/items"])
        .code(1)
        .stderr_has("no access: it leads outside the directories the plugin may use");
    assert_eq!(srv.requests().len(), sent);
}

/// The gate is the contract too: a linked plugin granted `files` whose component is then
/// replaced by a 0.1 build runs with 0.1's sandbox, without any directory.
#[test]
fn a_contract_0_1_component_gets_no_files_even_when_granted() {
    let f = Fixture::new("");
    f.home.run(["plugin", "remove", "hostile"]).success();
    f.ask("files = \"read\"", "0.1.0");
    f.home.link(f.plugin.path());
    f.run(&["read-file", "a.txt"])
        .success()
        .stdout_has("READ 5 bytes");
    std::fs::copy(
        plugin_dir("tests/fixtures/contract-0.1").join("hostile-0.1.wasm"),
        f.plugin.path().join("hostile.wasm"),
    )
    .unwrap();
    let run = f.run(&["read-file", "a.txt"]);
    run.success().stdout_has("read-file: denied");
    assert!(!run.stdout.contains("hello"), "{run:#?}");
}
