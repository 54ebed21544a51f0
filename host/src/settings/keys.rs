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
/// The longest run any plugin command may declare (`timeout_secs`, `timeout = "none"`);
/// unset, the declared run time holds.
pub const PLUGIN_MAX_TIMEOUT_SECS: &str = "LMI_PLUGIN_MAX_TIMEOUT_SECS";
pub const COMPILE_MEMORY_MB: &str = "LMI_COMPILE_MEMORY_MB";
// ---- global: plugin signatures (`plugins::signature`) ------------------------------------
/// Comma-separated minisign public keys (`RW…`) or absolute paths of `minisign.pub` files.
pub const PLUGIN_TRUSTED_KEYS: &str = "LMI_PLUGIN_TRUSTED_KEYS";
/// `true`: an install needs a signature by a trusted key (unless `--allow-unsigned`).
pub const PLUGIN_REQUIRE_SIGNATURE: &str = "LMI_PLUGIN_REQUIRE_SIGNATURE";
/// The password of an encrypted key for `lmi plugin sign`, for scripts (process environment
/// only; a secret).
pub const SIGNING_KEY_PASSWORD: &str = "LMI_SIGNING_KEY_PASSWORD";
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
/// How `lmi login sso` signs in: `auto` (the default: the device flow on a machine without a
/// display or over SSH, when the provider offers it), `browser` or `device`; any case.
pub const SSO_LOGIN_METHOD: &str = "OAUTH_SSO_LOGIN_METHOD";
/// The values [`SSO_LOGIN_METHOD`] takes (the first is the default).
pub const SSO_LOGIN_METHODS: &[&str] = &["auto", "browser", "device"];

// ---- the process environment: how the user reaches this machine ---------------------------
// Facts of the session, not configuration: read from the process environment alone
// (`Settings::seat`), never from a file, for `OAUTH_SSO_LOGIN_METHOD=auto`.
pub const SSH_CONNECTION: &str = "SSH_CONNECTION";
pub const SSH_TTY: &str = "SSH_TTY";
pub const DISPLAY: &str = "DISPLAY";
pub const WAYLAND_DISPLAY: &str = "WAYLAND_DISPLAY";
/// The variables [`super::Settings::seat`] reads.
pub const SEAT_VARIABLES: &[&str] = &[SSH_CONNECTION, SSH_TTY, DISPLAY, WAYLAND_DISPLAY];

// ---- global: logging and authoring -------------------------------------------------------------
/// `off`, or a path; the default is lmi's data directory.
pub const LOG_FILE: &str = "LMI_LOG_FILE";
/// The audit trail of credential use: `off`, or an absolute path; the default is lmi's data
/// directory (`audit`).
pub const AUDIT_LOG: &str = "LMI_AUDIT_LOG";
/// Where `lmi plugin new` takes the SDK from, when its flags do not say: a directory (an
/// lmi checkout's `plugin-sdk`), a git repository, or a cargo registry of the user's.
pub const SDK_PATH: &str = "LMI_SDK_PATH";
pub const SDK_GIT: &str = "LMI_SDK_GIT";
pub const SDK_REGISTRY: &str = "LMI_SDK_REGISTRY";

// ---- SSO provider (global `.env`) --------------------------------------------------------------
pub const SSO_ISSUER: &str = "OAUTH_SSO_ISSUER";
pub const SSO_CLIENT_ID: &str = "OAUTH_SSO_CLIENT_ID";
pub const SSO_SCOPES: &str = "OAUTH_SSO_SCOPES";
pub const SSO_AUTHORIZATION_URL: &str = "OAUTH_SSO_AUTHORIZATION_URL";
pub const SSO_TOKEN_URL: &str = "OAUTH_SSO_TOKEN_URL";
pub const SSO_JWKS_URL: &str = "OAUTH_SSO_JWKS_URL";
pub const SSO_REVOCATION_URL: &str = "OAUTH_SSO_REVOCATION_URL";
pub const SSO_DEVICE_AUTHORIZATION_URL: &str = "OAUTH_SSO_DEVICE_AUTHORIZATION_URL";
/// Which provider profile applies (`auth::sso::profile`): detected from the issuer when unset.
pub const SSO_PROVIDER: &str = "OAUTH_SSO_PROVIDER";
/// The API the SSO access token is for (Auth0's `audience` parameter).
pub const SSO_AUDIENCE: &str = "OAUTH_SSO_AUDIENCE";
/// The client secret a provider requires of an installed app (Google's Desktop-app clients).
pub const SSO_CLIENT_SECRET: &str = "OAUTH_SSO_CLIENT_SECRET";
/// Loopback ports registered at the provider for the browser's redirect, tried in order.
pub const SSO_REDIRECT_PORTS: &str = "OAUTH_SSO_REDIRECT_PORTS";
/// The keys that name the SSO identity provider and how lmi talks to it.
pub const SSO_KEYS: &[&str] = &[
    SSO_ISSUER,
    SSO_CLIENT_ID,
    SSO_SCOPES,
    SSO_AUTHORIZATION_URL,
    SSO_TOKEN_URL,
    SSO_JWKS_URL,
    SSO_REVOCATION_URL,
    SSO_DEVICE_AUTHORIZATION_URL,
    SSO_PROVIDER,
    SSO_AUDIENCE,
    SSO_CLIENT_SECRET,
    SSO_REDIRECT_PORTS,
];

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

/// Comma-separated `host[:port]`s whose git (and docker registry) credentials are this
/// environment's service token, beside the hosts of its service URLs (`lmi credential git`,
/// `lmi credential docker`).
pub const GIT_HOSTS: &str = "LMI_GIT_HOSTS";

// ---- environment policy (`settings::policy`): the env file, else the global file; the -------
// ---- process environment may only tighten it ------------------------------------------------
/// Every plugin command (and `lmi auth token`) needs a valid SSO session.
pub const REQUIRE_SSO: &str = "LMI_REQUIRE_SSO";
/// Comma-separated groups, one of which the user's ID token must carry.
pub const SSO_ALLOWED_GROUPS: &str = "LMI_SSO_ALLOWED_GROUPS";
/// The ID-token claim holding the user's groups (default `groups`).
pub const SSO_GROUPS_CLAIM: &str = "LMI_SSO_GROUPS_CLAIM";
/// A banner before each plugin command; commands marked `confirm = true` ask first.
pub const PROTECTED: &str = "LMI_PROTECTED";
/// `marked` (the default) or `all`: which commands of a protected environment ask first.
pub const CONFIRM: &str = "LMI_CONFIRM";
/// Answer yes to every confirmation (as the global `--yes` does).
pub const ASSUME_YES: &str = "LMI_ASSUME_YES";

/// Read from the environment to tell plugins whether colour is wanted (`terminal.info`).
pub const NO_COLOR: &str = "NO_COLOR";
pub const CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";
pub const TERM: &str = "TERM";

/// A plugin's own settings: `LMI_PLUGIN_<PLUGIN>__<KEY>` (see `plugins::config`).
pub const PLUGIN_CONFIG_PREFIX: &str = "LMI_PLUGIN_";

/// Every other key of a fixed name (beside [`GLOBAL_ONLY`] and [`SSO_KEYS`]): an environment's,
/// read from its file or, for every environment, the global file (`LMI_ACCESS_TOKEN` from the
/// process environment only).
const ENVIRONMENT_KEYS: &[&str] = &[
    SERVICE_URL,
    TOKEN_URL,
    GRANT_TYPE,
    CLIENT_ID,
    CLIENT_SECRET,
    CLIENT_AUTH_METHOD,
    USERNAME,
    PASSWORD,
    SCOPE,
    AUDIENCE,
    ACCESS_TOKEN,
    GIT_HOSTS,
    REQUIRE_SSO,
    SSO_ALLOWED_GROUPS,
    SSO_GROUPS_CLAIM,
    PROTECTED,
    CONFIRM,
    ASSUME_YES,
];

/// Whether lmi reads `key`: one of [`ENVIRONMENT_KEYS`], [`GLOBAL_ONLY`] or [`SSO_KEYS`], a named service's key, or a
/// plugin setting.
pub fn is_known(key: &str) -> bool {
    let service_key = key.strip_prefix(SERVICE_PREFIX).is_some_and(|rest| {
        [
            SERVICE_URL_SUFFIX,
            SERVICE_SCOPE_SUFFIX,
            SERVICE_AUDIENCE_SUFFIX,
        ]
        .iter()
        .any(|suffix| rest.len() > suffix.len() && rest.ends_with(suffix))
    });
    ENVIRONMENT_KEYS.contains(&key)
        || GLOBAL_ONLY.contains(&key)
        || SSO_KEYS.contains(&key)
        || service_key
        || key.starts_with(PLUGIN_CONFIG_PREFIX)
}

/// The known key `key` is probably a misspelling of, if one is close enough.
pub fn closest(key: &str) -> Option<&'static str> {
    let upper = key.to_ascii_uppercase();
    ENVIRONMENT_KEYS
        .iter()
        .chain(GLOBAL_ONLY)
        .chain(SSO_KEYS)
        .map(|k| (*k, strsim::jaro_winkler(&upper, &k.to_ascii_uppercase())))
        .filter(|(_, score)| *score >= 0.9)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

/// Keys read from the process environment alone: a file that sets one changes nothing.
pub const PROCESS_ONLY: &[&str] = &[ENV, ACCESS_TOKEN, SIGNING_KEY_PASSWORD];

/// Keys lmi reads from the process environment and the global `.env` only, never from an
/// env file: which environment, the sandbox limits, the network, the SSO provider and its
/// session, logging, the audit trail, authoring, the terminal conventions. (Every other key
/// is an environment's; set in the global `.env`, it applies to every environment.)
const GLOBAL_ONLY: &[&str] = &[
    ENV,
    DEFAULT_ENVIRONMENT,
    PLUGIN_MEMORY_MB,
    PLUGIN_TIMEOUT_SECS,
    PLUGIN_MAX_TIMEOUT_SECS,
    PLUGIN_TRUSTED_KEYS,
    PLUGIN_REQUIRE_SIGNATURE,
    SIGNING_KEY_PASSWORD,
    COMPILE_MEMORY_MB,
    COMPILE_TIMEOUT_SECS,
    HTTP_TIMEOUT_SECS,
    CA_BUNDLE,
    SSO_STORAGE,
    KEYCHAIN_TIMEOUT_SECS,
    SSO_LOGIN_TIMEOUT_SECS,
    BROWSER,
    SSO_LOGIN_METHOD,
    LOG_FILE,
    AUDIT_LOG,
    SDK_PATH,
    SDK_GIT,
    SDK_REGISTRY,
    NO_COLOR,
    CLICOLOR_FORCE,
    TERM,
];

/// Whether `key` is read only from the process environment and the global `.env`.
pub fn is_global_only(key: &str) -> bool {
    GLOBAL_ONLY.contains(&key) || SSO_KEYS.contains(&key)
}

/// The environment policy's keys (`settings::policy`): read from the env file, else the
/// global file; the process environment may only tighten them.
pub const POLICY_KEYS: &[&str] = &[
    REQUIRE_SSO,
    SSO_ALLOWED_GROUPS,
    SSO_GROUPS_CLAIM,
    PROTECTED,
    CONFIRM,
];

/// Keys holding a whole number of seconds or MiB (at least 1).
pub const COUNT_KEYS: &[&str] = &[
    PLUGIN_MEMORY_MB,
    PLUGIN_TIMEOUT_SECS,
    PLUGIN_MAX_TIMEOUT_SECS,
    COMPILE_MEMORY_MB,
    COMPILE_TIMEOUT_SECS,
    HTTP_TIMEOUT_SECS,
    KEYCHAIN_TIMEOUT_SECS,
    SSO_LOGIN_TIMEOUT_SECS,
];

/// Keys holding a URL lmi sends credentials to or fetches from: `https://`, or `http://` to
/// loopback ([`super::check_url_from`]). Named services' `_URL` keys are URLs too.
pub const URL_KEYS: &[&str] = &[
    SERVICE_URL,
    TOKEN_URL,
    SSO_ISSUER,
    SSO_AUTHORIZATION_URL,
    SSO_TOKEN_URL,
    SSO_JWKS_URL,
    SSO_REVOCATION_URL,
    SSO_DEVICE_AUTHORIZATION_URL,
];

/// The values `OAUTH_GRANT_TYPE`, `OAUTH_CLIENT_AUTH_METHOD` and `LMI_SSO_STORAGE` take (the
/// first is the default).
pub const GRANT_TYPES: &[&str] = &["client_credentials", "password"];
pub const CLIENT_AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];
pub const SSO_STORAGES: &[&str] = &["keychain", "file"];
/// The values `OAUTH_SSO_PROVIDER` takes (any case): the provider profiles of
/// `auth::sso::profile`.
pub const SSO_PROVIDERS: &[&str] = &["entra", "okta", "keycloak", "auth0", "google", "generic"];

/// Keys whose values are secrets: registered with the scrubber when read, never printed.
pub const SECRET_KEYS: &[&str] = &[
    CLIENT_SECRET,
    PASSWORD,
    ACCESS_TOKEN,
    SSO_CLIENT_SECRET,
    SIGNING_KEY_PASSWORD,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_is_told_from_an_unknown_one() {
        assert!(is_known("OAUTH_CLIENT_SECRET"));
        assert!(is_known("OAUTH_SSO_ISSUER"));
        assert_eq!(closest("OAUTH_SSO_ISUER"), Some(SSO_ISSUER));
        assert!(is_known("OAUTH_SERVICE_BILLING_SCOPE"));
        assert!(is_known("LMI_PLUGIN_DEPLOY__REGION"));
        assert!(!is_known("OAUTH_CLIENT_SCRET"));
        assert_eq!(closest("OAUTH_CLIENT_SCRET"), Some(CLIENT_SECRET));
        assert_eq!(closest("default_enviroment"), Some(DEFAULT_ENVIRONMENT));
        assert_eq!(closest("LMI_HTTP_TIMEOUT"), Some(HTTP_TIMEOUT_SECS));
        assert_eq!(closest("MY_OWN_HELPER"), None);
        assert!(is_known("LMI_REQUIRE_SSO") && is_known("LMI_SSO_ALLOWED_GROUPS"));
        assert_eq!(closest("LMI_REQUIRE_SS0"), Some(REQUIRE_SSO));
        assert_eq!(closest("LMI_SSO_ALLOWED_GROUP"), Some(SSO_ALLOWED_GROUPS));
        assert_eq!(closest("LMI_PROTECT"), Some(PROTECTED));
    }

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
