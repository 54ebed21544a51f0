//! Streamed answers and uploads (contract 0.3): a body read as it arrives, and a body
//! written as it is read, each in constant memory.
//!
//! [`Context::send_streaming`](crate::Context::send_streaming) returns a [`StreamedResponse`]
//! whose body implements [`std::io::Read`]: wrap it in a [`std::io::BufReader`] to print a
//! log or a server-sent-event stream line by line as it comes.
//! [`Context::upload`](crate::Context::upload) sends a body from any [`std::io::Read`] (a
//! [`std::fs::File`] under the `files` grant, stdin) without holding it whole.
//!
//! ```
//! use std::io::BufRead;
//! use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
//!
//! let ctx = MockContext::new()
//!     .with_response(Method::Get, "v1/logs?follow=1", Response::new(200, "one\ntwo\n"));
//! let answer = ctx.send_streaming(Request::get("v1/logs?follow=1")).unwrap();
//! let lines: Vec<String> = std::io::BufReader::new(answer).lines().map(Result::unwrap).collect();
//! assert_eq!(lines, ["one", "two"]);
//! ```

use std::io::{self, Read};

use crate::Response;
use crate::bindings::wasi::io::streams;

/// An answer whose body is read as it arrives ([`Read`] on the answer reads the body).
pub struct StreamedResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers, in order.
    pub headers: Vec<(String, String)>,
    body: Body,
    /// The request this answers (`GET v1/logs`), for [`Response::error_for_status`].
    request: Option<String>,
}

enum Body {
    Host(streams::InputStream),
    Memory(io::Cursor<Vec<u8>>),
}

impl std::fmt::Debug for StreamedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedResponse")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .finish_non_exhaustive()
    }
}

impl StreamedResponse {
    pub(crate) fn from_host(
        status: u16,
        headers: Vec<(String, String)>,
        body: streams::InputStream,
        request: String,
    ) -> Self {
        Self {
            status,
            headers,
            body: Body::Host(body),
            request: Some(request),
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::types::header_in(&self.headers, name)
    }

    /// Reads the rest of the body into a whole [`Response`], at most `limit` bytes: for an
    /// error answer's message ([`Response::error_for_status`] names the request), or an
    /// upload's small answer.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new().with_response(Method::Get, "v1/logs", Response::new(404, "no such log"));
    /// let answer = ctx.send_streaming(Request::get("v1/logs")).unwrap();
    /// let error = answer.into_response(1 << 16).unwrap().error_for_status().unwrap_err();
    /// assert!(error.to_string().contains("GET v1/logs returned HTTP 404"), "{error}");
    /// ```
    pub fn into_response(mut self, limit: u64) -> io::Result<Response> {
        let mut body = Vec::new();
        (&mut self).take(limit).read_to_end(&mut body)?;
        Ok(Response {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
            request: self.request.take(),
        })
    }
}

/// A whole answer as a stream (what [`Context::send_streaming`](crate::Context::send_streaming)
/// gives where the context has no streams, such as [`MockContext`](crate::MockContext)).
impl From<Response> for StreamedResponse {
    fn from(response: Response) -> Self {
        Self {
            status: response.status,
            headers: response.headers,
            body: Body::Memory(io::Cursor::new(response.body)),
            request: response.request,
        }
    }
}

/// Reads the body: waits for data as it arrives (within the run's deadline); `Ok(0)` at its
/// end. A connection that breaks off mid-body is an error, not an end.
impl Read for StreamedResponse {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Memory(cursor) => cursor.read(buf),
            Body::Host(stream) => {
                if buf.is_empty() {
                    return Ok(0);
                }
                match stream.blocking_read(buf.len() as u64) {
                    Ok(data) => {
                        let n = data.len().min(buf.len());
                        buf[..n].copy_from_slice(&data[..n]);
                        Ok(n)
                    }
                    Err(streams::StreamError::Closed) => Ok(0),
                    Err(streams::StreamError::LastOperationFailed(e)) => {
                        Err(io::Error::other(e.to_debug_string()))
                    }
                }
            }
        }
    }
}

/// How much an upload hands the host at once (the host takes at most 64 KiB a write).
const UPLOAD_BUFFER: usize = 64 << 10;

/// Why an upload's body stopped: reading it (the plugin's side) or sending it (the host's).
pub(crate) enum Stopped {
    Read(io::Error),
    /// The host stopped taking it (the service answered early, or the connection failed:
    /// `finish` says which).
    Send,
}

/// Writes all of `body` to the host's upload stream, waiting while the service reads.
pub(crate) fn pump(body: &mut dyn Read, stream: &streams::OutputStream) -> Result<u64, Stopped> {
    let mut buffer = vec![0u8; UPLOAD_BUFFER];
    let mut sent = 0u64;
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => return Ok(sent),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stopped::Read(e)),
        };
        let mut chunk = &buffer[..n];
        while !chunk.is_empty() {
            let room = stream.check_write().map_err(|_| Stopped::Send)?;
            if room == 0 {
                stream.subscribe().block();
                continue;
            }
            let take = chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            stream.write(&chunk[..take]).map_err(|_| Stopped::Send)?;
            chunk = &chunk[take..];
            sent += take as u64;
        }
    }
}
