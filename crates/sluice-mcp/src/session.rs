//! One client's session: lifecycle, routing and cancellation, independent of transport.
//!
//! A transport feeds each incoming message to [`Session::handle`] (concurrently, one
//! task per message if it likes) and writes back what it returns; messages the server
//! sends on its own (progress, log entries, list changes) arrive on the receiver that
//! [`Session::new`] returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::context::{Extensions, RequestContext};
use crate::jsonrpc::{self, ErrorObject, INVALID_REQUEST, Incoming, RequestId};
use crate::protocol::{LATEST_PROTOCOL_VERSION, negotiate_version};
use crate::server::Server;

/// The MCP error code for an unknown resource.
const RESOURCE_NOT_FOUND: i64 = -32002;

fn resource_not_found(uri: &str) -> ErrorObject {
    let mut error = ErrorObject::new(RESOURCE_NOT_FOUND, format!("resource not found: {uri}"));
    error.data = Some(json!({"uri": uri}));
    error
}

/// Marks a cancelled request internally; never sent to the client.
const CANCELLED: i64 = -32800;

/// The state of one client's session.
#[derive(Debug, Clone)]
pub struct Session {
    server: Server,
    state: Arc<State>,
    outgoing: mpsc::UnboundedSender<String>,
}

#[derive(Debug)]
struct State {
    initialized: AtomicBool,
    protocol_version: Mutex<&'static str>,
    client: Mutex<Option<Value>>,
    extensions: Extensions,
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    closed: CancellationToken,
}

impl Session {
    /// Opens a session on `server` for a caller described by `extensions`. Returns the
    /// session and the receiver of the messages the server sends on its own.
    pub fn new(
        server: &Server,
        extensions: Extensions,
    ) -> (Session, mpsc::UnboundedReceiver<String>) {
        let (outgoing, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            initialized: AtomicBool::new(false),
            protocol_version: Mutex::new(LATEST_PROTOCOL_VERSION),
            client: Mutex::new(None),
            extensions,
            in_flight: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
        });
        // Tell the client when the tool list changes, for as long as the session lives.
        let mut changes = server.inner.changes.subscribe();
        let notify = outgoing.clone();
        let closed = state.closed.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                loop {
                    tokio::select! {
                        () = closed.cancelled() => break,
                        change = changes.recv() => match change {
                            Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                                let text = jsonrpc::notification("notifications/tools/list_changed", &Value::Null);
                                if notify.send(text).is_err() { break; }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        },
                    }
                }
            });
        }
        (
            Session {
                server: server.clone(),
                state,
                outgoing,
            },
            receiver,
        )
    }

    /// The protocol revision agreed at initialisation.
    pub fn protocol_version(&self) -> &'static str {
        match self.state.protocol_version.lock() {
            Ok(v) => *v,
            Err(poisoned) => *poisoned.into_inner(),
        }
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

    /// Handles one incoming message (a line of JSON) and returns the response to send,
    /// if any. Never panics on any input; malformed messages get JSON-RPC errors.
    pub async fn handle(&self, text: &str) -> Option<String> {
        match Incoming::parse(text) {
            Ok(Incoming::Request { id, method, params }) => {
                let outcome = self.request(&id, &method, params).await;
                Some(match outcome {
                    Ok(result) => jsonrpc::response(&id, &result),
                    // A cancelled request gets no response, as the specification asks.
                    Err(error) if error.code == CANCELLED => return None,
                    Err(error) => jsonrpc::error_response(Some(&id), &error),
                })
            }
            Ok(Incoming::Notification { method, params }) => {
                self.notification(&method, &params);
                None
            }
            Ok(Incoming::Response { id, .. }) => {
                // This core sends no requests to the client yet, so any response
                // answers nothing we asked; it is dropped, and noted.
                tracing::debug!(%id, "dropping a response to no request of ours");
                None
            }
            Err(malformed) => Some(jsonrpc::error_response(
                malformed.id.as_ref(),
                &malformed.error,
            )),
        }
    }

    async fn request(
        &self,
        id: &RequestId,
        method: &str,
        params: Value,
    ) -> Result<Value, ErrorObject> {
        match method {
            "initialize" => return Ok(self.initialize(&params)),
            "ping" => return Ok(json!({})),
            _ => {}
        }
        if !self.state.initialized.load(Ordering::Acquire) {
            return Err(ErrorObject::new(
                INVALID_REQUEST,
                format!("{method} before initialize: the session is not initialized yet"),
            ));
        }
        match method {
            "tools/list" => self.list_tools(&params),
            "tools/call" => self.call_tool(id, params).await,
            "resources/list" => {
                let resources: Vec<_> = self
                    .server
                    .inner
                    .resources
                    .iter()
                    .map(|r| &r.resource)
                    .collect();
                self.page("resources", &resources, &params)
            }
            "resources/templates/list" => {
                let templates: Vec<_> = self
                    .server
                    .inner
                    .templates
                    .iter()
                    .map(|t| &t.template)
                    .collect();
                self.page("resourceTemplates", &templates, &params)
            }
            "resources/read" => self.read_resource(id, &params).await,
            "prompts/list" => {
                let prompts: Vec<_> = self
                    .server
                    .inner
                    .prompts
                    .iter()
                    .map(|p| &p.prompt)
                    .collect();
                self.page("prompts", &prompts, &params)
            }
            "prompts/get" => self.get_prompt(id, &params).await,
            // Completion is offered without suggestions for now: an empty, valid answer.
            "completion/complete" => Ok(json!({"completion": {"values": [], "hasMore": false}})),
            "logging/setLevel" => Ok(json!({})),
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    fn initialize(&self, params: &Value) -> Value {
        let requested = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(LATEST_PROTOCOL_VERSION);
        let version = negotiate_version(requested);
        if let Ok(mut v) = self.state.protocol_version.lock() {
            *v = version;
        }
        if let Ok(mut client) = self.state.client.lock() {
            *client = params.get("clientInfo").cloned();
        }
        // Requests may follow as soon as we answer; the initialized notification is
        // the client's acknowledgement, not a gate we wait for.
        self.state.initialized.store(true, Ordering::Release);
        let inner = &self.server.inner;
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": true}, "logging": {}, "resources": {},
                             "prompts": {}, "completions": {}},
            "serverInfo": inner.info,
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
                let token = match self.state.in_flight.lock() {
                    Ok(map) => map.get(&id).cloned(),
                    Err(_) => None,
                };
                if let Some(token) = token {
                    token.cancel();
                }
            }
            other => tracing::debug!(method = other, "ignoring notification"),
        }
    }

    fn list_tools(&self, params: &Value) -> Result<Value, ErrorObject> {
        let tools = self.server.snapshot();
        let filter = self.server.inner.filter.as_deref();
        let visible: Vec<&crate::protocol::Tool> = tools
            .iter()
            .map(|t| &t.tool)
            .filter(|tool| filter.is_none_or(|f| f.allows(tool, &self.state.extensions)))
            .collect();
        self.page("tools", &visible, params)
    }

    /// One page of a list, with `nextCursor` when more follow.
    fn page<T: serde::Serialize>(
        &self,
        key: &str,
        items: &[T],
        params: &Value,
    ) -> Result<Value, ErrorObject> {
        let start = match params.get("cursor") {
            None | Some(Value::Null) => 0,
            Some(Value::String(cursor)) => cursor
                .parse::<usize>()
                .map_err(|_| ErrorObject::invalid_params("invalid cursor"))?,
            Some(_) => return Err(ErrorObject::invalid_params("cursor must be a string")),
        };
        if start > items.len() {
            return Err(ErrorObject::invalid_params("invalid cursor"));
        }
        let end = start
            .saturating_add(self.server.inner.page_size)
            .min(items.len());
        let mut result = json!({ key: &items[start..end] });
        if end < items.len() {
            result["nextCursor"] = json!(end.to_string());
        }
        Ok(result)
    }

    async fn read_resource(&self, id: &RequestId, params: &Value) -> Result<Value, ErrorObject> {
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return Err(ErrorObject::invalid_params("resources/read needs a uri"));
        };
        let inner = &self.server.inner;
        let found = inner
            .resources
            .iter()
            .find(|r| r.resource.uri == uri)
            .map(|r| (Arc::clone(&r.handler), HashMap::new()))
            .or_else(|| {
                inner.templates.iter().find_map(|t| {
                    crate::resources::match_template(&t.template.uri_template, uri)
                        .map(|vars| (Arc::clone(&t.handler), vars))
                })
            });
        let Some((handler, variables)) = found else {
            return Err(resource_not_found(uri));
        };
        let context = RequestContext {
            id: id.clone(),
            extensions: self.state.extensions.clone(),
            cancellation: self.state.closed.child_token(),
            progress_token: None,
            outgoing: self.outgoing.clone(),
        };
        match handler.read(uri.to_owned(), variables, context).await {
            Ok(contents) => Ok(json!({"contents": contents})),
            Err(crate::resources::ResourceError::NotFound(_)) => Err(resource_not_found(uri)),
            Err(e) => Err(ErrorObject::internal(e.to_string())),
        }
    }

    async fn get_prompt(&self, id: &RequestId, params: &Value) -> Result<Value, ErrorObject> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(ErrorObject::invalid_params(
                "prompts/get needs a prompt name",
            ));
        };
        let Some(registered) = self
            .server
            .inner
            .prompts
            .iter()
            .find(|p| p.prompt.name == name)
        else {
            return Err(ErrorObject::invalid_params(format!(
                "unknown prompt: {name}"
            )));
        };
        let mut arguments = HashMap::new();
        match params.get("arguments") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let Value::String(text) = value else {
                        return Err(ErrorObject::invalid_params(format!(
                            "argument {key} must be a string"
                        )));
                    };
                    arguments.insert(key.clone(), text.clone());
                }
            }
            Some(_) => return Err(ErrorObject::invalid_params("arguments must be an object")),
        }
        if let Some(missing) = registered
            .prompt
            .arguments
            .iter()
            .find(|a| a.required && !arguments.contains_key(&a.name))
        {
            return Err(ErrorObject::invalid_params(format!(
                "missing required argument: {}",
                missing.name
            )));
        }
        let context = RequestContext {
            id: id.clone(),
            extensions: self.state.extensions.clone(),
            cancellation: self.state.closed.child_token(),
            progress_token: None,
            outgoing: self.outgoing.clone(),
        };
        let result = registered
            .handler
            .get(arguments, context)
            .await
            .map_err(ErrorObject::invalid_params)?;
        serde_json::to_value(result).map_err(|e| ErrorObject::internal(e.to_string()))
    }

    async fn call_tool(&self, id: &RequestId, params: Value) -> Result<Value, ErrorObject> {
        let Value::Object(mut params) = params else {
            return Err(ErrorObject::invalid_params(
                "tools/call needs params with a name",
            ));
        };
        let Some(Value::String(name)) = params.remove("name") else {
            return Err(ErrorObject::invalid_params("tools/call needs a tool name"));
        };
        let arguments = params.remove("arguments").unwrap_or(Value::Null);
        if !matches!(arguments, Value::Null | Value::Object(_)) {
            return Err(ErrorObject::invalid_params("arguments must be an object"));
        }
        let tools = self.server.snapshot();
        let filter = self.server.inner.filter.as_deref();
        let Some(registered) = tools.iter().find(|t| {
            t.tool.name == name && filter.is_none_or(|f| f.allows(&t.tool, &self.state.extensions))
        }) else {
            return Err(ErrorObject::invalid_params(format!("unknown tool: {name}")));
        };
        let progress_token = params
            .get("_meta")
            .and_then(|meta| meta.get("progressToken"))
            .cloned();
        let cancellation = self.state.closed.child_token();
        if let Ok(mut map) = self.state.in_flight.lock() {
            map.insert(id.clone(), cancellation.clone());
        }
        let context = RequestContext {
            id: id.clone(),
            extensions: self.state.extensions.clone(),
            cancellation: cancellation.clone(),
            progress_token,
            outgoing: self.outgoing.clone(),
        };
        let call = registered.handler.call(arguments, context);
        let outcome = tokio::select! {
            outcome = call => Some(outcome),
            () = cancellation.cancelled() => None,
        };
        if let Ok(mut map) = self.state.in_flight.lock() {
            map.remove(id);
        }
        let result = match outcome {
            Some(Ok(result)) => result,
            Some(Err(error)) => crate::protocol::CallToolResult::error(error.0),
            None => return Err(ErrorObject::new(CANCELLED, "the request was cancelled")),
        };
        serde_json::to_value(result).map_err(|e| ErrorObject::internal(e.to_string()))
    }
}
