//! Shared test harness: a throw-away home per test and the real `lmi` binary run inside it.
#![allow(dead_code)]

pub mod browser;
pub mod fake_idp;
pub mod fault;
pub mod git_http;
pub mod idp;
pub mod keychain;
#[cfg(unix)]
pub mod pty;
pub mod registry;
pub mod tls;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root (where `plugins/` and `tests/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// A plugin directory from the repository (`plugins/hello`, `tests/plugins/hostile`), with its
/// component built. Panics with the fix when `make plugins` has not run.
pub fn plugin_dir(rel: &str) -> PathBuf {
    let dir = repo_root().join(rel);
    let manifest = std::fs::read_to_string(dir.join("lmi-plugin.toml"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let component = manifest
        .lines()
        .find_map(|l| l.strip_prefix("component = "))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("manifest names its component");
    assert!(
        dir.join(&component).exists(),
        "{} is missing: run `make plugins` first (the README's test command does)",
        dir.join(&component).display()
    );
    dir
}

/// What one run of `lmi` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` with `input` piped to its stdin. lmi may refuse and exit before it reads
    /// stdin: the pipe is then closed, which is not the test's failure.
    pub fn piped(mut cmd: Command, input: &str) -> Run {
        use std::io::Write;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        Run::from(child.wait_with_output().unwrap())
    }
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        self
    }
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}, got {self:#?}");
        self
    }
    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {self:#?}"
        );
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        self
    }
    #[track_caller]
    pub fn nowhere(&self, secret: &str) -> &Self {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "secret {secret:?} leaked: {self:#?}"
        );
        self
    }
}

/// A throw-away `$HOME` with its own XDG directories; every `lmi` run in a test goes through
/// one, so tests never touch the developer's files or each other's.
pub struct Home {
    dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
    unset: Vec<String>,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lmi-test-")
            .tempdir()
            .expect("tempdir");
        for sub in ["config", "cache", "data"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        Self {
            dir,
            envs: Vec::new(),
            unset: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn config(&self) -> PathBuf {
        self.path().join("config/lmi")
    }
    pub fn cache(&self) -> PathBuf {
        self.path().join("cache/lmi")
    }
    pub fn data(&self) -> PathBuf {
        self.path().join("data/lmi")
    }
    pub fn log_file(&self) -> PathBuf {
        self.data().join("lmi.log")
    }

    /// Sets a process environment variable for every later run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.unset.retain(|k| k != key);
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Leaves a variable the runs would otherwise get (`DISPLAY`, or one set with
    /// [`Home::env`]) out of every later run.
    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.envs.retain(|(k, _)| k != key);
        self.unset.push(key.into());
        self
    }

    /// Writes `~/.config/lmi/.env`.
    pub fn global_env(&self, contents: &str) -> &Self {
        let path = self.config().join(".env");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Writes `~/.config/lmi/env/<name>.env`.
    pub fn env_file(&self, name: &str, contents: &str) -> &Self {
        let path = self.env_path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Where environment `name`'s file is, whether or not it exists.
    pub fn env_path(&self, name: &str) -> PathBuf {
        self.config().join("env").join(format!("{name}.env"))
    }

    /// The `lmi` command, isolated: a clean environment but for PATH and what the test set.
    /// `lmi args` started with stdout and stderr piped, for a test that watches it run.
    pub fn spawn_piped(&self, args: &[&str]) -> std::process::Child {
        self.cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn lmi")
    }

    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lmi"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            // A desktop session, as a user's: `OAUTH_SSO_LOGIN_METHOD=auto` picks the browser
            // (login_method.rs takes it away with `Home::unset`).
            .env("DISPLAY", ":0")
            .stdin(Stdio::null());
        for var in ["DBUS_SESSION_BUS_ADDRESS", "LLVM_PROFILE_FILE"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        for k in &self.unset {
            cmd.env_remove(k);
        }
        cmd
    }

    /// Runs `lmi` to completion.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(self.cmd(args).output().expect("spawn lmi"))
    }

    /// Runs `lmi` to completion with `dir` as its working directory (what a plugin granted
    /// `files` sees).
    pub fn run_in<I, S>(&self, dir: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(self.cmd(args).current_dir(dir).output().expect("spawn lmi"))
    }

    /// Starts every run at once and waits for all of them: the one way tests race processes
    /// against each other. The results are in the order of `jobs`.
    pub fn spawn_all<S: AsRef<OsStr>>(&self, jobs: &[Vec<S>]) -> Vec<Run> {
        let children: Vec<_> = jobs
            .iter()
            .map(|args| {
                self.cmd(args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn lmi")
            })
            .collect();
        children
            .into_iter()
            .map(|c| Run::from(c.wait_with_output().expect("wait for lmi")))
            .collect()
    }

    /// Fails if `secret` is in the log file: the other half of [`Run::nowhere`].
    #[track_caller]
    pub fn log_lacks(&self, secret: &str) -> &Self {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        assert!(
            !log.contains(secret),
            "secret {secret:?} in the log:\n{log}"
        );
        self
    }

    /// `lmi plugin install <dir> --yes`, asserting success.
    pub fn install(&self, dir: &Path) -> Run {
        let run = self.run([
            OsStr::new("plugin"),
            OsStr::new("install"),
            dir.as_os_str(),
            OsStr::new("--yes"),
        ]);
        run.success();
        run
    }

    /// `lmi plugin install <dir> --link --yes`, asserting success.
    pub fn link(&self, dir: &Path) -> Run {
        let run = self.run([
            OsStr::new("plugin"),
            OsStr::new("install"),
            dir.as_os_str(),
            OsStr::new("--link"),
            OsStr::new("--yes"),
        ]);
        run.success();
        run
    }
}

/// Copies a plugin directory (manifest + component) into `dest` so a test may edit it.
pub fn copy_plugin(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let ft = entry.file_type().unwrap();
        if ft.is_file()
            && (name == "lmi-plugin.toml"
                || Path::new(&name).extension() == Some(OsStr::new("wasm")))
        {
            std::fs::copy(entry.path(), dest.join(&name)).unwrap();
        }
    }
}

/// The SSO session lmi keeps in the test Secret Service for `client` at `issuer`, read with
/// `secret-tool` (the one way tests look into the keychain).
pub fn keychain_record(client: &str, issuer: &str) -> Option<String> {
    keychain_item(&format!("{client}@{issuer}"))
}

/// One item of service `lmi` in the test Secret Service, read with `secret-tool`.
pub fn keychain_item(account: &str) -> Option<String> {
    let out = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "lmi", "username", account])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("secret-tool (Debian libsecret-tools) is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Every item of the SSO session lmi keeps for `client` at `issuer`: the record, and the
/// parts of a record split to fit the smallest keychain (`<account>#2`, …).
pub fn keychain_records(client: &str, issuer: &str) -> Vec<String> {
    let account = format!("{client}@{issuer}");
    std::iter::once(account.clone())
        .chain((2..=8).map(|part| format!("{account}#{part}")))
        .map_while(|account| keychain_item(&account))
        .collect()
}

/// Removes the SSO session lmi keeps in the test Secret Service for `client` at `issuer`.
///
/// The keychain is shared by every test of a run and sessions are keyed `client@issuer`; a
/// provider that starts on a port an earlier test's provider had calls this so the new test
/// does not find that test's session.
pub fn forget_keychain_session(client: &str, issuer: &str) {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return;
    }
    // The record and any parts of a split one (`#2`…`#8`: looked for only when `#2` exists,
    // since every Secret Service call is a connection of its own and the test keyring is
    // shared by every test of the run).
    let account = format!("{client}@{issuer}");
    let split = keychain_item(&format!("{account}#2")).is_some();
    let parts = (2..=8).filter(|_| split).map(|k| format!("{account}#{k}"));
    for account in std::iter::once(account.clone()).chain(parts) {
        let _ = std::process::Command::new("secret-tool")
            .args(["clear", "service", "lmi", "username", &account])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A hand-made core module turned into a component of `world` (for components no SDK would
/// build: odd memories, mixed contracts).
pub fn component_of(
    mut core: Vec<u8>,
    resolve: &wit_parser::Resolve,
    world: wit_parser::WorldId,
) -> Vec<u8> {
    wit_component::embed_component_metadata(
        &mut core,
        resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&core)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// A core module in the shape of an old-contract shim reaching for something newer: it
/// exports contract 0.1's `run` (with `memory` and `cabi_realloc`) and imports one function,
/// `name` of `module`, taking `params` i32s. Made into a component with [`component_of`].
pub fn v01_module_importing(module_name: &str, name: &str, params: usize) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, MemorySection, MemoryType, Module, TypeSection, ValType,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function(vec![ValType::I32; params], []); // the import
    types.ty().function([ValType::I32; 4], [ValType::I32]); // realloc, run
    module.section(&types);
    let mut imports = ImportSection::new();
    imports.import(module_name, name, EntityType::Function(0));
    module.section(&imports);
    let mut funcs = FunctionSection::new();
    funcs.function(1).function(1);
    module.section(&funcs);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export("cabi_realloc", ExportKind::Func, 1)
        .export("lmi:plugin/command@0.1.0#run", ExportKind::Func, 2);
    module.section(&exports);
    let mut code = CodeSection::new();
    for _ in 0..2 {
        let mut f = Function::new([]);
        f.instructions().i32_const(8).end();
        code.function(&f);
    }
    module.section(&code);
    module.finish()
}
