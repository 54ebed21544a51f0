//! Files: the two directories lmi may give a plugin, and errors that say which permission a
//! refusal comes from.
//!
//! * `files = "read"` or `"read-write"` in the manifest's `[permissions]`: the directory the
//!   user runs lmi in is the plugin's working directory. Open files there with relative
//!   paths (`app.yaml`, `out/report.json`).
//! * `data = true`: a directory of the plugin's own that persists between runs, at
//!   [`DATA_DIR`] (`/data`). `lmi plugin remove` deletes it unless given `--keep-data`.
//!
//! Nothing else is reachable: absolute paths elsewhere, `..` above either directory and
//! symbolic links that lead out of them are refused, and without a grant neither directory
//! exists. Use `std::fs` as usual; the sandbox answers a refusal with a bare error number, so
//! turn errors into messages with [`read_error`] and [`write_error`], which name the
//! permission the plugin lacks when that is the cause:
//!
//! ```no_run
//! use lmi_plugin_sdk::{files, PluginError};
//!
//! fn copy(from: &str, to: &str) -> Result<(), PluginError> {
//!     let body = std::fs::read(from).map_err(|e| files::read_error(from, &e))?;
//!     std::fs::write(to, body).map_err(|e| files::write_error(to, &e))?;
//!     Ok(())
//! }
//! ```

use std::io::{Error, ErrorKind};
use std::path::Path;

use crate::PluginError;

/// Where a plugin granted `data = true` finds its own directory inside the sandbox. It
/// persists between runs and upgrades, and only this plugin sees it.
///
/// ```no_run
/// let state = std::path::Path::new(lmi_plugin_sdk::DATA_DIR).join("state.json");
/// let last = std::fs::read_to_string(&state).unwrap_or_default();
/// ```
pub const DATA_DIR: &str = "/data";

/// What a plugin may do in the directory lmi runs in (its `files` grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No `files` grant: no file there can be opened.
    None,
    /// `files = "read"`: read files and list directories, change nothing.
    Read,
    /// `files = "read-write"`: also create, write, rename and delete.
    ReadWrite,
}

/// This run's `files` grant, found out without changing anything: the working directory
/// exists only with the grant, and only a read-only one refuses to open it for writing
/// (a writable one leaves the refusal to the system, which will not write a directory).
///
/// ```no_run
/// use lmi_plugin_sdk::files::{self, Access};
/// if files::working_dir_access() == Access::None {
///     eprintln!("this command needs the `files` permission");
/// }
/// ```
pub fn working_dir_access() -> Access {
    if std::fs::metadata(".").is_err() {
        return Access::None;
    }
    match std::fs::OpenOptions::new().write(true).open(".") {
        Err(e) if is_not_permitted(&e) => Access::Read,
        _ => Access::ReadWrite,
    }
}

/// `error` from reading `path` (opening, reading, listing) as a failure the user can act on.
///
/// ```
/// use lmi_plugin_sdk::files;
/// let e = std::fs::read("surely-missing.txt").unwrap_err();
/// let message = files::read_error("surely-missing.txt", &e).to_string();
/// assert!(message.starts_with("cannot read `surely-missing.txt`: "));
/// ```
pub fn read_error(path: impl AsRef<Path>, error: &Error) -> PluginError {
    PluginError::failed(explain("read", path.as_ref(), false, error))
}

/// `error` from changing `path` (creating, writing, renaming, deleting) as a failure the
/// user can act on.
///
/// ```
/// use lmi_plugin_sdk::files;
/// let e = std::fs::read("surely-missing.txt").unwrap_err();
/// assert!(files::write_error("out.txt", &e).to_string().starts_with("cannot write `out.txt`: "));
/// ```
pub fn write_error(path: impl AsRef<Path>, error: &Error) -> PluginError {
    PluginError::failed(explain("write", path.as_ref(), true, error))
}

/// The message behind [`read_error`] and [`write_error`].
fn explain(verb: &str, path: &Path, writing: bool, error: &Error) -> String {
    let shown = path.display();
    let in_data = path.starts_with(DATA_DIR);
    // Without a grant the directory is not there at all, so a refusal looks like a missing
    // file: ask whether the directory exists before blaming the file.
    let ungranted = error.kind() == ErrorKind::NotFound
        && if in_data {
            std::fs::metadata(DATA_DIR).is_err()
        } else {
            working_dir_access() == Access::None
        };
    let why = if ungranted || is_unreachable(error) {
        if in_data {
            "the plugin was not granted `data` (a data directory of its own)".to_owned()
        } else if path.is_relative() {
            "the plugin was not granted `files` (the directory lmi runs in)".to_owned()
        } else {
            format!(
                "a plugin may open only relative paths in the directory lmi runs in (with `files`) and its data directory {DATA_DIR} (with `data`)"
            )
        }
    } else if is_not_permitted(error) {
        if writing && !in_data && working_dir_access() == Access::Read {
            "the plugin was granted `files = \"read\"`: it may read files but not change them"
                .to_owned()
        } else {
            "it leads outside the directories the plugin may use (`..` or a symbolic link pointing out)"
                .to_owned()
        }
    } else if error.kind() == ErrorKind::NotFound && path.has_root() && !in_data {
        // Absolute paths name files in the working directory (`/app.yaml` is `app.yaml`).
        format!(
            "no such file: a plugin sees only the directory lmi runs in (with `files`) and its data directory {DATA_DIR} (with `data`)"
        )
    } else {
        return format!("cannot {verb} `{shown}`: {error}");
    };
    if error.kind() == ErrorKind::NotFound && !ungranted {
        return format!("cannot {verb} `{shown}`: {why}");
    }
    format!("cannot {verb} `{shown}`: no access: {why}")
}

/// No directory the plugin holds contains the path: the sandbox preopened none that matches
/// (the Rust standard library says so in words; C's libc says `ENOTCAPABLE`).
fn is_unreachable(error: &Error) -> bool {
    error.raw_os_error() == Some(ENOTCAPABLE) || error.to_string().contains("pre-opened")
}

/// The sandbox refused the operation itself (`EPERM`): a change under a read-only grant, or
/// a path that leaves its directory. The system's own refusals are `EACCES`.
fn is_not_permitted(error: &Error) -> bool {
    error.raw_os_error() == Some(EPERM)
        || (error.kind() == ErrorKind::PermissionDenied && error.raw_os_error().is_none())
}

// WASI's error numbers (wasi-libc), which a component sees; elsewhere the platform's.
#[cfg(target_os = "wasi")]
const EPERM: i32 = 63;
#[cfg(target_os = "wasi")]
const ENOTCAPABLE: i32 = 76;
#[cfg(not(target_os = "wasi"))]
const EPERM: i32 = 1;
#[cfg(not(target_os = "wasi"))]
const ENOTCAPABLE: i32 = -1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_names_what_the_plugin_lacks() {
        let unreachable = Error::other(
            "failed to find a pre-opened file descriptor through which \"x\" could be opened",
        );
        let msg = |verb, path: &str, writing, e: &Error| explain(verb, Path::new(path), writing, e);
        assert_eq!(
            msg("read", "app.yaml", false, &unreachable),
            "cannot read `app.yaml`: no access: the plugin was not granted `files` (the directory lmi runs in)"
        );
        assert_eq!(
            msg("write", "/data/state.json", true, &unreachable),
            "cannot write `/data/state.json`: no access: the plugin was not granted `data` (a data directory of its own)"
        );
        assert!(msg("read", "/etc/passwd", false, &unreachable).contains("only relative paths"));
        // Natively the working directory exists, so a missing file is just missing; an
        // absolute one is explained.
        let missing = Error::from(ErrorKind::NotFound);
        assert!(
            msg("read", "/etc/shadow-surely-missing", false, &missing)
                .contains("no such file: a plugin sees only")
        );
        let refused = Error::from_raw_os_error(EPERM);
        assert!(msg("read", "../x", false, &refused).contains("leads outside"));
        let missing = Error::from(ErrorKind::NotFound);
        assert_eq!(
            msg("read", "x", false, &missing),
            format!("cannot read `x`: {missing}")
        );
    }
}
