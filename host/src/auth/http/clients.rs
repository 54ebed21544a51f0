//! The reqwest clients behind [`super::Http`]: one per way out, each built on first use.

use std::sync::OnceLock;
use std::time::Duration;

use super::failure::chain;
use super::{CONNECT_TIMEOUT_SECS, POOL_IDLE_SECS};
use crate::tls::Trust;

/// The three ways out, each a reqwest client built on first use.
#[derive(Debug, Default)]
pub(super) struct Clients {
    /// `http://` to loopback: no proxy, and no TLS (so no roots read).
    pub(super) plain: OnceLock<Result<reqwest::Client, String>>,
    /// `https://` to loopback: no proxy.
    pub(super) direct: OnceLock<Result<reqwest::Client, String>>,
    /// Anything else: the environment's proxy settings apply.
    pub(super) proxied: OnceLock<Result<reqwest::Client, String>>,
}

/// Which of [`Clients`] an URL goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Plain,
    Direct,
    Proxied,
}

impl Route {
    pub(super) fn of(url: &url::Url) -> Self {
        match (crate::settings::is_loopback(url), url.scheme()) {
            (true, "http") => Route::Plain,
            (true, _) => Route::Direct,
            (false, _) => Route::Proxied,
        }
    }
}

/// One reqwest client for `route`: the trusted roots (none for plain `http://`), no
/// redirects, the connect deadline, the idle keep-alive, and for loopback no proxy at all.
/// The exchange's total deadline is the caller's (`Http::timed`).
pub(super) fn build_client(route: Route, trust: Option<&Trust>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    builder = match trust {
        Some(trust) => trust.apply(builder),
        None => builder
            .tls_built_in_root_certs(false)
            .tls_built_in_webpki_certs(false),
    };
    builder = builder
        .redirect(reqwest::redirect::Policy::none())
        // The exchange's total deadline (the settings' or a shorter probe's) bounds it too.
        .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS))
        // Servers close idle keep-alive connections after a few seconds (Node and Apache: 5 s);
        // a request sent on one just closed fails ("connection closed before message
        // completed"), as the code exchange after a slow browser sign-in did.
        .pool_idle_timeout(Duration::from_secs(POOL_IDLE_SECS))
        .user_agent(concat!("lmi/", env!("CARGO_PKG_VERSION")));
    if route != Route::Proxied {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| chain(&e))
}
