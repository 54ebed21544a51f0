//! The deadline-bound HTTP client doctor's network checks share, the credential-free probe of
//! a service URL, and reading the clock off an answer.

use std::time::SystemTime;

use super::PROBE_TIMEOUT;
use crate::auth::AuthError;
use crate::auth::http::{Http, HttpFailure};
use crate::settings::Settings;

/// lmi's own client (the same trusted roots, proxy rules and redirect policy as every
/// request lmi makes), with doctor's deadline: [`PROBE_TIMEOUT`], or `LMI_HTTP_TIMEOUT_SECS`
/// if that is shorter.
pub fn doctor_http(settings: &Settings) -> Result<Http, AuthError> {
    let http = Http::for_process(settings)?;
    if http.timeout() <= PROBE_TIMEOUT {
        return Ok(http);
    }
    Ok(http.with_timeout(PROBE_TIMEOUT, "doctor's limit per check"))
}

/// Why a probe got no answer, in words naming the step that failed.
pub enum Unanswered {
    /// The server's certificate was refused (the words say why and what to do).
    Tls(String),
    /// The name lookup, the connection or the deadline.
    Network(String),
}

/// The status a GET of `url` without any credential gets, its body left unread; or what
/// failed on the way (the name lookup, the connection, TLS, the deadline).
pub fn service_status(http: &Http, url: &url::Url) -> Result<u16, Unanswered> {
    let request = http
        .request(reqwest::Method::GET, url.clone())
        .and_then(|b| b.build().map_err(|e| HttpFailure::Other(e.to_string())))
        .map_err(|e| Unanswered::Network(e.to_string()))?;
    http.status_of(request)
        .map(|status| status.as_u16())
        .map_err(|e| match e {
            HttpFailure::Tls(why) => Unanswered::Tls(why),
            other => Unanswered::Network(unreachable(url, http, other)),
        })
}

/// Why `url` gave no answer, naming the step that failed.
fn unreachable(url: &url::Url, http: &Http, failure: HttpFailure) -> String {
    let host = url.host_str().unwrap_or("the host");
    let at = match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    match failure {
        HttpFailure::Timeout(..) => {
            format!("no answer from {at} within {} s", http.timeout().as_secs())
        }
        HttpFailure::Connect(chain) if chain.contains("dns error") => {
            format!("the name {host} does not resolve (name lookup failed)")
        }
        HttpFailure::Connect(chain) if chain.to_lowercase().contains("connection refused") => {
            format!("cannot connect to {at}: connection refused")
        }
        HttpFailure::Connect(chain) => format!("cannot connect to {at}: {chain}"),
        other => other.to_string(),
    }
}

/// An RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(v: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? + 1;
    humantime::parse_rfc3339(&format!("{year}-{m:02}-{:0>2}T{time}Z", day)).ok()
}

/// Seconds `ours` is ahead of `theirs` (negative: behind).
pub fn skew_secs(ours: SystemTime, theirs: SystemTime) -> i64 {
    match ours.duration_since(theirs) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(t, humantime::parse_rfc3339("1994-11-06T08:49:37Z").ok());
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn skew_has_a_sign() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(skew_secs(t, t - Duration::from_secs(90)), 90);
        assert_eq!(skew_secs(t, t + Duration::from_secs(90)), -90);
    }
}
