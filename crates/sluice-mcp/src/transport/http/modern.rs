//! Streamable HTTP for MCP 2026-07-28: every POST is one request, served on its own
//! (no session), answered with JSON or with an event stream that carries only that
//! request's notifications before its result. Closing that stream cancels the
//! request: its handler is dropped (a database statement it was running is cancelled
//! in the database).
//!
//! The headers that mirror the body for intermediaries — `MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-*` of tool parameters marked
//! `x-mcp-header` — must agree with it: a request whose headers are missing, malformed
//! or different gets `400` with `-32020` (header mismatch). Base64-encoded values
//! (`=?base64?…?=`) are decoded before they are compared.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Shared, VERSION_HEADER, Verified, event, json_response, sse_response};
use crate::context::{Related, StreamItem};
use crate::era::{HEADER_MISMATCH, META_PROTOCOL_VERSION};
use crate::jsonrpc::{self, ErrorObject, Incoming};
use crate::server::Server;
use crate::session::{Reply, Session, Status};

/// True when a message is served as a 2026-07-28 request: it names its protocol
/// version in `_meta`, or it is neither an `initialize` nor part of a session.
pub(super) fn is_modern(incoming: &Incoming, has_session: bool) -> bool {
    let (method, params) = match incoming {
        Incoming::Request { method, params, .. } | Incoming::Notification { method, params } => {
            (method.as_str(), params)
        }
        Incoming::Response { .. } => return !has_session,
    };
    let names_version = params
        .get("_meta")
        .is_some_and(|meta| meta.get(META_PROTOCOL_VERSION).is_some());
    names_version || (method != "initialize" && !has_session)
}

/// How long a request stream may still deliver after the server started shutting down.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn mismatch(message: String) -> ErrorObject {
    ErrorObject::new(HEADER_MISMATCH, format!("header mismatch: {message}"))
}

/// A header's value, trimmed; `None` when absent.
fn plain(headers: &HeaderMap, name: &str) -> Result<Option<String>, ErrorObject> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| mismatch(format!("{name} holds characters a header may not carry")))?;
    Ok(Some(text.trim().to_owned()))
}

/// A header whose value may be Base64-encoded (`=?base64?…?=`), decoded.
fn decoded(headers: &HeaderMap, name: &str) -> Result<Option<String>, ErrorObject> {
    let Some(text) = plain(headers, name)? else {
        return Ok(None);
    };
    let Some(encoded) = text
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(Some(text));
    };
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| mismatch(format!("{name} is not valid Base64")))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| mismatch(format!("{name} does not decode to UTF-8 text")))
}

/// Checks the mirrored headers of a 2026-07-28 request against its body.
pub(super) fn check_headers(
    headers: &HeaderMap,
    method: &str,
    params: &Value,
    server: &Server,
) -> Result<(), ErrorObject> {
    let Some(Value::String(version)) = params
        .get("_meta")
        .and_then(|meta| meta.get(META_PROTOCOL_VERSION))
    else {
        // No (usable) version in the body: the session answers -32602 for the _meta.
        return Ok(());
    };
    match plain(headers, VERSION_HEADER)? {
        None => {
            return Err(mismatch(
                "the MCP-Protocol-Version header is missing".into(),
            ));
        }
        Some(header) if header != *version => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version {:?} differs from the body's protocol version {:?}",
                clip(&header),
                clip(version)
            )));
        }
        Some(_) => {}
    }
    match plain(headers, "mcp-method")? {
        None => return Err(mismatch("the Mcp-Method header is missing".into())),
        Some(header) if header != method => {
            return Err(mismatch(format!(
                "Mcp-Method {:?} differs from the body's method {:?}",
                clip(&header),
                clip(method)
            )));
        }
        Some(_) => {}
    }
    let source = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return Ok(()),
    };
    let body_name = params.get(source).and_then(Value::as_str);
    match (decoded(headers, "mcp-name")?, body_name) {
        (Some(header), Some(body)) if header == body => {}
        (None, None) => {}
        (None, Some(_)) => {
            return Err(mismatch(format!(
                "the Mcp-Name header is missing (the body has params.{source})"
            )));
        }
        (Some(header), body) => {
            return Err(mismatch(format!(
                "Mcp-Name {:?} differs from the body's params.{source} {:?}",
                clip(&header),
                body.map(clip)
            )));
        }
    }
    if method == "tools/call"
        && let Some(name) = body_name
    {
        check_param_headers(headers, name, params.get("arguments"), server)?;
    }
    Ok(())
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The `Mcp-Param-*` headers of a tool whose input schema marks parameters with
/// `x-mcp-header`: present exactly when the argument is, and equal to it.
fn check_param_headers(
    headers: &HeaderMap,
    tool: &str,
    arguments: Option<&Value>,
    server: &Server,
) -> Result<(), ErrorObject> {
    let tools = server.snapshot();
    let Some(registered) = tools.iter().find(|t| t.tool.name == tool) else {
        return Ok(());
    };
    let mut marked = Vec::new();
    collect_marked(&registered.tool.input_schema, &mut Vec::new(), &mut marked);
    for (path, suffix) in marked {
        let mut value = arguments;
        for key in &path {
            value = value.and_then(|v| v.get(key));
        }
        let header_name = format!("mcp-param-{}", suffix.to_ascii_lowercase());
        let header = decoded(headers, &header_name)?;
        let expected = match value {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Bool(flag)) => Some(flag.to_string()),
            Some(Value::Number(number)) => Some(number.to_string()),
            Some(_) => None,
        };
        let Some(header) = header else {
            return Err(mismatch(format!(
                "the Mcp-Param-{suffix} header is missing (the arguments hold {})",
                path.join(".")
            )));
        };
        let same = match value {
            // Integers compare as numbers: "42.0" and 42 agree.
            Some(Value::Number(number)) => header
                .parse::<f64>()
                .ok()
                .zip(number.as_f64())
                .is_some_and(|(a, b)| a == b),
            _ => expected.as_deref() == Some(header.as_str()),
        };
        if !same {
            return Err(mismatch(format!(
                "Mcp-Param-{suffix} differs from the argument {}",
                path.join(".")
            )));
        }
    }
    Ok(())
}

/// The properties of `schema` marked `x-mcp-header`, reached through `properties`
/// only, with their paths (nothing is allocated for unmarked properties).
fn collect_marked<'a>(
    schema: &'a Value,
    path: &mut Vec<&'a str>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return;
    };
    for (key, property) in properties {
        path.push(key);
        if let Some(Value::String(suffix)) = property.get("x-mcp-header") {
            out.push((
                path.iter().map(|k| (*k).to_owned()).collect(),
                suffix.clone(),
            ));
        }
        collect_marked(property, path, out);
        path.pop();
    }
}

/// Ends a request's stateless session, and with it the handler, when the connection
/// that waits for its answer goes away.
struct CancelOnDrop(Option<Session>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            session.close();
        }
    }
}

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

fn status_of(status: Status) -> StatusCode {
    match status {
        Status::Ok => StatusCode::OK,
        Status::BadRequest => StatusCode::BAD_REQUEST,
        Status::NotFound => StatusCode::NOT_FOUND,
    }
}

fn accepted() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

impl Shared {
    /// Serves one 2026-07-28 POST.
    pub(super) async fn modern(
        self: &Arc<Self>,
        headers: &HeaderMap,
        incoming: Incoming,
        verified: Option<Verified>,
    ) -> Response {
        let Incoming::Request { id, method, params } = incoming else {
            // Notifications need no answer here (closing a stream is how HTTP cancels),
            // and there is no request of ours a response could answer.
            return accepted();
        };
        if let Err(error) = check_headers(headers, &method, &params, &self.server) {
            return json_response(
                StatusCode::BAD_REQUEST,
                jsonrpc::error_response(Some(&id), &error),
            );
        }
        let (subject, extensions) = match verified {
            Some(v) => (v.subject, v.extensions),
            None => (String::new(), self.config.anonymous.clone()),
        };
        let session = Session::stateless(&self.server, extensions, subject);
        let mut guard = CancelOnDrop(Some(session.clone()));
        let worker = session.clone();
        let (related, mut items) = mpsc::unbounded_channel::<StreamItem>();
        let request = Incoming::Request { id, method, params };
        let (stopping, closer) = (self.stopping.clone(), session.clone());
        let mut task = tokio::spawn(async move {
            let reply = worker.reply(Ok(request), Related::Stream(related));
            tokio::pin!(reply);
            tokio::select! {
                biased;
                answer = &mut reply => answer,
                // The server stops: the handler ends and the request is answered so.
                () = stopping.cancelled() => {
                    closer.close();
                    reply.await
                }
            }
        });
        let mut early = VecDeque::new();
        // JSON when the handler sends nothing before its answer; else a stream.
        let answer = tokio::select! {
            biased;
            item = items.recv() => match item {
                Some(item) => {
                    early.push_back(item);
                    return self.stream(early, items, Ok(task), guard, session);
                }
                // Every sender is gone: the answer is (about to be) ready.
                None => (&mut task).await,
            },
            answer = &mut task => answer,
        };
        while let Ok(item) = items.try_recv() {
            early.push_back(item);
        }
        let answer = answer.ok().flatten();
        if !early.is_empty() {
            return self.stream(early, items, Err(answer), guard, session);
        }
        guard.disarm();
        match answer {
            Some(Reply { text, status }) => json_response(status_of(status), text),
            None => accepted(),
        }
    }

    /// The event stream of one request: what its handler sends, then its answer.
    fn stream(
        &self,
        early: VecDeque<StreamItem>,
        mut items: mpsc::UnboundedReceiver<StreamItem>,
        task: Result<tokio::task::JoinHandle<Option<Reply>>, Option<Reply>>,
        guard: CancelOnDrop,
        session: Session,
    ) -> Response {
        let (frames, connection) = mpsc::unbounded_channel::<Bytes>();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let forward = |item: StreamItem| {
                // Streams are not resumable: a request to drop the connection is moot.
                if let StreamItem::Message(text) = item {
                    let _ = frames.send(event(None, &text));
                }
            };
            for item in early {
                forward(item);
            }
            let answer = match task {
                Err(answer) => answer,
                Ok(mut task) => loop {
                    let torn_down = session.subscriptions_ended();
                    tokio::select! {
                        biased;
                        Some(item) = items.recv() => forward(item),
                        // Shutting down: a listen stream ends with its closing result.
                        () = shutdown.cancelled(), if !torn_down => session.end_subscriptions(),
                        answer = &mut task => {
                            while let Ok(item) = items.try_recv() {
                                forward(item);
                            }
                            break answer.ok().flatten();
                        }
                    }
                },
            };
            if let Some(reply) = answer {
                let _ = frames.send(event(None, &reply.text));
            }
        });
        let keep_alive = self.config.keep_alive;
        let shutdown = self.shutdown.clone();
        let body = futures_util::stream::unfold(
            (connection, shutdown, guard),
            move |(mut connection, shutdown, guard)| async move {
                let frame = tokio::select! {
                    frame = connection.recv() => frame?,
                    () = tokio::time::sleep(keep_alive) => Bytes::from_static(b": keep-alive\n\n"),
                    () = shutdown.cancelled() => {
                        // A moment for the request to end as it can (a listen stream
                        // answers its closing result), then the stream closes.
                        match tokio::time::timeout(SHUTDOWN_GRACE, connection.recv()).await {
                            Ok(Some(frame)) => frame,
                            _ => return None,
                        }
                    }
                };
                Some((
                    Ok::<Bytes, Infallible>(frame),
                    (connection, shutdown, guard),
                ))
            },
        );
        sse_response(&self.stats, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn call(name: &str, arguments: Value) -> Value {
        json!({"name": name, "arguments": arguments,
               "_meta": {META_PROTOCOL_VERSION: "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}})
    }

    fn server() -> Server {
        Server::builder("t", "1")
            .tool(
                crate::Tool::new(
                    "marked",
                    "",
                    json!({"type": "object", "properties": {
                        "region": {"type": "string", "x-mcp-header": "Region"},
                        "n": {"type": "integer", "x-mcp-header": "N"},
                        "inner": {"type": "object", "properties": {"flag": {"type": "boolean", "x-mcp-header": "Flag"}}}
                    }}),
                ),
                |_a, _c| async { Ok(crate::CallToolResult::text("")) },
            )
            .build()
    }

    #[test]
    fn headers_must_mirror_the_body() {
        let s = server();
        let base = [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
        ];
        let ok = |extra: &[(&'static str, &str)], params: &Value| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            check_headers(&headers(&all), "tools/call", params, &s)
        };
        let plain_call = call("other", json!({}));
        assert!(ok(&[("mcp-name", "other")], &plain_call).is_ok());
        assert!(
            ok(&[("mcp-name", "  other  ")], &plain_call).is_ok(),
            "OWS is not part of the value"
        );
        assert!(ok(&[("mcp-name", "=?base64?b3RoZXI=?=")], &plain_call).is_ok());
        for bad in ["wrong", "=?base64?b3RoZXI?=", "=?base64?!!!?=", "OTHER"] {
            assert_eq!(
                ok(&[("mcp-name", bad)], &plain_call).unwrap_err().code,
                HEADER_MISMATCH,
                "{bad}"
            );
        }
        assert_eq!(ok(&[], &plain_call).unwrap_err().code, HEADER_MISMATCH);
        // Without the version header, or with another method.
        let h = headers(&[("mcp-method", "tools/call"), ("mcp-name", "other")]);
        assert!(check_headers(&h, "tools/call", &plain_call, &s).is_err());
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
        ]);
        assert!(check_headers(&h, "tools/call", &plain_call, &s).is_err());
        // A body without a version is left to the _meta check (-32602).
        assert!(check_headers(&HeaderMap::new(), "tools/call", &json!({}), &s).is_ok());
    }

    #[test]
    fn marked_parameters_travel_in_headers_too() {
        let s = server();
        let args = json!({"region": "us-west1", "n": 42, "inner": {"flag": true}});
        let params = call("marked", args);
        let with = |extra: &[(&'static str, &str)]| {
            let mut all = vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "marked"),
            ];
            all.extend_from_slice(extra);
            check_headers(&headers(&all), "tools/call", &params, &s)
        };
        assert!(
            with(&[
                ("mcp-param-region", "us-west1"),
                ("mcp-param-n", "42.0"),
                ("mcp-param-flag", "true")
            ])
            .is_ok()
        );
        assert!(
            with(&[
                ("mcp-param-region", "=?base64?dXMtd2VzdDE=?="),
                ("mcp-param-n", "42"),
                ("mcp-param-flag", "true")
            ])
            .is_ok()
        );
        assert!(
            with(&[("mcp-param-n", "42"), ("mcp-param-flag", "true")]).is_err(),
            "missing header"
        );
        assert!(
            with(&[
                ("mcp-param-region", "eu"),
                ("mcp-param-n", "42"),
                ("mcp-param-flag", "true")
            ])
            .is_err()
        );
        assert!(
            with(&[
                ("mcp-param-region", "us-west1"),
                ("mcp-param-n", "43"),
                ("mcp-param-flag", "true")
            ])
            .is_err()
        );
        // An absent argument expects no header.
        let params = call("marked", json!({"n": 1}));
        let h = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "marked"),
            ("mcp-param-n", "1"),
        ]);
        assert!(check_headers(&h, "tools/call", &params, &s).is_ok());
    }

    #[test]
    fn era_follows_meta_then_initialize_then_session() {
        let request = |method: &str, params: Value| Incoming::Request {
            id: jsonrpc::RequestId::Number(1),
            method: method.into(),
            params,
        };
        let modern_meta = json!({"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}});
        assert!(is_modern(&request("tools/list", modern_meta.clone()), true));
        assert!(is_modern(&request("initialize", modern_meta), false));
        assert!(!is_modern(&request("initialize", json!({})), false));
        assert!(!is_modern(&request("tools/list", json!({})), true));
        assert!(is_modern(&request("tools/list", json!({})), false));
    }
}
