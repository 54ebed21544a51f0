//! Where a new plugin takes the SDK from. Nobody here controls the name `lmi-plugin-sdk` on
//! crates.io (anyone could publish under it, and cargo would build their code, build script
//! included), so a project never depends on it: the user names the source, and
//! `Cargo.toml` names exactly that source, with no fallback.
//!
//! * a directory (`--sdk-path`, `LMI_SDK_PATH`): an lmi checkout's `plugin-sdk`, checked to
//!   be the SDK at a version [`SDK_REQUIREMENT`] accepts, written relative to the project;
//! * a git repository (`--sdk-git` with an optional `--sdk-rev`, `LMI_SDK_GIT`): cargo finds
//!   the package in it;
//! * a cargo registry of the user's company (`--sdk-registry`, `LMI_SDK_REGISTRY`), named as
//!   in their cargo configuration.
//!
//! Every form carries `version = "0.3"`, so cargo refuses an SDK of another track instead
//! of building it. Nothing written is an absolute path or a `file://` URL: a project with one
//! cannot be shared. A directory is never guessed: a path baked in at build time (`/tmp/…`, a
//! CI runner's home) could be created on the user's machine by someone else, who would then
//! supply the SDK and its build script.

use std::path::{Path, PathBuf};

use crate::exit::UsageError;
use crate::settings::keys;

/// The SDK version a new plugin depends on: the SDK's `major.minor` is its contract's
/// (`lmi-plugin-sdk` 0.3.x builds `lmi:plugin@0.3`). A unit test holds it to
/// `plugin-sdk/Cargo.toml`.
pub const SDK_REQUIREMENT: &str = "0.3";

/// The SDK features a new plugin uses: `clap` (its arguments, in one call).
const FEATURES: &str = r#"["clap"]"#;

/// What `lmi plugin new` was told about the SDK on its command line.
#[derive(Debug, Default, Clone)]
pub struct SdkFlags {
    pub path: Option<PathBuf>,
    pub git: Option<String>,
    pub rev: Option<String>,
    pub registry: Option<String>,
}

/// Where the SDK comes from, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// A directory holding the SDK, absolute and canonical.
    Path(PathBuf),
    /// A git repository (its URL as given, checked) and a revision (a tag, branch or commit).
    Git { url: String, rev: Option<String> },
    /// A cargo registry, by the name the user's cargo configuration gives it.
    Registry(String),
}

/// Why none was chosen: the three ways, for the error.
const HOW: &str = "say where the lmi plugin SDK comes from: --sdk-git URL (a git repository holding lmi's plugin-sdk, e.g. your lmi fork; with --sdk-rev TAG to pin it), --sdk-registry NAME (your company's cargo registry that publishes lmi-plugin-sdk), or --sdk-path DIR (an lmi checkout's plugin-sdk directory); or set LMI_SDK_GIT, LMI_SDK_REGISTRY or LMI_SDK_PATH in ~/.config/lmi/.env. lmi does not take it from crates.io, where the name is not lmi's";

impl SdkSource {
    /// The source the flags name, else the one setting that is set (`setting(key)` reads
    /// the process environment and the global `.env`). Several flags, or no flag and
    /// several settings, are an error, as is none at all.
    pub fn choose<'a>(
        flags: &SdkFlags,
        setting: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Self, UsageError> {
        let given = [
            flags.path.is_some(),
            flags.git.is_some(),
            flags.registry.is_some(),
        ];
        let chosen = if given.iter().any(|g| *g) {
            if given.iter().filter(|g| **g).count() > 1 {
                return Err(UsageError(
                    "give one of --sdk-path, --sdk-git and --sdk-registry".into(),
                ));
            }
            if let Some(dir) = &flags.path {
                Self::path(dir, "--sdk-path")?
            } else if let Some(url) = &flags.git {
                Self::git(url, flags.rev.as_deref(), "--sdk-git")?
            } else {
                Self::registry(
                    flags.registry.as_deref().unwrap_or_default(),
                    "--sdk-registry",
                )?
            }
        } else {
            let set: Vec<(&str, &str)> = [keys::SDK_PATH, keys::SDK_GIT, keys::SDK_REGISTRY]
                .into_iter()
                .filter_map(|key| Some((key, setting(key).filter(|v| !v.is_empty())?)))
                .collect();
            match set.as_slice() {
                [] => return Err(UsageError(HOW.into())),
                [(key, value)] if *key == keys::SDK_PATH => Self::path(Path::new(value), key)?,
                [(key, value)] if *key == keys::SDK_GIT => {
                    Self::git(value, flags.rev.as_deref(), key)?
                }
                [(key, value)] => Self::registry(value, key)?,
                several => {
                    let names: Vec<&str> = several.iter().map(|(k, _)| *k).collect();
                    return Err(UsageError(format!(
                        "{} are all set: keep one, or choose with --sdk-path, --sdk-git or --sdk-registry",
                        names.join(" and ")
                    )));
                }
            }
        };
        if flags.rev.is_some() && !matches!(chosen, SdkSource::Git { .. }) {
            return Err(UsageError(
                "--sdk-rev pins a git source: give it with --sdk-git URL (or LMI_SDK_GIT)".into(),
            ));
        }
        Ok(chosen)
    }

    fn path(dir: &Path, from: &str) -> Result<Self, UsageError> {
        sdk_dir(dir, from).map(SdkSource::Path)
    }

    /// A URL cargo can fetch and another machine can too: `https`, `ssh`, or `http` to a
    /// loopback address (a local mirror); no `file://` (a directory: `--sdk-path`), no
    /// password (it would be written into Cargo.toml), no query or fragment.
    fn git(url: &str, rev: Option<&str>, from: &str) -> Result<Self, UsageError> {
        let shown = crate::text::line(&crate::text::without_userinfo(url), 200);
        let bad = |why: &str| {
            UsageError(format!(
                "{from}: `{shown}` cannot be the SDK's git repository: {why}"
            ))
        };
        let parsed = url::Url::parse(url).map_err(|e| {
            bad(&format!(
                "{e} (give a URL: https://host/org/lmi.git or ssh://git@host/org/lmi.git)"
            ))
        })?;
        let host = parsed.host_str().unwrap_or_default();
        match parsed.scheme() {
            "https" | "ssh" if !host.is_empty() => {}
            "http" if is_loopback(&parsed) => {}
            "http" => {
                return Err(bad(
                    "plain http is accepted for a loopback address only; use https or ssh",
                ));
            }
            "file" => {
                return Err(bad(
                    "a file:// URL names a directory on this machine, which a shared project cannot reach; serve the repository (https, ssh) or give the checkout's plugin-sdk with --sdk-path",
                ));
            }
            _ => return Err(bad("use an https:// or ssh:// URL")),
        }
        // A token rides in the user part as often as in the password (`https://TOKEN@host`):
        // only ssh's plain account name (`git@`) may be written into Cargo.toml.
        let plain_ssh_user = parsed.scheme() == "ssh"
            && parsed.username().len() <= 32
            && parsed
                .username()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if parsed.password().is_some() || (!parsed.username().is_empty() && !plain_ssh_user) {
            return Err(bad(
                "it holds a password, token or user name, which would be written into Cargo.toml and shared with the project; let git's credential helper or ssh supply it (ssh://git@host/… is fine)",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad(
                "it has a query or fragment; pin a revision with --sdk-rev",
            ));
        }
        let rev = match rev {
            Some(rev) => Some(check_rev(rev)?),
            None => None,
        };
        // The parsed form: what cargo reads, without the tabs and newlines the parser drops.
        Ok(SdkSource::Git {
            url: parsed.to_string(),
            rev,
        })
    }

    /// A registry name as cargo's configuration takes it; never `crates-io`.
    fn registry(name: &str, from: &str) -> Result<Self, UsageError> {
        let shown = crate::text::line(name, 80);
        if name == "crates-io" {
            return Err(UsageError(format!(
                "{from}: `crates-io` is crates.io, where the name lmi-plugin-sdk is not lmi's; name your company's registry"
            )));
        }
        let valid = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(UsageError(format!(
                "{from}: `{shown}` is not a cargo registry name (letters, digits, `-` and `_`, starting with a letter: the name in [registries.NAME] of your cargo configuration)"
            )));
        }
        Ok(SdkSource::Registry(name.to_owned()))
    }

    /// The SDK's line in the new `Cargo.toml`, for a project in `project` (absolute,
    /// canonical).
    pub fn dependency(&self, project: &Path) -> Result<String, UsageError> {
        let table = match self {
            SdkSource::Path(dir) => {
                let rel = relative_path(project, dir).ok_or_else(|| {
                    UsageError(format!(
                        "the SDK in {} cannot be named relative to {} (another drive?), and an absolute path would keep the project from being shared; create the project beside the checkout, or use --sdk-git",
                        dir.display(),
                        project.display()
                    ))
                })?;
                // Cargo reads `/` on every platform.
                let rel = rel.to_string_lossy().replace('\\', "/");
                format!("path = {}, ", toml_string(&rel))
            }
            SdkSource::Git { url, rev } => match rev {
                Some(rev) => format!("git = {}, rev = {}, ", toml_string(url), toml_string(rev)),
                None => format!("git = {}, ", toml_string(url)),
            },
            SdkSource::Registry(name) => format!("registry = {}, ", toml_string(name)),
        };
        Ok(format!(
            "lmi-plugin-sdk = {{ {table}version = {}, features = {FEATURES} }}",
            toml_string(SDK_REQUIREMENT)
        ))
    }

    /// One line for the user: where the new project's SDK comes from.
    pub fn describe(&self) -> String {
        match self {
            SdkSource::Path(dir) => format!("the directory {}", dir.display()),
            SdkSource::Git {
                url,
                rev: Some(rev),
            } => format!("git {url} at {rev}"),
            SdkSource::Git { url, rev: None } => format!("git {url}"),
            SdkSource::Registry(name) => format!("the cargo registry `{name}`"),
        }
    }

    /// The source as `--output json` shows it.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut value = match self {
            SdkSource::Path(dir) => json!({ "source": "path", "path": dir }),
            SdkSource::Git { url, rev } => json!({ "source": "git", "git": url, "rev": rev }),
            SdkSource::Registry(name) => json!({ "source": "registry", "registry": name }),
        };
        value["requirement"] = json!(SDK_REQUIREMENT);
        value
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A git revision as `--sdk-rev` takes it: a tag, branch or commit, one printable word that
/// no tool could read as an option.
fn check_rev(rev: &str) -> Result<String, UsageError> {
    let ok = !rev.is_empty()
        && rev.len() <= 200
        && !rev.starts_with('-')
        && rev.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(rev.to_owned())
    } else {
        Err(UsageError(format!(
            "--sdk-rev: `{}` is not a git revision (a tag, branch or commit: printable ASCII without spaces, not starting with `-`)",
            crate::text::line(rev, 80)
        )))
    }
}

/// `to` as seen from the directory `from` (both absolute); `None` when they share no root
/// (another drive on Windows).
pub fn relative_path(from: &Path, to: &Path) -> Option<PathBuf> {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    // The root alone is shared by every absolute path on Unix: that is fine; sharing
    // nothing (a Windows drive prefix differs) is not.
    if common == 0 {
        return None;
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
    Some(rel)
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
    // Cargo would refuse the dependency's `version` requirement anyway; say it now, before
    // anything is written.
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
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> SdkFlags {
        SdkFlags::default()
    }

    fn choose(flags: &SdkFlags, settings: &[(&str, &str)]) -> Result<SdkSource, UsageError> {
        SdkSource::choose(flags, |key| {
            settings.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        })
    }

    fn dependency(source: &SdkSource) -> toml::Table {
        let line = source
            .dependency(Path::new("/w/p/demo"))
            .expect("a dependency");
        line.parse::<toml::Table>().expect("valid toml")["lmi-plugin-sdk"]
            .as_table()
            .expect("an inline table")
            .clone()
    }

    fn the_sdk() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk")
    }

    /// No source named: an error naming the three ways, never crates.io.
    #[test]
    fn without_a_source_it_refuses_naming_the_three_ways() {
        let err = choose(&flags(), &[]).expect_err("no source");
        for way in ["--sdk-git", "--sdk-registry", "--sdk-path", "LMI_SDK_GIT"] {
            assert!(err.0.contains(way), "{err}");
        }
        assert!(choose(&flags(), &[("LMI_SDK_PATH", "")]).is_err());
    }

    #[test]
    fn every_source_carries_the_version_and_the_clap_feature() {
        let git = SdkSource::Git {
            url: "https://git.example.com/lmi.git".into(),
            rev: Some("v0.2.1".into()),
        };
        let registry = SdkSource::Registry("acme".into());
        let path = SdkSource::Path(PathBuf::from("/w/lmi/plugin-sdk"));
        for source in [&git, &registry, &path] {
            let dep = dependency(source);
            assert_eq!(dep["version"].as_str(), Some(SDK_REQUIREMENT), "{dep}");
            assert_eq!(dep["features"][0].as_str(), Some("clap"), "{dep}");
        }
        assert_eq!(
            dependency(&git)["git"].as_str(),
            Some("https://git.example.com/lmi.git")
        );
        assert_eq!(dependency(&git)["rev"].as_str(), Some("v0.2.1"));
        assert_eq!(dependency(&registry)["registry"].as_str(), Some("acme"));
        assert_eq!(
            dependency(&path)["path"].as_str(),
            Some("../../lmi/plugin-sdk")
        );
    }

    #[test]
    fn a_flag_wins_over_settings_and_settings_must_not_disagree() {
        let mut f = flags();
        f.registry = Some("acme".into());
        let chosen = choose(&f, &[("LMI_SDK_GIT", "https://h/x.git")]).expect("flag");
        assert_eq!(chosen, SdkSource::Registry("acme".into()));
        let chosen = choose(&flags(), &[("LMI_SDK_GIT", "https://h/x.git")]).expect("setting");
        assert!(matches!(chosen, SdkSource::Git { rev: None, .. }));
        let err = choose(
            &flags(),
            &[
                ("LMI_SDK_GIT", "https://h/x.git"),
                ("LMI_SDK_REGISTRY", "acme"),
            ],
        )
        .expect_err("two settings");
        assert!(
            err.0
                .contains("LMI_SDK_GIT and LMI_SDK_REGISTRY are all set"),
            "{err}"
        );
        f.git = Some("https://h/x.git".into());
        assert!(
            choose(&f, &[])
                .expect_err("two flags")
                .0
                .contains("give one of")
        );
    }

    #[test]
    fn a_rev_pins_a_git_source_only() {
        let mut f = flags();
        f.rev = Some("v0.2.0".into());
        let chosen = choose(&f, &[("LMI_SDK_GIT", "ssh://git@h/lmi.git")]).expect("git");
        assert_eq!(
            chosen,
            SdkSource::Git {
                url: "ssh://git@h/lmi.git".into(),
                rev: Some("v0.2.0".into())
            }
        );
        let err = choose(&f, &[("LMI_SDK_REGISTRY", "acme")]).expect_err("not git");
        assert!(err.0.contains("--sdk-rev pins a git source"), "{err}");
        for bad in ["", "-upload-pack=x", "a b", "a\u{1b}b"] {
            f.rev = Some(bad.into());
            f.git = Some("https://h/lmi.git".into());
            let err = choose(&f, &[]).expect_err(bad);
            assert!(err.0.starts_with("--sdk-rev:"), "{err}");
        }
    }

    /// A URL that another machine can use, with nothing secret in it.
    #[test]
    fn git_urls_must_be_shareable_and_hold_no_password() {
        let git = |url: &str| {
            let mut f = flags();
            f.git = Some(url.into());
            choose(&f, &[])
        };
        for ok in [
            "https://github.com/acme/lmi",
            "ssh://git@git.acme.internal/platform/lmi.git",
            "http://127.0.0.1:8080/lmi.git",
            "http://[::1]/lmi.git",
        ] {
            assert!(git(ok).is_ok(), "{ok}: {:?}", git(ok));
        }
        for (bad, why) in [
            (
                "file:///home/ada/lmi",
                "a file:// URL names a directory on this machine",
            ),
            (
                "http://git.acme.internal/lmi.git",
                "plain http is accepted for a loopback address only",
            ),
            (
                "https://ada:s3cret@git.acme.internal/lmi.git",
                "it holds a password",
            ),
            ("git@github.com:acme/lmi.git", "give a URL"),
            ("git://github.com/acme/lmi", "use an https:// or ssh:// URL"),
            ("https://h/lmi.git?x=1", "query or fragment"),
        ] {
            let err = git(bad).expect_err(bad);
            assert!(err.0.starts_with("--sdk-git:"), "{err}");
            assert!(err.0.contains(why), "{bad}: {err}");
            assert!(!err.0.contains("s3cret"), "{err}");
        }
        // A token in the user part (how GitHub tokens are often passed) is refused and never
        // quoted back; only ssh's plain account name may stay.
        for token in [
            "https://ghp_S3cretT0ken@github.com/acme/lmi.git",
            "https://user@git.acme.internal/lmi.git",
            "ssh://ghp_S3cretT0ken@github.com/acme/lmi.git",
            "https://ghp_S3cretT0ken:x-oauth-basic@github.com/acme/lmi.git",
        ] {
            let err = git(token).expect_err(token);
            assert!(err.0.contains("token or user name"), "{err}");
            assert!(
                !err.0.contains("S3cret") && !err.0.contains("user@"),
                "{err}"
            );
        }
        // What is written is the parsed URL: the tabs and newlines the parser drops stay out.
        assert_eq!(
            git("https://github.com/acme/\nlmi.git").unwrap(),
            SdkSource::Git {
                url: "https://github.com/acme/lmi.git".into(),
                rev: None
            }
        );
    }

    #[test]
    fn registry_names_are_cargos_and_never_crates_io() {
        let registry = |name: &str| choose(&flags(), &[("LMI_SDK_REGISTRY", name)]);
        assert_eq!(
            registry("acme-rs_1").unwrap(),
            SdkSource::Registry("acme-rs_1".into())
        );
        let err = registry("crates-io").expect_err("crates.io");
        assert!(
            err.0.contains("where the name lmi-plugin-sdk is not lmi's"),
            "{err}"
        );
        for bad in ["1acme", "ac me", "acme\"", "a.b"] {
            let err = registry(bad).expect_err(bad);
            assert!(err.0.starts_with("LMI_SDK_REGISTRY:"), "{err}");
        }
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        let rel = |from: &str, to: &str| relative_path(Path::new(from), Path::new(to));
        assert_eq!(
            rel("/w/p/demo", "/w/lmi/plugin-sdk").unwrap(),
            Path::new("../../lmi/plugin-sdk")
        );
        assert_eq!(
            rel("/w/lmi/plugins/x", "/w/lmi/plugin-sdk").unwrap(),
            Path::new("../../plugin-sdk")
        );
        assert_eq!(rel("/w", "/w/sdk").unwrap(), Path::new("sdk"));
        assert_eq!(rel("/w/x", "/w/x").unwrap(), Path::new("."));
        assert_eq!(rel("/a", "/b").unwrap(), Path::new("../b"));
        // Paths with nothing in common (relative against absolute here; another drive on
        // Windows) have no relative form: never an absolute one instead.
        assert_eq!(rel("w/x", "/w/x"), None);
    }

    #[test]
    fn a_path_with_quotes_stays_valid_toml() {
        let source = SdkSource::Path(PathBuf::from(r#"/w/lmi "src"/plugin-sdk"#));
        assert_eq!(
            dependency(&source)["path"].as_str(),
            Some(r#"../../lmi "src"/plugin-sdk"#)
        );
    }

    #[test]
    fn an_sdk_path_must_hold_the_sdk() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut f = flags();
        f.path = Some(tmp.path().to_path_buf());
        let err = choose(&f, &[]).expect_err("empty dir");
        assert!(err.0.starts_with("--sdk-path:"), "{err}");
        let err = choose(&flags(), &[("LMI_SDK_PATH", "/nonexistent/sdk")]).expect_err("missing");
        assert!(err.0.starts_with("LMI_SDK_PATH:"), "{err}");
        f.path = Some(the_sdk());
        assert_eq!(
            choose(&f, &[]).expect("the repo's SDK"),
            SdkSource::Path(the_sdk().canonicalize().expect("exists"))
        );
    }

    /// Cargo would refuse it at the first build; say so before anything is written.
    #[test]
    fn an_sdk_of_another_track_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(tmp.path().join("wit")).expect("mkdir");
        std::fs::write(tmp.path().join("wit/lmi-plugin.wit"), "").expect("write");
        let manifest = |version: &str| {
            let toml = format!("[package]\nname = \"lmi-plugin-sdk\"\n{version}");
            std::fs::write(tmp.path().join("Cargo.toml"), toml).expect("write");
            SdkSource::path(tmp.path(), "--sdk-path")
        };
        let err = manifest("version = \"0.2.0\"").expect_err("0.2");
        assert!(err.0.contains("it is version `0.2.0`"), "{err}");
        assert!(
            err.0
                .contains(&format!("is not the lmi plugin SDK {SDK_REQUIREMENT}.x")),
            "{err}"
        );
        let err = manifest("version.workspace = true").expect_err("inherited");
        assert!(err.0.contains("states no version of its own"), "{err}");
        assert!(manifest("version = \"0.3.7\"").is_ok());
    }

    /// What new plugins ask for is what this tree's SDK is.
    #[test]
    fn the_requirement_accepts_this_trees_sdk() {
        let toml: toml::Table = std::fs::read_to_string(the_sdk().join("Cargo.toml"))
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
}
