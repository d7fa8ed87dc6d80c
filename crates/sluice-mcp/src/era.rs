//! MCP 2026-07-28 requests: a request whose `_meta` carries
//! `io.modelcontextprotocol/protocolVersion` is served on its own, without `initialize`,
//! under that revision; everything about the client (its capabilities, its name, the
//! log level it wants) comes with the request. Requests without the key follow their
//! session's `initialize`. The constants below name the `_meta` keys, error codes and
//! revisions involved.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::LogLevel;
use crate::jsonrpc::ErrorObject;

/// The stateless revision.
pub const MODERN_PROTOCOL_VERSION: &str = "2026-07-28";

/// `_meta` key: the request's protocol revision.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client's capabilities for this request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key: the log level the client wants for this request.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of results: the server's name and version.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `-32020`: HTTP headers disagree with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// `-32021`: the request needs a client capability it did not declare.
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// `-32022`: the request's protocol revision is not one we serve statelessly.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Every revision a client may name, the stateless one first.
pub const ALL_PROTOCOL_VERSIONS: &[&str] = &[
    MODERN_PROTOCOL_VERSION,
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

/// Who may reuse a cached answer (2026-07-28 `cacheScope`), as HTTP's `Cache-Control`
/// `public` and `private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// The answer is the same for every caller: shared caches may keep it.
    Public,
    /// The answer depends on the caller's authorization: caches are per caller.
    Private,
}

/// The methods whose 2026-07-28 results carry `ttlMs` and `cacheScope`.
pub(crate) const CACHEABLE_METHODS: &[&str] = &[
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

/// What a 2026-07-28 request says about its client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestEra {
    pub(crate) version: &'static str,
    pub(crate) capabilities: Value,
    pub(crate) client_info: Option<Value>,
    /// `None`: the client wants no log notifications for this request.
    pub(crate) log_level: Option<LogLevel>,
}

impl RequestEra {
    /// True when the client asked for log entries of `level` and above.
    pub(crate) fn wants_log(&self, level: LogLevel) -> bool {
        self.log_level.is_some_and(|wanted| level >= wanted)
    }
}

/// Reads the era of a request: `None` when its `_meta` names no protocol version (a
/// legacy request, served by its session); otherwise the era, or the error the
/// specification asks for when `_meta` is malformed or names a revision we do not
/// serve statelessly.
///
/// The client's capabilities and info are moved out of `_meta` (handlers read them from
/// the request's context), so that nothing is copied per request.
pub(crate) fn of_request(params: &mut Value) -> Option<Result<RequestEra, ErrorObject>> {
    let meta = params.get_mut("_meta")?;
    let version = meta.get(META_PROTOCOL_VERSION)?.clone();
    Some(read(meta, &version))
}

fn read(meta: &mut Value, version: &Value) -> Result<RequestEra, ErrorObject> {
    let Some(requested) = version.as_str() else {
        return Err(ErrorObject::invalid_params(format!(
            "_meta[\"{META_PROTOCOL_VERSION}\"] must be a string"
        )));
    };
    if requested != MODERN_PROTOCOL_VERSION {
        let shown: String = requested.chars().take(64).collect();
        let mut error = ErrorObject::new(
            UNSUPPORTED_PROTOCOL_VERSION,
            format!(
                "protocol version {shown:?} is not supported per request; this server serves \
                 {MODERN_PROTOCOL_VERSION} per request and older revisions through initialize"
            ),
        );
        error.data = Some(json!({"supported": ALL_PROTOCOL_VERSIONS, "requested": shown}));
        return Err(error);
    }
    let Value::Object(meta) = meta else {
        return Err(ErrorObject::invalid_params("_meta must be an object"));
    };
    let capabilities = match meta.remove(META_CLIENT_CAPABILITIES) {
        Some(capabilities @ Value::Object(_)) => capabilities,
        Some(_) => {
            return Err(ErrorObject::invalid_params(format!(
                "_meta[\"{META_CLIENT_CAPABILITIES}\"] must be an object"
            )));
        }
        None => {
            return Err(ErrorObject::invalid_params(format!(
                "_meta[\"{META_CLIENT_CAPABILITIES}\"] is required (an empty object declares none)"
            )));
        }
    };
    let client_info = match meta.remove(META_CLIENT_INFO) {
        None | Some(Value::Null) => None,
        Some(info @ Value::Object(_)) => Some(info),
        Some(_) => {
            return Err(ErrorObject::invalid_params(format!(
                "_meta[\"{META_CLIENT_INFO}\"] must be an object"
            )));
        }
    };
    let log_level = match meta.get(META_LOG_LEVEL) {
        None | Some(Value::Null) => None,
        Some(level) => Some(LogLevel::deserialize(level).map_err(|_| {
            ErrorObject::invalid_params(format!(
                "_meta[\"{META_LOG_LEVEL}\"] must be a log level (debug … emergency)"
            ))
        })?),
    };
    Ok(RequestEra {
        version: MODERN_PROTOCOL_VERSION,
        capabilities,
        client_info,
        log_level,
    })
}

/// Marks a result as complete and names the server in its `_meta`, as every
/// 2026-07-28 result must and should.
pub(crate) fn complete(mut result: Value, server_info: &Value) -> Value {
    if let Value::Object(map) = &mut result {
        map.insert("resultType".to_owned(), json!("complete"));
    }
    name_server(result, server_info)
}

/// A tool's result as the response carries it, serialised straight into the response
/// (no copy of its own): as the tool gave it, or completed for 2026-07-28 with
/// `resultType` in front and the server named in `_meta`.
pub(crate) enum ToolAnswer {
    /// Before 2026-07-28: the result as it is.
    Plain(crate::protocol::CallToolResult),
    /// 2026-07-28: `resultType` and the server's name added; `server_info` is set when
    /// the tool gave no `_meta` of its own (else the name went into that one).
    Complete {
        result: crate::protocol::CallToolResult,
        server_info: Option<Arc<Value>>,
    },
}

impl ToolAnswer {
    /// The result completed for 2026-07-28.
    pub(crate) fn complete(
        mut result: crate::protocol::CallToolResult,
        server_info: &Arc<Value>,
    ) -> Self {
        let server_info = match &mut result.meta {
            Some(own) => {
                own.insert(META_SERVER_INFO.to_owned(), Value::clone(server_info));
                None
            }
            None => Some(Arc::clone(server_info)),
        };
        ToolAnswer::Complete {
            result,
            server_info,
        }
    }

    /// Writes the answer as JSON into `out`: the result's fields as its `Serialize`
    /// writes them, plain text escaped by hand ([`CallToolResult::write_fields`]).
    ///
    /// [`CallToolResult::write_fields`]: crate::protocol::CallToolResult
    pub(crate) fn write_json(&self, out: &mut String) -> Result<(), serde_json::Error> {
        match self {
            ToolAnswer::Plain(result) => {
                out.push('{');
                result.write_fields(out)?;
            }
            ToolAnswer::Complete {
                result,
                server_info,
            } => {
                out.push_str("{\"resultType\":\"complete\",");
                result.write_fields(out)?;
                if let Some(info) = server_info {
                    out.push_str(",\"_meta\":{");
                    out.push_str(&serde_json::to_string(META_SERVER_INFO)?);
                    out.push(':');
                    out.push_str(&serde_json::to_string(&**info)?);
                    out.push('}');
                }
            }
        }
        out.push('}');
        Ok(())
    }

    /// About how many bytes the answer takes serialised (for the response's buffer).
    pub(crate) fn size_hint(&self) -> usize {
        match self {
            ToolAnswer::Plain(result) | ToolAnswer::Complete { result, .. } => result.size_hint(),
        }
    }
}

/// What serde writes for an answer: the shape [`ToolAnswer::write_json`] is held to
/// (the session writes answers by hand only).
#[cfg(test)]
impl serde::Serialize for ToolAnswer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// `{"io.modelcontextprotocol/serverInfo": …}` over a borrowed value.
        struct ServerMeta<'a>(&'a Value);

        impl serde::Serialize for ServerMeta<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(META_SERVER_INFO, self.0)?;
                map.end()
            }
        }

        #[derive(serde::Serialize)]
        struct Complete<'a> {
            #[serde(rename = "resultType")]
            result_type: &'static str,
            #[serde(flatten)]
            result: &'a crate::protocol::CallToolResult,
            #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
            meta: Option<ServerMeta<'a>>,
        }

        match self {
            ToolAnswer::Plain(result) => result.serialize(serializer),
            ToolAnswer::Complete {
                result,
                server_info,
            } => Complete {
                result_type: "complete",
                result,
                meta: server_info.as_deref().map(ServerMeta),
            }
            .serialize(serializer),
        }
    }
}

/// Names the server in a 2026-07-28 result's `_meta`.
pub(crate) fn name_server(mut result: Value, server_info: &Value) -> Value {
    if let Value::Object(map) = &mut result {
        let meta = map.entry("_meta").or_insert_with(|| json!({}));
        if let Value::Object(meta) = meta {
            meta.insert(META_SERVER_INFO.to_owned(), server_info.clone());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(m: Value) -> Value {
        json!({"_meta": m})
    }

    /// A tool result whose structured content came serialised keeps it, under the
    /// fields 2026-07-28 adds, exactly as written.
    #[test]
    fn completed_results_carry_serialised_structured_content() {
        let raw =
            serde_json::value::RawValue::from_string(r#"{"rows":[[1,"a"]]}"#.to_owned()).unwrap();
        let result = crate::protocol::CallToolResult::text("1 row").with_structured_json(raw);
        let info = json!({"name": "s", "version": "1"});
        let done = ToolAnswer::complete(result.clone(), &Arc::new(info.clone()));
        let sent = serde_json::to_value(&done).unwrap();
        assert_eq!(sent["resultType"], "complete");
        assert_eq!(sent["structuredContent"], json!({"rows": [[1, "a"]]}));
        assert_eq!(sent["content"][0]["text"], "1 row");
        assert_eq!(sent["_meta"][META_SERVER_INFO], info);
        assert!(sent.get("isError").is_none());
        let legacy = serde_json::to_value(&result).unwrap();
        assert_eq!(legacy["structuredContent"], json!({"rows": [[1, "a"]]}));
    }

    /// What the session writes by hand for a tool's answer is, byte for byte, what
    /// serde writes for it, in both eras, with and without metadata of its own.
    #[test]
    fn tool_answers_written_by_hand_are_what_serde_writes() {
        let raw =
            serde_json::value::RawValue::from_string(r#"{"rows":[[1.5,"a"]]}"#.to_owned()).unwrap();
        let mut with_meta = crate::protocol::CallToolResult::text("x");
        with_meta.meta = Some(serde_json::Map::from_iter([(
            "k".to_owned(),
            json!([1, "v"]),
        )]));
        let mut with_value = crate::protocol::CallToolResult::error("failed: \"quoted\"\n\u{1}");
        with_value.structured_content = Some(json!({"a": [1, null, "é"]}));
        let image = crate::protocol::Content::image("AAAA", "image/png");
        let results = [
            crate::protocol::CallToolResult::text("rows | \"a\"\n1 | 2\n")
                .with_structured_json(raw),
            with_meta,
            with_value,
            crate::protocol::CallToolResult::content(vec![
                crate::protocol::Content::text("one"),
                image,
                crate::protocol::Content::text("two\t"),
            ]),
            crate::protocol::CallToolResult::content(vec![]),
            crate::protocol::CallToolResult::text("t").with_structured_text({
                let mut w = crate::json::JsonWriter::new();
                w.begin_array();
                w.string("a\"b");
                w.f64(0.1);
                w.end_array();
                w.finish().unwrap()
            }),
        ];
        let info = Arc::new(json!({"name": "s", "version": "1"}));
        for result in results {
            for answer in [
                ToolAnswer::Plain(result.clone()),
                ToolAnswer::complete(result.clone(), &info),
            ] {
                let mut ours = String::new();
                answer.write_json(&mut ours).unwrap();
                assert_eq!(ours, serde_json::to_string(&answer).unwrap());
            }
        }
    }

    #[test]
    fn requests_without_a_version_are_legacy() {
        assert!(of_request(&mut json!({})).is_none());
        assert!(of_request(&mut json!({"_meta": {"progressToken": 1}})).is_none());
        assert!(of_request(&mut Value::Null).is_none());
    }

    #[test]
    fn malformed_meta_gets_the_specified_errors() {
        let err = |m: Value| of_request(&mut meta(m)).unwrap().unwrap_err();
        let unsupported =
            err(json!({META_PROTOCOL_VERSION: "2099-01-01", META_CLIENT_CAPABILITIES: {}}));
        assert_eq!(unsupported.code, UNSUPPORTED_PROTOCOL_VERSION);
        assert_eq!(
            unsupported.data.as_ref().unwrap()["requested"],
            "2099-01-01"
        );
        assert_eq!(
            unsupported.data.as_ref().unwrap()["supported"][0],
            MODERN_PROTOCOL_VERSION
        );
        // A legacy revision named per request is not served statelessly.
        assert_eq!(
            err(json!({META_PROTOCOL_VERSION: "2025-11-25", META_CLIENT_CAPABILITIES: {}})).code,
            UNSUPPORTED_PROTOCOL_VERSION
        );
        assert_eq!(err(json!({META_PROTOCOL_VERSION: 20260728})).code, -32602);
        assert_eq!(
            err(json!({META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION})).code,
            -32602
        );
        assert_eq!(err(json!({META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES: []})).code, -32602);
        assert_eq!(err(json!({META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES: {}, META_LOG_LEVEL: "loud"})).code, -32602);
        assert_eq!(err(json!({META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES: {}, META_CLIENT_INFO: "me"})).code, -32602);
        // A huge version string is echoed only in part.
        let huge = "x".repeat(100_000);
        let e = err(json!({META_PROTOCOL_VERSION: huge, META_CLIENT_CAPABILITIES: {}}));
        assert!(e.message.len() < 400);
    }

    #[test]
    fn a_well_formed_request_carries_its_client() {
        let era = of_request(&mut meta(json!({
            META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION,
            META_CLIENT_CAPABILITIES: {"elicitation": {}},
            META_CLIENT_INFO: {"name": "c", "version": "1"},
            META_LOG_LEVEL: "warning",
        })))
        .unwrap()
        .unwrap();
        assert_eq!(era.capabilities["elicitation"], json!({}));
        assert!(era.wants_log(LogLevel::Error) && !era.wants_log(LogLevel::Info));
        let quiet = of_request(&mut meta(
            json!({META_PROTOCOL_VERSION: MODERN_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES: {}}),
        ))
        .unwrap()
        .unwrap();
        assert!(
            !quiet.wants_log(LogLevel::Emergency),
            "no log level: no log notifications"
        );
    }

    #[test]
    fn complete_results_say_so_and_name_the_server() {
        let r = complete(json!({"tools": []}), &json!({"name": "s", "version": "1"}));
        assert_eq!(r["resultType"], "complete");
        assert_eq!(r["_meta"][META_SERVER_INFO]["name"], "s");
    }
}
