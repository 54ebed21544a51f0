//! Diagnostics: `-v` (info) and `-vv` (debug) on stderr, and a log file at
//! `$XDG_DATA_HOME/lmi/lmi.log` (info; `LMI_LOG_FILE=off` disables it, `LMI_LOG_FILE=PATH`
//! moves it). Secrets are kept out at the source, and every line is also scrubbed of any value
//! registered with [`register_secret`] before it is written anywhere.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, filter::LevelFilter};

use crate::settings::{LogFile, LogOptions};

pub use crate::secrets::register_secret;

/// Replaces every registered secret in `text` with `****`, then redacts anything shaped like
/// a credential: `Authorization: Bearer …`/`Basic …`, `client_secret=…`, `password=…`,
/// `"access_token": "…"`, `code=…` and the like (see [`redact_patterns`]).
pub fn scrub(text: &str) -> String {
    redact_patterns(&crate::secrets::mask(text))
}

/// Parameter and field names whose values are credentials.
const SECRET_NAMES: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "code_verifier",
    "device_code",
    "assertion",
    "client_assertion",
    "code",
    "token",
];

fn is_value_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace() || matches!(b, b'&' | b'"' | b'\'' | b',' | b';' | b'}' | b'\\'))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Redacts credential-shaped substrings, whatever their value: the safety net behind
/// [`register_secret`] for values lmi never saw in a variable (an echoed request, a server's
/// error page). Recognised: `Bearer X`, `Basic X` (X of 8 or more characters), and for the
/// names in [`SECRET_NAMES`]: `name=X`, `name: X`, `"name": "X"` (also JSON-escaped); `code`
/// and `token` only with `=` or as a quoted JSON name, so prose like "exit code 4" survives.
pub fn redact_patterns(text: &str) -> String {
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let lower = lower.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start = i == 0 || !is_name_byte(bytes[i - 1]);
        let found = if at_word_start {
            scheme_value(bytes, i).or_else(|| named_value(bytes, lower, i))
        } else {
            None
        };
        if let Some((start, end)) = found {
            out.push_str(&text[copied..start]);
            out.push_str("****");
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `Bearer X` / `bearer X` / `Basic X` at `i`: the span of X.
fn scheme_value(bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    let rest = &bytes[i..];
    let len = ["Bearer ", "bearer ", "BEARER ", "Basic "]
        .iter()
        .find(|p| rest.starts_with(p.as_bytes()))?
        .len();
    let start = i + len;
    let end = value_end(bytes, start);
    (end - start >= 8 && &bytes[start..end] != b"****").then_some((start, end))
}

/// `name=X`, `name: X`, `"name":"X"` at `i` for a secret name: the span of X.
fn named_value(bytes: &[u8], lower: &[u8], i: usize) -> Option<(usize, usize)> {
    let name = SECRET_NAMES.iter().find(|n| {
        lower[i..].starts_with(n.as_bytes())
            && bytes.get(i + n.len()).is_none_or(|b| !is_name_byte(*b))
    })?;
    let mut j = i + name.len();
    let quoted = i > 0 && bytes[i - 1] == b'"';
    if bytes.get(j) == Some(&b'\\') && bytes.get(j + 1) == Some(&b'"') {
        j += 2;
    } else if bytes.get(j) == Some(&b'"') {
        j += 1;
    }
    while bytes.get(j) == Some(&b' ') {
        j += 1;
    }
    let sep = *bytes.get(j)?;
    let loose = !matches!(*name, "code" | "token");
    if !(sep == b'=' || (sep == b':' && (loose || quoted))) {
        return None;
    }
    j += 1;
    while bytes.get(j) == Some(&b' ') {
        j += 1;
    }
    if bytes.get(j) == Some(&b'\\') && bytes.get(j + 1) == Some(&b'"') {
        j += 2;
    } else if bytes.get(j) == Some(&b'"') {
        j += 1;
    }
    let end = value_end(bytes, j);
    // `code=3` is an exit or status code, not an authorization code (those are long and
    // random): a number of at most three digits is left as it is.
    let short_number = end - j <= 3 && bytes[j..end].iter().all(u8::is_ascii_digit);
    if *name == "code" && short_number {
        return None;
    }
    (end > j && &bytes[j..end] != b"****").then_some((j, end))
}

fn value_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_value_byte(bytes[end]) {
        end += 1;
    }
    end
}

/// A URL fit for an error message or a `-vv` log line: credentials in the userinfo and the
/// value of every query parameter replaced with `****` (a plugin's query may carry an
/// `api_key` under any name), the names kept so the request is recognisable.
pub fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() {
        let _ = u.set_username("****");
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("****"));
    }
    u.set_fragment(None);
    if u.query().is_some() {
        let names: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(names.iter().map(|k| (k.as_str(), "****")));
    }
    scrub(u.as_str())
}

/// A URL for an INFO log line (the log file keeps these): scheme, host and path only, no
/// userinfo and no query (`?…` marks that there was one).
pub fn url_for_log(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_fragment(None);
    let had_query = u.query().is_some();
    u.set_query(None);
    let mut shown = scrub(u.as_str());
    if had_query {
        shown.push_str("?…");
    }
    shown
}

/// A writer that scrubs each formatted event before passing it on.
struct Scrubbed<W>(W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

struct StderrWriter;
impl<'a> MakeWriter<'a> for StderrWriter {
    type Writer = Scrubbed<std::io::Stderr>;
    fn make_writer(&'a self) -> Self::Writer {
        Scrubbed(std::io::stderr())
    }
}

struct FileWriter(Mutex<std::fs::File>);
impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = Scrubbed<FileGuard<'a>>;
    fn make_writer(&'a self) -> Self::Writer {
        Scrubbed(FileGuard(&self.0))
    }
}
struct FileGuard<'a>(&'a Mutex<std::fs::File>);
impl Write for FileGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static INIT: OnceLock<()> = OnceLock::new();

/// Log lines on the terminal read like the commands' own (`warning: …`), whichever layer
/// wrote them: a library warns through `tracing`, a command through `output::warn`.
struct TerminalFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for TerminalFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the global subscriber once. Failures to open the log file are not fatal.
pub fn init(options: &LogOptions) {
    let verbose = options.verbose;
    INIT.get_or_init(|| {
        let level = match verbose {
            0 => LevelFilter::WARN,
            1 => LevelFilter::INFO,
            _ => LevelFilter::DEBUG,
        };
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(StderrWriter)
            .event_format(TerminalFormat)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(level)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target().starts_with("lmi")
            }));
        let file = open_log_file(&options.file).map(|f| {
            tracing_subscriber::fmt::layer()
                .with_writer(FileWriter(Mutex::new(f)))
                .with_ansi(false)
                .with_target(false)
                .with_filter(if verbose >= 2 {
                    LevelFilter::DEBUG
                } else {
                    LevelFilter::INFO
                })
                .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                    m.target().starts_with("lmi")
                }))
        });
        let subscriber = tracing_subscriber::registry().with(stderr).with(file);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Opens the log file for appending: the default one in lmi's private data directory, or
/// `LMI_LOG_FILE=PATH`. Whatever the umask, missing directories are created 0700 and the file
/// is 0600 (an existing log of the user's that was looser is tightened); a link or a file
/// someone else owns is not logged to. `None` (no file logging) when it cannot be opened so.
fn open_log_file(file: &LogFile) -> Option<std::fs::File> {
    let path = match file {
        LogFile::Off => return None,
        LogFile::Chosen(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = crate::fsutil::create_user_dirs(dir);
            }
            path
        }
        LogFile::Default(path) => {
            crate::fsutil::create_private_dir(path.parent()?).ok()?;
            path
        }
    };
    crate::fsutil::open_private_append(path).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credential_shapes() {
        let cases = [
            (
                "Authorization: Bearer eyJhbGciOi.abc.def",
                "Authorization: Bearer ****",
            ),
            (
                "authorization=\"Basic bG1pOnNlY3JldA==\"",
                "authorization=\"Basic ****\"",
            ),
            (
                "grant_type=password&username=u&password=hunter2&scope=a",
                "grant_type=password&username=u&password=****&scope=a",
            ),
            (
                "client_id=x&client_secret=s3cr3t",
                "client_id=x&client_secret=****",
            ),
            (
                r#"{"access_token":"abc.def","token_type":"Bearer"}"#,
                r#"{"access_token":"****","token_type":"Bearer"}"#,
            ),
            (
                r#"{\"access_token\": \"abc\"}"#,
                r#"{\"access_token\": \"****\"}"#,
            ),
            (
                "GET /callback?code=xyz&state=1",
                "GET /callback?code=****&state=1",
            ),
            ("exit code 4, token expired", "exit code 4, token expired"),
            // An exit or status code is shown; an authorization code of digits is not.
            (
                "plugin finished exit_code=3 code=3 status code=404",
                "plugin finished exit_code=3 code=3 status code=404",
            ),
            ("callback?code=48213977", "callback?code=****"),
            ("plugin token: hello", "plugin token: hello"),
            ("using Basic auth", "using Basic auth"),
            ("password: hunter2", "password: ****"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_patterns(input), want, "input: {input}");
        }
    }

    #[test]
    fn redacts_registered_values_and_urls() {
        register_secret("planted-value-42");
        assert_eq!(scrub("x planted-value-42 y"), "x **** y");
        let url = url::Url::parse("https://u:p@h/cb?code=abc&x=1&access_token=t").unwrap();
        assert_eq!(
            redact_url(&url),
            "https://****:****@h/cb?code=****&x=****&access_token=****"
        );
        let url = url::Url::parse("https://u:p@h/api/items?api_key=k-91&page=2#frag").unwrap();
        assert_eq!(
            redact_url(&url),
            "https://****:****@h/api/items?api_key=****&page=****"
        );
        assert_eq!(url_for_log(&url), "https://h/api/items?…");
    }
}
