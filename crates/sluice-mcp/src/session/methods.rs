//! The methods a session serves once a request is routed: lists with pagination, tool
//! calls, resource reads, prompts, completion, subscriptions of earlier revisions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::{Session, lock};
use crate::completion::{CompletionReference, CompletionRequest, MAX_COMPLETION_VALUES};
use crate::context::{LogLevel, RequestContext};
use crate::error::{HandlerError, HandlerErrorKind};
use crate::filter::Item;
use crate::jsonrpc::{self, ErrorObject};

/// The MCP error code for an unknown resource.
const RESOURCE_NOT_FOUND: i64 = -32002;

/// An unknown resource: `-32002` for sessions of 2025-11-25 and older, `-32602` (invalid
/// params) for 2026-07-28 requests, as that revision says.
fn resource_not_found_in(uri: &str, modern: bool) -> ErrorObject {
    let code = if modern {
        jsonrpc::INVALID_PARAMS
    } else {
        RESOURCE_NOT_FOUND
    };
    let mut error = ErrorObject::new(code, format!("resource not found: {uri}"));
    error.data = Some(json!({"uri": uri}));
    error
}

impl Session {
    pub(super) async fn route_value(
        &self,
        method: &str,
        params: Value,
        context: RequestContext,
    ) -> Result<Value, ErrorObject> {
        match method {
            "tools/list" => self.list_tools(&params),
            "resources/list" => {
                let resources: Vec<_> = self
                    .server
                    .inner
                    .resources
                    .iter()
                    .map(|r| &r.resource)
                    .filter(|r| self.allows(Item::Resource(r)))
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
                    .filter(|t| self.allows(Item::ResourceTemplate(t)))
                    .collect();
                self.page("resourceTemplates", &templates, &params)
            }
            "resources/read" => self.read_resource(&params, context).await,
            "resources/subscribe" => {
                let uri = self.known_uri(&params)?;
                lock(&self.state.subscriptions).insert(uri);
                Ok(json!({}))
            }
            "resources/unsubscribe" => {
                let uri = self.known_uri(&params)?;
                lock(&self.state.subscriptions).remove(&uri);
                Ok(json!({}))
            }
            "prompts/list" => {
                let prompts = self.server.prompts();
                let prompts: Vec<_> = prompts
                    .iter()
                    .map(|p| &p.prompt)
                    .filter(|p| self.allows(Item::Prompt(p)))
                    .collect();
                self.page("prompts", &prompts, &params)
            }
            "prompts/get" => self.get_prompt(&params, context).await,
            "completion/complete" => self.complete(&params, context).await,
            "logging/setLevel" => {
                let level = params
                    .get("level")
                    .cloned()
                    .and_then(|level| serde_json::from_value::<LogLevel>(level).ok())
                    .ok_or_else(|| {
                        ErrorObject::invalid_params(
                            "level must be one of debug, info, notice, warning, error, \
                             critical, alert, emergency",
                        )
                    })?;
                self.state.log_level.store(level.rank(), Ordering::Relaxed);
                Ok(json!({}))
            }
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    /// The `uri` of a subscribe request, when it names a resource we serve.
    fn known_uri(&self, params: &Value) -> Result<String, ErrorObject> {
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return Err(ErrorObject::invalid_params("a uri is needed"));
        };
        if crate::subscriptions::serves_uri(&self.server, uri, &self.state.extensions) {
            Ok(uri.to_owned())
        } else {
            Err(resource_not_found_in(uri, false))
        }
    }

    async fn complete(
        &self,
        params: &Value,
        context: RequestContext,
    ) -> Result<Value, ErrorObject> {
        let reference = params.get("ref").unwrap_or(&Value::Null);
        let inner = &self.server.inner;
        let reference = match reference.get("type").and_then(Value::as_str) {
            Some("ref/prompt") => {
                let name = reference
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !self
                    .server
                    .prompts()
                    .iter()
                    .any(|p| p.prompt.name == name && self.allows(Item::Prompt(&p.prompt)))
                {
                    return Err(ErrorObject::invalid_params(format!(
                        "unknown prompt: {name}"
                    )));
                }
                CompletionReference::Prompt(name.to_owned())
            }
            Some("ref/resource") => {
                let uri = reference
                    .get("uri")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !inner
                    .templates
                    .iter()
                    .any(|t| t.template.uri_template == uri)
                {
                    return Err(ErrorObject::invalid_params(format!(
                        "unknown resource template: {uri}"
                    )));
                }
                CompletionReference::ResourceTemplate(uri.to_owned())
            }
            _ => {
                return Err(ErrorObject::invalid_params(
                    "ref must be a ref/prompt or a ref/resource",
                ));
            }
        };
        let argument = params.get("argument").unwrap_or(&Value::Null);
        let (Some(name), Some(value)) = (
            argument.get("name").and_then(Value::as_str),
            argument.get("value").and_then(Value::as_str),
        ) else {
            return Err(ErrorObject::invalid_params(
                "argument needs a name and a value",
            ));
        };
        let filled = params
            .get("context")
            .and_then(|c| c.get("arguments"))
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let values = match &inner.completion {
            Some(handler) => {
                let request = CompletionRequest {
                    reference,
                    argument: name.to_owned(),
                    value: value.to_owned(),
                    context: filled,
                };
                handler.complete(request, context).await
            }
            None => Vec::new(),
        };
        let total = values.len();
        let kept = &values[..total.min(MAX_COMPLETION_VALUES)];
        Ok(json!({"completion": {"values": kept, "total": total, "hasMore": total > kept.len()}}))
    }

    fn list_tools(&self, params: &Value) -> Result<Value, ErrorObject> {
        let tools = self.server.snapshot();
        let visible: Vec<&crate::protocol::Tool> = tools
            .iter()
            .map(|t| &t.tool)
            .filter(|tool| self.allows(Item::Tool(tool)))
            .collect();
        self.page("tools", &visible, params)
    }

    /// True when every filter of the server lets this session's caller see `item`.
    pub(super) fn allows(&self, item: Item<'_>) -> bool {
        self.server
            .inner
            .filters
            .allows(item, &self.state.extensions)
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

    async fn read_resource(
        &self,
        params: &Value,
        context: RequestContext,
    ) -> Result<Value, ErrorObject> {
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return Err(ErrorObject::invalid_params("resources/read needs a uri"));
        };
        let inner = &self.server.inner;
        let found = inner
            .resources
            .iter()
            .find(|r| r.resource.uri == uri && self.allows(Item::Resource(&r.resource)))
            .map(|r| (Arc::clone(&r.handler), HashMap::new()))
            .or_else(|| {
                inner
                    .templates
                    .iter()
                    .filter(|t| self.allows(Item::ResourceTemplate(&t.template)))
                    .find_map(|t| {
                        crate::resources::match_template(&t.template.uri_template, uri)
                            .map(|vars| (Arc::clone(&t.handler), vars))
                    })
            });
        let modern = context.era.is_some();
        let Some((handler, variables)) = found else {
            return Err(resource_not_found_in(uri, modern));
        };
        match handler.read(uri.to_owned(), variables, context).await {
            Ok(contents) => Ok(json!({"contents": contents})),
            Err(e) => Err(match e.kind() {
                HandlerErrorKind::NotFound => resource_not_found_in(uri, modern),
                HandlerErrorKind::InvalidArguments => ErrorObject::invalid_params(e.message()),
                _ => {
                    log_failure("resources/read", &e);
                    ErrorObject::internal(e.message())
                }
            }),
        }
    }

    async fn get_prompt(
        &self,
        params: &Value,
        context: RequestContext,
    ) -> Result<Value, ErrorObject> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(ErrorObject::invalid_params(
                "prompts/get needs a prompt name",
            ));
        };
        let prompts = self.server.prompts();
        let Some(registered) = prompts
            .iter()
            .find(|p| p.prompt.name == name && self.allows(Item::Prompt(&p.prompt)))
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
        let result = registered
            .handler
            .get(arguments, context)
            .await
            .map_err(|e| match e.kind() {
                HandlerErrorKind::NotFound | HandlerErrorKind::InvalidArguments => {
                    ErrorObject::invalid_params(e.message())
                }
                _ => {
                    log_failure("prompts/get", &e);
                    ErrorObject::internal(e.message())
                }
            })?;
        serde_json::to_value(result).map_err(|e| ErrorObject::internal(e.to_string()))
    }

    pub(super) async fn call_tool(
        &self,
        params: Value,
        context: RequestContext,
    ) -> Result<crate::protocol::CallToolResult, ErrorObject> {
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
        let Some(registered) = tools
            .iter()
            .find(|t| t.tool.name == name && self.allows(Item::Tool(&t.tool)))
        else {
            if tools.iter().any(|t| t.tool.name == name) {
                // A hidden tool called anyway: the caller learns nothing, the audit does.
                tracing::warn!(target: "sluice::audit", tool = %name,
                    reason = "the tool is not offered to this caller", "call refused");
            }
            return Err(ErrorObject::invalid_params(format!("unknown tool: {name}")));
        };
        Ok(match registered.handler.call(arguments, context).await {
            Ok(result) => result,
            Err(error) => {
                if error.source().is_some() {
                    log_failure("tools/call", &error);
                }
                crate::protocol::CallToolResult::error(error.message())
            }
        })
    }
}

/// A handler's failure with a cause, for the server's log (the client gets the message
/// only).
fn log_failure(method: &str, error: &HandlerError) {
    tracing::debug!(method, error = %error, cause = ?error.source(), "handler failed");
}
