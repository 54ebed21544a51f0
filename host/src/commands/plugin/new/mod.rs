//! `lmi plugin new <NAME>`: a plugin crate that builds and installs unchanged.
//!
//! The generated files are the templates beside this module (`template/*.in`), filled in with
//! the plugin's name. What the scaffold must guarantee, and `tests/it/scaffold.rs` proves end
//! to end: `cargo build --release --target wasm32-wasip2` in the new directory produces the
//! component its manifest names, `cargo test` runs its unit tests natively against the SDK's
//! `MockContext`, and `lmi plugin install .` accepts it.
//!
//! The crate depends on the SDK by version, `lmi-plugin-sdk = "0.2"` ([`SDK_REQUIREMENT`]:
//! the SDK track of the contract this lmi builds plugins for), as the lmi project publishes it
//! on crates.io, so a plugin builds without lmi's source tree. To build against an SDK
//! directory instead (an lmi checkout, a fork), the user names it: `--sdk-path`, else
//! `LMI_SDK_PATH`; it becomes a `[patch.crates-io]` path entry, relative to the project so the
//! project can be shared with the checkout beside it. Without one, `Cargo.toml` carries that
//! override (path or git) commented out. A directory is never guessed: a path baked in at
//! build time (`/tmp/…`, a CI runner's home) could be created on the user's machine by
//! someone else, who would then supply the SDK and its build script. A named directory must
//! hold the SDK at a version the requirement accepts: cargo ignores any other patch (with
//! only a warning) and quietly builds against the published SDK.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::exit::UsageError;
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::{MANIFEST_FILE, ManifestError, host_version};

/// The settings key (process environment or global `.env`) naming the SDK directory.
pub use crate::settings::keys::SDK_PATH as SDK_PATH_KEY;

/// The SDK version a new plugin depends on: the SDK's `major.minor` is its contract's
/// (`lmi-plugin-sdk` 0.2.x builds `lmi:plugin@0.2`). A unit test holds it to
/// `plugin-sdk/Cargo.toml`.
pub const SDK_REQUIREMENT: &str = "0.2";

/// Where lmi's source lives: what the commented git override in a new `Cargo.toml` names.
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// What the generated command says it does (manifest `about`, Cargo `description`).
const ABOUT: &str = "Greet someone and name the active environment";

const CARGO_TOML: &str = include_str!("template/Cargo.toml.in");
const MANIFEST: &str = include_str!("template/lmi-plugin.toml.in");
const LIB_RS: &str = include_str!("template/lib.rs.in");
const TOOLCHAIN: &str = include_str!("template/rust-toolchain.toml.in");
const README: &str = include_str!("template/README.md.in");
const GITIGNORE: &str = include_str!("template/gitignore.in");

/// Names a Rust package cannot take (cargo refuses them, or they would shadow a crate the
/// scaffold itself uses).
const RESERVED: &[&str] = &[
    // cargo: conflicts with Rust's built-in libraries or directories
    "std",
    "core",
    "alloc",
    "test",
    "proc-macro",
    "build",
    "deps",
    "examples",
    "incremental",
    // dependencies of the scaffold
    "clap",
    "lmi-plugin-sdk",
    // Rust keywords (strict and reserved) that are valid lmi names
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
];

/// An SDK directory the generated crate builds against instead of the published SDK:
/// absolute and checked to be the SDK at a version [`SDK_REQUIREMENT`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdk(PathBuf);

impl Sdk {
    /// The SDK directory the user named: the `--sdk-path` flag, else `LMI_SDK_PATH`; `None`
    /// (the published SDK) without either. A path that is not the SDK is an error.
    pub fn locate(flag: Option<&Path>, setting: Option<&str>) -> Result<Option<Self>, UsageError> {
        if let Some(dir) = flag {
            return sdk_dir(dir, "--sdk-path").map(|d| Some(Sdk(d)));
        }
        if let Some(dir) = setting.filter(|d| !d.is_empty()) {
            return sdk_dir(Path::new(dir), SDK_PATH_KEY).map(|d| Some(Sdk(d)));
        }
        Ok(None)
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// The path `Cargo.toml` names: relative to `project` (both absolute, canonical).
    pub fn relative_to(&self, project: &Path) -> PathBuf {
        relative_path(project, &self.0)
    }
}

/// `to` as seen from the directory `from`; `to` itself when they share no root (another
/// drive on Windows).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return to.to_path_buf();
    }
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for part in &to_parts[common..] {
        rel.push(part);
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    rel
}

/// The `lmi-plugin-sdk = ...` line of the generated Cargo.toml, with a comment.
fn dependency() -> String {
    format!(
        "# The lmi plugin SDK: {SDK_REQUIREMENT}.x builds components of the lmi:plugin@{SDK_REQUIREMENT} contract.\n\
         lmi-plugin-sdk = {}",
        toml_string(SDK_REQUIREMENT),
    )
}

/// The `[patch.crates-io]` section of the generated Cargo.toml: the SDK directory the user
/// named (as `Cargo.toml` should name it), else the override commented out.
fn sdk_patch(sdk_path: Option<&Path>) -> String {
    let Some(sdk_path) = sdk_path else {
        return format!(
            "# To build against an SDK from elsewhere (an lmi checkout, a fork, a branch), keep the\n\
             # dependency above and uncomment `[patch.crates-io]` and one of the lines below it.\n\
             # Cargo uses a patch only if its version is {SDK_REQUIREMENT}.x.\n\
             # [patch.crates-io]\n\
             # lmi-plugin-sdk = {{ path = \"../lmi/plugin-sdk\" }}\n\
             # lmi-plugin-sdk = {{ git = {}, branch = \"main\" }}\n",
            toml_string(REPOSITORY),
        );
    };
    // Cargo reads `/` on every platform; a relative path keeps the project shareable.
    let path = sdk_path.to_string_lossy().replace('\\', "/");
    format!(
        "# Build against the SDK in the directory `lmi plugin new` was given (--sdk-path or\n\
         # LMI_SDK_PATH, relative to this project) instead of the published one; delete these\n\
         # two lines to use crates.io's. Cargo uses a patch only if its version is {SDK_REQUIREMENT}.x.\n\
         [patch.crates-io]\n\
         lmi-plugin-sdk = {{ path = {} }}\n",
        toml_string(&path),
    )
}

/// The `lmi` requirement the generated manifest states: this host's major.minor and later
/// compatible versions.
fn lmi_requirement() -> String {
    let v = host_version();
    format!("^{}.{}", v.major, v.minor)
}

/// Checks that `dir` holds the lmi plugin SDK at a version [`SDK_REQUIREMENT`] accepts and
/// returns it absolute.
fn sdk_dir(dir: &Path, from: &str) -> Result<PathBuf, UsageError> {
    let bad = |why: String| {
        UsageError(format!(
            "{from}: {} is not the lmi plugin SDK {SDK_REQUIREMENT}.x: {why} (point it at the `plugin-sdk` directory of an lmi checkout with SDK {SDK_REQUIREMENT}.x)",
            dir.display()
        ))
    };
    let dir = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| bad(format!("cannot read Cargo.toml: {e}")))?;
    let package = cargo_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("package")?.as_table().cloned())
        .unwrap_or_default();
    if package.get("name").and_then(toml::Value::as_str) != Some("lmi-plugin-sdk") {
        return Err(bad(
            "its Cargo.toml is not the `lmi-plugin-sdk` package".into()
        ));
    }
    // Cargo would ignore a patch of another version and build against the published SDK.
    let version = package.get("version").and_then(toml::Value::as_str);
    let accepted = semver::VersionReq::parse(SDK_REQUIREMENT).is_ok_and(|req| {
        version
            .and_then(|v| semver::Version::parse(v).ok())
            .is_some_and(|v| req.matches(&v))
    });
    if !accepted {
        return Err(bad(version.map_or_else(
            || "its Cargo.toml states no version of its own (SDKs before 0.2 took lmi's)".into(),
            |v| format!("it is version `{}`", crate::text::line(v, 40)),
        )));
    }
    if !dir.join("wit/lmi-plugin.wit").is_file() {
        return Err(bad("it has no wit/lmi-plugin.wit".into()));
    }
    Ok(dir)
}

/// A TOML basic string, quoted and escaped.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `demo-tool` → `DemoToolPlugin` (a suffix keeps it clear of the SDK's and clap's names).
fn type_name(name: &str) -> String {
    let mut out = String::new();
    for part in name.split('-').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out.push_str("Plugin");
    out
}

/// One generated file: its path in the project and its contents.
#[derive(Debug)]
pub struct File {
    pub path: &'static str,
    pub contents: String,
}

/// Renders every file of a new plugin called `name` that depends on the published SDK, or
/// builds against the SDK directory `sdk_path` (as `Cargo.toml` should name it), after
/// checking the name.
pub fn render(name: &str, sdk_path: Option<&Path>) -> Result<Vec<File>, UsageError> {
    check_name(name)?;
    let crate_name = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{type_name}}", &type_name(name))
            .replace("{{about}}", ABOUT)
            .replace("{{about_lower}}", &ABOUT.to_lowercase())
            .replace("{{lmi_requirement}}", &lmi_requirement())
            .replace("{{sdk_dependency}}", &dependency())
            .replace("{{sdk_patch}}", &sdk_patch(sdk_path))
            .replace("{{sdk_requirement}}", SDK_REQUIREMENT)
            .replace("{{repository}}", REPOSITORY)
    };
    Ok(vec![
        File {
            path: "Cargo.toml",
            contents: fill(CARGO_TOML),
        },
        File {
            path: MANIFEST_FILE,
            contents: fill(MANIFEST),
        },
        File {
            path: "src/lib.rs",
            contents: fill(LIB_RS),
        },
        File {
            path: "rust-toolchain.toml",
            contents: fill(TOOLCHAIN),
        },
        File {
            path: "README.md",
            contents: fill(README),
        },
        File {
            path: ".gitignore",
            contents: fill(GITIGNORE),
        },
    ])
}

/// A plugin name must make a valid manifest and a valid Rust package.
fn check_name(name: &str) -> Result<(), UsageError> {
    // The manifest's own rules decide what a plugin may be called; say it in those words.
    let probe = format!(
        "name = {n}\nversion = \"0.1.0\"\nlmi = \"*\"\ncomponent = \"p.wasm\"\n\
         [[commands]]\nname = {n}\nabout = \"p\"\n",
        n = toml_string(name)
    );
    if let Err(e) = super::inspect::parse_manifest(&probe, Path::new(MANIFEST_FILE)) {
        let why = match e {
            ManifestError::Invalid { problems, .. } => problems.join("; "),
            ManifestError::Parse { message, .. } => message,
            ManifestError::Unreadable { reason, .. } => reason,
        };
        return Err(UsageError(format!(
            "cannot create a plugin named `{name}`: {why}"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(UsageError(format!(
            "cannot create a plugin named `{name}`: it is reserved in Rust or cargo, or names a crate the plugin depends on; choose another name"
        )));
    }
    Ok(())
}

/// `lmi plugin new NAME [--path DIR] [--sdk-path DIR]`.
pub fn run(
    ctx: &Ctx,
    name: &str,
    path: Option<&Path>,
    sdk_path: Option<&Path>,
) -> Result<ExitCode, CliError> {
    check_name(name)?;
    let sdk = Sdk::locate(sdk_path, ctx.settings.global(SDK_PATH_KEY))?;
    let dir = match path {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(name),
    };
    let dir = std::path::absolute(&dir)
        .map_err(|e| UsageError(format!("cannot use {}: {e}", dir.display())))?;
    prepare_dir(&dir)?;
    let dir = std::fs::canonicalize(&dir)
        .map_err(|e| UsageError(format!("cannot use {}: {e}", dir.display())))?;
    let sdk_path = sdk.as_ref().map(|sdk| sdk.relative_to(&dir));
    let files = render(name, sdk_path.as_deref())?;
    for file in &files {
        let target = dir.join(file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                CliError::failure(anyhow::anyhow!("cannot create {}: {e}", parent.display()))
            })?;
        }
        std::fs::write(&target, &file.contents).map_err(|e| {
            CliError::failure(anyhow::anyhow!("cannot write {}: {e}", target.display()))
        })?;
    }
    tracing::info!(plugin = name, dir = %dir.display(), sdk = ?sdk, "scaffolded");

    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": name,
            "path": dir,
            "files": files.iter().map(|f| f.path).collect::<Vec<_>>(),
            "sdk": {
                "requirement": SDK_REQUIREMENT,
                "path": sdk.as_ref().map(Sdk::dir),
            },
        }));
    } else {
        output::note(format_args!("Created plugin {name} in {}", dir.display()));
        if let Some(sdk) = &sdk {
            output::note(format_args!(
                "It builds against the SDK in {} (`[patch.crates-io]` in Cargo.toml) instead of crates.io's lmi-plugin-sdk {SDK_REQUIREMENT}",
                sdk.dir().display()
            ));
        }
        output::note("Build, install and run it:");
        output::note(format_args!("  cd {}", dir.display()));
        output::note("  cargo build --release --target wasm32-wasip2");
        output::note("  lmi plugin install .");
        output::note(format_args!("  lmi {name} --help"));
    }
    Ok(ExitCode::SUCCESS)
}

/// The project directory must be new or empty: the scaffold never overwrites anything.
fn prepare_dir(dir: &Path) -> Result<(), UsageError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(UsageError(format!(
                    "{} already exists and is not empty; choose another --path",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)
            .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(UsageError(format!(
            "{} exists and is not a directory; choose another --path",
            dir.display()
        ))),
        Err(e) => Err(UsageError(format!("cannot use {}: {e}", dir.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str, sdk: Option<&str>) -> Vec<File> {
        render(name, sdk.map(Path::new)).unwrap_or_else(|e| panic!("render {name}: {e}"))
    }

    fn file<'a>(files: &'a [File], path: &str) -> &'a str {
        &files.iter().find(|f| f.path == path).expect(path).contents
    }

    #[test]
    fn every_placeholder_is_filled() {
        let published = files("demo-tool", None);
        let patched = files("demo-tool", Some("../sdk"));
        for f in published.iter().chain(&patched) {
            assert!(
                !f.contents.contains("{{"),
                "{} has a placeholder left:\n{}",
                f.path,
                f.contents
            );
        }
    }

    #[test]
    fn the_manifest_is_valid_and_names_where_cargo_puts_the_component() {
        let files = files("demo-tool", None);
        let m = crate::plugins::manifest::Manifest::parse(
            file(&files, MANIFEST_FILE),
            Path::new(MANIFEST_FILE),
        )
        .expect("valid");
        assert_eq!(m.name, "demo-tool");
        assert_eq!(
            m.component,
            Path::new("target/wasm32-wasip2/release/demo_tool.wasm")
        );
        assert_eq!(m.commands[0].name, "demo-tool");
        assert!(m.host_compatible().is_ok());
        assert!(m.permissions.is_empty());
    }

    #[test]
    fn cargo_toml_depends_on_the_published_sdk_by_version() {
        let published = files("x", None);
        let text = file(&published, "Cargo.toml");
        let toml: toml::Table = text.parse().expect("toml");
        assert_eq!(
            toml["dependencies"]["lmi-plugin-sdk"].as_str(),
            Some(SDK_REQUIREMENT)
        );
        assert!(!toml.contains_key("patch"), "no override unless asked");
        assert!(
            toml.contains_key("workspace"),
            "the crate is its own workspace"
        );
        assert_eq!(toml["lib"]["crate-type"].as_array().map(Vec::len), Some(2));
    }

    /// The override the comments describe is the one that works: uncommented as they say,
    /// it is a valid `[patch.crates-io]` entry of either kind.
    #[test]
    fn the_commented_override_uncomments_into_a_path_or_git_patch() {
        let text = file(&files("x", None), "Cargo.toml").to_string();
        let uncomment = |keep: &str| {
            let lines = text.lines().map(|line| {
                let bare = line.strip_prefix("# ").unwrap_or(line);
                if bare == "[patch.crates-io]" || bare.starts_with(keep) {
                    bare
                } else {
                    line
                }
            });
            lines.collect::<Vec<_>>().join("\n")
        };
        let by_path: toml::Table = uncomment("lmi-plugin-sdk = { path").parse().expect("toml");
        assert_eq!(
            by_path["patch"]["crates-io"]["lmi-plugin-sdk"]["path"].as_str(),
            Some("../lmi/plugin-sdk")
        );
        let by_git: toml::Table = uncomment("lmi-plugin-sdk = { git").parse().expect("toml");
        assert_eq!(
            by_git["patch"]["crates-io"]["lmi-plugin-sdk"]["git"].as_str(),
            Some(REPOSITORY)
        );
        assert_eq!(
            by_git["dependencies"]["lmi-plugin-sdk"].as_str(),
            Some(SDK_REQUIREMENT),
            "the dependency itself stays"
        );
    }

    #[test]
    fn a_named_sdk_directory_is_a_relative_path_patch() {
        let patched = files("x", Some("../lmi/plugin-sdk"));
        let toml: toml::Table = file(&patched, "Cargo.toml").parse().expect("toml");
        assert_eq!(
            toml["dependencies"]["lmi-plugin-sdk"].as_str(),
            Some(SDK_REQUIREMENT)
        );
        assert_eq!(
            toml["patch"]["crates-io"]["lmi-plugin-sdk"]["path"].as_str(),
            Some("../lmi/plugin-sdk")
        );
    }

    /// What new plugins ask for is what this tree's SDK is, and the SDK the README and docs
    /// name.
    #[test]
    fn the_requirement_accepts_this_trees_sdk() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk/Cargo.toml");
        let toml: toml::Table = std::fs::read_to_string(&sdk)
            .expect("read the SDK's Cargo.toml")
            .parse()
            .expect("toml");
        let version = toml["package"]["version"]
            .as_str()
            .expect("a version of its own");
        let req = semver::VersionReq::parse(SDK_REQUIREMENT).expect("a requirement");
        assert!(
            req.matches(&semver::Version::parse(version).expect("semver")),
            "lmi plugin new asks for lmi-plugin-sdk {SDK_REQUIREMENT}, but this tree's SDK is {version}"
        );
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        let rel = |from: &str, to: &str| relative_path(Path::new(from), Path::new(to));
        assert_eq!(
            rel("/w/p/demo", "/w/lmi/plugin-sdk"),
            Path::new("../../lmi/plugin-sdk")
        );
        assert_eq!(
            rel("/w/lmi/plugins/x", "/w/lmi/plugin-sdk"),
            Path::new("../../plugin-sdk")
        );
        assert_eq!(rel("/w", "/w/sdk"), Path::new("sdk"));
        assert_eq!(rel("/w/x", "/w/x"), Path::new("."));
    }

    #[test]
    fn a_path_with_quotes_stays_valid_toml() {
        let patched = files("x", Some(r#"../lmi "src"/plugin-sdk"#));
        let toml: toml::Table = file(&patched, "Cargo.toml").parse().expect("toml");
        assert_eq!(
            toml["patch"]["crates-io"]["lmi-plugin-sdk"]["path"].as_str(),
            Some(r#"../lmi "src"/plugin-sdk"#)
        );
    }

    #[test]
    fn the_toolchain_names_the_wasm_target() {
        let files = files("x", None);
        let toml: toml::Table = file(&files, "rust-toolchain.toml").parse().expect("toml");
        assert_eq!(
            toml["toolchain"]["targets"][0].as_str(),
            Some("wasm32-wasip2")
        );
    }

    #[test]
    fn the_readme_has_the_three_commands() {
        let files = files("demo-tool", None);
        let readme = file(&files, "README.md");
        for cmd in [
            "cargo build --release --target wasm32-wasip2",
            "lmi plugin install .",
            "lmi demo-tool --name Ada",
        ] {
            assert!(readme.contains(cmd), "README lacks {cmd}");
        }
    }

    #[test]
    fn type_names_are_camel_case_with_a_suffix() {
        assert_eq!(type_name("demo-tool"), "DemoToolPlugin");
        assert_eq!(type_name("a1-b2c"), "A1B2cPlugin");
        assert_eq!(type_name("context"), "ContextPlugin");
    }

    #[test]
    fn bad_names_are_refused_with_the_manifest_rule() {
        let sdk = None;
        let err = render("Demo", sdk).expect_err("uppercase");
        assert!(err.0.contains("plugin name `Demo` is invalid"), "{err}");
        let err = render("login", sdk).expect_err("built-in");
        assert!(
            err.0.contains("clashes with the built-in `lmi login`"),
            "{err}"
        );
        let err = render("match", sdk).expect_err("keyword");
        assert!(err.0.contains("reserved in Rust or cargo"), "{err}");
        let err = render("demo\"x", sdk).expect_err("quote");
        assert!(err.0.contains("cannot create a plugin named"), "{err}");
    }

    #[test]
    fn an_sdk_path_must_hold_the_sdk() {
        let tmp = tempfile::tempdir().expect("tmp");
        let err = Sdk::locate(Some(tmp.path()), None).expect_err("empty dir");
        assert!(err.0.starts_with("--sdk-path:"), "{err}");
        let err = Sdk::locate(None, Some("/nonexistent/sdk")).expect_err("missing");
        assert!(err.0.starts_with("LMI_SDK_PATH:"), "{err}");
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
        let found = Sdk::locate(Some(&sdk), None).expect("the repo's SDK");
        assert_eq!(
            found.as_ref().map(Sdk::dir),
            Some(sdk.canonicalize().expect("exists").as_path())
        );
    }

    /// Cargo would ignore the patch and quietly build against the published SDK.
    #[test]
    fn an_sdk_of_another_track_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(tmp.path().join("wit")).expect("mkdir");
        std::fs::write(tmp.path().join("wit/lmi-plugin.wit"), "").expect("write");
        let manifest = |version: &str| {
            let toml = format!("[package]\nname = \"lmi-plugin-sdk\"\n{version}");
            std::fs::write(tmp.path().join("Cargo.toml"), toml).expect("write");
            Sdk::locate(Some(tmp.path()), None)
        };
        let err = manifest("version = \"0.1.0\"").expect_err("0.1");
        assert!(err.0.contains("it is version `0.1.0`"), "{err}");
        assert!(
            err.0
                .contains(&format!("is not the lmi plugin SDK {SDK_REQUIREMENT}.x")),
            "{err}"
        );
        let err = manifest("version.workspace = true").expect_err("inherited");
        assert!(err.0.contains("states no version of its own"), "{err}");
        assert!(manifest("version = \"0.2.7\"").is_ok_and(|sdk| sdk.is_some()));
    }

    /// Even from the source tree, no path baked in at build time is ever used (R2.9): without
    /// a flag or setting, the crate depends on the published SDK.
    #[test]
    fn without_a_flag_or_setting_there_is_no_sdk_directory() {
        assert!(matches!(Sdk::locate(None, None), Ok(None)));
        assert!(matches!(Sdk::locate(None, Some("")), Ok(None)));
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("keep"), "").expect("write");
        let err = prepare_dir(tmp.path()).expect_err("not empty");
        assert!(err.0.contains("already exists and is not empty"), "{err}");
        assert!(prepare_dir(&tmp.path().join("new/deeper")).is_ok());
    }
}
