//! The values lmi must never write anywhere (tokens, client secrets, passwords, codes), as
//! registered when they are read. A leaf: settings registers, logging and text scrub.

use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
/// At most this many values are kept: a process handles a handful of secrets, and an
/// unbounded list would let whoever feeds lmi values grow it and slow every scrub.
const MAX_SECRETS: usize = 256;

/// Marks a value (token, client secret, password, code) as never to be written to a log.
pub fn register_secret(value: &str) {
    if value.len() >= 4
        && let Ok(mut s) = SECRETS.write()
        && s.len() < MAX_SECRETS
        && !s.iter().any(|v| v == value)
    {
        s.push(value.to_owned());
    }
}

/// `text` with every registered value replaced by `****`.
pub fn mask(text: &str) -> String {
    let mut out = text.to_owned();
    if let Ok(secrets) = SECRETS.read() {
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "****");
            }
        }
    }
    out
}
