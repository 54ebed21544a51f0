//! SSO configuration: the global `OAUTH_SSO_*` keys and the rule that no endpoint is plain
//! `http://` off loopback. Endpoints the keys leave out come from discovery (`discovery`).

use url::Url;

use super::profile::{PROVIDER_KEY, Profile, Provider};
use crate::secrets::Secret;
use crate::settings::{ConfigError, Settings};

pub use crate::settings::keys::{
    SSO_AUDIENCE as AUDIENCE_KEY, SSO_AUTHORIZATION_URL as AUTHORIZATION_URL_KEY,
    SSO_CLIENT_ID as CLIENT_ID_KEY, SSO_CLIENT_SECRET as CLIENT_SECRET_KEY,
    SSO_DEVICE_AUTHORIZATION_URL as DEVICE_URL_KEY, SSO_ISSUER as ISSUER_KEY,
    SSO_JWKS_URL as JWKS_URL_KEY, SSO_REDIRECT_PORTS as REDIRECT_PORTS_KEY,
    SSO_REVOCATION_URL as REVOCATION_URL_KEY, SSO_SCOPES as SCOPES_KEY,
    SSO_TOKEN_URL as TOKEN_URL_KEY,
};

/// The scopes of a provider without a profile of its own.
pub const DEFAULT_SCOPES: &str = "openid profile email offline_access";

/// The SSO keys, checked. Endpoints set here are used as they are; the rest come from
/// discovery on the issuer.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    pub client_id: String,
    /// As configured (ID tokens' `iss` must match it exactly when discovery is not used).
    pub issuer: String,
    pub scopes: String,
    /// The provider profile in use (`profile`).
    pub profile: Profile,
    /// `OAUTH_SSO_AUDIENCE`: sent as `audience` with the authorization and device requests.
    pub audience: Option<String>,
    /// `OAUTH_SSO_CLIENT_SECRET`: sent (in the body) to the token and revocation endpoints.
    pub client_secret: Option<Secret>,
    /// `OAUTH_SSO_REDIRECT_PORTS`: the loopback ports to listen on, in order (empty: any).
    pub redirect_ports: Vec<u16>,
    pub(super) authorization: Option<Url>,
    pub(super) token: Option<Url>,
    pub(super) jwks: Option<Url>,
    pub(super) revocation: Option<Url>,
    pub(super) device: Option<Url>,
}

impl SsoConfig {
    /// The configuration, or `None` when SSO is not configured at all (no client id).
    pub fn load_optional(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        if settings.global(CLIENT_ID_KEY).is_none() {
            return Ok(None);
        }
        Self::load(settings).map(Some)
    }

    /// The configuration; a missing client id or issuer is an error naming the key.
    pub fn load(settings: &Settings) -> Result<Self, ConfigError> {
        let require = |key: &str| {
            settings
                .global(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::MissingKey {
                    key: key.to_owned(),
                    file: settings.paths().global_env_file(),
                })
        };
        let client_id = require(CLIENT_ID_KEY)?;
        let issuer_raw = require(ISSUER_KEY)?;
        let issuer_url = check_url(settings, ISSUER_KEY, &issuer_raw)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(invalid(
                settings,
                ISSUER_KEY,
                "an issuer has no query or fragment",
            ));
        }
        let issuer = issuer_raw;
        let configured = match settings.global(PROVIDER_KEY).map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(Provider::from_name(name).ok_or_else(|| {
                invalid(
                    settings,
                    PROVIDER_KEY,
                    &format!(
                        "`{}` is not a provider lmi knows: use one of {}",
                        crate::text::line(name, 40),
                        crate::settings::keys::SSO_PROVIDERS.join(", ")
                    ),
                )
            })?),
        };
        let profile = Profile::choose(configured, &issuer_url);
        let text = |key: &str| {
            settings
                .global(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let audience = text(AUDIENCE_KEY);
        if let Some(a) = &audience
            && crate::text::first_unsafe(a).is_some()
        {
            return Err(invalid(
                settings,
                AUDIENCE_KEY,
                "it holds a control or invisible character",
            ));
        }
        let client_secret = text(CLIENT_SECRET_KEY).map(Secret::new);
        let redirect_ports = match text(REDIRECT_PORTS_KEY) {
            None => Vec::new(),
            Some(raw) => crate::settings::redirect_ports(&raw)
                .map_err(|why| invalid(settings, REDIRECT_PORTS_KEY, &why))?,
        };
        let optional = |key: &str| -> Result<Option<Url>, ConfigError> {
            settings
                .global(key)
                .map(|raw| check_url(settings, key, raw.trim()))
                .transpose()
        };
        let scopes = settings
            .global(SCOPES_KEY)
            .map(|s| {
                s.split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| profile.provider.default_scopes().to_owned());
        if let Some((refused, why)) = profile.provider.refused_scope()
            && scopes.split(' ').any(|s| s == refused)
        {
            return Err(invalid(
                settings,
                SCOPES_KEY,
                &format!("remove `{refused}`: {why}"),
            ));
        }
        if !scopes.split(' ').any(|s| s == "openid") {
            return Err(invalid(
                settings,
                SCOPES_KEY,
                "the scopes must include `openid` (lmi signs you in with an ID token)",
            ));
        }
        Ok(Self {
            client_id,
            issuer,
            scopes,
            profile,
            audience,
            client_secret,
            redirect_ports,
            authorization: optional(AUTHORIZATION_URL_KEY)?,
            token: optional(TOKEN_URL_KEY)?,
            jwks: optional(JWKS_URL_KEY)?,
            revocation: optional(REVOCATION_URL_KEY)?,
            device: optional(DEVICE_URL_KEY)?,
        })
    }

    /// The provider and client a stored session was issued by, for revoking it after the
    /// configuration moved on (endpoints come from discovery on that issuer).
    pub fn for_session(issuer: &str, client_id: &str) -> Result<Self, ConfigError> {
        let url = check_url_from(ISSUER_KEY, "the stored SSO session", issuer)?;
        let profile = Profile::choose(None, &url);
        Ok(Self {
            client_id: client_id.to_owned(),
            issuer: issuer.to_owned(),
            scopes: profile.provider.default_scopes().to_owned(),
            profile,
            audience: None,
            client_secret: None,
            redirect_ports: Vec::new(),
            authorization: None,
            token: None,
            jwks: None,
            revocation: None,
            device: None,
        })
    }

    /// The issuer without a trailing `/`: the base of the discovery URL, and how sessions are
    /// matched to the configuration.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    /// How this client authenticates at the token and revocation endpoints.
    pub(super) fn client(&self) -> super::token::Client<'_> {
        super::token::Client {
            id: &self.client_id,
            secret: self.client_secret.as_ref(),
        }
    }
}

/// The login timeout (`LMI_SSO_LOGIN_TIMEOUT_SECS`, default 300 s, at least 1 s).
pub fn login_timeout(settings: &Settings) -> Result<std::time::Duration, ConfigError> {
    Ok(settings.sso_options()?.login_timeout)
}

fn invalid(settings: &Settings, key: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        source_name: settings.source_of(key),
        reason: reason.to_owned(),
    }
}

fn check_url(settings: &Settings, key: &str, raw: &str) -> Result<Url, ConfigError> {
    check_url_from(key, &settings.source_of(key), raw)
}

pub use crate::settings::{check_url_from, is_loopback};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    fn settings(global_env: &str) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.config_dir()).unwrap();
        std::fs::write(paths.global_env_file(), global_env).unwrap();
        let settings = Settings::load(paths, None).unwrap();
        (dir, settings)
    }

    #[test]
    fn keys_are_read_and_checked() {
        let (_d, s) = settings("");
        assert!(
            SsoConfig::load_optional(&s).unwrap().is_none(),
            "not configured"
        );

        let (_d, s) = settings("OAUTH_SSO_CLIENT_ID=cli\n");
        let e = SsoConfig::load_optional(&s).unwrap_err().to_string();
        assert!(e.contains("OAUTH_SSO_ISSUER is not set"), "{e}");

        // An issuer with a trailing slash (Auth0) is kept exactly for `iss` comparisons.
        let (_d, s) = settings("OAUTH_SSO_CLIENT_ID=cli\nOAUTH_SSO_ISSUER=https://t.example/\n");
        let cfg = SsoConfig::load(&s).unwrap();
        assert_eq!(cfg.issuer, "https://t.example/");
        assert_eq!(cfg.issuer_base(), "https://t.example");
        assert_eq!(cfg.scopes, DEFAULT_SCOPES);

        let (_d, s) = settings(
            "OAUTH_SSO_CLIENT_ID=cli\nOAUTH_SSO_ISSUER=https://t.example\nOAUTH_SSO_SCOPES=profile,email\n",
        );
        let e = SsoConfig::load(&s).unwrap_err().to_string();
        assert!(e.contains("must include `openid`"), "{e}");

        let (_d, s) = settings(
            "OAUTH_SSO_CLIENT_ID=cli\nOAUTH_SSO_ISSUER=https://t.example\nOAUTH_SSO_JWKS_URL=http://t.example/jwks\n",
        );
        let e = SsoConfig::load(&s).unwrap_err().to_string();
        assert!(
            e.contains("OAUTH_SSO_JWKS_URL") && e.contains("non-loopback"),
            "{e}"
        );
    }

    #[test]
    fn the_profile_shapes_scopes_and_the_provider_keys_are_checked() {
        use super::super::profile::{Chosen, Provider};
        let base = "OAUTH_SSO_CLIENT_ID=cli\n";
        let load = |extra: &str| {
            let (_d, s) = settings(&format!("{base}{extra}"));
            SsoConfig::load(&s)
        };
        let cfg = load("OAUTH_SSO_ISSUER=https://accounts.google.com\n").unwrap();
        assert_eq!(cfg.profile.provider, Provider::Google);
        assert_eq!(cfg.profile.chosen, Chosen::Detected);
        assert_eq!(cfg.scopes, "openid profile email");
        let e = load("OAUTH_SSO_ISSUER=https://accounts.google.com\nOAUTH_SSO_SCOPES=openid,offline_access\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OAUTH_SSO_SCOPES") && e.contains("access_type=offline"),
            "{e}"
        );
        // The key wins over detection, and a wrong name is refused with the list.
        let cfg =
            load("OAUTH_SSO_ISSUER=https://accounts.google.com\nOAUTH_SSO_PROVIDER=generic\n")
                .unwrap();
        assert_eq!(cfg.profile.provider, Provider::Generic);
        assert_eq!(cfg.scopes, DEFAULT_SCOPES);
        let e = load("OAUTH_SSO_ISSUER=https://login.acme.com\nOAUTH_SSO_PROVIDER=azure\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OAUTH_SSO_PROVIDER") && e.contains("entra, okta"),
            "{e}"
        );
        // Ports: in order, checked.
        let cfg = load(
            "OAUTH_SSO_ISSUER=https://acme.okta.com\nOAUTH_SSO_REDIRECT_PORTS=\"8765, 8766\"\n",
        )
        .unwrap();
        assert_eq!(cfg.redirect_ports, [8765, 8766]);
        assert_eq!(cfg.profile.provider, Provider::Okta);
        for bad in ["0", "70000", "80,80", "x", ","] {
            let e = load(&format!(
                "OAUTH_SSO_ISSUER=https://i.example\nOAUTH_SSO_REDIRECT_PORTS={bad}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains("OAUTH_SSO_REDIRECT_PORTS"), "{bad}: {e}");
        }
        // The secret is kept as one, and never shown by Debug.
        let cfg = load("OAUTH_SSO_ISSUER=https://i.example\nOAUTH_SSO_CLIENT_SECRET=GOCSPX-abc123\nOAUTH_SSO_AUDIENCE=https://api.example\n").unwrap();
        assert_eq!(
            cfg.client_secret.as_ref().unwrap().expose(),
            "GOCSPX-abc123"
        );
        assert_eq!(cfg.audience.as_deref(), Some("https://api.example"));
        assert!(!format!("{cfg:?}").contains("GOCSPX-abc123"));
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "https://idp.example.com/token",
            "http://127.0.0.1:9000/token",
            "http://127.1.2.3/x",
            "http://[::1]:8080/x",
            "http://localhost:1/x",
        ] {
            assert!(check_url_from("K", "here", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com/token",
            "http://10.0.0.1/token",
            "http://localhost.evil.com/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            let e = check_url_from("K", "here", bad).unwrap_err().to_string();
            assert!(e.contains("K"), "{bad}: {e}");
        }
    }
}
