//! A `.env` file edited in place: load it (or start an empty one), get, set or unset a key,
//! save. Everything else in the file stays as written: comments, blank lines, the order,
//! `export ` prefixes, keys lmi does not know, inline comments, and multi-line quoted values.
//!
//! The file is split into logical lines exactly as dotenvy splits it (a quoted value may run
//! over several physical lines), so a continuation line of a secret is never taken for a
//! `KEY=` line, and nothing of the file is ever quoted in an error. `set` rewrites the line
//! dotenvy reads last (last wins, as [`super::EnvFile`] reads it) and removes the earlier
//! definitions of the key; a key not there is appended. Values are written so dotenvy reads
//! back exactly what was set (see [`encode`]). Before anything is written, the new text is
//! parsed again with dotenvy and every key must read as it should: the edited key its new
//! value (or nothing), every other key what it read before. The write is atomic, 0600
//! ([`crate::fsutil::replace_user_file`]), and refused if the file changed since it was
//! loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::{Exit, ExitStatus};

/// Largest file edited (as read: see [`super::EnvFile`]).
const FILE_LIMIT: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot edit {}: {reason}", file.display())]
    Unusable { file: PathBuf, reason: String },
    #[error("`{0}` is not a key name: use letters, digits and `_`, starting with a letter or `_`")]
    InvalidKey(String),
    #[error("the value of {key} {reason}")]
    InvalidValue { key: String, reason: String },
    #[error(
        "{} changed while lmi was editing it; nothing was written: run the command again",
        file.display()
    )]
    Changed { file: PathBuf },
    /// The edited text would not read back as intended (`keys`: those that would differ).
    #[error("{}: {why}; nothing was written: edit the file by hand", file.display())]
    Verify {
        file: PathBuf,
        keys: Vec<String>,
        why: String,
    },
    #[error("cannot write {}: {source}", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
}

impl ExitStatus for EditError {
    fn exit(&self) -> Exit {
        match self {
            EditError::Changed { .. } | EditError::Write { .. } => Exit::Failure,
            _ => Exit::Usage,
        }
    }
}

/// What [`EnvFileEdit::set`] or [`EnvFileEdit::unset`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key was not in the file and now is.
    Added,
    /// The key's value was replaced (the old value, as dotenvy read it).
    Replaced { old: String },
    /// The key already had this value: nothing to write.
    Unchanged,
    /// The key was removed (its old value).
    Removed { old: String },
    /// The key was not in the file: nothing to remove.
    Absent,
}

/// One `.env` file being edited. Values may be secrets: `Debug` shows keys only.
/// How long a save waits for another lmi process's edit of the same file.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct EnvFileEdit {
    path: PathBuf,
    /// The bytes as loaded (`None`: there was no file), to notice another writer.
    loaded: Option<Vec<u8>>,
    lines: Vec<Logical>,
    /// What dotenvy reads from the file as edited so far.
    values: BTreeMap<String, String>,
    /// The line ending new lines get: the file's own.
    newline: &'static str,
    edited: bool,
}

impl std::fmt::Debug for EnvFileEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFileEdit")
            .field("path", &self.path)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .field("edited", &self.edited)
            .finish()
    }
}

/// One logical line: its text as written, line ending included, and where its assignment is.
#[derive(Clone)]
struct Logical {
    raw: String,
    assignment: Option<Assignment>,
}

#[derive(Clone)]
struct Assignment {
    key: String,
    /// Byte offset just past the `=`.
    value_at: usize,
    /// Byte offset of an inline comment's `#`, kept when the value is replaced.
    comment_at: Option<usize>,
    /// Byte offset of the line ending (the end of the text when there is none).
    body_end: usize,
}

impl EnvFileEdit {
    /// Loads `path` for editing; a file that does not exist starts empty. Refused: a link, a
    /// FIFO or anything but a regular file, a file owned by someone else, over 1 MiB, not
    /// UTF-8, or one dotenvy cannot parse (named by position, never quoted).
    pub fn load(path: &Path) -> Result<Self, EditError> {
        let unusable = |reason: String| EditError::Unusable {
            file: path.to_owned(),
            reason,
        };
        let loaded = read_editable(path).map_err(|e| unusable(e.to_string()))?;
        let text = match &loaded {
            None => String::new(),
            Some(bytes) => String::from_utf8(bytes.clone())
                .map_err(|_| unusable("it is not UTF-8 text".into()))?,
        };
        let values =
            parse(&text).map_err(|why| unusable(format!("it cannot be read as .env: {why}")))?;
        let lines = split(&text).map_err(unusable)?;
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        Ok(Self {
            path: path.to_owned(),
            loaded,
            lines,
            values,
            newline,
            edited: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file existed when loaded.
    pub fn existed(&self) -> bool {
        self.loaded.is_some()
    }

    /// A key's value as dotenvy reads it (with the edits so far).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The keys the file defines, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Whether anything was changed since loading.
    pub fn is_edited(&self) -> bool {
        self.edited
    }

    /// Sets `key` to `value`: the line dotenvy reads last is rewritten in place (its `export `
    /// and inline comment kept), earlier definitions are removed; a new key is appended.
    pub fn set(&mut self, key: &str, value: &str) -> Result<Change, EditError> {
        check_key(key)?;
        let encoded = encode(value).map_err(|reason| EditError::InvalidValue {
            key: key.to_owned(),
            reason,
        })?;
        let old = self.values.get(key).cloned();
        let defined: Vec<usize> = self.lines_of(key);
        if old.as_deref() == Some(value) && defined.len() == 1 {
            return Ok(Change::Unchanged);
        }
        match defined.split_last() {
            Some((&last, earlier)) => {
                let line = &self.lines[last];
                let a = line
                    .assignment
                    .as_ref()
                    .expect("lines_of finds assignments");
                let ending = &line.raw[a.body_end..];
                let comment = a
                    .comment_at
                    .map(|at| format!(" {}", &line.raw[at..a.body_end]))
                    .unwrap_or_default();
                let raw = format!("{}{encoded}{comment}{ending}", &line.raw[..a.value_at]);
                self.lines[last] = relex(raw);
                for &i in earlier.iter().rev() {
                    self.lines.remove(i);
                }
            }
            None => {
                if let Some(last) = self.lines.last_mut()
                    && !last.raw.ends_with('\n')
                {
                    last.raw.push_str(self.newline);
                }
                self.lines
                    .push(relex(format!("{key}={encoded}{}", self.newline)));
            }
        }
        self.values.insert(key.to_owned(), value.to_owned());
        self.edited = true;
        Ok(match old {
            None => Change::Added,
            Some(old) if old == value => Change::Unchanged,
            Some(old) => Change::Replaced { old },
        })
    }

    /// Removes every definition of `key`.
    pub fn unset(&mut self, key: &str) -> Result<Change, EditError> {
        check_key(key)?;
        let defined = self.lines_of(key);
        if defined.is_empty() {
            return Ok(Change::Absent);
        }
        for &i in defined.iter().rev() {
            self.lines.remove(i);
        }
        let old = self.values.remove(key).unwrap_or_default();
        self.edited = true;
        Ok(Change::Removed { old })
    }

    /// The file's text as edited.
    pub fn text(&self) -> String {
        self.lines.iter().map(|l| l.raw.as_str()).collect()
    }

    /// Checks the edited text (see the module docs) and writes it atomically, 0600, unless
    /// nothing was edited.
    pub fn save(&self) -> Result<(), EditError> {
        if !self.edited {
            return Ok(());
        }
        let text = self.text();
        self.verify(&text)?;
        // Compare and replace under a lock on the file as it is, so two lmi processes editing
        // it at once cannot both pass the comparison: the second waits, then sees the change.
        // (A file that does not exist yet has nothing to lock; the comparison alone guards it.)
        let _lock = match &self.loaded {
            Some(_) => Some(
                crate::lockfile::LockedFile::acquire_existing(&self.path, LOCK_WAIT).map_err(
                    |e| EditError::Unusable {
                        file: self.path.clone(),
                        reason: e.to_string(),
                    },
                )?,
            ),
            None => None,
        };
        let now = read_editable(&self.path).map_err(|e| EditError::Unusable {
            file: self.path.clone(),
            reason: e.to_string(),
        })?;
        if now != self.loaded {
            return Err(EditError::Changed {
                file: self.path.clone(),
            });
        }
        crate::fsutil::replace_user_file(&self.path, text.as_bytes()).map_err(|source| {
            EditError::Write {
                file: self.path.clone(),
                source,
            }
        })
    }

    /// dotenvy reads `text` as exactly the values this edit says it holds.
    fn verify(&self, text: &str) -> Result<(), EditError> {
        let fail = |keys: Vec<String>, why: String| EditError::Verify {
            file: self.path.clone(),
            keys,
            why,
        };
        let read = parse(text)
            .map_err(|_| fail(Vec::new(), "the edited text would not parse".to_owned()))?;
        let mut differ: Vec<String> = read
            .iter()
            .filter(|(k, v)| self.values.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        differ.extend(
            self.values
                .keys()
                .filter(|k| !read.contains_key(*k))
                .cloned(),
        );
        if differ.is_empty() {
            Ok(())
        } else {
            differ.sort();
            differ.dedup();
            let keys: Vec<String> = differ.iter().map(|k| crate::text::line(k, 80)).collect();
            let why = format!(
                "after the edit the file would read differently for {} (a line expands an edited key as `$NAME`, or holds text lmi cannot rewrite)",
                keys.join(", ")
            );
            Err(fail(keys, why))
        }
    }

    /// The indexes of the lines defining `key`, in order.
    fn lines_of(&self, key: &str) -> Vec<usize> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.assignment.as_ref().is_some_and(|a| a.key == key))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The file's bytes, `None` if there is none; refused unless it is a regular file the user
/// owns, reached without a link (it will be replaced, and a link would be replaced by a copy).
fn read_editable(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
        Ok(meta) => crate::fsutil::check_user_file(path, &meta)?,
    }
    let bytes = crate::fsutil::read_user_file(path, FILE_LIMIT).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => std::io::Error::new(
            e.kind(),
            format!("it is larger than {} KiB", FILE_LIMIT >> 10),
        ),
        _ => e,
    })?;
    Ok(Some(bytes))
}

/// The keys and values dotenvy reads from `text`, the last definition of a key winning; an
/// error says where, never what.
fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut values = BTreeMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (k, v) = item.map_err(|e| super::dotenv::describe(&e))?;
        values.insert(k, v);
    }
    Ok(values)
}

/// A key lmi writes: `[A-Za-z_][A-Za-z0-9_]*` (dotenvy also allows `.`, which shells do not).
fn check_key(key: &str) -> Result<(), EditError> {
    let ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.len() <= 256
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(EditError::InvalidKey(crate::text::line(key, 80)))
    }
}

/// `value` as written after `KEY=`, so that dotenvy (and a POSIX shell) reads back exactly
/// `value`: bare when it holds only characters neither treats specially; in single quotes
/// (literal: no `$` expansion, `#` and spaces kept) unless it holds `'` or `\`; else in
/// double quotes with `\`, `"` and `$` escaped. A line break, a control or a formatting
/// character cannot be written: `.env` values are one line, and such a character would reach
/// a terminal from every command that shows the value.
pub fn encode(value: &str) -> Result<String, String> {
    if let Some(c) = value.chars().find(|c| *c == '\n' || *c == '\r') {
        return Err(format!(
            "holds a line break ({}); a .env value is one line",
            crate::text::codepoint(c)
        ));
    }
    if let Some(c) = crate::text::first_unsafe(value) {
        return Err(format!(
            "holds the control or formatting character {}, which lmi does not write to a file",
            crate::text::codepoint(c)
        ));
    }
    let bare = |c: char| c.is_ascii_alphanumeric() || "-_.,:/@%+=~".contains(c);
    if !value.is_empty() && value.chars().all(bare) {
        return Ok(value.to_owned());
    }
    if !value.contains(['\'', '\\']) {
        return Ok(format!("'{value}'"));
    }
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// dotenvy's line splitter (`QuotedLines` in dotenvy 0.15), state for state: where a quoted
/// value, an escape or trailing whitespace carries a logical line over a line break, and
/// where an inline comment starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Complete,
    Escape,
    StrongOpen,
    StrongOpenEscape,
    WeakOpen,
    WeakOpenEscape,
    WhiteSpace,
}

/// Runs the splitter over `text` from `state`: the state at its end, or the byte offset of
/// the `#` that starts a comment (which ends the logical line).
fn scan(mut state: State, text: &str) -> Result<State, usize> {
    for (pos, c) in text.char_indices() {
        state = match state {
            State::WhiteSpace => match c {
                '#' => return Err(pos),
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::Escape => State::Complete,
            State::Complete => match c {
                c if c.is_whitespace() && c != '\n' && c != '\r' => State::WhiteSpace,
                '\\' => State::Escape,
                '"' => State::WeakOpen,
                '\'' => State::StrongOpen,
                _ => State::Complete,
            },
            State::WeakOpen => match c {
                '\\' => State::WeakOpenEscape,
                '"' => State::Complete,
                _ => State::WeakOpen,
            },
            State::WeakOpenEscape => State::WeakOpen,
            State::StrongOpen => match c {
                '\\' => State::StrongOpenEscape,
                '\'' => State::Complete,
                _ => State::StrongOpen,
            },
            State::StrongOpenEscape => State::StrongOpen,
        };
    }
    Ok(state)
}

/// `text` as dotenvy's logical lines, each with its line endings.
fn split(text: &str) -> Result<Vec<Logical>, String> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut state = State::Complete;
    let mut pos = 0;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let physical = &text[pos..end];
        // A line starting with `#` is a comment whole (dotenvy checks before scanning).
        let complete = if start == pos && physical.trim_start().starts_with('#') {
            true
        } else {
            match scan(state, physical) {
                Err(_) | Ok(State::Complete) => true,
                Ok(open) => {
                    state = open;
                    false
                }
            }
        };
        if complete {
            lines.push(relex(text[start..end].to_owned()));
            start = end;
            state = State::Complete;
        }
        pos = end;
    }
    if start < text.len() {
        return Err("a quoted value is not closed by the end of the file".into());
    }
    Ok(lines)
}

/// A logical line with its assignment found, as dotenvy's line parser finds it: optional
/// whitespace, `export ` (unless `export` is itself the key), the key, `=`.
fn relex(raw: String) -> Logical {
    let body_end = raw.trim_end_matches(['\n', '\r']).len();
    let body = &raw[..body_end];
    let comment_at = if body.trim_start().starts_with('#') {
        None
    } else {
        scan(State::Complete, body).err()
    };
    let code = &body[..comment_at.unwrap_or(body_end)];
    let assignment = assignment_in(code).map(|(key, value_at)| Assignment {
        key,
        value_at,
        comment_at,
        body_end,
    });
    Logical { raw, assignment }
}

/// The key and the offset past its `=`, if `code` (a logical line without comment or line
/// ending) assigns one.
fn assignment_in(code: &str) -> Option<(String, usize)> {
    let skip_ws = |at: usize| {
        code[at..]
            .find(|c: char| !c.is_whitespace())
            .map_or(code.len(), |i| at + i)
    };
    let key_at = |at: usize| -> Option<(String, usize)> {
        let rest = &code[at..];
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        Some((rest[..len].to_owned(), at + len))
    };
    let at = skip_ws(0);
    if at == code.len() || code[at..].starts_with('#') {
        return None;
    }
    let (mut key, mut at) = key_at(at)?;
    at = skip_ws(at);
    if key == "export" && !code[at..].starts_with('=') {
        (key, at) = key_at(at)?;
        at = skip_ws(at);
    }
    code[at..].starts_with('=').then(|| (key, at + 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn edit_of(text: &str) -> (tempfile::TempDir, EnvFileEdit) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.env");
        std::fs::write(&path, text).unwrap();
        let edit = EnvFileEdit::load(&path).unwrap();
        (dir, edit)
    }

    const KEPT: &str = "# lmi settings for dev\n\
        \n\
        export OAUTH_CLIENT_ID=lmi-service   # the confidential client\n\
        MY_HELPER=https://base\n\
        OAUTH_SERVICE_URL=\"${MY_HELPER}/api\"\n\
        OAUTH_CLIENT_SECRET=\"first line\n\
        OAUTH_TOKEN_URL=https://evil.example/token\n\
        last line\"\n\
        \t# indented comment\n\
        OAUTH_SCOPE='read write'\n";

    #[test]
    fn everything_but_the_edited_line_is_kept_byte_for_byte() {
        let (_d, mut edit) = edit_of(KEPT);
        assert_eq!(edit.get("OAUTH_SCOPE"), Some("read write"));
        // The secret's continuation line is not a key.
        assert_eq!(edit.get("OAUTH_TOKEN_URL"), None);
        assert_eq!(
            edit.get("OAUTH_CLIENT_SECRET"),
            Some("first line\nOAUTH_TOKEN_URL=https://evil.example/token\nlast line")
        );
        assert_eq!(
            edit.set("OAUTH_SCOPE", "api:read").unwrap(),
            Change::Replaced {
                old: "read write".into()
            }
        );
        assert_eq!(
            edit.set("OAUTH_TOKEN_URL", "https://idp/token").unwrap(),
            Change::Added
        );
        assert_eq!(
            edit.set("OAUTH_CLIENT_ID", "other").unwrap(),
            Change::Replaced {
                old: "lmi-service".into()
            }
        );
        let text = edit.text();
        assert_eq!(
            text,
            KEPT.replace("OAUTH_SCOPE='read write'", "OAUTH_SCOPE=api:read")
                .replace(
                    "export OAUTH_CLIENT_ID=lmi-service   # the confidential client",
                    "export OAUTH_CLIENT_ID=other # the confidential client"
                )
                + "OAUTH_TOKEN_URL=https://idp/token\n"
        );
        edit.save().unwrap();
        assert_eq!(std::fs::read_to_string(edit.path()).unwrap(), text);
        let again = EnvFileEdit::load(edit.path()).unwrap();
        assert_eq!(again.get("OAUTH_TOKEN_URL"), Some("https://idp/token"));
        assert_eq!(again.get("OAUTH_SERVICE_URL"), Some("https://base/api"));
    }

    #[test]
    fn set_rewrites_the_definition_dotenvy_reads_and_drops_the_others() {
        let (_d, mut edit) = edit_of("A=1\n# A=commented\nB=2\nA=3\nC=4\n");
        assert_eq!(edit.get("A"), Some("3"));
        assert_eq!(
            edit.set("A", "5").unwrap(),
            Change::Replaced { old: "3".into() }
        );
        assert_eq!(edit.text(), "# A=commented\nB=2\nA=5\nC=4\n");
        // A duplicate with the same value still collapses to one line.
        let (_d, mut edit) = edit_of("A=1\nA=1\n");
        assert_eq!(edit.set("A", "1").unwrap(), Change::Unchanged);
        assert_eq!(edit.text(), "A=1\n");
        let (_d, mut edit) = edit_of("A=1\n");
        assert_eq!(edit.set("A", "1").unwrap(), Change::Unchanged);
        assert!(!edit.is_edited());
    }

    #[test]
    fn unset_removes_every_definition_and_nothing_else() {
        let (_d, mut edit) = edit_of("A=1\nexport B=\"x\ny\"\n\nB=2 # again\nC=3");
        assert_eq!(
            edit.unset("B").unwrap(),
            Change::Removed { old: "2".into() }
        );
        assert_eq!(edit.text(), "A=1\n\nC=3");
        assert_eq!(edit.unset("B").unwrap(), Change::Absent);
        edit.save().unwrap();
        assert_eq!(edit.get("C"), Some("3"));
    }

    #[test]
    fn a_file_without_a_final_newline_or_with_crlf_gets_a_proper_line() {
        let (_d, mut edit) = edit_of("A=1");
        edit.set("B", "2").unwrap();
        assert_eq!(edit.text(), "A=1\nB=2\n");
        let (_d, mut edit) = edit_of("A=1\r\n# c\r\n");
        edit.set("B", "2").unwrap();
        edit.set("A", "x y").unwrap();
        assert_eq!(edit.text(), "A='x y'\r\n# c\r\nB=2\r\n");
        edit.save().unwrap();
    }

    #[test]
    fn values_are_quoted_so_dotenvy_reads_back_what_was_set() {
        let cases = [
            ("plain", "plain"),
            ("https://idp.example/token", "https://idp.example/token"),
            ("a b", "'a b'"),
            ("ab$cd", "'ab$cd'"),
            ("#hash", "'#hash'"),
            ("x # y", "'x # y'"),
            ("", "''"),
            ("it's", "\"it's\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("$a'\"\\", "\"\\$a'\\\"\\\\\""),
        ];
        for (value, written) in cases {
            assert_eq!(encode(value).unwrap(), written, "{value}");
        }
        for bad in ["a\nb", "a\rb", "a\u{1b}[2Jb", "\u{7}", "x\u{202e}y"] {
            let err = encode(bad).unwrap_err();
            assert!(err.contains("U+"), "{err}");
        }
    }

    /// A property-style round trip: awkward values, built from every character class that
    /// matters to dotenvy's splitter, its value parser or a shell, written into a file with
    /// other lines around them, read back by dotenvy exactly.
    #[test]
    fn awkward_values_round_trip_through_dotenvy() {
        let atoms = [
            "a", " ", "  ", "$", "${X}", "$HOME", "#", " #", "'", "\"", "\\", "\\\\", "\\'",
            "\\\"", "=", "é", "日本", "😀", "`", "!", "*", "?", "&", ";", "|", "\u{a0}",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.env");
        std::fs::write(&path, "# top\nexport KEEP=\"two\nlines\"\nOTHER=1 # note\n").unwrap();
        for round in 0..500 {
            let len = (next() % 8) as usize;
            let value: String = (0..len)
                .map(|_| atoms[(next() % atoms.len() as u64) as usize])
                .collect();
            let mut edit = EnvFileEdit::load(&path).unwrap();
            let key = if round % 2 == 0 {
                "OAUTH_CLIENT_SECRET"
            } else {
                "OTHER"
            };
            edit.set(key, &value).unwrap();
            edit.save()
                .unwrap_or_else(|e| panic!("{value:?}: {e}\n{}", edit.text()));
            let read = EnvFileEdit::load(&path).unwrap();
            assert_eq!(read.get(key), Some(value.as_str()), "{}", edit.text());
            assert_eq!(read.get("KEEP"), Some("two\nlines"));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("# top\nexport KEEP=\"two\nlines\"\nOTHER="),
                "{text}"
            );
        }
    }

    #[test]
    fn an_edit_that_would_change_another_key_is_refused() {
        let (_d, mut edit) = edit_of("BASE=https://a\nURL=\"$BASE/api\"\n");
        edit.set("BASE", "https://b").unwrap();
        let err = edit.save().unwrap_err();
        assert!(
            matches!(&err, EditError::Verify { keys, .. } if keys == &["URL"]),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(edit.path()).unwrap(),
            "BASE=https://a\nURL=\"$BASE/api\"\n",
            "nothing written"
        );
    }

    #[test]
    fn bad_keys_and_files_are_refused_without_quoting_the_file() {
        let (_d, mut edit) = edit_of("A=1\n");
        for key in ["", "1A", "A-B", "A B", "A.B", "\u{1b}[2J"] {
            assert!(
                matches!(edit.set(key, "x"), Err(EditError::InvalidKey(_))),
                "{key:?}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.env");
        std::fs::write(&broken, "GOOD=1\nOAUTH_CLIENT_SECRET=\"s3cr3t-unclosed\n").unwrap();
        let err = EnvFileEdit::load(&broken).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(err.contains("broken.env"), "{err}");
        let missing = EnvFileEdit::load(&dir.path().join("new.env")).unwrap();
        assert!(!missing.existed() && missing.keys().next().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn links_and_fifos_are_refused_and_a_write_is_private_and_atomic() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.env");
        std::fs::write(&real, "A=1\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("link.env");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = EnvFileEdit::load(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let fifo = dir.path().join("fifo.env");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = EnvFileEdit::load(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");

        let mut edit = EnvFileEdit::load(&real).unwrap();
        edit.set("B", "2").unwrap();
        edit.save().unwrap();
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A new file in a new directory: 0700 directory, 0600 file.
        let new = dir.path().join("env/new.env");
        let mut edit = EnvFileEdit::load(&new).unwrap();
        edit.set("A", "1").unwrap();
        edit.save().unwrap();
        let dmode = std::fs::metadata(dir.path().join("env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        // Nothing but the file is left in the directory (no temp file).
        let names: Vec<_> = std::fs::read_dir(dir.path().join("env"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("new.env")]);
    }

    #[test]
    fn a_save_waits_for_another_editors_lock_and_then_sees_its_change() {
        let (dir, mut edit) = edit_of("A=1\n");
        edit.set("B", "2").unwrap();
        // Another lmi process is between its comparison and its rename.
        let held = crate::lockfile::LockedFile::acquire_existing(edit.path(), LOCK_WAIT).unwrap();
        let saving = std::thread::spawn(move || edit.save());
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!saving.is_finished(), "the save did not wait for the lock");
        let path = dir.path().join("dev.env");
        let other = dir.path().join("other.tmp");
        std::fs::write(&other, "A=1\nC=3\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        drop(held);
        assert!(matches!(
            saving.join().unwrap(),
            Err(EditError::Changed { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=1\nC=3\n");
    }

    #[test]
    fn a_file_changed_by_someone_else_meanwhile_is_not_overwritten() {
        let (_d, mut edit) = edit_of("A=1\n");
        edit.set("B", "2").unwrap();
        std::fs::write(edit.path(), "A=1\nC=3\n").unwrap();
        assert!(matches!(edit.save(), Err(EditError::Changed { .. })));
        assert_eq!(std::fs::read_to_string(edit.path()).unwrap(), "A=1\nC=3\n");
    }
}
