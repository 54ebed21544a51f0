//! `lmi plugin new <NAME>`: a plugin crate that builds and installs unchanged.
//!
//! The generated files are the templates beside this module (`template/*.in`), filled in with
//! the plugin's name. What the scaffold must guarantee, and `tests/it/scaffold.rs` proves end
//! to end: `cargo build --release --target wasm32-wasip2` in the new directory produces the
//! component its manifest names, `cargo test` runs its unit tests natively against the SDK's
//! `MockContext`, and `lmi plugin install .` accepts it.
//!
//! The crate takes the SDK from where the user says ([`sdk`]: a directory, a git repository
//! or their company's cargo registry; never crates.io, where the name is not lmi's), with
//! its `clap` feature; the plugin's version is stated once, in its manifest (`Cargo.toml`
//! has none: the SDK's `clap::parse` prints the manifest's for `--version`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::exit::UsageError;
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::{MANIFEST_FILE, ManifestError, host_version};

mod sdk;

use sdk::toml_string;
pub use sdk::{SDK_REQUIREMENT, SdkFlags, SdkSource};

/// What the generated command says it does (manifest `description` and `about`, Cargo
/// `description`) unless `--description` says otherwise.
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

/// The `lmi` requirement the generated manifest states: this host's major.minor and later
/// compatible versions.
fn lmi_requirement() -> String {
    let v = host_version();
    format!("^{}.{}", v.major, v.minor)
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

/// Renders every file of a new plugin called `name`, described as `about` (checked with
/// [`check_about`]), that takes the SDK from `sdk`, for the project directory `project`
/// (absolute, canonical), after checking the name.
pub fn render(
    name: &str,
    about: &str,
    sdk: &SdkSource,
    project: &Path,
) -> Result<Vec<File>, UsageError> {
    check_name(name)?;
    let crate_name = name.replace('-', "_");
    let dependency = sdk.dependency(project)?;
    let values = [
        ("name", name.to_owned()),
        ("crate_name", crate_name),
        ("type_name", type_name(name)),
        ("about", about.to_owned()),
        ("about_toml", toml_string(about)),
        ("about_sentence", sentence(about)),
        ("lmi_requirement", lmi_requirement()),
        ("sdk_source", readme_source(sdk, &dependency)),
        ("sdk_dependency", dependency),
        ("sdk_requirement", SDK_REQUIREMENT.to_owned()),
    ];
    let fill = |template: &str| fill(template, &values);
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

/// `template` with each `{{key}}` replaced by its value, in one pass: text from the user
/// (a description, a URL) is never searched for placeholders itself.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| {
            let key = &after[..end];
            let (_, value) = values.iter().find(|(k, _)| *k == key)?;
            Some((value, end))
        });
        match value {
            Some((value, end)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `about` ending in a full stop, for a doc comment.
fn sentence(about: &str) -> String {
    if about.ends_with(['.', '!', '?']) {
        about.to_owned()
    } else {
        format!("{about}.")
    }
}

/// Where the SDK comes from, as the generated README says it: the dependency's own words
/// (a relative path, a URL, a registry name), never an absolute path.
fn readme_source(sdk: &SdkSource, dependency: &str) -> String {
    let table: Option<toml::Table> = dependency.parse().ok();
    let field = |key: &str| {
        table
            .as_ref()
            .and_then(|t| {
                t.get("lmi-plugin-sdk")?
                    .get(key)?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    match sdk {
        SdkSource::Path(_) => format!("the directory `{}`", field("path")),
        SdkSource::Git { rev: Some(rev), .. } => {
            format!("the git repository <{}> at `{rev}`", field("git"))
        }
        SdkSource::Git { rev: None, .. } => format!("the git repository <{}>", field("git")),
        SdkSource::Registry(name) => format!("the cargo registry `{name}`"),
    }
}

/// What `--description` may say: what the manifest accepts as a command's `about` and as
/// its `description` (one line of plain printable text).
fn check_about(about: &str) -> Result<(), UsageError> {
    let probe = format!(
        "name = \"p\"\nversion = \"0.1.0\"\nlmi = \"*\"\ncomponent = \"p.wasm\"\ndescription = {a}\n\
         [[commands]]\nname = \"p\"\nabout = {a}\n",
        a = toml_string(about)
    );
    super::inspect::parse_manifest(&probe, Path::new(MANIFEST_FILE))
        .map(drop)
        .map_err(|e| UsageError(format!("--description: {}", manifest_problems(e))))
}

fn manifest_problems(e: ManifestError) -> String {
    match e {
        ManifestError::Invalid { problems, .. } => problems.join("; "),
        ManifestError::Parse { message, .. } => message,
        ManifestError::Unreadable { reason, .. } => reason,
    }
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
        return Err(UsageError(format!(
            "cannot create a plugin named `{name}`: {}",
            manifest_problems(e)
        )));
    }
    if RESERVED.contains(&name) {
        return Err(UsageError(format!(
            "cannot create a plugin named `{name}`: it is reserved in Rust or cargo, or names a crate the plugin depends on; choose another name"
        )));
    }
    Ok(())
}

/// `lmi plugin new NAME [--path DIR] [--description TEXT] [--sdk-path DIR | --sdk-git URL
/// [--sdk-rev REV] | --sdk-registry NAME]`. Every check runs before anything is written.
pub fn run(
    ctx: &Ctx,
    name: &str,
    path: Option<&Path>,
    description: Option<&str>,
    sdk: &SdkFlags,
) -> Result<ExitCode, CliError> {
    check_name(name)?;
    let about = description.unwrap_or(ABOUT);
    check_about(about)?;
    let source = SdkSource::choose(sdk, |key| ctx.settings.global(key))?;
    let dir = match path {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(name),
    };
    let dir = std::path::absolute(&dir)
        .map_err(|e| UsageError(format!("cannot use {}: {e}", dir.display())))?;
    check_dir(&dir)?;
    let files = render(name, about, &source, &resolved(&dir))?;
    prepare_dir(&dir)?;
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
    tracing::info!(plugin = name, dir = %dir.display(), sdk = ?source, "scaffolded");

    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": name,
            "path": dir,
            "files": files.iter().map(|f| f.path).collect::<Vec<_>>(),
            "sdk": source.json(),
        }));
    } else {
        output::note(format_args!("Created plugin {name} in {}", dir.display()));
        output::note(format_args!(
            "It takes lmi-plugin-sdk {SDK_REQUIREMENT} from {}",
            source.describe()
        ));
        output::note("Build, install and run it:");
        output::note(format_args!("  cd {}", dir.display()));
        output::note("  cargo build --release --target wasm32-wasip2");
        output::note("  lmi plugin install .");
        output::note(format_args!("  lmi {name} --help"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `dir` with symbolic links resolved as far as it exists: the deepest existing ancestor,
/// canonical, and the rest as given (relative SDK paths are computed from it before the
/// directory is created).
fn resolved(dir: &Path) -> PathBuf {
    let mut existing = dir;
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return rest
                .iter()
                .rev()
                .fold(canonical, |path, part| path.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(part)) => {
                rest.push(part.to_owned());
                existing = parent;
            }
            _ => return dir.to_path_buf(),
        }
    }
}

/// The project directory must be new or empty: the scaffold never overwrites anything.
fn check_dir(dir: &Path) -> Result<(), UsageError> {
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(UsageError(format!(
            "{} exists and is not a directory; choose another --path",
            dir.display()
        ))),
        Err(e) => Err(UsageError(format!("cannot use {}: {e}", dir.display()))),
    }
}

/// Creates the project directory, after [`check_dir`] (again: nothing may have appeared).
fn prepare_dir(dir: &Path) -> Result<(), UsageError> {
    check_dir(dir)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project in `/w/p/<name>` taking the SDK from the registry `acme`.
    fn files(name: &str) -> Vec<File> {
        render_with(name, ABOUT, &SdkSource::Registry("acme".into()))
    }

    fn render_with(name: &str, about: &str, sdk: &SdkSource) -> Vec<File> {
        render(name, about, sdk, &Path::new("/w/p").join(name))
            .unwrap_or_else(|e| panic!("render {name}: {e}"))
    }

    fn file<'a>(files: &'a [File], path: &str) -> &'a str {
        &files.iter().find(|f| f.path == path).expect(path).contents
    }

    fn sources() -> [SdkSource; 3] {
        [
            SdkSource::Registry("acme".into()),
            SdkSource::Git {
                url: "https://git.example.com/lmi.git".into(),
                rev: Some("v0.2.0".into()),
            },
            SdkSource::Path(PathBuf::from("/w/lmi/plugin-sdk")),
        ]
    }

    #[test]
    fn every_placeholder_is_filled() {
        for sdk in sources() {
            for f in render_with("demo-tool", ABOUT, &sdk) {
                assert!(
                    !f.contents.contains("{{"),
                    "{} has a placeholder left:\n{}",
                    f.path,
                    f.contents
                );
            }
        }
    }

    /// Text from the user is inserted once, never searched for placeholders itself.
    #[test]
    fn placeholders_in_a_description_stay_text() {
        let about = "Says {{name}} and {{sdk_dependency}}";
        let files = render_with("x", about, &SdkSource::Registry("acme".into()));
        let manifest = crate::plugins::manifest::Manifest::parse(
            file(&files, MANIFEST_FILE),
            Path::new(MANIFEST_FILE),
        )
        .expect("valid");
        assert_eq!(manifest.commands[0].about, about);
        assert_eq!(
            fill("a {{k}} {{nope}} {{", &[("k", "{{k}}".into())]),
            "a {{k}} {{nope}} {{"
        );
    }

    #[test]
    fn the_manifest_is_valid_and_names_where_cargo_puts_the_component() {
        let files = files("demo-tool");
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

    /// The version is stated once, in the manifest; Cargo.toml has none.
    #[test]
    fn cargo_toml_names_the_sdk_source_and_no_version() {
        for sdk in sources() {
            let files = render_with("x", ABOUT, &sdk);
            let toml: toml::Table = file(&files, "Cargo.toml").parse().expect("toml");
            let dep = &toml["dependencies"]["lmi-plugin-sdk"];
            assert_eq!(dep["version"].as_str(), Some(SDK_REQUIREMENT), "{dep}");
            assert_eq!(dep["features"][0].as_str(), Some("clap"));
            assert!(!toml["package"].as_table().unwrap().contains_key("version"));
            assert!(!toml.contains_key("patch"));
            assert!(
                toml.contains_key("workspace"),
                "the crate is its own workspace"
            );
            assert_eq!(toml["lib"]["crate-type"].as_array().map(Vec::len), Some(2));
            assert!(
                !toml["dependencies"]
                    .as_table()
                    .unwrap()
                    .contains_key("clap"),
                "clap comes with the SDK"
            );
        }
    }

    /// Never an absolute path: the project can be shared with the checkout beside it.
    #[test]
    fn an_sdk_directory_is_written_relative_to_the_project() {
        let files = render_with("x", ABOUT, &sources()[2]);
        let toml: toml::Table = file(&files, "Cargo.toml").parse().expect("toml");
        assert_eq!(
            toml["dependencies"]["lmi-plugin-sdk"]["path"].as_str(),
            Some("../../lmi/plugin-sdk")
        );
        for f in &files {
            assert!(
                !f.contents.contains("/w/lmi"),
                "{}:\n{}",
                f.path,
                f.contents
            );
        }
        assert!(file(&files, "README.md").contains("the directory `../../lmi/plugin-sdk`"));
    }

    #[test]
    fn a_description_fills_the_manifest_cargo_and_the_help() {
        let about = "Query the \"ACME\" API";
        let files = render_with("x", about, &sources()[0]);
        let toml: toml::Table = file(&files, "Cargo.toml").parse().expect("toml");
        assert_eq!(toml["package"]["description"].as_str(), Some(about));
        let m = crate::plugins::manifest::Manifest::parse(
            file(&files, MANIFEST_FILE),
            Path::new(MANIFEST_FILE),
        )
        .expect("valid");
        assert_eq!(m.description.as_deref(), Some(about));
        assert_eq!(m.commands[0].about, about);
        assert!(file(&files, "src/lib.rs").contains("/// Query the \"ACME\" API.\n"));
        assert!(check_about(about).is_ok());
    }

    #[test]
    fn a_description_is_held_to_the_manifests_rules() {
        for bad in ["", "two\nlines", "bidi \u{202e}", "\u{201c}quoted\u{201d}"] {
            let err = check_about(bad).expect_err(bad);
            assert!(err.0.starts_with("--description: "), "{err}");
        }
    }

    #[test]
    fn the_toolchain_names_the_wasm_target() {
        let files = files("x");
        let toml: toml::Table = file(&files, "rust-toolchain.toml").parse().expect("toml");
        assert_eq!(
            toml["toolchain"]["targets"][0].as_str(),
            Some("wasm32-wasip2")
        );
    }

    #[test]
    fn the_readme_has_the_three_commands() {
        let files = files("demo-tool");
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
        let sdk = &sources()[0];
        let render = |name: &str| render(name, ABOUT, sdk, Path::new("/w/p"));
        let err = render("Demo").expect_err("uppercase");
        assert!(err.0.contains("plugin name `Demo` is invalid"), "{err}");
        let err = render("login").expect_err("built-in");
        assert!(
            err.0.contains("clashes with the built-in `lmi login`"),
            "{err}"
        );
        let err = render("match").expect_err("keyword");
        assert!(err.0.contains("reserved in Rust or cargo"), "{err}");
        let err = render("demo\"x").expect_err("quote");
        assert!(err.0.contains("cannot create a plugin named"), "{err}");
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("keep"), "").expect("write");
        let err = check_dir(tmp.path()).expect_err("not empty");
        assert!(err.0.contains("already exists and is not empty"), "{err}");
        assert!(check_dir(&tmp.path().join("new/deeper")).is_ok());
        assert!(!tmp.path().join("new").exists(), "checking writes nothing");
        assert!(prepare_dir(&tmp.path().join("new/deeper")).is_ok());
    }

    #[test]
    fn a_directory_to_be_is_resolved_through_its_existing_ancestor() {
        let tmp = tempfile::tempdir().expect("tmp");
        let canonical = tmp.path().canonicalize().expect("exists");
        assert_eq!(resolved(&tmp.path().join("a/b")), canonical.join("a/b"));
        assert_eq!(resolved(tmp.path()), canonical);
    }
}
