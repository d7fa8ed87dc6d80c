//! JSON-RPC 2.0: message shapes, ids, error objects and the standard error codes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;

/// A request id: a string or an integer (MCP forbids `null`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// One of the codes above, or an application code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Anything else worth telling the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and a message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// `-32602 Invalid params` with a message saying what is wrong.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        ErrorObject::new(INVALID_PARAMS, message)
    }

    /// `-32601 Method not found`.
    pub fn method_not_found(method: &str) -> Self {
        ErrorObject::new(METHOD_NOT_FOUND, format!("method not found: {method}"))
    }

    /// `-32603 Internal error`.
    pub fn internal(message: impl Into<String>) -> Self {
        ErrorObject::new(INTERNAL_ERROR, message)
    }
}

/// One incoming message, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request: it must be answered.
    Request {
        /// Its id.
        id: RequestId,
        /// The method.
        method: String,
        /// The parameters (`Value::Null` when absent).
        params: Value,
    },
    /// A notification: no answer.
    Notification {
        /// The method.
        method: String,
        /// The parameters (`Value::Null` when absent).
        params: Value,
    },
    /// A response to a request this side sent.
    Response {
        /// The id of the request it answers.
        id: RequestId,
        /// The result, or the error.
        outcome: Result<Value, ErrorObject>,
    },
}

/// Why a message could not be classified, with the id to answer to when one was readable.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// The id, if the message had a valid one (else the error goes out with `id: null`).
    pub id: Option<RequestId>,
    /// The error to send back.
    pub error: ErrorObject,
}

impl Incoming {
    /// Parses one JSON-RPC message from text.
    ///
    /// # Errors
    ///
    /// `-32700` for text that is not JSON, `-32600` for JSON that is not a JSON-RPC 2.0
    /// message (including batches, which MCP 2025-11-25 does not allow).
    pub fn parse(text: &str) -> Result<Incoming, Malformed> {
        let value: Value = serde_json::from_str(text).map_err(|e| Malformed {
            id: None,
            error: ErrorObject::new(PARSE_ERROR, format!("parse error: {e}")),
        })?;
        Incoming::from_value(value)
    }

    /// Classifies an already-parsed JSON value.
    ///
    /// # Errors
    ///
    /// `-32600` for anything that is not a JSON-RPC 2.0 message.
    pub fn from_value(value: Value) -> Result<Incoming, Malformed> {
        let invalid = |id: Option<RequestId>, why: &str| Malformed {
            id,
            error: ErrorObject::new(INVALID_REQUEST, format!("invalid request: {why}")),
        };
        let Value::Object(mut object) = value else {
            let why = if value.is_array() {
                "batches are not supported; send one message at a time"
            } else {
                "a message must be a JSON object"
            };
            return Err(invalid(None, why));
        };
        let id = match object.remove("id") {
            None => None,
            Some(raw) => match serde_json::from_value::<RequestId>(raw) {
                Ok(id) => Some(id),
                Err(_) => return Err(invalid(None, "id must be a string or an integer")),
            },
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid(id, "jsonrpc must be \"2.0\""));
        }
        let params = object.remove("params").unwrap_or(Value::Null);
        if !matches!(params, Value::Null | Value::Object(_) | Value::Array(_)) {
            return Err(invalid(id, "params must be an object or an array"));
        }
        match (object.remove("method"), id) {
            (Some(Value::String(method)), Some(id)) => Ok(Incoming::Request { id, method, params }),
            (Some(Value::String(method)), None) => Ok(Incoming::Notification { method, params }),
            (Some(_), id) => Err(invalid(id, "method must be a string")),
            (None, Some(id)) => {
                if let Some(result) = object.remove("result") {
                    Ok(Incoming::Response {
                        id,
                        outcome: Ok(result),
                    })
                } else if let Some(error) = object.remove("error") {
                    match serde_json::from_value::<ErrorObject>(error) {
                        Ok(error) => Ok(Incoming::Response {
                            id,
                            outcome: Err(error),
                        }),
                        Err(_) => Err(invalid(Some(id), "error must be an error object")),
                    }
                } else {
                    Err(invalid(
                        Some(id),
                        "a message needs a method, a result or an error",
                    ))
                }
            }
            (None, None) => Err(invalid(
                None,
                "a message needs a method, a result or an error",
            )),
        }
    }
}

/// The envelope of an outgoing message, serialised straight from borrowed parts: each
/// message is serialised once, with no intermediate `Value` and no copy of the result.
#[derive(Serialize)]
struct Envelope<'a, R: ?Sized, P: ?Sized> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Option<&'a RequestId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a P>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorObject>,
}

fn envelope<'a, R: ?Sized, P: ?Sized>() -> Envelope<'a, R, P> {
    Envelope {
        jsonrpc: "2.0",
        id: None,
        method: None,
        params: None,
        result: None,
        error: None,
    }
}

fn write<T: Serialize>(message: &T) -> String {
    // Serialising these types cannot fail: every map key is a string.
    serde_json::to_string(message).unwrap_or_else(|e| unserialisable(&e))
}

/// The error sent in place of an answer that could not be serialised.
fn unserialisable(e: &serde_json::Error) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":{INTERNAL_ERROR},"message":"cannot serialise the answer: {}"}}}}"#,
        e.to_string().replace('"', "'")
    )
}

/// A success response whose result `write` writes as JSON into the response, which
/// starts with room for `size` bytes of it and the line end a transport adds (a large
/// result is neither copied nor moved as the response grows).
pub(crate) fn response_written(
    id: &RequestId,
    size: usize,
    write: impl FnOnce(&mut String) -> Result<(), serde_json::Error>,
) -> String {
    let mut out = String::with_capacity(size.saturating_add(64));
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    let written = serde_json::to_string(id).and_then(|id| {
        out.push_str(&id);
        out.push_str(r#","result":"#);
        write(&mut out)
    });
    match written {
        Ok(()) => {
            out.push('}');
            out
        }
        Err(e) => unserialisable(&e),
    }
}

/// Serialises a success response.
pub fn response<T: Serialize + ?Sized>(id: &RequestId, result: &T) -> String {
    write(&Envelope {
        id: Some(Some(id)),
        result: Some(result),
        ..envelope::<T, Value>()
    })
}

/// Serialises an error response (`id: null` when the request's id was unreadable).
pub fn error_response(id: Option<&RequestId>, error: &ErrorObject) -> String {
    write(&Envelope {
        id: Some(id),
        error: Some(error),
        ..envelope::<Value, Value>()
    })
}

/// Serialises a request (one the server sends to the client).
pub fn request<P: Serialize + ?Sized>(id: &RequestId, method: &str, params: &P) -> String {
    write(&Envelope {
        id: Some(Some(id)),
        method: Some(method),
        params: Some(params),
        ..envelope::<Value, P>()
    })
}

/// Serialises a notification (without `params` when they are `null`).
pub fn notification(method: &str, params: &Value) -> String {
    write(&Envelope {
        method: Some(method),
        params: (!params.is_null()).then_some(params),
        ..envelope::<Value, Value>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> i64 {
        Incoming::parse(text).unwrap_err().error.code
    }

    #[test]
    fn malformed_messages_get_the_right_codes() {
        let cases = [
            ("{", PARSE_ERROR),
            ("not json", PARSE_ERROR),
            ("[]", INVALID_REQUEST),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                INVALID_REQUEST,
            ),
            ("42", INVALID_REQUEST),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (r#"{"id":1,"method":"ping"}"#, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","id":1,"method":7}"#, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                INVALID_REQUEST,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#,
                INVALID_REQUEST,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, INVALID_REQUEST),
        ];
        for (text, expected) in cases {
            assert_eq!(code(text), expected, "{text}");
        }
    }

    #[test]
    fn outgoing_messages_have_the_json_rpc_shape() {
        let id = RequestId::Number(7);
        let parse = |text: String| serde_json::from_str::<Value>(&text).unwrap();
        assert_eq!(
            parse(response(&id, &serde_json::json!({"ok": true}))),
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "result": {"ok": true}})
        );
        assert_eq!(
            parse(error_response(None, &ErrorObject::new(PARSE_ERROR, "bad"))),
            serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "bad"}})
        );
        assert_eq!(
            parse(request(&id, "roots/list", &serde_json::json!({}))),
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "roots/list", "params": {}})
        );
        assert_eq!(
            parse(notification("notifications/initialized", &Value::Null)),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        );
    }

    #[test]
    fn the_id_is_kept_when_it_was_readable() {
        let bad = Incoming::parse(r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#).unwrap_err();
        assert_eq!(bad.id, Some(RequestId::String("a".to_owned())));
    }

    #[test]
    fn huge_ids_are_refused_not_truncated() {
        let text = r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}"#;
        assert_eq!(code(text), INVALID_REQUEST);
        let ok = Incoming::parse(r#"{"jsonrpc":"2.0","id":9223372036854775807,"method":"ping"}"#);
        assert!(matches!(
            ok,
            Ok(Incoming::Request {
                id: RequestId::Number(i64::MAX),
                ..
            })
        ));
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        assert!(matches!(
            Incoming::parse(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Incoming::Request { .. })
        ));
        assert!(matches!(
            Incoming::parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Incoming::Notification { .. })
        ));
        assert!(matches!(
            Incoming::parse(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#),
            Ok(Incoming::Response { outcome: Ok(_), .. })
        ));
        assert!(matches!(
            Incoming::parse(r#"{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no"}}"#),
            Ok(Incoming::Response {
                outcome: Err(_),
                ..
            })
        ));
    }
}
