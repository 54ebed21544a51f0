//! The token cache is a file on disk that anything may have truncated or overwritten: any
//! bytes must read as a token, as missing, or as unusable (then removed) — never a panic.
//! A token that reads back is written again atomically and must read back unchanged.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lmi::auth::cache::{CacheState, TokenCache};
use lmi::auth::lifetime::now_secs;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("lmi-fuzz-cache-")
            .tempdir_in(base)
            .expect("scratch dir")
            .keep()
    })
}

fuzz_target!(|data: &[u8]| {
    let cache = TokenCache::new(&scratch().join("tokens"), "fuzz");
    if let Some(dir) = cache.path().parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(cache.path(), data).expect("write the input");
    match cache.state() {
        CacheState::Missing => panic!("a file that exists reads as missing"),
        CacheState::Unusable(_) => {
            // `read` discards what it cannot use, so the next fetch starts clean.
            assert!(cache.read().is_none());
            assert!(!cache.path().exists(), "an unusable cache file was kept");
        }
        CacheState::Present(token) => {
            let _ = token.is_fresh(now_secs());
            let _ = token.is_fresh(0);
            cache.write(&token).expect("rewrite the cache");
            match cache.state() {
                CacheState::Present(again) => assert_eq!(again, token),
                other => panic!("a rewritten token reads back as {other:?}"),
            }
        }
    }
});
