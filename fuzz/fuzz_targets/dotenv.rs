//! `.env` files are hand-edited: any bytes must load into a map or be a `ConfigError` — never
//! a panic — and the error must not quote the file (a line may hold a secret).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lmi::settings::EnvFile;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("lmi-fuzz-dotenv-")
            .tempdir_in(base)
            .expect("scratch dir")
            .keep()
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().join("fuzz.env");
    std::fs::write(&path, data).expect("write the input");
    match EnvFile::load(&path) {
        Ok(file) => {
            for key in file.keys() {
                assert!(file.get(key).is_some());
            }
        }
        Err(e) => {
            // The message may name the file and a position, never repeat what is in it: it
            // has one of a few fixed shapes (checking for quoted lines instead would be fooled
            // by inputs that contain the message text itself).
            let message = e.to_string().replace(&path.display().to_string(), "<file>");
            let rest = message
                .strip_prefix("cannot read <file>: ")
                .unwrap_or_else(|| panic!("unexpected error: {message}"));
            let syntax = rest
                .strip_prefix("syntax error at character ")
                .and_then(|r| r.strip_suffix(" (expected KEY=VALUE)"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            assert!(
                syntax
                    || ["malformed file", "not UTF-8 text", "larger than 1024 KiB"].contains(&rest),
                "the error has an unexpected shape (does it quote the file?): {message}"
            );
        }
    }
});
