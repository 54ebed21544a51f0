//! The one log line of an exchange.

use std::time::Instant;

use super::{Exchange, HttpFailure, Reply};

/// The one log line of an exchange: method, URL without its query, status, time, size.
pub(super) struct ExchangeLog {
    method: reqwest::Method,
    url_info: String,
    url_debug: String,
    started: Instant,
}

impl ExchangeLog {
    pub(super) fn start(request: &reqwest::Request) -> Self {
        Self {
            method: request.method().clone(),
            url_info: crate::logging::url_for_log(request.url()),
            url_debug: crate::logging::redact_url(request.url()),
            started: Instant::now(),
        }
    }

    pub(super) fn finish(self, result: Exchange) -> Result<Reply, HttpFailure> {
        let Self {
            method,
            url_info,
            url_debug,
            started,
        } = self;
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(reply) => {
                tracing::info!(
                    "HTTP {method} {url_info} -> {} ({ms} ms, {} bytes)",
                    reply.status.as_u16(),
                    reply.body.len()
                );
            }
            Err((Some(status), e)) => {
                tracing::info!(
                    "HTTP {method} {url_info} -> {} then failed after {ms} ms: {e}",
                    status.as_u16()
                );
            }
            Err((None, e)) => {
                tracing::info!("HTTP {method} {url_info} failed after {ms} ms: {e}");
            }
        }
        tracing::debug!("HTTP {method} {url_debug}");
        result.map_err(|(_, e)| e)
    }

    /// A streamed exchange's head: its body is the caller's to read.
    pub(super) fn streamed(
        self,
        result: Result<reqwest::Response, HttpFailure>,
    ) -> Result<reqwest::Response, HttpFailure> {
        let Self {
            method,
            url_info,
            url_debug,
            started,
        } = self;
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(response) => tracing::info!(
                "HTTP {method} {url_info} -> {} ({ms} ms to the head; body streamed)",
                response.status().as_u16()
            ),
            Err(e) => tracing::info!("HTTP {method} {url_info} failed after {ms} ms: {e}"),
        }
        tracing::debug!("HTTP {method} {url_debug}");
        result
    }
}
