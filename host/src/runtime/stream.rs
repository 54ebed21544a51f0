//! Contract 0.3's streams: a service answer whose body the plugin reads as it arrives
//! (`send-request-streaming`), and a request body the plugin writes as it goes
//! (`start-upload`). Both are `wasi:io` streams in the run's resource table, so the plugin
//! reads and writes them with the standard calls, and both hold no more than a few chunks:
//! a body of any size passes through in constant memory.
//!
//! Bounds: at most [`OPEN_STREAMS`] answers and uploads open at once in a run; an upload's
//! body waits while the service reads, with at most [`UPLOAD_QUEUE`] chunks of at most
//! [`UPLOAD_CHUNK`] bytes queued; a read or a write waits within the run's deadline (the
//! sandbox cancels the whole run at it, with every stream). An upload's body ends only when
//! the plugin calls `finish`: one abandoned (dropped, or the run ended) is cut off as an
//! error, never sent as if it were whole.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, InputStream, OutputStream, Pollable};
use wasmtime_wasi::p2::{StreamError, StreamResult};

use super::bindings::v0_3::lmi::plugin::cli_context;
use super::bindings::{HostError, ServiceRequest};
use super::state::State;
use crate::audit::Use;
use crate::auth::request::StreamedReply;

/// Streamed answers and uploads a run may hold open at once.
pub const OPEN_STREAMS: usize = 16;
/// The most an upload's stream takes in one write (`check-write`).
pub const UPLOAD_CHUNK: usize = 64 << 10;
/// Chunks of an upload queued between the plugin and the connection.
pub const UPLOAD_QUEUE: usize = 4;

/// A run's slots for open streams.
pub fn slots() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(OPEN_STREAMS))
}

/// A service answer's body, read as it arrives.
struct ResponseBody {
    response: reqwest::Response,
    /// Data received and not yet read.
    buffer: Bytes,
    /// The body ended (`None`: not yet), or failed with this message.
    end: Option<Result<(), String>>,
    _slot: OwnedSemaphorePermit,
}

#[wasmtime_wasi::async_trait]
impl Pollable for ResponseBody {
    async fn ready(&mut self) {
        if !self.buffer.is_empty() || self.end.is_some() {
            return;
        }
        // `chunk` is cancel-safe: a read the run's deadline abandons loses nothing.
        match self.response.chunk().await {
            Ok(Some(data)) => self.buffer = data,
            Ok(None) => self.end = Some(Ok(())),
            Err(e) => self.end = Some(Err(crate::auth::http::chain(&e))),
        }
    }
}

impl InputStream for ResponseBody {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if !self.buffer.is_empty() {
            let n = size.min(self.buffer.len());
            return Ok(self.buffer.split_to(n));
        }
        match &self.end {
            None => Ok(Bytes::new()),
            Some(Ok(())) => Err(StreamError::Closed),
            Some(Err(message)) => Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "the service's answer broke off: {message}"
            ))),
        }
    }
}

/// What travels from an upload's stream to its connection.
enum Chunk {
    Data(Bytes),
    /// `finish`: the body is whole.
    End,
}

/// The body reqwest sends: the chunks the plugin writes, ended only by `finish`.
struct ChannelBody {
    chunks: mpsc::Receiver<Chunk>,
    ended: bool,
    /// Told when the body has ended whole: the answer's deadline starts then.
    sent: Option<tokio::sync::oneshot::Sender<()>>,
    /// Fails when the `Upload` is gone (dropped, or the run ended) before the body ended:
    /// a body stream the plugin kept cannot feed a request whose upload it dropped.
    abandoned: tokio::sync::oneshot::Receiver<()>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if Pin::new(&mut self.abandoned).poll(cx).is_ready() {
            return Poll::Ready(Some(Err(std::io::Error::other(
                "the plugin abandoned the upload",
            ))));
        }
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(Chunk::Data(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Some(Chunk::End)) => {
                self.ended = true;
                if let Some(sent) = self.sent.take() {
                    let _ = sent.send(());
                }
                Poll::Ready(None)
            }
            // Every sender is gone without `finish`: the request must not look whole.
            Poll::Ready(None) => Poll::Ready(Some(Err(std::io::Error::other(
                "the plugin abandoned the upload",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The plugin's end of an upload's body.
struct UploadStream {
    chunks: mpsc::Sender<Chunk>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for UploadStream {
    async fn ready(&mut self) {
        // A slot frees once the connection took a chunk; a closed channel is ready (its
        // next write fails).
        if let Ok(permit) = self.chunks.reserve().await {
            drop(permit);
        }
    }
}

impl OutputStream for UploadStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.len() > UPLOAD_CHUNK {
            return Err(StreamError::trap("wrote more than check-write allowed"));
        }
        match self.chunks.try_send(Chunk::Data(bytes)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(StreamError::trap("wrote more than check-write allowed"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(closed_upload()),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Queued chunks go out as the connection takes them; nothing is held back.
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.chunks.is_closed() {
            return Err(closed_upload());
        }
        Ok(if self.chunks.capacity() > 0 {
            UPLOAD_CHUNK
        } else {
            0
        })
    }
}

fn closed_upload() -> StreamError {
    StreamError::LastOperationFailed(wasmtime::format_err!(
        "the upload ended: the service answered or the connection failed (call `finish` for the answer)"
    ))
}

type Sending = tokio::task::JoinHandle<Result<StreamedReply, crate::auth::AuthError>>;

/// A request under way whose body the plugin writes (`lmi:plugin/cli-context.upload`).
pub struct Upload {
    chunks: mpsc::Sender<Chunk>,
    /// The plugin's end of the body, until `body` hands it over.
    stream: Option<UploadStream>,
    /// The request under way; left to fail on its own when the upload is dropped.
    sending: Sending,
    slot: Option<OwnedSemaphorePermit>,
    /// Dropped with the upload: its body fails (`ChannelBody::abandoned`), whoever holds
    /// the body stream.
    _alive: tokio::sync::oneshot::Sender<()>,
    /// For the audit record `finish` (or dropping the upload) writes.
    service: Option<String>,
    method: &'static str,
    path: String,
}

// An upload dropped without `finish` is not aborted: hyper ends the chunked body of a
// request whose answer nobody waits for any more ("0" chunk, a whole body). Its senders go
// instead, so `ChannelBody` fails the body and hyper closes the connection mid-body.

impl State {
    /// A slot for one more open stream, or `invalid-request`.
    fn stream_slot(&self) -> Result<OwnedSemaphorePermit, HostError> {
        self.host.streams.clone().try_acquire_owned().map_err(|_| {
            HostError::InvalidRequest(format!(
                "a run may hold at most {OPEN_STREAMS} streamed answers and uploads open at once: drop one first"
            ))
        })
    }

    /// `send-request-streaming`: the answer's head (after the 401 rule) and its body as a
    /// stream in the resource table.
    pub(super) async fn send_streaming(
        &mut self,
        request: ServiceRequest,
    ) -> Result<cli_context::StreamedResponse, HostError> {
        self.host.audit_ready()?;
        let service = request.service.clone();
        let method = super::host::method_name(request.method);
        let path = crate::audit::record_path(&request.path);
        let result = self.open_streaming(request).await;
        let used = Use::ServiceRequest {
            service: service.as_deref(),
            method,
            path: &path,
            status: result.as_ref().ok().map(|(r, _)| r.status),
        };
        let (reply, slot) = self.host.audited(used, result)?;
        self.streamed_response(reply, slot)
    }

    async fn open_streaming(
        &mut self,
        request: ServiceRequest,
    ) -> Result<(StreamedReply, OwnedSemaphorePermit), HostError> {
        let slot = self.stream_slot()?;
        let (session, call) = self.service_call(request).await?;
        let reply = session
            .send_streaming(call)
            .await
            .map_err(|e| self.host.failed(e))?;
        Ok((reply, slot))
    }

    fn streamed_response(
        &mut self,
        reply: StreamedReply,
        slot: OwnedSemaphorePermit,
    ) -> Result<cli_context::StreamedResponse, HostError> {
        let body: DynInputStream = Box::new(ResponseBody {
            response: reply.body,
            buffer: Bytes::new(),
            end: None,
            _slot: slot,
        });
        let body = self
            .table
            .push(body)
            .map_err(|e| HostError::Network(format!("cannot hold the answer's body: {e}")))?;
        Ok(cli_context::StreamedResponse {
            status: reply.status,
            headers: reply.headers,
            body,
        })
    }

    /// `start-upload`: the request goes out on a task of the run's runtime, its body fed by
    /// the stream `upload.body` hands the plugin.
    pub(super) async fn start_upload(
        &mut self,
        request: ServiceRequest,
    ) -> Result<Resource<Upload>, HostError> {
        if request.body.is_some() {
            return Err(HostError::InvalidRequest(
                "start-upload sends the body the plugin writes to `upload.body`: the request's own `body` must be none".into(),
            ));
        }
        self.host.audit_ready()?;
        let slot = self.stream_slot()?;
        let service = request.service.clone();
        let method = super::host::method_name(request.method);
        let path = crate::audit::record_path(&request.path);
        let (session, call) = self.service_call(request).await?;
        // The token leaves with the request's head, before the plugin writes a byte: the
        // use is recorded now (no status yet), so a run that ends before `finish` or a drop
        // (deadline, Ctrl-C, a trap) still leaves it in the trail; `finish` or the drop
        // records how it ended.
        self.host.audited::<()>(
            Use::ServiceRequest {
                service: service.as_deref(),
                method,
                path: &path,
                status: None,
            },
            Ok(()),
        )?;
        let (tx, rx) = mpsc::channel(UPLOAD_QUEUE);
        let (sent, body_sent) = tokio::sync::oneshot::channel();
        let (alive, abandoned) = tokio::sync::oneshot::channel();
        let body = reqwest::Body::wrap(ChannelBody {
            chunks: rx,
            ended: false,
            sent: Some(sent),
            abandoned,
        });
        let sending = tokio::spawn(session.upload(call, body, body_sent));
        let upload = Upload {
            stream: Some(UploadStream { chunks: tx.clone() }),
            chunks: tx,
            sending,
            slot: Some(slot),
            _alive: alive,
            service,
            method,
            path,
        };
        self.table
            .push(upload)
            .map_err(|e| HostError::Network(format!("cannot hold the upload: {e}")))
    }
}

impl cli_context::HostUpload for State {
    async fn body(
        &mut self,
        this: Resource<Upload>,
    ) -> Result<Resource<DynOutputStream>, HostError> {
        let upload = self
            .table
            .get_mut(&this)
            .map_err(|e| HostError::InvalidRequest(format!("no such upload: {e}")))?;
        let stream = upload.stream.take().ok_or_else(|| {
            HostError::InvalidRequest(
                "the upload's body was already taken: `body` hands it out once".into(),
            )
        })?;
        let stream: DynOutputStream = Box::new(stream);
        // Not the upload's child: the plugin may finish or drop the upload with the stream
        // still open. Dropping the upload fails the body at once (`ChannelBody::abandoned`),
        // so the request is cut off and the stream's writes fail.
        self.table
            .push(stream)
            .map_err(|e| HostError::Network(format!("cannot hold the upload's body: {e}")))
    }

    async fn finish(
        &mut self,
        this: Resource<Upload>,
    ) -> Result<cli_context::StreamedResponse, HostError> {
        let mut upload = self
            .table
            .delete(this)
            .map_err(|e| HostError::InvalidRequest(format!("cannot finish the upload: {e}")))?;
        // Queued after every chunk written: the body is whole. A request that already ended
        // (the service answered early, or failed) has no receiver; its result says why.
        let _ = upload.chunks.send(Chunk::End).await;
        let sending = &mut upload.sending;
        let result = match sending.await {
            Ok(result) => result.map_err(|e| self.host.failed(e)),
            Err(e) => Err(HostError::Network(format!("the upload failed: {e}"))),
        };
        let used = Use::ServiceRequest {
            service: upload.service.as_deref(),
            method: upload.method,
            path: &upload.path,
            status: result.as_ref().ok().map(|r| r.status),
        };
        let reply = self.host.audited(used, result)?;
        let slot = upload
            .slot
            .take()
            .ok_or_else(|| HostError::Network("the upload has no stream slot".into()))?;
        self.streamed_response(reply, slot)
    }

    async fn drop(&mut self, this: Resource<Upload>) -> wasmtime::Result<()> {
        // Dropped without `finish`: the request is cut off mid-body (`ChannelBody`), and the
        // audit trail says the token was sent and the exchange abandoned.
        let upload = self.table.delete(this)?;
        let used = Use::ServiceRequest {
            service: upload.service.as_deref(),
            method: upload.method,
            path: &upload.path,
            status: None,
        };
        let _ = self.host.audited::<()>(
            used,
            Err(HostError::Network("the plugin abandoned the upload".into())),
        );
        Ok(())
    }
}
