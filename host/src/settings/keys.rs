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
/// A token to use as it is, instead of any grant.
pub const ACCESS_TOKEN: &str = "LMI_ACCESS_TOKEN";

/// Keys whose values are secrets: registered with the scrubber when read, never printed.
pub const SECRET_KEYS: &[&str] = &[CLIENT_SECRET, PASSWORD, ACCESS_TOKEN];
