//! `.env` files parsed into a map (dotenvy's iterator: never `set_var`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// One parsed `.env` file. Values are kept in memory only as long as the process runs.
#[derive(Default, Clone)]
pub struct EnvFile {
    path: Option<PathBuf>,
    vars: BTreeMap<String, String>,
}

// Values may be secrets: Debug shows the keys only.
impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("path", &self.path)
            .field("keys", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Largest `.env` file read: settings are a few hundred bytes.
const ENV_FILE_LIMIT: u64 = 1 << 20;

impl EnvFile {
    /// Parses `path`; a file that does not exist is an empty map.
    pub fn load_optional(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            _ => Self::load(path),
        }
    }

    /// Parses `path`, which must exist.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_warning(path, true)
    }

    /// [`EnvFile::load_optional`] without the warnings about unknown keys and `$` in values:
    /// for reading another environment's file in passing (the group claims a sign-in keeps),
    /// where they would be noise; the commands that use the file warn.
    pub fn load_optional_quietly(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            _ => Self::load_warning(path, false),
        }
    }

    fn load_warning(path: &Path, warn: bool) -> Result<Self, ConfigError> {
        let unreadable = |reason: String| ConfigError::Unreadable {
            file: path.to_owned(),
            reason,
        };
        // Read once: parsed by dotenvy, and scanned for values it would expand.
        // The message names the file once (in `unreadable`), never what is in it.
        let bytes = crate::fsutil::read_user_file(path, ENV_FILE_LIMIT).map_err(|e| {
            unreadable(match e.kind() {
                std::io::ErrorKind::InvalidInput => "not a regular file".to_owned(),
                std::io::ErrorKind::InvalidData => {
                    format!("larger than {} KiB", ENV_FILE_LIMIT >> 10)
                }
                _ => e.to_string(),
            })
        })?;
        let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text".into()))?;
        let mut vars = BTreeMap::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            let (k, v) = item.map_err(|e| unreadable(describe(&e)))?;
            vars.insert(k, v);
        }
        if !warn {
            return Ok(Self {
                path: Some(path.to_owned()),
                vars,
            });
        }
        // Only keys dotenvy parsed: a continuation line of a multi-line quoted value (a
        // secret's tail) looks like `KEY=…` to the line scanner and must not be echoed.
        for (line, key, close) in unknown_keys(&text)
            .into_iter()
            .filter(|(_, key, _)| vars.contains_key(key))
        {
            let guess = close
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            crate::output::warn(format_args!(
                "{}:{line}: lmi does not know the key {key}{guess}; it is ignored",
                path.display()
            ));
        }
        for (line, key) in expanded_keys(&text) {
            crate::output::warn(format_args!(
                "{}:{line}: the value of {key} contains `$`, which .env files expand as a variable, \
                 so lmi does not see the text as written; put the value in single quotes ('…') to keep it literal",
                path.display()
            ));
        }
        Ok(Self {
            path: Some(path.to_owned()),
            vars,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// A file's values held in memory, as if read from `path`: what an edit will write
    /// ([`super::EnvFileEdit`]), looked at before it is written.
    pub fn from_values(path: &Path, vars: BTreeMap<String, String>) -> Self {
        Self {
            path: Some(path.to_owned()),
            vars,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// `KEY=value` lines: (line number, key, value as written).
fn assignments(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=')?;
        (!key.trim_start().starts_with('#')).then(|| (i + 1, key.trim(), value.trim_start()))
    })
}

/// Keys lmi does not read (with their line numbers and the known key each is close to) that
/// look meant for it: `OAUTH_…` and `LMI_…` names, and any name close to one of its keys.
/// Other names may be helpers for `$NAME` expansion and are left alone.
fn unknown_keys(text: &str) -> Vec<(usize, String, Option<&'static str>)> {
    assignments(text)
        .filter(|(_, key, _)| !super::keys::is_known(key))
        .filter_map(|(line, key, _)| {
            let close = super::keys::closest(key);
            let ours = key.starts_with("OAUTH_") || key.starts_with("LMI_");
            (ours || close.is_some()).then(|| (line, crate::text::line(key, 80), close))
        })
        .collect()
}

/// Secret keys (with their line numbers) whose value dotenvy will expand: a `$` outside single
/// quotes. dotenvy substitutes `$NAME` and `${NAME}` from the process environment and earlier
/// lines and offers no switch to turn that off, so a secret such as `ab$cd` silently becomes
/// `ab`. Other keys may use the expansion on purpose.
fn expanded_keys(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (line, key, value) in assignments(text) {
        if !super::SECRET_KEYS.contains(&key) || value.starts_with('\'') {
            continue;
        }
        let value = value.split(" #").next().unwrap_or(value);
        if value.contains('$') {
            found.push((line, key.to_owned()));
        }
    }
    found
}

/// dotenvy's parse errors quote the offending line, which may hold a secret; keep only where.
pub(super) fn describe(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("syntax error at character {index} (expected KEY=VALUE)")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "malformed file".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_and_unknown_keys_of_lmis_are_named_with_their_line() {
        let text = "OAUTH_CLIENT_ID=x\nOAUTH_CLIENT_SCRET=y\n# OAUTH_OLD=1\nMY_HELPER=z\nLMI_NOT_A_KEY=1\nOAUTH_SERVICE_BILLING_URL=https://b\n";
        assert_eq!(
            unknown_keys(text),
            vec![
                (
                    2,
                    "OAUTH_CLIENT_SCRET".to_owned(),
                    Some("OAUTH_CLIENT_SECRET")
                ),
                (5, "LMI_NOT_A_KEY".to_owned(), None),
            ]
        );
    }

    /// dotenvy expands `$…` in unquoted and double-quoted values: a secret holding `$` is
    /// changed. lmi cannot turn that off, so it names the key and the fix.
    #[test]
    fn a_dollar_outside_single_quotes_is_flagged_because_dotenvy_expands_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dev.env");
        let text = "OAUTH_CLIENT_SECRET=ab$LMI_SURELY_UNSET_VAR_X\n\
                    OAUTH_PASSWORD='pa$$word'\n\
                    export OAUTH_CLIENT_SECRET=\"me${LMI_SURELY_UNSET_VAR_Y}\"\n\
                    OAUTH_SERVICE_URL=$BASE/api\n\
                    # A comment with $ in it\n\
                    OAUTH_SCOPE=read\n";
        std::fs::write(&path, text).unwrap();
        let file = EnvFile::load(&path).unwrap();
        assert_ne!(
            file.get("OAUTH_CLIENT_SECRET"),
            Some("ab$LMI_SURELY_UNSET_VAR_X"),
            "dotenvy changed the value"
        );
        assert_eq!(file.get("OAUTH_PASSWORD"), Some("pa$$word"));
        assert_eq!(
            expanded_keys(text),
            vec![
                (1, "OAUTH_CLIENT_SECRET".to_owned()),
                (3, "OAUTH_CLIENT_SECRET".to_owned())
            ]
        );
    }

    /// A settings file that is a FIFO (it would block forever), too large, or not text is
    /// refused, naming the file.
    #[test]
    fn an_env_file_that_is_not_a_small_text_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let big = tmp.path().join("big.env");
        std::fs::write(&big, "A=1\n".repeat(300_000)).unwrap();
        let binary = tmp.path().join("binary.env");
        std::fs::write(&binary, [0xff, 0xfe, b'\n']).unwrap();
        let mut cases = vec![(big, "larger than 1024 KiB"), (binary, "not UTF-8 text")];
        #[cfg(unix)]
        {
            let fifo = tmp.path().join("fifo.env");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo");
            cases.push((fifo, "not a regular file"));
        }
        for (path, why) in cases {
            let err = EnvFile::load(&path).unwrap_err().to_string();
            assert!(err.contains(&*path.to_string_lossy()), "{err}");
            assert!(err.ends_with(why), "{err}");
        }
    }
}
