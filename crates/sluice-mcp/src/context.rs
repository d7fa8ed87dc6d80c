//! What a handler knows about the request it serves: [`RequestContext`] and the typed
//! [`Extensions`] other crates attach (the caller's identity rides there).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::jsonrpc::{self, ErrorObject, RequestId};
use crate::mrtr::InputRequest;
use crate::session::State;

/// A type map: at most one value of each type, cheap to clone (values are shared).
///
/// ```
/// use sluice_mcp::Extensions;
///
/// #[derive(Debug, PartialEq)]
/// struct Login(String);
///
/// let mut extensions = Extensions::new();
/// extensions.insert(Login("alice".to_owned()));
/// assert_eq!(extensions.get::<Login>(), Some(&Login("alice".to_owned())));
/// assert_eq!(extensions.get::<u32>(), None);
/// ```
#[derive(Clone, Default)]
pub struct Extensions {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Extensions {
    /// An empty map.
    pub fn new() -> Self {
        Extensions::default()
    }

    /// Stores `value`, replacing any earlier value of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.map.len())
            .finish()
    }
}

/// The severity of a log entry sent to the client (`notifications/message`), lowest
/// first; the syslog levels of RFC 5424, as MCP uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detailed debugging information.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Something to look at.
    Warning,
    /// An operation failed.
    Error,
    /// A component failed.
    Critical,
    /// Act now.
    Alert,
    /// The system is unusable.
    Emergency,
}

impl LogLevel {
    pub(crate) fn rank(self) -> u8 {
        self as u8 + 1
    }
}

/// Where the messages about one request go: the session's own queue (stdio), or the
/// stream a transport opened for that request (an HTTP POST's event stream).
#[derive(Debug, Clone)]
pub(crate) enum Related {
    /// The session's queue of outgoing messages.
    Session(mpsc::UnboundedSender<String>),
    /// A per-request stream.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    Stream(mpsc::UnboundedSender<StreamItem>),
}

/// What flows on a per-request stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamItem {
    /// A JSON-RPC message, serialised.
    Message(String),
    /// The handler asks the transport to end the connection now; the client resumes.
    CloseConnection,
}

impl Related {
    pub(crate) fn send(&self, text: String) {
        // A closed channel means the client went away; there is nobody left to tell.
        let _ = match self {
            Related::Session(sender) => sender.send(text).map_err(drop),
            Related::Stream(sender) => sender.send(StreamItem::Message(text)).map_err(drop),
        };
    }
}

/// Why a request to the client failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientRequestError {
    /// The client did not declare the capability the request needs.
    #[error("the client does not support {0}")]
    NotSupported(&'static str),
    /// The client did not answer in time; the request was cancelled.
    #[error("the client did not answer within {0:?}")]
    Timeout(Duration),
    /// The session ended, or the request that asked was cancelled, before an answer came.
    #[error("the session ended before the client answered")]
    Closed,
    /// The client answered with an error.
    #[error("the client answered with error {}: {}", .0.code, .0.message)]
    Rejected(ErrorObject),
    /// The request came under MCP 2026-07-28, where a server sends no requests to the
    /// client, and its method cannot end with `input_required` (only `tools/call`,
    /// `prompts/get` and `resources/read` can): use [`RequestContext::ask`] from one of
    /// those.
    #[error("requests to the client are not available for this 2026-07-28 request")]
    Stateless,
}

/// The context of one request, handed to every handler.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub(crate) id: RequestId,
    pub(crate) extensions: Extensions,
    pub(crate) cancellation: CancellationToken,
    pub(crate) progress_token: Option<Value>,
    pub(crate) related: Related,
    pub(crate) state: Arc<State>,
    /// Set for a 2026-07-28 request: what it says about its client.
    pub(crate) era: Option<Arc<crate::era::RequestEra>>,
    /// Set for a 2026-07-28 request whose method may end `input_required`.
    pub(crate) rounds: Option<Arc<crate::mrtr::Rounds>>,
    /// The W3C trace context the request carried in `_meta`.
    pub(crate) trace: Option<Arc<crate::TraceContext>>,
}

impl RequestContext {
    /// The request's JSON-RPC id.
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// What the transport and the session attached: the caller's identity, for example.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Cancelled when the client sends `notifications/cancelled` for this request or the
    /// session ends. The server also drops the handler's future then; long-running work
    /// outside that future (a database query) can watch this token to stop early.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancellation
    }

    /// The W3C trace context (`traceparent`, `tracestate`, `baggage`) the request
    /// carried in its `_meta`, to continue the client's trace in outgoing calls. The
    /// request's `tracing` span records its trace and parent span ids too.
    pub fn trace_context(&self) -> Option<&crate::TraceContext> {
        self.trace.as_deref()
    }

    /// The protocol revision of this request: the one it names in `_meta` (2026-07-28),
    /// else the one agreed at initialisation.
    pub fn protocol_version(&self) -> &'static str {
        match &self.era {
            Some(era) => era.version,
            None => self.state.protocol_version(),
        }
    }

    /// The capabilities the client declared: with this request (2026-07-28), else at
    /// initialisation (`Value::Null` before).
    pub fn client_capabilities(&self) -> Value {
        match &self.era {
            Some(era) => era.capabilities.clone(),
            None => self.state.client_capabilities(),
        }
    }

    /// The client's `clientInfo` (name and version), when it sent one.
    pub fn client_info(&self) -> Option<Value> {
        match &self.era {
            Some(era) => era.client_info.clone(),
            None => self.state.client_info(),
        }
    }

    /// Sends `notifications/progress` when the client asked for progress (by sending a
    /// `progressToken` in the request's `_meta`); does nothing otherwise.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else {
            return;
        };
        let mut params = json!({"progressToken": token, "progress": progress});
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        self.related
            .send(jsonrpc::notification("notifications/progress", &params));
    }

    /// Sends a `notifications/message` log entry to the client, unless the client asked
    /// (with `logging/setLevel`) for a higher level only.
    pub fn log(&self, level: LogLevel, data: Value) {
        self.log_as(level, None, data);
    }

    /// Like [`log`](Self::log), naming the logger the entry comes from.
    pub fn log_as(&self, level: LogLevel, logger: Option<&str>, data: Value) {
        let wanted = match &self.era {
            // 2026-07-28: only when this request asked for a level.
            Some(era) => era.wants_log(level),
            None => self.state.wants_log(level),
        };
        if !wanted {
            return;
        }
        let mut params = json!({"level": level, "data": data});
        if let Some(logger) = logger {
            params["logger"] = json!(logger);
        }
        self.related
            .send(jsonrpc::notification("notifications/message", &params));
    }

    /// Asks the transport to end this request's connection now, without ending the
    /// request: over Streamable HTTP the client reconnects with `Last-Event-ID` and
    /// receives what followed (SSE polling). Does nothing on transports without
    /// resumable streams (stdio).
    pub fn close_connection(&self) {
        if let Related::Stream(sender) = &self.related {
            let _ = sender.send(StreamItem::CloseConnection);
        }
    }

    /// Sends a request to the client and waits for its answer, at most the server's
    /// client-request timeout ([`ServerBuilder::client_request_timeout`]). If the wait
    /// ends early (timeout, or this request was cancelled), the client is told with
    /// `notifications/cancelled`.
    ///
    /// [`ServerBuilder::client_request_timeout`]: crate::ServerBuilder::client_request_timeout
    ///
    /// # Errors
    ///
    /// [`ClientRequestError`] says why no result came.
    pub async fn request_client(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, ClientRequestError> {
        if self.era.is_some() {
            return Err(ClientRequestError::Stateless);
        }
        let (id, answer) = self.state.register_pending();
        let mut guard = PendingGuard {
            state: &self.state,
            id: id.clone(),
            related: &self.related,
            answered: false,
        };
        self.related.send(jsonrpc::request(&id, method, &params));
        let timeout = self.state.client_timeout();
        let outcome = tokio::select! {
            answer = answer => answer.map_err(|_| ClientRequestError::Closed),
            () = tokio::time::sleep(timeout) => Err(ClientRequestError::Timeout(timeout)),
            () = self.cancellation.cancelled() => Err(ClientRequestError::Closed),
        };
        guard.answered = outcome.is_ok();
        drop(guard);
        outcome?.map_err(ClientRequestError::Rejected)
    }

    /// Asks the client one question and waits for the answer, in either era (see
    /// [`mrtr`](crate::mrtr)): under 2025-11-25 a request to the client; under
    /// 2026-07-28 an `input_required` result, the answer arriving with the client's
    /// retry, which runs the handler again.
    ///
    /// Under 2026-07-28 a question the request's client capabilities do not cover
    /// ends the request with `-32021` (missing required client capability) instead of
    /// returning; check [`client_capabilities`](Self::client_capabilities) first to
    /// degrade gracefully.
    ///
    /// # Errors
    ///
    /// [`ClientRequestError::NotSupported`] when a 2025-11-25 client did not declare
    /// the capability; [`ClientRequestError::Stateless`] for 2026-07-28 requests of
    /// methods that cannot end `input_required`; otherwise as
    /// [`request_client`](Self::request_client).
    pub async fn ask(&self, question: InputRequest) -> Result<Value, ClientRequestError> {
        let mut answers = self.ask_all(vec![question]).await?;
        // ask_all answers every key it was given.
        answers
            .drain()
            .next()
            .map(|(_, answer)| answer)
            .ok_or(ClientRequestError::Closed)
    }

    /// Asks several questions at once and returns the answers by key (unnamed
    /// questions get `elicitation-1`, `sampling-2`… in the order asked). Under
    /// 2026-07-28 all of them travel in one `input_required` round; under 2025-11-25
    /// they are sent together and awaited together.
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask), for the first question that fails.
    pub async fn ask_all(
        &self,
        questions: Vec<InputRequest>,
    ) -> Result<HashMap<String, Value>, ClientRequestError> {
        if self.era.is_some() {
            let Some(rounds) = &self.rounds else {
                return Err(ClientRequestError::Stateless);
            };
            return Ok(rounds.ask(questions).await);
        }
        let mut keyed = Vec::with_capacity(questions.len());
        let mut unnamed = 0;
        for question in questions {
            let capability = question.capability();
            self.require_capability(capability)?;
            let (key, method, params) = question.into_parts();
            // Numbered as under 2026-07-28 (see `mrtr::Rounds::ask`).
            let key = key.unwrap_or_else(|| {
                unnamed += 1;
                format!("{capability}-{unnamed}")
            });
            keyed.push((key, method, params));
        }
        let asks = keyed.into_iter().map(|(key, method, params)| async move {
            self.request_client(method, params)
                .await
                .map(|answer| (key, answer))
        });
        futures_util::future::try_join_all(asks)
            .await
            .map(|answers| answers.into_iter().collect())
    }

    /// `sampling/createMessage`: asks the client's language model for a completion.
    /// `params` is the request's parameters (`messages`, `maxTokens`, …). Works in
    /// both eras, as [`ask`](Self::ask).
    ///
    /// # Errors
    ///
    /// [`ClientRequestError::NotSupported`] when the client did not declare `sampling`;
    /// otherwise as [`ask`](Self::ask).
    pub async fn create_message(&self, params: Value) -> Result<Value, ClientRequestError> {
        self.ask(InputRequest::create_message(params)).await
    }

    /// `elicitation/create`: asks the user, through the client, for the values
    /// `requested_schema` (a flat object schema) describes. The answer's `action` is
    /// `accept` (with `content`), `decline` or `cancel`. Works in both eras, as
    /// [`ask`](Self::ask).
    ///
    /// # Errors
    ///
    /// [`ClientRequestError::NotSupported`] when the client did not declare
    /// `elicitation`; otherwise as [`ask`](Self::ask).
    pub async fn elicit(
        &self,
        message: &str,
        requested_schema: Value,
    ) -> Result<Value, ClientRequestError> {
        self.ask(InputRequest::elicit(message, requested_schema))
            .await
    }

    /// `roots/list`: the directories or files the client offers the server. Works in
    /// both eras, as [`ask`](Self::ask).
    ///
    /// # Errors
    ///
    /// [`ClientRequestError::NotSupported`] when the client did not declare `roots`;
    /// otherwise as [`ask`](Self::ask).
    pub async fn list_roots(&self) -> Result<Value, ClientRequestError> {
        self.ask(InputRequest::list_roots()).await
    }

    fn require_capability(&self, name: &'static str) -> Result<(), ClientRequestError> {
        if self.client_capabilities().get(name).is_some() {
            Ok(())
        } else {
            Err(ClientRequestError::NotSupported(name))
        }
    }
}

/// Forgets a request to the client when its wait ends, however it ends, and tells the
/// client when we stopped waiting before it answered.
struct PendingGuard<'a> {
    state: &'a State,
    id: RequestId,
    related: &'a Related,
    answered: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let still_pending = self.state.forget_pending(&self.id);
        if still_pending && !self.answered {
            let params = json!({"requestId": self.id, "reason": "the server stopped waiting"});
            self.related
                .send(jsonrpc::notification("notifications/cancelled", &params));
        }
    }
}
