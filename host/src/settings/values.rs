//! A value checked before it is written to a file (`lmi config set`, `lmi env add`), by the
//! rules the code that reads the key applies, so a value lmi would refuse later is refused now
//! and the file is left as it was.

use super::{ConfigError, Source, keys};

/// Checks `value` for `key`, to be written to `source`. Keys with no rule of their own (a
/// client id, a scope, a plugin's setting) pass; what no `.env` value may hold (a line break,
/// a control character) is the editor's to refuse.
pub fn check_value(key: &str, value: &str, source: &Source) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: key.to_owned(),
        source_name: source.to_string(),
        reason,
    };
    let one_of = |allowed: &[&str]| {
        if allowed.contains(&value.trim()) {
            Ok(())
        } else {
            Err(invalid(format!(
                "`{}` is not one of {}",
                crate::text::line(value, 80),
                allowed.join(", ")
            )))
        }
    };
    if keys::URL_KEYS.contains(&key) || keys::service_of_url_key(key).is_some() {
        return super::check_url_from(key, &source.to_string(), value).map(drop);
    }
    if keys::COUNT_KEYS.contains(&key) {
        return super::count(key, &source.to_string(), value).map(drop);
    }
    if let Some(checked) = super::policy::check_value(key, value, source) {
        return checked;
    }
    match key {
        keys::GRANT_TYPE => one_of(keys::GRANT_TYPES),
        keys::CLIENT_AUTH_METHOD => one_of(keys::CLIENT_AUTH_METHODS),
        keys::SSO_STORAGE => one_of(keys::SSO_STORAGES),
        keys::SSO_PROVIDER
            if keys::SSO_PROVIDERS.contains(&value.trim().to_ascii_lowercase().as_str()) =>
        {
            Ok(())
        }
        keys::SSO_PROVIDER => one_of(keys::SSO_PROVIDERS),
        keys::SSO_LOGIN_METHOD => super::LoginMethod::parse(value).map(drop).map_err(invalid),
        keys::SSO_REDIRECT_PORTS => super::redirect_ports(value).map(drop).map_err(invalid),
        keys::GIT_HOSTS => super::git_hosts(value).map(drop).map_err(invalid),
        keys::DEFAULT_ENVIRONMENT => super::validate_env_name(value),
        keys::AUDIT_LOG => match value.trim() {
            "off" | "0" | "false" => Ok(()),
            p if std::path::Path::new(p).is_absolute() => Ok(()),
            _ => Err(invalid("give `off` or an absolute path".to_owned())),
        },
        _ => Ok(()),
    }
}

/// An lmi switch: `true`/`1` or `false`/`0` (any case, trimmed); anything else is none, for
/// the caller to refuse by name (never read as "off").
pub fn parse_switch(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_key_is_checked_as_it_is_read() {
        let file = Source::EnvFile("/home/u/.config/lmi/env/dev.env".into());
        let ok = |key: &str, value: &str| check_value(key, value, &file).unwrap();
        let bad = |key: &str, value: &str| check_value(key, value, &file).unwrap_err().to_string();
        ok("OAUTH_TOKEN_URL", "https://idp.example/token");
        ok("OAUTH_SERVICE_URL", "http://127.0.0.1:8080/api");
        ok("OAUTH_SERVICE_BILLING_URL", "https://billing.example");
        assert!(bad("OAUTH_TOKEN_URL", "http://idp.example/token").contains("plain http://"));
        assert!(
            bad("OAUTH_SERVICE_BILLING_URL", "https://u:pw@b.example").contains("****"),
            "a password in a URL is never quoted"
        );
        assert!(bad("OAUTH_SSO_ISSUER", "ftp://x").contains("ftp://"));
        ok("LMI_HTTP_TIMEOUT_SECS", "30");
        assert!(bad("LMI_HTTP_TIMEOUT_SECS", "0").contains("at least 1"));
        ok("LMI_REQUIRE_SSO", "true");
        assert!(bad("LMI_REQUIRE_SSO", "yes please").contains("not a switch"));
        assert!(bad("LMI_CONFIRM", "none").contains("not a choice"));
        assert!(bad("LMI_SSO_ALLOWED_GROUPS", ",").contains("no group"));
        ok("OAUTH_GRANT_TYPE", "password");
        assert!(bad("OAUTH_GRANT_TYPE", "implicit").contains("client_credentials, password"));
        assert!(bad("OAUTH_CLIENT_AUTH_METHOD", "private_key_jwt").contains("client_secret_post"));
        assert!(bad("default_environment", "a b").contains("invalid environment name"));
        assert!(bad("LMI_AUDIT_LOG", "audit.jsonl").contains("absolute path"));
        ok("OAUTH_SSO_LOGIN_METHOD", "Device");
        assert!(bad("OAUTH_SSO_LOGIN_METHOD", "qr").contains("auto, browser, device"));
        ok("OAUTH_SCOPE", "read write");
        ok("LMI_PLUGIN_DEPLOY__REGION", "eu");
        // Every message names the key and the file.
        assert!(bad("LMI_CONFIRM", "none").contains("dev.env"));
    }
}
