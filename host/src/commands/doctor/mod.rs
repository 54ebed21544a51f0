//! `lmi doctor`: one line per check, a fix for each failure, non-zero exit when something is
//! wrong.
//!
//! Checks, in order: the configuration files (readable, parseable, secrets not readable by
//! others), each environment's grant configuration, token cache and token-endpoint
//! reachability, the keychain (or the opted-in file storage), the SSO issuer's discovery
//! document and the clock against its `Date` header, and each installed plugin with its
//! compiled artifact. Doctor only reads: it never sends a credential, never fetches a token
//! and never writes a file. Every network call and the keychain probe have short timeouts, so
//! the whole run is bounded however broken the machine is.

use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use crate::auth::cache::CacheState;
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::plugins::store::Store;
use crate::runtime::{self, ArtifactCache, component_sha256};
use crate::settings::{EnvFile, SECRET_KEYS, Settings};

/// Longest wait for one network check or the keychain.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock difference with the issuer beyond which ID tokens start failing validation.
const MAX_SKEW_SECS: i64 = 60;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Skip the checks that use the network (token endpoints, the SSO issuer).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Worth knowing, repaired automatically or harmless: does not fail the run.
    Warn,
    Fail,
    /// Not applicable (nothing configured to check).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check's outcome. `fix` is set for every failure and warning.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail, None::<String>)
    }
    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, detail, None::<String>)
    }
    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Warn, detail, Some(fix))
    }
    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, detail, Some(fix))
    }
    fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: fix.map(Into::into),
        }
    }
}

impl DoctorArgs {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        let checks = diagnose(&ctx.settings, !self.offline);
        report(&checks, ctx.output);
        let failed = checks.iter().any(|c| c.status == Status::Fail);
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Runs every check. `network` off skips token endpoints and the issuer.
pub fn diagnose(settings: &Settings, network: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(config_checks(settings));
    checks.push(trust_check(settings));
    for env in settings.environments().names {
        checks.extend(env_checks(settings, &env, network));
    }
    checks.push(keychain_check(settings));
    checks.extend(sso_checks(settings, network));
    checks.extend(plugin_checks(settings));
    checks
}

fn report(checks: &[Check], format: OutputFormat) {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    match format {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = checks
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "check": c.name,
                        "status": c.status.label().to_ascii_lowercase(),
                        "detail": c.detail,
                        "fix": c.fix,
                    })
                })
                .collect();
            output::json(&serde_json::json!({
                "checks": items,
                "failures": count(Status::Fail),
                "warnings": count(Status::Warn),
            }));
        }
        OutputFormat::Text => {
            let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for c in checks {
                let mut line = format!("{:<4}  {:<width$}  {}", c.status.label(), c.name, c.detail);
                if let Some(fix) = &c.fix {
                    line.push_str(&format!(" — fix: {fix}"));
                }
                output::line(line);
            }
            output::line(format_args!(
                "{} checks: {} ok, {} warnings, {} failures",
                checks.len(),
                count(Status::Ok),
                count(Status::Warn),
                count(Status::Fail)
            ));
        }
    }
}

// ---- configuration ---------------------------------------------------------------------

/// Which certificate authorities HTTPS connections trust (read offline: no connection).
fn trust_check(settings: &Settings) -> Check {
    match crate::tls::Trust::for_process(settings.global(crate::tls::CA_BUNDLE_KEY)) {
        Ok(trust) => Check::ok(
            "tls",
            format!(
                "trusting {}",
                trust
                    .sources
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ),
        Err(e) => Check::fail(
            "tls",
            e.to_string(),
            format!(
                "point {} at a readable PEM file holding your company's CA certificate",
                crate::tls::CA_BUNDLE_KEY
            ),
        ),
    }
}

fn config_checks(settings: &Settings) -> Vec<Check> {
    let paths = settings.paths();
    let mut checks = Vec::new();
    let global = paths.global_env_file();
    // The global file was parsed to get here; only its permissions are left to check.
    if global.exists() {
        checks.push(match exposed_secrets(&global, settings.global_file()) {
            Some(check) => check,
            None => Check::ok("config", format!("{} parses", global.display())),
        });
    } else {
        checks.push(Check::skip(
            "config",
            format!("no global config at {} (optional)", global.display()),
        ));
    }
    match settings.default_env() {
        Some(env) if !paths.env_file(env).exists() && settings.env_config(env).is_ok() => {
            checks.push(Check::warn(
                "config",
                format!(
                    "default_environment is `{env}`, but {} does not exist",
                    paths.env_file(env).display()
                ),
                format!(
                    "create {} or change default_environment in {}",
                    paths.env_file(env).display(),
                    global.display()
                ),
            ));
        }
        _ => {}
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = paths.token_dir();
        if let Ok(meta) = std::fs::metadata(&dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            checks.push(Check::fail(
                "config",
                format!(
                    "the token cache {} is open to others (mode {:o})",
                    dir.display(),
                    meta.permissions().mode() & 0o777
                ),
                format!("chmod 700 {}", dir.display()),
            ));
        }
    }
    for ignored in settings.environments().ignored {
        checks.push(Check::warn(
            "config",
            format!(
                "{} is ignored: its name is not a valid environment name",
                ignored.display()
            ),
            "rename it to <name>.env using letters, digits, `-` and `_`",
        ));
    }
    checks
}

/// A file holding a secret that group or others can read.
fn exposed_secrets(path: &Path, file: &EnvFile) -> Option<Check> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        let secrets: Vec<&str> = file.keys().filter(|k| SECRET_KEYS.contains(k)).collect();
        if mode & 0o077 != 0 && !secrets.is_empty() {
            return Some(Check::fail(
                "config",
                format!(
                    "{} holds {} but is readable by others (mode {:o})",
                    path.display(),
                    secrets.join(", "),
                    mode & 0o777
                ),
                format!("chmod 600 {}", path.display()),
            ));
        }
    }
    let _ = (path, file);
    None
}

// ---- environments ----------------------------------------------------------------------

fn env_checks(settings: &Settings, env: &str, network: bool) -> Vec<Check> {
    let name = format!("env {env}");
    let cfg = match settings.env_config(env) {
        Ok(cfg) => cfg,
        Err(e) => {
            return vec![Check::fail(
                name,
                e.to_string(),
                format!(
                    "fix or recreate {}",
                    settings.paths().env_file(env).display()
                ),
            )];
        }
    };
    let mut checks = Vec::new();
    if let Some(path) = cfg.file_exists().then(|| cfg.file_path().to_owned())
        && let Ok(file) = EnvFile::load(&path)
        && let Some(check) = exposed_secrets(&path, &file)
    {
        checks.push(Check {
            name: name.clone(),
            ..check
        });
    }
    let status = crate::auth::service::status(settings, env);
    let grant = match status.grant {
        Ok(g) => g,
        Err(e) => {
            checks.push(Check::fail(
                name,
                e.to_string(),
                format!("set the key in {}", cfg.file_path().display()),
            ));
            return checks;
        }
    };
    checks.push(match &status.cache {
        CacheState::Unusable(why) => Check::warn(
            name.clone(),
            format!(
                "token cache is unusable ({why}); it will be discarded and a new token requested"
            ),
            format!(
                "nothing to do, or delete {}",
                settings
                    .paths()
                    .token_dir()
                    .join(format!("{env}.json"))
                    .display()
            ),
        ),
        CacheState::Present(t) if !t.is_fresh(crate::auth::lifetime::now_secs()) => Check::ok(
            name.clone(),
            format!(
                "{} grant; cached token expired (renewed on next use)",
                grant.grant.as_str()
            ),
        ),
        CacheState::Present(_) => Check::ok(
            name.clone(),
            format!("{} grant; cached token valid", grant.grant.as_str()),
        ),
        CacheState::Missing => Check::ok(
            name.clone(),
            format!("{} grant; no cached token yet", grant.grant.as_str()),
        ),
    });
    if network {
        checks.push(match probe(settings, &grant.token_url) {
            Ok(p) => Check::ok(
                name,
                format!(
                    "token endpoint {} answers (HTTP {})",
                    grant.endpoint(),
                    p.status
                ),
            ),
            Err(why) => Check::fail(
                name,
                format!("token endpoint {} is unreachable: {why}", grant.endpoint()),
                format!(
                    "check OAUTH_TOKEN_URL in {} and your network or VPN",
                    cfg.file_path().display()
                ),
            ),
        });
    }
    checks
}

/// What a reachability probe saw: any HTTP answer means the endpoint is there.
struct Probe {
    status: u16,
    date: Option<SystemTime>,
    body: Vec<u8>,
}

/// A credential-free GET with short timeouts and no redirects; at most 1 MiB of body read.
fn probe(settings: &Settings, url: &url::Url) -> Result<Probe, String> {
    use crate::auth::http::{Http, HttpFailure};
    // lmi's own client: the same trusted roots, proxy rules and total deadline as every
    // request lmi makes, with the probe's shorter deadline.
    let http = Http::with_timeout(settings, PROBE_TIMEOUT.as_secs()).map_err(|e| e.to_string())?;
    let request = http
        .request(reqwest::Method::GET, url.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let reply = http.execute(request, 1 << 20).map_err(|e| match e {
        HttpFailure::Timeout(_) => format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        HttpFailure::Connect(_) => "connection refused or host not found".to_owned(),
        other => other.to_string(),
    })?;
    let date = reply
        .headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    Ok(Probe {
        status: reply.status.as_u16(),
        date,
        body: reply.body,
    })
}

/// An RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(v: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? + 1;
    humantime::parse_rfc3339(&format!("{year}-{m:02}-{:0>2}T{time}Z", day)).ok()
}

// ---- keychain --------------------------------------------------------------------------

fn keychain_check(settings: &Settings) -> Check {
    if settings
        .global("LMI_SSO_STORAGE")
        .is_some_and(|v| v.eq_ignore_ascii_case("file"))
    {
        return Check::ok(
            "keychain",
            "not used: LMI_SSO_STORAGE=file keeps the SSO session in a 0600 file",
        );
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = keyring::Entry::new("lmi-doctor", "probe").and_then(|e| e.get_password());
        let _ = tx.send(result);
    });
    // Without SSO configured nothing needs the keychain yet: a missing one is only a warning.
    let sso_configured = settings.global("OAUTH_SSO_ISSUER").is_some()
        || settings.global("OAUTH_SSO_CLIENT_ID").is_some();
    let problem = match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Ok(_)) | Ok(Err(keyring::Error::NoEntry)) => {
            return Check::ok("keychain", "the OS keychain answers");
        }
        Ok(Err(e)) => format!("the OS keychain is not reachable: {e}"),
        Err(_) => format!(
            "the OS keychain did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ),
    };
    if sso_configured {
        Check::fail("keychain", problem, KEYCHAIN_FIX)
    } else {
        Check::warn(
            "keychain",
            format!("{problem} (needed once SSO is configured)"),
            KEYCHAIN_FIX,
        )
    }
}

const KEYCHAIN_FIX: &str = "start and unlock a Secret Service (gnome-keyring, KWallet, KeePassXC; over SSH: `dbus-run-session` and `gnome-keyring-daemon --unlock`), or opt into file storage with LMI_SSO_STORAGE=file";

// ---- SSO issuer --------------------------------------------------------------------------

fn sso_checks(settings: &Settings, network: bool) -> Vec<Check> {
    let Some(raw) = settings.global("OAUTH_SSO_ISSUER") else {
        return vec![Check::skip(
            "sso",
            "OAUTH_SSO_ISSUER is not set (SSO not configured)",
        )];
    };
    let where_ = settings.source_of("OAUTH_SSO_ISSUER");
    let issuer = match url::Url::parse(raw.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            return vec![Check::fail(
                "sso",
                format!("OAUTH_SSO_ISSUER in {where_} is not an http(s) URL"),
                format!(
                    "set OAUTH_SSO_ISSUER in {where_} to the issuer URL, e.g. https://login.example.com"
                ),
            )];
        }
    };
    if !network {
        return vec![Check::skip("sso", "issuer not contacted (--offline)")];
    }
    let well_known = format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    );
    let discovery = match url::Url::parse(&well_known) {
        Ok(u) => u,
        Err(e) => return vec![Check::fail("sso", e.to_string(), "fix OAUTH_SSO_ISSUER")],
    };
    let shown = crate::logging::redact_url(&discovery);
    let p = match probe(settings, &discovery) {
        Ok(p) => p,
        Err(why) => {
            return vec![Check::fail(
                "sso",
                format!("discovery document {shown} is unreachable: {why}"),
                format!("check OAUTH_SSO_ISSUER in {where_} and your network or VPN"),
            )];
        }
    };
    let mut checks = Vec::new();
    let doc: Option<serde_json::Value> = serde_json::from_slice(&p.body).ok();
    checks.push(match (p.status, doc) {
        (200, Some(doc)) => {
            let said = doc
                .get("issuer")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            if said.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
                Check::fail(
                    "sso",
                    format!("the discovery document names the issuer `{said}`, not `{raw}`"),
                    format!("set OAUTH_SSO_ISSUER in {where_} to exactly `{said}`"),
                )
            } else {
                let missing: Vec<&str> = ["authorization_endpoint", "token_endpoint", "jwks_uri"]
                    .into_iter()
                    .filter(|k| doc.get(*k).and_then(|v| v.as_str()).is_none())
                    .collect();
                if missing.is_empty() {
                    Check::ok(
                        "sso",
                        format!("issuer {said} publishes its discovery document"),
                    )
                } else {
                    Check::warn(
                        "sso",
                        format!("the discovery document lacks {}", missing.join(", ")),
                        "set the matching OAUTH_SSO_*_URL keys in the global .env",
                    )
                }
            }
        }
        (200, None) => Check::fail(
            "sso",
            format!("{shown} is not a JSON discovery document"),
            format!("check OAUTH_SSO_ISSUER in {where_}"),
        ),
        (status, _) => Check::fail(
            "sso",
            format!("{shown} answered HTTP {status}"),
            format!("check OAUTH_SSO_ISSUER in {where_}"),
        ),
    });
    checks.push(match p.date {
        None => Check::skip("clock", "the issuer sent no Date header to compare with"),
        Some(theirs) => {
            let skew = skew_secs(SystemTime::now(), theirs);
            if skew.abs() > MAX_SKEW_SECS {
                Check::fail(
                    "clock",
                    format!("this machine's clock is {skew:+} s off the issuer's"),
                    "synchronise the system clock (e.g. `timedatectl set-ntp true`): ID tokens are rejected beyond a small leeway",
                )
            } else {
                Check::ok("clock", format!("within {} s of the issuer's", skew.abs().max(1)))
            }
        }
    });
    checks
}

/// Seconds `ours` is ahead of `theirs` (negative: behind).
fn skew_secs(ours: SystemTime, theirs: SystemTime) -> i64 {
    match ours.duration_since(theirs) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

// ---- plugins -------------------------------------------------------------------------------

fn plugin_checks(settings: &Settings) -> Vec<Check> {
    let paths = settings.paths();
    let store = Store::new(paths);
    let (plugins, problems) = store.list();
    let mut checks: Vec<Check> = problems
        .into_iter()
        .map(|p| Check::fail("plugins", p, "reinstall it with `lmi plugin install <DIR>`"))
        .collect();
    if plugins.is_empty() && checks.is_empty() {
        checks.push(Check::skip("plugins", "no plugins installed"));
        return checks;
    }
    let engine = match runtime::engine() {
        Ok(e) => e,
        Err(e) => {
            checks.push(Check::fail(
                "plugins",
                format!("cannot start wasmtime: {e:#}"),
                "report this as a bug",
            ));
            return checks;
        }
    };
    let cache = ArtifactCache::new(paths.compiled_dir(), &engine);
    for plugin in plugins {
        let name = format!("plugin {}", plugin.manifest.name);
        let label = plugin.label();
        let reinstall = match plugin.record.linked {
            true => format!("lmi plugin install --link {}", plugin.dir.display()),
            false => format!("lmi plugin install <DIR of {}>", plugin.manifest.name),
        };
        if let Err(why) = plugin.manifest.host_compatible() {
            checks.push(Check::fail(
                name,
                why,
                "install a version of the plugin built for this lmi",
            ));
            continue;
        }
        let bytes = match std::fs::read(plugin.component_path()) {
            Ok(b) => b,
            Err(e) => {
                checks.push(Check::fail(
                    name,
                    format!(
                        "{label}: cannot read its component {}: {e}",
                        plugin.component_path().display()
                    ),
                    reinstall,
                ));
                continue;
            }
        };
        let sha = component_sha256(&bytes);
        if !plugin.record.linked && sha != plugin.record.sha256 {
            checks.push(Check::fail(
                name,
                format!("{label}: its component was modified after installation and will not run"),
                reinstall,
            ));
            continue;
        }
        let artifact = cache.path_for(&sha);
        checks.push(if !artifact.exists() {
            Check::warn(
                name,
                format!("{label}: no compiled artifact for this lmi; the first run compiles it"),
                format!("nothing to do, or `{reinstall}` to compile now"),
            )
        } else {
            match cache.load(&engine, &sha) {
                Ok(_) => Check::ok(name, format!("{label}: component and compiled artifact intact")),
                Err(_) => Check::warn(
                    name,
                    format!(
                        "{label}: compiled artifact {} is damaged or unusable; the next run rebuilds it",
                        artifact.display()
                    ),
                    format!("nothing to do, or `{reinstall}`"),
                ),
            }
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(t, humantime::parse_rfc3339("1994-11-06T08:49:37Z").ok());
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn skew_has_a_sign() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(skew_secs(t, t - Duration::from_secs(90)), 90);
        assert_eq!(skew_secs(t, t + Duration::from_secs(90)), -90);
    }
}
