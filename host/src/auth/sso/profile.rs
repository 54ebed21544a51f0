//! Provider profiles: what lmi does differently for the identity providers companies run.
//! Each departure from the plain OpenID Connect path is written here, once, as a documented
//! behaviour of that provider (see docs/identity-providers.md), never as a special case in
//! the login, refresh or logout code, which ask the profile.
//!
//! The profile is `OAUTH_SSO_PROVIDER` when set, else detected from the issuer where the
//! issuer alone says it reliably (a provider's own host names, Keycloak's `/realms/` path),
//! else `generic`. A company's custom domain in front of Okta or Auth0 is not detectable:
//! `lmi doctor` shows the profile in use, and the key sets it.

use url::Url;

pub use crate::settings::keys::SSO_PROVIDER as PROVIDER_KEY;

/// An identity provider lmi knows the departures of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Generic,
    Entra,
    Okta,
    Keycloak,
    Auth0,
    Google,
}

/// How the profile was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    /// `OAUTH_SSO_PROVIDER` names it.
    Configured,
    /// The issuer names it.
    Detected,
    /// Neither: the plain OpenID Connect path.
    Default,
}

/// The profile in use and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub provider: Provider,
    pub chosen: Chosen,
}

impl Provider {
    /// Every profile, in the order of `settings::keys::SSO_PROVIDERS`.
    const ALL: [Provider; 6] = [
        Provider::Entra,
        Provider::Okta,
        Provider::Keycloak,
        Provider::Auth0,
        Provider::Google,
        Provider::Generic,
    ];

    /// The value of `OAUTH_SSO_PROVIDER` that names it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Generic => "generic",
            Provider::Entra => "entra",
            Provider::Okta => "okta",
            Provider::Keycloak => "keycloak",
            Provider::Auth0 => "auth0",
            Provider::Google => "google",
        }
    }

    /// How messages name it.
    pub fn title(self) -> &'static str {
        match self {
            Provider::Generic => "the identity provider",
            Provider::Entra => "Microsoft Entra ID",
            Provider::Okta => "Okta",
            Provider::Keycloak => "Keycloak",
            Provider::Auth0 => "Auth0",
            Provider::Google => "Google",
        }
    }

    /// The profile `OAUTH_SSO_PROVIDER` names (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The provider an issuer names, where its form is the provider's own: its host names
    /// (Entra's sovereign clouds included), or Keycloak's `/realms/<realm>` path.
    pub fn detect(issuer: &Url) -> Option<Self> {
        let host = issuer.host_str()?.to_ascii_lowercase();
        let host_is = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if [
            "login.microsoftonline.com",
            "login.microsoftonline.us",
            "login.partner.microsoftonline.cn",
            "sts.windows.net",
        ]
        .contains(&host.as_str())
        {
            return Some(Provider::Entra);
        }
        if [
            "okta.com",
            "oktapreview.com",
            "okta-emea.com",
            "okta-gov.com",
        ]
        .iter()
        .any(|d| host_is(d))
        {
            return Some(Provider::Okta);
        }
        if host_is("auth0.com") {
            return Some(Provider::Auth0);
        }
        if host == "accounts.google.com" {
            return Some(Provider::Google);
        }
        let mut segments = issuer.path_segments()?;
        if segments.any(|s| s == "realms") && segments.next().is_some_and(|r| !r.is_empty()) {
            return Some(Provider::Keycloak);
        }
        None
    }

    /// The scopes asked for when `OAUTH_SSO_SCOPES` is not set. Google has no
    /// `offline_access` scope (a refresh token comes from `access_type=offline` instead, see
    /// [`Self::authorization_parameters`]) and refuses a request that names one.
    pub fn default_scopes(self) -> &'static str {
        match self {
            Provider::Google => "openid profile email",
            _ => "openid profile email offline_access",
        }
    }

    /// A scope the provider refuses outright, and what to do instead.
    pub fn refused_scope(self) -> Option<(&'static str, &'static str)> {
        match self {
            Provider::Google => Some((
                "offline_access",
                "Google has no `offline_access` scope and refuses the sign-in that asks for it; lmi asks Google for a refresh token with `access_type=offline` instead",
            )),
            _ => None,
        }
    }

    /// Parameters the authorization request adds: Google issues a refresh token only to a
    /// request with `access_type=offline`, and only again with `prompt=consent`.
    pub fn authorization_parameters(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Provider::Google => &[("access_type", "offline"), ("prompt", "consent")],
            _ => &[],
        }
    }

    /// The revocation endpoint when discovery names none, where the provider has a fixed one
    /// (Auth0's `/oauth/revoke` on the tenant).
    pub fn revocation_without_discovery(self, issuer: &str) -> Option<Url> {
        match self {
            Provider::Auth0 => {
                Url::parse(&format!("{}/oauth/revoke", issuer.trim_end_matches('/'))).ok()
            }
            _ => None,
        }
    }

    /// What stays valid when the provider offers no revocation, for `lmi logout sso`.
    pub fn without_revocation(self) -> &'static str {
        match self {
            Provider::Entra => {
                "Microsoft Entra ID offers apps no token revocation: the refresh token stays valid at Microsoft until it expires or an administrator revokes your sessions (Revoke-MgUserSignInSession); your browser's sign-in there is not ended either"
            }
            _ => {
                "the identity provider offers no token revocation: the refresh token stays valid there until it expires or an administrator ends the session; your browser's sign-in there is not ended either"
            }
        }
    }

    /// How an administrator turns on the device-authorization grant for the client.
    pub fn device_grant_fix(self) -> &'static str {
        match self {
            Provider::Entra => {
                "an administrator sets `Allow public client flows` to Yes in the app registration's Authentication page"
            }
            Provider::Okta => {
                "an administrator adds the Device Authorization grant type to the app (General settings), and, on a custom authorization server, allows it in an access policy rule"
            }
            Provider::Keycloak => {
                "an administrator turns on `OAuth 2.0 Device Authorization Grant` in the client's Capability config"
            }
            Provider::Auth0 => {
                "an administrator turns on the Device Code grant in the application's Advanced Settings → Grant Types"
            }
            Provider::Google => {
                "Google offers the device flow only to clients of the type `TVs and Limited Input devices`; sign in with the browser instead"
            }
            Provider::Generic => {
                "an administrator allows the device-authorization grant (RFC 8628) for this client at the identity provider"
            }
        }
    }

    /// Why a sign-in brought no refresh token, and what fixes it.
    pub fn refresh_token_fix(self) -> &'static str {
        match self {
            Provider::Entra => {
                "keep `offline_access` in OAUTH_SSO_SCOPES; Entra ID then issues a refresh token to a public client"
            }
            Provider::Okta => {
                "an administrator adds the Refresh Token grant type to the app, and `offline_access` must stay in OAUTH_SSO_SCOPES"
            }
            Provider::Keycloak => {
                "keep `offline_access` in OAUTH_SSO_SCOPES, or check that the client's `Use refresh tokens` setting is on"
            }
            Provider::Auth0 => {
                "an administrator turns on `Allow Offline Access` for the API named by OAUTH_SSO_AUDIENCE and the Refresh Token grant for the application; `offline_access` must stay in OAUTH_SSO_SCOPES"
            }
            Provider::Google => {
                "lmi asks with `access_type=offline` and `prompt=consent`; check that the OAuth client is of the type `Desktop app` and that OAUTH_SSO_CLIENT_SECRET is its secret"
            }
            Provider::Generic => {
                "keep `offline_access` in OAUTH_SSO_SCOPES and ask the administrator to allow the refresh-token grant for this client"
            }
        }
    }

    /// How an administrator makes the ID token carry the groups claim.
    pub fn groups_claim_fix(self) -> &'static str {
        match self {
            Provider::Entra => {
                "an administrator adds a groups claim to the app registration (Token configuration → Add groups claim; `Groups assigned to the application` keeps it under the 200-group limit)"
            }
            Provider::Okta => {
                "with Okta's org authorization server, add `groups` to OAUTH_SSO_SCOPES and have an administrator set the app's Groups claim filter; with a custom authorization server, an administrator adds a `groups` claim for the ID token"
            }
            Provider::Keycloak => {
                "an administrator adds a `Group Membership` mapper named `groups` to the client's dedicated scope, with `Add to ID token` on"
            }
            Provider::Auth0 => {
                "Auth0 puts no groups in ID tokens by itself: an administrator adds them with a post-login Action as a namespaced claim, and LMI_SSO_GROUPS_CLAIM names it"
            }
            Provider::Google => {
                "Google's ID tokens carry no groups at all: an environment that checks LMI_SSO_ALLOWED_GROUPS cannot be used with Google sign-in"
            }
            Provider::Generic => {
                "ask the identity provider's administrator to put the user's groups in the ID token under the claim LMI_SSO_GROUPS_CLAIM names"
            }
        }
    }

    /// The provider requires an installed app's client secret at the token endpoint
    /// (Google's Desktop-app clients), though the secret is not confidential there.
    pub fn requires_client_secret(self) -> bool {
        self == Provider::Google
    }

    /// The provider matches redirect URIs exactly, port included, so the random loopback
    /// port of a default login never matches: a registered port must be used.
    pub fn needs_registered_port(self) -> bool {
        matches!(self, Provider::Okta)
    }

    /// Another spelling of `issuer` the provider's ID tokens use: Google's `iss` is
    /// `accounts.google.com` or `https://accounts.google.com`.
    pub fn issuer_alias(self, issuer: &str) -> Option<&'static str> {
        (self == Provider::Google && issuer.trim_end_matches('/') == "https://accounts.google.com")
            .then_some("accounts.google.com")
    }
}

impl Profile {
    /// `OAUTH_SSO_PROVIDER` when set (`configured`, checked by the caller), else detected.
    pub fn choose(configured: Option<Provider>, issuer: &Url) -> Self {
        match (configured, Provider::detect(issuer)) {
            (Some(provider), _) => Profile {
                provider,
                chosen: Chosen::Configured,
            },
            (None, Some(provider)) => Profile {
                provider,
                chosen: Chosen::Detected,
            },
            (None, None) => Profile {
                provider: Provider::Generic,
                chosen: Chosen::Default,
            },
        }
    }

    /// `entra (detected from the issuer)`: what doctor and `auth status` show.
    pub fn describe(&self) -> String {
        let how = match self.chosen {
            Chosen::Configured => format!("set by {PROVIDER_KEY}"),
            Chosen::Detected => "detected from the issuer".to_owned(),
            Chosen::Default => format!("not detected from the issuer; {PROVIDER_KEY} sets one"),
        };
        match self.provider {
            Provider::Generic => format!("generic ({how})"),
            p => format!("{}: {} ({how})", p.name(), p.title()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn detect(issuer: &str) -> Option<Provider> {
        Provider::detect(&Url::parse(issuer).unwrap())
    }

    #[test]
    fn issuers_name_their_provider_only_by_the_providers_own_forms() {
        let cases = [
            (
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
                Some(Provider::Entra),
            ),
            (
                "https://login.microsoftonline.us/t/v2.0",
                Some(Provider::Entra),
            ),
            ("https://sts.windows.net/t/", Some(Provider::Entra)),
            ("https://acme.okta.com", Some(Provider::Okta)),
            ("https://acme.okta.com/oauth2/default", Some(Provider::Okta)),
            (
                "https://acme.oktapreview.com/oauth2/aus1",
                Some(Provider::Okta),
            ),
            (
                "https://sso.example.com/realms/staff",
                Some(Provider::Keycloak),
            ),
            (
                "https://sso.example.com/auth/realms/staff",
                Some(Provider::Keycloak),
            ),
            ("https://acme.eu.auth0.com/", Some(Provider::Auth0)),
            ("https://accounts.google.com", Some(Provider::Google)),
            // Look-alikes and custom domains are not detected.
            ("https://okta.com.evil.example", None),
            ("https://evilokta.com", None),
            (
                "https://login.microsoftonline.com.evil.example/t/v2.0",
                None,
            ),
            ("https://login.acme.com", None),
            ("https://sso.example.com/realms/", None),
            ("https://sso.example.com/realms", None),
            ("http://127.0.0.1:9000", None),
        ];
        for (issuer, want) in cases {
            assert_eq!(detect(issuer), want, "{issuer}");
        }
    }

    #[test]
    fn the_key_wins_over_detection() {
        let google = Url::parse("https://accounts.google.com").unwrap();
        let p = Profile::choose(Some(Provider::Okta), &google);
        assert_eq!((p.provider, p.chosen), (Provider::Okta, Chosen::Configured));
        let p = Profile::choose(None, &google);
        assert_eq!((p.provider, p.chosen), (Provider::Google, Chosen::Detected));
        let issuer = Url::parse("https://login.acme.com").unwrap();
        let p = Profile::choose(None, &issuer);
        assert_eq!((p.provider, p.chosen), (Provider::Generic, Chosen::Default));
        assert!(p.describe().contains(PROVIDER_KEY), "{}", p.describe());
        let names: Vec<&str> = Provider::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names, crate::settings::keys::SSO_PROVIDERS);
        assert_eq!(Provider::from_name(" Entra "), Some(Provider::Entra));
        assert_eq!(Provider::from_name("azure"), None);
    }

    #[test]
    fn google_asks_for_offline_access_its_own_way() {
        assert!(!Provider::Google.default_scopes().contains("offline_access"));
        assert!(Provider::Okta.default_scopes().contains("offline_access"));
        assert_eq!(
            Provider::Google.refused_scope().unwrap().0,
            "offline_access"
        );
        assert!(
            Provider::Google
                .authorization_parameters()
                .contains(&("access_type", "offline"))
        );
        assert_eq!(
            Provider::Google.issuer_alias("https://accounts.google.com"),
            Some("accounts.google.com")
        );
        assert_eq!(
            Provider::Okta.issuer_alias("https://accounts.google.com"),
            None
        );
        assert_eq!(
            Provider::Auth0
                .revocation_without_discovery("https://acme.auth0.com/")
                .unwrap()
                .as_str(),
            "https://acme.auth0.com/oauth/revoke"
        );
    }
}
