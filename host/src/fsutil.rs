//! File helpers shared by every store lmi keeps: private directories, atomic replacement, and
//! reads of lmi's own state that trust only what the user alone could have written.
//!
//! The trust rule (OpenSSH's `secure_path`, extended for sticky directories): a state file is
//! read only if it is a regular file reached without following a link, owned by the user and
//! writable by nobody else, and every directory from it up to `/` is owned by the user or
//! root and is not writable by others unless it is sticky (like `/tmp`, where others cannot
//! rename what they do not own). Anything else is refused with an error naming the path.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Creates a directory (and any missing parents) readable only by the user: 0700 on Unix,
/// whatever the umask. An existing directory of ours is tightened to 0700 if it was looser.
/// Then the directory must pass the trust rule: state is never written where someone else
/// could swap it, since lmi would read it back.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // An existing directory keeps its mode with DirBuilder; tighten it (only our own:
        // someone else's is refused by the check below, not adopted).
        let meta = std::fs::metadata(dir)?;
        if meta.permissions().mode() & 0o077 != 0 && meta.uid() == trust::euid() {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        check_trusted_dir(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates the missing directories of a path the user chose (`LMI_LOG_FILE`,
/// `LMI_AUDIT_LOG`): new ones `0700`, whatever the umask; the user's existing directories
/// keep their modes.
pub fn create_user_dirs(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Atomic replacements under way, and whether the process has stopped starting them (it is
/// ending on a signal: `finish_writes`).
static WRITING: AtomicUsize = AtomicUsize::new(0);
static ENDING: AtomicBool = AtomicBool::new(false);

/// How long a process ending on Ctrl-C waits for replacements under way (each is a write, an
/// fsync and a rename of a small file).
pub const FINISH_WRITES_WAIT: Duration = Duration::from_secs(2);

/// One replacement under way; refused once the process is ending, so none starts that the
/// exit would cut in half (leaving its temp file behind).
struct Writing;

impl Writing {
    fn begin() -> std::io::Result<Self> {
        // SeqCst on both sides: either `finish_writes` sees this count, or this sees ENDING.
        WRITING.fetch_add(1, Ordering::SeqCst);
        if ENDING.load(Ordering::SeqCst) {
            WRITING.fetch_sub(1, Ordering::SeqCst);
            // Not `ErrorKind::Interrupted`, which std's write loops retry.
            return Err(std::io::Error::other(
                "lmi is stopping (Ctrl-C): nothing more is written",
            ));
        }
        Ok(Writing)
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        WRITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Before a process ends on a signal while other threads may be writing (a token fetch a
/// plugin run started): starts no more replacements and waits up to `wait` for those under
/// way. Returns whether none was left.
pub fn finish_writes(wait: Duration) -> bool {
    ENDING.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + wait;
    while WRITING.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Replaces `path` atomically with `bytes`: a temp file in the same directory (created 0600
/// by `tempfile`), fsync, rename. Readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _writing = Writing::begin()?;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Replaces a file the user keeps (a configuration file lmi edits for them) atomically with
/// `bytes`, as [`write_atomic`] does: a `0600` temp file in the same directory, fsync,
/// rename, then the directory synced, so a crash leaves the old file or the new one. Missing
/// directories are created `0700`; the user's existing ones keep their modes but must pass
/// the trust rule, as must an existing file ([`check_user_file`]: a link is refused, never
/// replaced by a copy).
pub fn replace_user_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _writing = Writing::begin()?;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    create_user_dirs(dir)?;
    check_trusted_dir(dir)?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) => check_user_file(path, &meta)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".lmi-edit-")
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// A file lmi is about to replace or edit for the user (`meta` from `symlink_metadata`): a
/// regular file, not a link, owned by the user. Anything else is `PermissionDenied` (a link,
/// another owner) or `InvalidInput` (a FIFO, a directory), naming the path.
pub fn check_user_file(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    let refused = |kind, why: &str| std::io::Error::new(kind, format!("{} {why}", path.display()));
    if meta.file_type().is_symlink() {
        return Err(refused(
            std::io::ErrorKind::PermissionDenied,
            "is a symbolic link: lmi edits only a regular file (edit the file it points to, or put that file in its place)",
        ));
    }
    if !meta.is_file() {
        return Err(refused(
            std::io::ErrorKind::InvalidInput,
            "is not a regular file",
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != trust::euid() {
            return Err(refused(
                std::io::ErrorKind::PermissionDenied,
                &format!(
                    "is owned by uid {}, not by you (uid {}): lmi does not edit it",
                    meta.uid(),
                    trust::euid()
                ),
            ));
        }
    }
    Ok(())
}

/// Opens a file lmi appends to (its log, its audit trail), creating it `0600` if missing.
/// Never through a symbolic link (`O_NOFOLLOW`: a link planted at `path` is refused, not
/// followed), never a FIFO or device (opened non-blocking, then it must be a regular file),
/// and only a file the user owns; an existing file looser than `0600` is tightened. Every
/// write on the returned descriptor goes to the end (`O_APPEND`), so concurrent writers each
/// land whole. The directory is the caller's to create and check.
pub fn open_private_append(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = match opts.open(path) {
        Ok(file) => file,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{}: it is a symbolic link; lmi does not write through links",
                    path.display()
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = file.metadata()?;
        let refused = |why: String| {
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{}: {why}", path.display()),
            )
        };
        if !meta.is_file() {
            return Err(refused("not a regular file".into()));
        }
        if meta.uid() != trust::euid() {
            return Err(refused(format!(
                "owned by uid {}, not by you (uid {})",
                meta.uid(),
                trust::euid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// Opens one of lmi's state files for reading under the trust rule above. A missing file is
/// `ErrorKind::NotFound`; a file or directory that fails the rule is
/// `ErrorKind::PermissionDenied` with a message naming the path and what is wrong.
pub fn open_trusted(path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        trust::open(path)
    }
    #[cfg(not(unix))]
    {
        File::open(path)
    }
}

/// Reads a state file under the trust rule, refusing one larger than `limit` bytes.
pub fn read_trusted(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_limited(open_trusted(path)?, path, limit)
}

/// Reads a file the user keeps (a configuration file) of at most `limit` bytes, refusing one
/// that is not a regular file: a FIFO or a device would block or never end.
pub fn read_user_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    read_limited(File::open(path)?, path, limit)
}

fn read_limited(file: File, path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: larger than {limit} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// A directory that passed the trust rule, held open: files in it are opened relative to the
/// very descriptor that was checked, so several reads in one directory pay for one check of
/// the directory chain.
pub struct TrustedDir {
    path: std::path::PathBuf,
    #[cfg(unix)]
    file: File,
}

impl TrustedDir {
    /// Opens `dir` and checks it (and every directory above it) under the trust rule. A
    /// missing directory is `ErrorKind::NotFound`, one that fails is `PermissionDenied`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            path: dir.to_owned(),
            #[cfg(unix)]
            file: trust::open_dir(dir)?,
        })
    }

    /// Opens the file `name` in this directory under the trust rule (see [`open_trusted`]).
    pub fn open_file(&self, name: &std::ffi::OsStr) -> std::io::Result<File> {
        #[cfg(unix)]
        {
            trust::open_in(&self.file, &self.path.join(name), name)
        }
        #[cfg(not(unix))]
        {
            File::open(self.path.join(name))
        }
    }

    /// Reads the file `name` in this directory, refusing one larger than `limit` bytes.
    pub fn read_file(&self, name: &std::ffi::OsStr, limit: u64) -> std::io::Result<Vec<u8>> {
        read_limited(self.open_file(name)?, &self.path.join(name), limit)
    }
}

/// Checks a directory lmi keeps state in (and every directory above it) under the trust rule.
pub fn check_trusted_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        trust::check_dir_chain(dir)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod trust {
    use std::fs::{File, Metadata};
    use std::io::{Error, ErrorKind};
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    pub fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    fn refused(path: &Path, why: String) -> Error {
        Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{}: {why}; lmi does not trust files others could have written (fix the ownership and mode, or remove it)",
                path.display()
            ),
        )
    }

    /// The directory itself: ours, writable only by us.
    fn check_own(path: &Path, meta: &Metadata, what: &str) -> Result<(), Error> {
        let me = euid();
        if meta.uid() != me {
            return Err(refused(
                path,
                format!(
                    "the {what} is owned by uid {}, not by you (uid {me})",
                    meta.uid()
                ),
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(refused(
                path,
                format!(
                    "the {what} is writable by others (mode {:o})",
                    meta.mode() & 0o7777
                ),
            ));
        }
        Ok(())
    }

    /// `dir` must be ours; every directory above it ours or root's, and not writable by
    /// others unless sticky.
    pub fn check_dir_chain(dir: &Path) -> Result<(), Error> {
        check_links(dir)?;
        let real = std::fs::canonicalize(dir)?;
        let meta = std::fs::metadata(&real)?;
        if !meta.is_dir() {
            return Err(refused(dir, "not a directory".into()));
        }
        check_own(dir, &meta, "directory")?;
        let me = euid();
        for ancestor in real.ancestors().skip(1) {
            let meta = std::fs::metadata(ancestor)?;
            if meta.uid() != me && meta.uid() != 0 {
                return Err(refused(
                    ancestor,
                    format!(
                        "a directory above lmi's files is owned by uid {}, not by you or root",
                        meta.uid()
                    ),
                ));
            }
            let sticky = meta.mode() & 0o1000 != 0;
            if meta.mode() & 0o022 != 0 && !sticky {
                return Err(refused(
                    ancestor,
                    format!(
                        "a directory above lmi's files is writable by others (mode {:o})",
                        meta.mode() & 0o7777
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Symbolic links on the way to `path` (`XDG_CACHE_HOME=/tmp/link`): each must be the
    /// user's or root's, in a directory others cannot write (or a sticky one), or whoever
    /// owns it could point lmi elsewhere between a check and a use.
    fn check_links(path: &Path) -> Result<(), Error> {
        let me = euid();
        let mut cur = std::path::PathBuf::new();
        for part in std::path::absolute(path)?.components() {
            cur.push(part);
            let Ok(meta) = std::fs::symlink_metadata(&cur) else {
                continue;
            };
            if !meta.file_type().is_symlink() {
                continue;
            }
            if meta.uid() != me && meta.uid() != 0 {
                return Err(refused(
                    &cur,
                    format!(
                        "a symbolic link on the way to lmi's files is owned by uid {}, not by you or root",
                        meta.uid()
                    ),
                ));
            }
            if let Some(parent) = cur.parent()
                && let Ok(dir) = std::fs::metadata(parent)
                && dir.mode() & 0o022 != 0
                && dir.mode() & 0o1000 == 0
            {
                return Err(refused(
                    &cur,
                    format!(
                        "a symbolic link on the way to lmi's files sits in a directory others can write (mode {:o})",
                        dir.mode() & 0o7777
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn open(path: &Path) -> Result<File, Error> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "path has no file name"))?;
        open_in(&open_dir(dir)?, path, name)
    }

    /// Opens the directory first, then checks that what was opened is the directory whose
    /// ancestors were checked; files are then opened relative to it ([`open_in`]).
    pub fn open_dir(dir: &Path) -> Result<File, Error> {
        let dir_file = File::open(dir)?;
        let dir_meta = dir_file.metadata()?;
        // The directory actually opened must itself pass, not only what the path names now.
        check_own(dir, &dir_meta, "directory")?;
        check_dir_chain(dir)?;
        let checked = std::fs::metadata(dir)?;
        if (checked.dev(), checked.ino()) != (dir_meta.dev(), dir_meta.ino()) {
            return Err(refused(
                dir,
                "the directory changed while it was checked".into(),
            ));
        }
        Ok(dir_file)
    }

    /// Opens `name` relative to the checked directory `dir_file` without following links;
    /// `path` names it in errors.
    pub fn open_in(dir_file: &File, path: &Path, name: &std::ffi::OsStr) -> Result<File, Error> {
        let c_name = std::ffi::CString::new(name.as_bytes())
            .map_err(|_| Error::new(ErrorKind::InvalidInput, "file name contains NUL"))?;
        use std::os::fd::AsRawFd;
        // SAFETY: `dir_file` is an open directory and `c_name` a NUL-terminated name; the
        // returned descriptor is owned by the `File` built from it.
        let fd = unsafe {
            libc::openat(
                dir_file.as_raw_fd(),
                c_name.as_ptr(),
                // O_NONBLOCK: a planted FIFO cannot hang the open (it is refused below).
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            let e = Error::last_os_error();
            if e.raw_os_error() == Some(libc::ELOOP) {
                return Err(refused(path, "it is a symbolic link".into()));
            }
            return Err(e);
        }
        // SAFETY: `fd` was just returned by openat and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(refused(path, "not a regular file".into()));
        }
        check_own(path, &meta, "file")?;
        Ok(file)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_file_in_a_private_dir_is_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        create_private_dir(&dir).unwrap();
        write_atomic(&dir.join("f"), b"hello").unwrap();
        assert_eq!(read_trusted(&dir.join("f"), 100).unwrap(), b"hello");
        assert!(read_trusted(&dir.join("f"), 3).is_err());
        assert_eq!(
            read_trusted(&dir.join("missing"), 100).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn links_group_writable_files_and_dirs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        create_private_dir(&dir).unwrap();
        write_atomic(&dir.join("real"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let e = read_trusted(&dir.join("link"), 100).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");

        std::fs::set_permissions(dir.join("real"), std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = read_trusted(&dir.join("real"), 100).unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");

        std::fs::set_permissions(dir.join("real"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        let e = read_trusted(&dir.join("real"), 100).unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");
    }

    #[test]
    fn a_link_on_the_way_owned_by_someone_else_is_refused() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        create_private_dir(&real).unwrap();
        write_atomic(&real.join("f"), b"x").unwrap();
        let link = tmp.path().join("link");
        symlink(&real, &link).unwrap();
        assert_eq!(read_trusted(&link.join("f"), 10).unwrap(), b"x");
        // A link another user owns (root can give it away) could be re-pointed at any time.
        let c = std::ffi::CString::new(link.as_os_str().as_encoded_bytes()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: a NUL-terminated path; lchown changes the link itself.
        let changed = unsafe { libc::lchown(c.as_ptr(), 65534, 65534) } == 0;
        if changed {
            let e = read_trusted(&link.join("f"), 10).unwrap_err();
            assert!(e.to_string().contains("symbolic link on the way"), "{e}");
        }
        // A link of ours in a directory others can write (not sticky) is refused too.
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        symlink(&real, shared.join("mine")).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = read_trusted(&shared.join("mine").join("f"), 10).unwrap_err();
        assert!(e.to_string().contains("directory others can write"), "{e}");
    }

    #[test]
    fn a_directory_above_writable_by_others_is_refused_unless_sticky() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        let dir = shared.join("state");
        create_private_dir(&dir).unwrap();
        write_atomic(&dir.join("f"), b"x").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(read_trusted(&dir.join("f"), 100).is_err());
        // Nor is anything created or written there any more.
        let e = create_private_dir(&shared.join("other")).unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");
        assert!(write_atomic(&dir.join("g"), b"y").is_err());
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(read_trusted(&dir.join("f"), 100).unwrap(), b"x");
    }
}
