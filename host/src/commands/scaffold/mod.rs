//! `lmi plugin new <NAME>`: a plugin crate that builds and installs unchanged.
//!
//! The generated files are the templates beside this module (`template/*.in`), filled in with
//! the plugin's name. What the scaffold must guarantee, and `tests/it/scaffold.rs` proves end
//! to end: `cargo build --release --target wasm32-wasip2` in the new directory produces the
//! component its manifest names, `cargo test` runs its unit tests natively against the SDK's
//! `MockContext`, and `lmi plugin install .` accepts it.
//!
//! The SDK is not published on a registry yet, so the crate depends on it by path whenever lmi
//! knows where it is: `--sdk-path`, else `LMI_SDK_PATH`, else the `plugin-sdk/` of the source
//! tree this lmi was built from (when it still exists). Otherwise it depends on the
//! registry version matching this lmi, with a comment saying how to switch to a path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::cli::Ctx;
use crate::exit::UsageError;
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::{MANIFEST_FILE, Manifest, ManifestError, host_version};

/// The settings key (process environment or global `.env`) naming the SDK directory.
pub const SDK_PATH_KEY: &str = "LMI_SDK_PATH";

/// The SDK of the source tree this binary was built from; used only if it still exists.
const BUILT_WITH_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-sdk");

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

/// Where the generated crate gets the SDK from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A local SDK directory (absolute).
    Path(PathBuf),
    /// The registry, at this version requirement.
    Registry(String),
}

impl SdkSource {
    /// Finds the SDK: the `--sdk-path` flag, else `LMI_SDK_PATH`, else the source tree lmi was
    /// built from, else the registry. A path that was asked for but is not an SDK is an error.
    pub fn locate(flag: Option<&Path>, setting: Option<&str>) -> Result<Self, UsageError> {
        if let Some(dir) = flag {
            return sdk_dir(dir, "--sdk-path").map(SdkSource::Path);
        }
        if let Some(dir) = setting {
            return sdk_dir(Path::new(dir), SDK_PATH_KEY).map(SdkSource::Path);
        }
        match sdk_dir(Path::new(BUILT_WITH_SDK), "built-in") {
            Ok(dir) => Ok(SdkSource::Path(dir)),
            Err(_) => Ok(SdkSource::Registry(sdk_requirement())),
        }
    }

    /// The `lmi-plugin-sdk = ...` lines of the generated Cargo.toml, with a comment.
    fn dependency(&self) -> String {
        match self {
            SdkSource::Path(dir) => format!(
                "# The lmi plugin SDK, from a local checkout (`lmi plugin new` found it: --sdk-path,\n\
                 # LMI_SDK_PATH, or the source tree lmi was built from). Once it is on your\n\
                 # registry, `lmi-plugin-sdk = \"{}\"` works as well.\n\
                 lmi-plugin-sdk = {{ path = {} }}",
                sdk_requirement(),
                toml_string(&dir.to_string_lossy()),
            ),
            SdkSource::Registry(req) => format!(
                "# The lmi plugin SDK from the registry. If your registry does not carry it, use a\n\
                 # checkout of the lmi repository instead:\n\
                 # lmi-plugin-sdk = {{ path = \"/path/to/lmi/plugin-sdk\" }}\n\
                 # (or create the project with `lmi plugin new --sdk-path DIR` / LMI_SDK_PATH=DIR).\n\
                 lmi-plugin-sdk = {}",
                toml_string(req),
            ),
        }
    }
}

/// The SDK version that goes with this lmi: same major and minor (the workspace versions
/// them together).
fn sdk_requirement() -> String {
    let v = host_version();
    format!("{}.{}", v.major, v.minor)
}

/// The `lmi` requirement the generated manifest states: this host's major.minor and later
/// compatible versions.
fn lmi_requirement() -> String {
    let v = host_version();
    format!("^{}.{}", v.major, v.minor)
}

/// Checks that `dir` holds the lmi plugin SDK and returns it absolute.
fn sdk_dir(dir: &Path, from: &str) -> Result<PathBuf, UsageError> {
    let bad = |why: String| {
        UsageError(format!(
            "{from}: {} is not the lmi plugin SDK: {why} (point it at the `plugin-sdk` directory of an lmi checkout)",
            dir.display()
        ))
    };
    let dir = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| bad(format!("cannot read Cargo.toml: {e}")))?;
    let is_sdk = cargo_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| {
            t.get("package")?
                .get("name")?
                .as_str()
                .map(|n| n == "lmi-plugin-sdk")
        })
        .unwrap_or(false);
    if !is_sdk {
        return Err(bad(
            "its Cargo.toml is not the `lmi-plugin-sdk` package".into()
        ));
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

/// Renders every file of a new plugin called `name`, after checking that the name makes a
/// valid manifest and a valid Rust package.
pub fn render(name: &str, sdk: &SdkSource) -> Result<Vec<File>, UsageError> {
    let crate_name = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{type_name}}", &type_name(name))
            .replace("{{about}}", ABOUT)
            .replace("{{about_lower}}", &ABOUT.to_lowercase())
            .replace("{{lmi_requirement}}", &lmi_requirement())
            .replace("{{sdk_dependency}}", &sdk.dependency())
    };
    // The manifest's own rules decide what a plugin may be called; say it in those words.
    let probe = format!(
        "name = {n}\nversion = \"0.1.0\"\nlmi = \"*\"\ncomponent = \"p.wasm\"\n\
         [[commands]]\nname = {n}\nabout = \"p\"\n",
        n = toml_string(name)
    );
    if let Err(e) = Manifest::parse(&probe, Path::new(MANIFEST_FILE)) {
        let why = match e {
            ManifestError::Invalid { message, .. } | ManifestError::Parse { message, .. } => {
                message
            }
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

/// `lmi plugin new NAME [--path DIR] [--sdk-path DIR]`.
pub fn run(
    ctx: &Ctx,
    name: &str,
    path: Option<&Path>,
    sdk_path: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let sdk = SdkSource::locate(sdk_path, ctx.settings.global(SDK_PATH_KEY))?;
    let files = render(name, &sdk)?;
    let dir = match path {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(name),
    };
    let dir = std::path::absolute(&dir)
        .map_err(|e| UsageError(format!("cannot use {}: {e}", dir.display())))?;
    prepare_dir(&dir)?;
    for file in &files {
        let target = dir.join(file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, &file.contents)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", target.display()))?;
    }
    tracing::info!(plugin = name, dir = %dir.display(), sdk = ?sdk, "scaffolded");

    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": name,
            "path": dir,
            "files": files.iter().map(|f| f.path).collect::<Vec<_>>(),
            "sdk": match &sdk {
                SdkSource::Path(p) => json!({ "path": p }),
                SdkSource::Registry(v) => json!({ "version": v }),
            },
        }));
    } else {
        output::note(format_args!("Created plugin {name} in {}", dir.display()));
        if let SdkSource::Registry(v) = &sdk {
            output::warn(format_args!(
                "no local lmi-plugin-sdk found, so Cargo.toml asks the registry for lmi-plugin-sdk {v}; \
                 if that fails, recreate with --sdk-path DIR (or {SDK_PATH_KEY}=DIR) pointing at an lmi checkout's plugin-sdk"
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

    fn files(name: &str, sdk: &SdkSource) -> Vec<File> {
        render(name, sdk).unwrap_or_else(|e| panic!("render {name}: {e}"))
    }

    fn file<'a>(files: &'a [File], path: &str) -> &'a str {
        &files.iter().find(|f| f.path == path).expect(path).contents
    }

    #[test]
    fn every_placeholder_is_filled() {
        for f in files("demo-tool", &SdkSource::Path("/sdk".into())) {
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
        let files = files("demo-tool", &SdkSource::Path("/sdk".into()));
        let m =
            Manifest::parse(file(&files, MANIFEST_FILE), Path::new(MANIFEST_FILE)).expect("valid");
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
    fn cargo_toml_depends_on_the_sdk_by_path_or_by_version() {
        let by_path = files("x", &SdkSource::Path("/opt/lmi/plugin-sdk".into()));
        let toml: toml::Table = file(&by_path, "Cargo.toml").parse().expect("toml");
        assert_eq!(
            toml["dependencies"]["lmi-plugin-sdk"]["path"].as_str(),
            Some("/opt/lmi/plugin-sdk")
        );
        assert!(
            toml.contains_key("workspace"),
            "the crate is its own workspace"
        );
        assert_eq!(toml["lib"]["crate-type"].as_array().map(Vec::len), Some(2));

        let by_version = files("x", &SdkSource::Registry("0.1".into()));
        let toml: toml::Table = file(&by_version, "Cargo.toml").parse().expect("toml");
        assert_eq!(toml["dependencies"]["lmi-plugin-sdk"].as_str(), Some("0.1"));
        assert!(file(&by_version, "Cargo.toml").contains("--sdk-path"));
    }

    #[test]
    fn a_path_with_quotes_or_backslashes_stays_valid_toml() {
        let weird = SdkSource::Path(r#"C:\lmi "src"\plugin-sdk"#.into());
        let toml: toml::Table = file(&files("x", &weird), "Cargo.toml")
            .parse()
            .expect("toml");
        assert_eq!(
            toml["dependencies"]["lmi-plugin-sdk"]["path"].as_str(),
            Some(r#"C:\lmi "src"\plugin-sdk"#)
        );
    }

    #[test]
    fn the_toolchain_names_the_wasm_target() {
        let files = files("x", &SdkSource::Registry("0.1".into()));
        let toml: toml::Table = file(&files, "rust-toolchain.toml").parse().expect("toml");
        assert_eq!(
            toml["toolchain"]["targets"][0].as_str(),
            Some("wasm32-wasip2")
        );
    }

    #[test]
    fn the_readme_has_the_three_commands() {
        let files = files("demo-tool", &SdkSource::Registry("0.1".into()));
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
        let sdk = SdkSource::Registry("0.1".into());
        let err = render("Demo", &sdk).expect_err("uppercase");
        assert!(err.0.contains("plugin name `Demo` is invalid"), "{err}");
        let err = render("login", &sdk).expect_err("built-in");
        assert!(
            err.0.contains("clashes with the built-in `lmi login`"),
            "{err}"
        );
        let err = render("match", &sdk).expect_err("keyword");
        assert!(err.0.contains("reserved in Rust or cargo"), "{err}");
        let err = render("demo\"x", &sdk).expect_err("quote");
        assert!(err.0.contains("cannot create a plugin named"), "{err}");
    }

    #[test]
    fn an_sdk_path_must_hold_the_sdk() {
        let tmp = tempfile::tempdir().expect("tmp");
        let err = SdkSource::locate(Some(tmp.path()), None).expect_err("empty dir");
        assert!(err.0.starts_with("--sdk-path:"), "{err}");
        let err = SdkSource::locate(None, Some("/nonexistent/sdk")).expect_err("missing");
        assert!(err.0.starts_with("LMI_SDK_PATH:"), "{err}");
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
        let found = SdkSource::locate(Some(&sdk), None).expect("the repo's SDK");
        assert_eq!(found, SdkSource::Path(sdk.canonicalize().expect("exists")));
    }

    #[test]
    fn without_a_flag_or_setting_the_source_tree_sdk_is_used() {
        // This test runs from the source tree, so the baked-in path exists.
        assert!(matches!(
            SdkSource::locate(None, None),
            Ok(SdkSource::Path(_))
        ));
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
