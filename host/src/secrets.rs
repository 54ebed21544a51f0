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

/// A value lmi must not show: a token, a client secret, a password, a code.
///
/// In the shape of `cargo-credential`'s `Secret<T>`: no `Display`, a `Debug` that prints
/// `****`, and the value reachable only through [`Secret::expose`]. Making one registers the
/// value with the scrubber, so even a copy that escapes through an error text is masked.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

/// A secret read from a file or an answer is registered like one made in code.
impl<'de, T: AsRef<str> + serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self::new)
    }
}

impl<T: AsRef<str>> Secret<T> {
    /// Wraps a value and registers it with the scrubber.
    pub fn new(value: T) -> Self {
        register_secret(value.as_ref());
        Self(value)
    }

    /// The value, for the one place that must send or store it.
    pub fn expose(&self) -> &str {
        self.0.as_ref()
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl<T: AsRef<str>> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_and_is_scrubbed() {
        let s = Secret::new("tok-31f6a0c9".to_owned());
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(s.expose(), "tok-31f6a0c9");
        assert_eq!(mask("got tok-31f6a0c9 back"), "got **** back");
    }

    #[test]
    fn a_deserialized_secret_is_registered_too() {
        let s: Secret = serde_json::from_str("\"tok-deser-77b2\"").unwrap();
        assert_eq!(s.expose(), "tok-deser-77b2");
        assert_eq!(mask("tok-deser-77b2"), "****");
    }
}
