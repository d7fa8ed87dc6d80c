//! One client's session: lifecycle, routing and cancellation, independent of transport.
//!
//! A transport feeds each incoming message to [`Session::handle`] (concurrently, one
//! task per message if it likes) and writes back what it returns; messages the server
//! sends on its own (progress, log entries, list changes) arrive on the receiver that
//! [`Session::new`] returns.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::context::{Extensions, LogLevel, Related, RequestContext};
use crate::jsonrpc::{self, ErrorObject, INVALID_REQUEST, Incoming, Malformed, RequestId};
use crate::protocol::{LATEST_PROTOCOL_VERSION, negotiate_version};
use crate::server::{ListChange, Server};

mod methods;

/// What the server offers, the same under every revision.
fn capabilities() -> Value {
    json!({"tools": {"listChanged": true}, "logging": {},
           "resources": {"subscribe": true},
           "prompts": {"listChanged": true}, "completions": {}})
}

/// Methods of earlier revisions that 2026-07-28 removed: a 2026-07-28 request for one
/// is answered as for an unknown method.
const REMOVED_IN_MODERN: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// The error code of a request stopped because the server is shutting down.
pub const SHUTTING_DOWN: i64 = -32001;

/// Marks a cancelled request internally; never sent to the client.
const CANCELLED: i64 = -32800;

/// A request's result: a JSON value, or a tool's result (serialised straight into the
/// response), or the questions a 2026-07-28 request must have answered first.
enum Answer {
    Value(Value),
    Tool(Box<crate::era::ToolAnswer>),
    InputRequired(Value),
}

/// How a transport with status codes (HTTP) answers a reply: 2026-07-28 asks for
/// `400 Bad Request` when a request's `_meta` or headers are wrong and `404 Not Found`
/// for unknown methods; everything else is `200 OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    BadRequest,
    NotFound,
}

/// A failed request: the error, and the status it calls for.
struct Failure {
    error: ErrorObject,
    status: Status,
}

impl From<ErrorObject> for Failure {
    fn from(error: ErrorObject) -> Self {
        Failure {
            error,
            status: Status::Ok,
        }
    }
}

impl Failure {
    fn bad_request(error: ErrorObject) -> Self {
        Failure {
            error,
            status: Status::BadRequest,
        }
    }
}

/// What a transport sends back for one message.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) text: String,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) status: Status,
}

/// The state of one client's session.
#[derive(Debug, Clone)]
pub struct Session {
    server: Server,
    state: Arc<State>,
    outgoing: mpsc::UnboundedSender<String>,
}

/// What the session knows, shared with the contexts of its requests.
#[derive(Debug)]
pub(crate) struct State {
    initialized: AtomicBool,
    /// An `initialize` has been taken: the lifecycle has one, and only as the first
    /// request.
    initialize_taken: AtomicBool,
    protocol_version: Mutex<&'static str>,
    client_info: Mutex<Option<Value>>,
    client_capabilities: Mutex<Value>,
    extensions: Extensions,
    /// Requests from the client still being handled, by id, to cancel them.
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    /// Requests we sent the client, waiting for its answer.
    pending: Mutex<HashMap<RequestId, oneshot::Sender<Result<Value, ErrorObject>>>>,
    next_id: AtomicI64,
    /// 0 until the client sets a level; then the lowest level's rank it wants.
    log_level: AtomicU8,
    subscriptions: Mutex<HashSet<String>>,
    client_timeout: Duration,
    closed: CancellationToken,
    /// Cancelled to end `subscriptions/listen` streams gracefully (stdin closed, the
    /// server shutting down): each answers with its closing result.
    teardown: CancellationToken,
    /// Serves only 2026-07-28 requests (a sessionless HTTP request).
    modern_only: bool,
    /// Who the caller is, for binding 2026-07-28 `requestState` (empty: anonymous).
    subject: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind; keep serving.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl State {
    pub(crate) fn protocol_version(&self) -> &'static str {
        *lock(&self.protocol_version)
    }

    pub(crate) fn client_capabilities(&self) -> Value {
        lock(&self.client_capabilities).clone()
    }

    pub(crate) fn client_info(&self) -> Option<Value> {
        lock(&self.client_info).clone()
    }

    pub(crate) fn wants_log(&self, level: LogLevel) -> bool {
        level.rank() >= self.log_level.load(Ordering::Relaxed)
    }

    pub(crate) fn client_timeout(&self) -> Duration {
        self.client_timeout
    }

    /// A fresh id for a request to the client, and where its answer will arrive.
    pub(crate) fn register_pending(
        &self,
    ) -> (RequestId, oneshot::Receiver<Result<Value, ErrorObject>>) {
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = oneshot::channel();
        lock(&self.pending).insert(id.clone(), sender);
        (id, receiver)
    }

    /// Forgets a request to the client; true when it was still waiting.
    pub(crate) fn forget_pending(&self, id: &RequestId) -> bool {
        lock(&self.pending).remove(id).is_some()
    }
}

impl Session {
    /// Opens a session on `server` for a caller described by `extensions`. Returns the
    /// session and the receiver of the messages the server sends on its own (list
    /// changes, resource updates, and everything handlers send when the transport has
    /// no per-request stream).
    pub fn new(
        server: &Server,
        extensions: Extensions,
    ) -> (Session, mpsc::UnboundedReceiver<String>) {
        let (session, receiver) = Session::with_state(server, extensions, false, String::new());
        session.watch_changes();
        (session, receiver)
    }

    /// A session for one sessionless 2026-07-28 request (HTTP): it serves only requests
    /// that carry their protocol version, announces no changes of its own, and binds
    /// multi-round-trip state to `subject`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn stateless(server: &Server, extensions: Extensions, subject: String) -> Session {
        Session::with_state(server, extensions, true, subject).0
    }

    fn with_state(
        server: &Server,
        extensions: Extensions,
        modern_only: bool,
        subject: String,
    ) -> (Session, mpsc::UnboundedReceiver<String>) {
        let (outgoing, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            initialized: AtomicBool::new(false),
            initialize_taken: AtomicBool::new(false),
            protocol_version: Mutex::new(LATEST_PROTOCOL_VERSION),
            client_info: Mutex::new(None),
            client_capabilities: Mutex::new(Value::Null),
            extensions,
            in_flight: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1),
            log_level: AtomicU8::new(0),
            subscriptions: Mutex::new(HashSet::new()),
            client_timeout: server.inner.client_timeout,
            closed: CancellationToken::new(),
            teardown: CancellationToken::new(),
            modern_only,
            subject,
        });
        (
            Session {
                server: server.clone(),
                state,
                outgoing,
            },
            receiver,
        )
    }

    /// Tells the client when the tool or prompt list changes and when a resource it
    /// subscribed to changes, for as long as the session lives.
    fn watch_changes(&self) {
        let mut changes = self.server.inner.changes.subscribe();
        let mut updates = self.server.inner.updates.subscribe();
        let notify = self.outgoing.clone();
        let watcher = Arc::clone(&self.state);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                loop {
                    let text = tokio::select! {
                        () = watcher.closed.cancelled() => break,
                        // Unsolicited list changes belong to initialized (2025-11-25)
                        // sessions; 2026-07-28 clients ask with subscriptions/listen.
                        change = changes.recv() => match change {
                            _ if !watcher.initialized.load(Ordering::Acquire) => continue,
                            Ok(list) => jsonrpc::notification(list.method(), &Value::Null),
                            Err(RecvError::Lagged(_)) => {
                                jsonrpc::notification(ListChange::Tools.method(), &Value::Null)
                            }
                            Err(RecvError::Closed) => break,
                        },
                        update = updates.recv() => match update {
                            Ok(uri) => {
                                if !lock(&watcher.subscriptions).contains(&*uri) { continue; }
                                jsonrpc::notification("notifications/resources/updated", &json!({"uri": &*uri}))
                            }
                            Err(RecvError::Lagged(_)) => continue,
                            Err(RecvError::Closed) => break,
                        },
                    };
                    if notify.send(text).is_err() {
                        break;
                    }
                }
            });
        }
    }

    /// The protocol revision agreed at initialisation.
    pub fn protocol_version(&self) -> &'static str {
        self.state.protocol_version()
    }

    /// True once the client has sent `initialize`.
    pub fn is_initialized(&self) -> bool {
        self.state.initialized.load(Ordering::Acquire)
    }

    /// The queue of messages to the client, in order: a response sent here follows the
    /// notifications its handler sent before it.
    pub(crate) fn outgoing(&self) -> mpsc::UnboundedSender<String> {
        self.outgoing.clone()
    }

    /// Ends the session: cancels every request still running.
    pub fn close(&self) {
        self.state.closed.cancel();
    }

    /// Ends every `subscriptions/listen` stream of this session gracefully: each
    /// listen request answers with its closing result. Transports call it when the
    /// client's input ends or the server shuts down, so that nothing waits on a stream
    /// that would never end.
    pub fn end_subscriptions(&self) {
        self.state.teardown.cancel();
    }

    /// True once [`end_subscriptions`](Self::end_subscriptions) was called.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn subscriptions_ended(&self) -> bool {
        self.state.teardown.is_cancelled()
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.closed.is_cancelled()
    }

    /// Handles one incoming message (a line of JSON) and returns the response to send,
    /// if any. Never panics on any input; malformed messages get JSON-RPC errors.
    /// Messages a handler sends about its request (progress, log entries, requests to
    /// the client) go to the session's queue.
    pub async fn handle(&self, text: &str) -> Option<String> {
        let related = Related::Session(self.outgoing.clone());
        self.handle_incoming(Incoming::parse(text), related).await
    }

    /// Handles one classified message; messages about it go to `related`.
    pub(crate) async fn handle_incoming(
        &self,
        incoming: Result<Incoming, Malformed>,
        related: Related,
    ) -> Option<String> {
        self.reply(incoming, related).await.map(|reply| reply.text)
    }

    /// Like [`handle_incoming`](Self::handle_incoming), with the status the reply
    /// calls for.
    pub(crate) async fn reply(
        &self,
        incoming: Result<Incoming, Malformed>,
        related: Related,
    ) -> Option<Reply> {
        let text = match incoming {
            Ok(Incoming::Request { id, method, params }) => {
                let outcome = self.request(&id, &method, params, related).await;
                match outcome {
                    // A tool's answer (possibly large) is written by hand.
                    Ok(Answer::Tool(tool)) => {
                        jsonrpc::response_written(&id, tool.size_hint(), |out| tool.write_json(out))
                    }
                    Ok(Answer::Value(value) | Answer::InputRequired(value)) => {
                        jsonrpc::response(&id, &value)
                    }
                    // A cancelled request gets no response, as the specification asks.
                    Err(failure) if failure.error.code == CANCELLED => return None,
                    Err(failure) => {
                        return Some(Reply {
                            text: jsonrpc::error_response(Some(&id), &failure.error),
                            status: failure.status,
                        });
                    }
                }
            }
            Ok(Incoming::Notification { method, params }) => {
                self.notification(&method, &params);
                return None;
            }
            Ok(Incoming::Response { id, outcome }) => {
                let waiting = lock(&self.state.pending).remove(&id);
                match waiting {
                    // The waiter may have given up meanwhile; then nobody needs it.
                    Some(sender) => drop(sender.send(outcome)),
                    None => tracing::debug!(%id, "dropping a response to no request of ours"),
                }
                return None;
            }
            Err(malformed) => jsonrpc::error_response(malformed.id.as_ref(), &malformed.error),
        };
        Some(Reply {
            text,
            status: Status::Ok,
        })
    }

    fn context(
        &self,
        id: &RequestId,
        cancellation: CancellationToken,
        related: Related,
    ) -> RequestContext {
        RequestContext {
            id: id.clone(),
            extensions: self.state.extensions.clone(),
            cancellation,
            progress_token: None,
            related,
            state: Arc::clone(&self.state),
            era: None,
            rounds: None,
            trace: None,
        }
    }

    async fn request(
        &self,
        id: &RequestId,
        method: &str,
        params: Value,
        related: Related,
    ) -> Result<Answer, Failure> {
        // A request naming its protocol version in _meta is served on its own, under
        // 2026-07-28 (an initialize too: that method no longer exists there); the
        // others follow the session's initialize.
        let mut params = params;
        let era = match crate::era::of_request(&mut params) {
            None if self.state.modern_only => {
                return Err(Failure::bad_request(ErrorObject::invalid_params(format!(
                    "_meta[\"{}\"] is required: requests without a session are served \
                     under {} (or send initialize to open a session)",
                    crate::era::META_PROTOCOL_VERSION,
                    crate::era::MODERN_PROTOCOL_VERSION
                ))));
            }
            None => return self.legacy_request(id, method, params, related).await,
            Some(Ok(era)) => Arc::new(era),
            Some(Err(error)) => return Err(Failure::bad_request(error)),
        };
        if REMOVED_IN_MODERN.contains(&method) {
            return Err(Failure {
                error: ErrorObject::new(
                    jsonrpc::METHOD_NOT_FOUND,
                    format!(
                        "method not found: {method} is not part of {}",
                        crate::era::MODERN_PROTOCOL_VERSION
                    ),
                ),
                status: Status::NotFound,
            });
        }
        if method == "server/discover" {
            return Ok(Answer::Value(self.mark_complete(self.discover())));
        }
        // A retry's result depends on its answers: it must not be cached.
        let retried = params
            .get("inputResponses")
            .or_else(|| params.get("requestState"))
            .is_some();
        let answer = match self.run(id, method, params, related, Some(era)).await {
            Ok(answer) => answer,
            Err(error) => {
                let status = match error.code {
                    jsonrpc::METHOD_NOT_FOUND => Status::NotFound,
                    crate::era::MISSING_REQUIRED_CLIENT_CAPABILITY => Status::BadRequest,
                    _ => Status::Ok,
                };
                return Err(Failure { error, status });
            }
        };
        // 2026-07-28 results say whether they are complete and name the server.
        let mut value = match answer {
            Answer::InputRequired(value) => {
                return Ok(Answer::InputRequired(crate::era::name_server(
                    value,
                    &self.server.inner.info_json,
                )));
            }
            Answer::Value(value) => value,
            // A tool's result, completed when it was made.
            tool @ Answer::Tool(_) => return Ok(tool),
        };
        if crate::era::CACHEABLE_METHODS.contains(&method)
            && let Value::Object(map) = &mut value
        {
            let inner = &self.server.inner;
            let (ttl, scope) = if retried {
                (0, crate::era::CacheScope::Private)
            } else {
                (inner.cache_ttl_ms, inner.cache_scope)
            };
            map.insert("ttlMs".to_owned(), json!(ttl));
            map.insert("cacheScope".to_owned(), json!(scope));
        }
        Ok(Answer::Value(self.mark_complete(value)))
    }

    /// A request of a session opened with `initialize` (2025-11-25 and older).
    async fn legacy_request(
        &self,
        id: &RequestId,
        method: &str,
        params: Value,
        related: Related,
    ) -> Result<Answer, Failure> {
        match method {
            "initialize" => {
                // The initialization phase is the first interaction, once: a second one
                // would renegotiate the version and capabilities under requests already
                // running. A new session negotiates again.
                if self.state.initialize_taken.swap(true, Ordering::AcqRel) {
                    return Err(Failure::from(ErrorObject::new(
                        INVALID_REQUEST,
                        "the session is already initialized: initialize comes once, first; \
                         open a new session to negotiate again",
                    )));
                }
                return Ok(Answer::Value(self.initialize(&params)));
            }
            "ping" => return Ok(Answer::Value(json!({}))),
            // Answered before initialize too: clients use it as a probe.
            "server/discover" => {
                let result = crate::era::name_server(self.discover(), &self.server.inner.info_json);
                return Ok(Answer::Value(result));
            }
            _ => {}
        }
        if !self.is_initialized() {
            return Err(Failure::from(ErrorObject::new(
                INVALID_REQUEST,
                format!("{method} before initialize: the session is not initialized yet"),
            )));
        }
        Ok(self.run(id, method, params, related, None).await?)
    }

    fn mark_complete(&self, result: Value) -> Value {
        crate::era::complete(result, &self.server.inner.info_json)
    }

    /// Runs a request's handler, cancellable, with its context.
    async fn run(
        &self,
        id: &RequestId,
        method: &str,
        params: Value,
        related: Related,
        era: Option<Arc<crate::era::RequestEra>>,
    ) -> Result<Answer, ErrorObject> {
        let mut params = params;
        // 2026-07-28 requests that may ask the client for input bring their answers.
        let rounds = match &era {
            Some(era) if crate::mrtr::INPUT_METHODS.contains(&method) => {
                let (rounds, binding) = crate::mrtr::prepare(
                    method,
                    &mut params,
                    &self.server.inner.sealer,
                    &self.state.subject,
                    era,
                )?;
                Some((Arc::new(rounds), binding))
            }
            _ => None,
        };
        // Every request can be cancelled by the client, and ends with the session.
        let cancellation = self.state.closed.child_token();
        lock(&self.state.in_flight).insert(id.clone(), cancellation.clone());
        let mut context = self.context(id, cancellation.clone(), related);
        context.era = era;
        context.rounds = rounds.as_ref().map(|(rounds, _)| Arc::clone(rounds));
        let meta = params.get("_meta");
        context.progress_token = meta
            .and_then(|meta| meta.get("progressToken"))
            .filter(|token| token.is_string() || token.is_i64() || token.is_u64())
            .cloned();
        context.trace = meta.and_then(crate::TraceContext::from_meta).map(Arc::new);
        // The handler runs in a span naming the request and, when the client sent
        // one, the trace it belongs to.
        let span = tracing::info_span!(
            "mcp_request",
            method,
            id = %id,
            trace_id = tracing::field::Empty,
            parent_span_id = tracing::field::Empty,
        );
        if let Some(trace) = &context.trace {
            span.record("trace_id", trace.trace_id());
            span.record("parent_span_id", trace.parent_span_id());
        }
        // A handler that panics is a bug in the handler, not a reason to lose the session
        // (or, on stdio, the process): the client gets an internal error and we go on.
        let work = tracing::Instrument::instrument(
            std::panic::AssertUnwindSafe(self.route(id, method, params, context)).catch_unwind(),
            span,
        );
        let stopped = async {
            match &rounds {
                Some((rounds, _)) => rounds.stopped().await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            // The handler first: questions asked side by side all make the round.
            biased;
            outcome = work => outcome.unwrap_or_else(|_| {
                tracing::error!(method, "a handler panicked; answering with an internal error");
                Err(ErrorObject::internal("the server failed while handling this request"))
            }),
            () = stopped => self.interrupted(rounds.as_ref()),
            // The session's end (the server stopping) is answered; a client's own
            // cancel is not.
            () = cancellation.cancelled() => Err(if self.state.closed.is_cancelled() {
                ErrorObject::new(SHUTTING_DOWN, "the server is shutting down: this request was stopped before it finished; send it again once the server is back")
            } else {
                ErrorObject::new(CANCELLED, "the request was cancelled")
            }),
        };
        lock(&self.state.in_flight).remove(id);
        outcome
    }

    /// The answer of a request whose handler stopped to ask the client for input.
    fn interrupted(
        &self,
        rounds: Option<&(Arc<crate::mrtr::Rounds>, String)>,
    ) -> Result<Answer, ErrorObject> {
        use crate::mrtr::Interruption;
        let Some((rounds, binding)) = rounds else {
            return Err(ErrorObject::internal("a handler stopped without a reason"));
        };
        match rounds.take() {
            Some(Interruption::Input(questions)) => Ok(Answer::InputRequired(
                crate::mrtr::input_required(questions, rounds, &self.server.inner.sealer, binding),
            )),
            Some(Interruption::MissingCapability(capability)) => {
                Err(crate::mrtr::missing_capability(capability))
            }
            None => Err(ErrorObject::internal("a handler stopped without a reason")),
        }
    }

    async fn route(
        &self,
        id: &RequestId,
        method: &str,
        params: Value,
        context: RequestContext,
    ) -> Result<Answer, ErrorObject> {
        if method == "subscriptions/listen" && context.era.is_some() {
            let result = crate::subscriptions::listen(
                &self.server,
                &self.state.extensions,
                id,
                &params,
                &context.related,
                &self.state.teardown,
            )
            .await?;
            return Ok(Answer::Value(result));
        }
        if method == "tools/call" {
            // A tool's result (possibly large) is serialised once, straight into the
            // response; a 2026-07-28 one is completed first.
            let modern = context.era.is_some();
            let result = self.call_tool(params, context).await?;
            let tool = if modern {
                crate::era::ToolAnswer::complete(result, &self.server.inner.info_json)
            } else {
                crate::era::ToolAnswer::Plain(result)
            };
            return Ok(Answer::Tool(Box::new(tool)));
        }
        self.route_value(method, params, context)
            .await
            .map(Answer::Value)
    }

    fn initialize(&self, params: &Value) -> Value {
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(LATEST_PROTOCOL_VERSION);
        let version = negotiate_version(requested);
        *lock(&self.state.protocol_version) = version;
        *lock(&self.state.client_info) = params.get("clientInfo").cloned();
        *lock(&self.state.client_capabilities) = params
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({}));
        // Requests may follow as soon as we answer; the initialized notification is
        // the client's acknowledgement, not a gate we wait for.
        self.state.initialized.store(true, Ordering::Release);
        let inner = &self.server.inner;
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": capabilities(),
            "serverInfo": inner.info,
        });
        if let Some(instructions) = &inner.instructions {
            result["instructions"] = json!(instructions);
        }
        result
    }

    /// `server/discover`: the revisions we speak and what we offer.
    fn discover(&self) -> Value {
        let inner = &self.server.inner;
        let mut result = json!({
            "supportedVersions": crate::era::ALL_PROTOCOL_VERSIONS,
            "capabilities": capabilities(),
            // The answer changes only when the server is rebuilt; anyone may cache it.
            "ttlMs": 60_000,
            "cacheScope": "public",
        });
        if let Some(instructions) = &inner.instructions {
            result["instructions"] = json!(instructions);
        }
        result
    }

    fn notification(&self, method: &str, params: &Value) {
        match method {
            "notifications/initialized" => {}
            "notifications/cancelled" => {
                let Some(id) = params
                    .get("requestId")
                    .and_then(|id| serde_json::from_value::<RequestId>(id.clone()).ok())
                else {
                    return;
                };
                let token = lock(&self.state.in_flight).get(&id).cloned();
                if let Some(token) = token {
                    token.cancel();
                }
            }
            other => tracing::debug!(method = other, "ignoring notification"),
        }
    }
}
