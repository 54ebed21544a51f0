//! A credential-free reachability probe through lmi's own HTTP client, and reading the clock
//! off its answer.

use std::time::SystemTime;

use super::PROBE_TIMEOUT;
use crate::settings::Settings;

/// What a reachability probe saw: any HTTP answer means the endpoint is there.
pub struct Probe {
    pub status: u16,
}

/// A credential-free GET with short timeouts and no redirects; at most 64 KiB of body read.
pub fn probe(settings: &Settings, url: &url::Url) -> Result<Probe, String> {
    use crate::auth::http::{Http, HttpFailure};
    // lmi's own client: the same trusted roots, proxy rules and total deadline as every
    // request lmi makes, with the probe's shorter deadline.
    let http = Http::for_process(settings)
        .map(|h| h.with_timeout(PROBE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let request = http
        .request(reqwest::Method::GET, url.clone())
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let reply = http.execute(request, 64 << 10).map_err(|e| match e {
        HttpFailure::Timeout(_) => format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        HttpFailure::Connect(_) => "connection refused or host not found".to_owned(),
        other => other.to_string(),
    })?;
    Ok(Probe {
        status: reply.status.as_u16(),
    })
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
