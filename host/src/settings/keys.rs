//! Every configuration key lmi reads, named once. Global keys come from the process
//! environment or the global `.env`; per-environment keys also from `env/<name>.env`.

// ---- global: which environment ------------------------------------------------------------
/// The environment used when `--env` is absent (process environment).
pub const ENV: &str = "LMI_ENV";
/// The key in the global `.env` naming the environment used when `--env` is absent.
pub const DEFAULT_ENVIRONMENT: &str = "default_environment";

// ---- global: runtime limits ------------------------------------------------------------------
pub const PLUGIN_MEMORY_MB: &str = "LMI_PLUGIN_MEMORY_MB";
pub const PLUGIN_TIMEOUT_SECS: &str = "LMI_PLUGIN_TIMEOUT_SECS";
pub const COMPILE_MEMORY_MB: &str = "LMI_COMPILE_MEMORY_MB";
pub const COMPILE_TIMEOUT_SECS: &str = "LMI_COMPILE_TIMEOUT_SECS";

// ---- global: network -------------------------------------------------------------------------
pub const HTTP_TIMEOUT_SECS: &str = "LMI_HTTP_TIMEOUT_SECS";
/// An extra PEM bundle of trusted roots.
pub const CA_BUNDLE: &str = "LMI_CA_BUNDLE";

// ---- global: SSO session storage and login -----------------------------------------------------
/// `keychain` (default) or `file`.
pub const SSO_STORAGE: &str = "LMI_SSO_STORAGE";
pub const KEYCHAIN_TIMEOUT_SECS: &str = "LMI_KEYCHAIN_TIMEOUT_SECS";
pub const SSO_LOGIN_TIMEOUT_SECS: &str = "LMI_SSO_LOGIN_TIMEOUT_SECS";
/// The program that opens the sign-in page.
pub const BROWSER: &str = "BROWSER";

// ---- global: logging and authoring -------------------------------------------------------------
/// `off`, or a path; the default is lmi's data directory.
pub const LOG_FILE: &str = "LMI_LOG_FILE";
/// An SDK directory `lmi plugin new` builds against instead of the published SDK.
pub const SDK_PATH: &str = "LMI_SDK_PATH";

// ---- SSO provider (global `.env`) --------------------------------------------------------------
pub const SSO_ISSUER: &str = "OAUTH_SSO_ISSUER";
pub const SSO_CLIENT_ID: &str = "OAUTH_SSO_CLIENT_ID";
pub const SSO_SCOPES: &str = "OAUTH_SSO_SCOPES";
pub const SSO_AUTHORIZATION_URL: &str = "OAUTH_SSO_AUTHORIZATION_URL";
pub const SSO_TOKEN_URL: &str = "OAUTH_SSO_TOKEN_URL";
pub const SSO_JWKS_URL: &str = "OAUTH_SSO_JWKS_URL";
pub const SSO_REVOCATION_URL: &str = "OAUTH_SSO_REVOCATION_URL";
pub const SSO_DEVICE_AUTHORIZATION_URL: &str = "OAUTH_SSO_DEVICE_AUTHORIZATION_URL";

// ---- per environment: the service and its grant ------------------------------------------------
/// The environment's default service.
pub const SERVICE_URL: &str = "OAUTH_SERVICE_URL";
pub const TOKEN_URL: &str = "OAUTH_TOKEN_URL";
pub const GRANT_TYPE: &str = "OAUTH_GRANT_TYPE";
pub const CLIENT_ID: &str = "OAUTH_CLIENT_ID";
pub const CLIENT_SECRET: &str = "OAUTH_CLIENT_SECRET";
pub const CLIENT_AUTH_METHOD: &str = "OAUTH_CLIENT_AUTH_METHOD";
pub const USERNAME: &str = "OAUTH_USERNAME";
pub const PASSWORD: &str = "OAUTH_PASSWORD";
pub const SCOPE: &str = "OAUTH_SCOPE";
pub const AUDIENCE: &str = "OAUTH_AUDIENCE";
/// The keys of a named service: `OAUTH_SERVICE_<NAME>_URL`, and optionally `_SCOPE` and
/// `_AUDIENCE` (then the service gets a token of its own). `<NAME>` is the service's name
/// as plugins use it, upper-cased, `-` written `_`: `billing-eu` is `BILLING_EU`.
pub const SERVICE_PREFIX: &str = "OAUTH_SERVICE_";
pub const SERVICE_URL_SUFFIX: &str = "_URL";
pub const SERVICE_SCOPE_SUFFIX: &str = "_SCOPE";
pub const SERVICE_AUDIENCE_SUFFIX: &str = "_AUDIENCE";

/// The key `suffix` (one of the `SERVICE_*_SUFFIX`) of the named service `service`.
pub fn service_key(service: &str, suffix: &str) -> String {
    format!(
        "{SERVICE_PREFIX}{}{suffix}",
        service.to_ascii_uppercase().replace('-', "_")
    )
}

/// The service a `OAUTH_SERVICE_<NAME>_URL` key names (`billing-eu`), if `key` is one: NAME
/// is upper-case letters, digits and `_`, starting with a letter.
pub fn service_of_url_key(key: &str) -> Option<String> {
    let name = key
        .strip_prefix(SERVICE_PREFIX)?
        .strip_suffix(SERVICE_URL_SUFFIX)?;
    let ok = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    ok.then(|| name.to_ascii_lowercase().replace('_', "-"))
}

/// A token to use as it is, instead of any grant.
pub const ACCESS_TOKEN: &str = "LMI_ACCESS_TOKEN";

/// Keys whose values are secrets: registered with the scrubber when read, never printed.
pub const SECRET_KEYS: &[&str] = &[CLIENT_SECRET, PASSWORD, ACCESS_TOKEN];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_name_and_its_url_key_map_both_ways() {
        assert_eq!(
            service_key("billing-eu", SERVICE_URL_SUFFIX),
            "OAUTH_SERVICE_BILLING_EU_URL"
        );
        assert_eq!(
            service_of_url_key("OAUTH_SERVICE_BILLING_EU_URL").as_deref(),
            Some("billing-eu")
        );
        // The default service's key, other service keys and malformed names are not named
        // services.
        for key in [
            SERVICE_URL,
            "OAUTH_SERVICE__URL",
            "OAUTH_SERVICE_billing_URL",
            "OAUTH_SERVICE_1X_URL",
            "OAUTH_SERVICE_BILLING_SCOPE",
            "OAUTH_SERVICE_B-C_URL",
        ] {
            assert_eq!(service_of_url_key(key), None, "{key}");
        }
    }
}
