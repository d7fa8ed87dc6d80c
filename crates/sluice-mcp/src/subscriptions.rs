//! `subscriptions/listen` (MCP 2026-07-28): a request whose answer is a stream of the
//! change notifications the client opted in to, replacing the session-wide stream and
//! `resources/subscribe` of earlier revisions.
//!
//! The stream opens with `notifications/subscriptions/acknowledged`, naming the part of
//! the filter the server honours; every notification on it carries the listen request's
//! id as `_meta["io.modelcontextprotocol/subscriptionId"]`. It lasts until the client
//! closes it (HTTP) or cancels the request (stdio), or the server goes away.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::context::Related;
use crate::filter::Item;
use crate::jsonrpc::{self, ErrorObject, RequestId};
use crate::server::{ListChange, Server};

/// `_meta` key of listen-stream notifications.
const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// True when `uri` names one of the server's resources or matches one of its templates.
pub(crate) fn serves_uri(server: &Server, uri: &str, extensions: &crate::Extensions) -> bool {
    let inner = &server.inner;
    let filters = &inner.filters;
    inner
        .resources
        .iter()
        .any(|r| r.resource.uri == uri && filters.allows(Item::Resource(&r.resource), extensions))
        || inner.templates.iter().any(|t| {
            crate::resources::match_template(&t.template.uri_template, uri).is_some()
                && filters.allows(Item::ResourceTemplate(&t.template), extensions)
        })
}

/// What one listen stream delivers.
struct Filter {
    tools: bool,
    prompts: bool,
    resources: HashSet<String>,
}

impl Filter {
    /// The filter the client asked for, cut to what this server can honour.
    fn read(
        server: &Server,
        params: &Value,
        extensions: &crate::Extensions,
    ) -> Result<Filter, ErrorObject> {
        let Some(Value::Object(asked)) = params.get("notifications") else {
            return Err(ErrorObject::invalid_params(
                "subscriptions/listen needs a notifications filter (an object)",
            ));
        };
        let flag = |name: &str| -> Result<bool, ErrorObject> {
            match asked.get(name) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(ErrorObject::invalid_params(format!(
                    "notifications.{name} must be a boolean"
                ))),
            }
        };
        let tools = flag("toolsListChanged")?;
        let prompts = flag("promptsListChanged")?;
        // Our resource list never changes at run time: resourcesListChanged is not
        // honoured (and so not acknowledged); flag() still checks its type.
        flag("resourcesListChanged")?;
        let resources = match asked.get("resourceSubscriptions") {
            None | Some(Value::Null) => HashSet::new(),
            Some(Value::Array(uris)) => {
                let mut kept = HashSet::new();
                for uri in uris {
                    let Value::String(uri) = uri else {
                        return Err(ErrorObject::invalid_params(
                            "notifications.resourceSubscriptions must list URIs (strings)",
                        ));
                    };
                    if serves_uri(server, uri, extensions) {
                        kept.insert(uri.clone());
                    }
                }
                kept
            }
            Some(_) => {
                return Err(ErrorObject::invalid_params(
                    "notifications.resourceSubscriptions must be an array",
                ));
            }
        };
        Ok(Filter {
            tools,
            prompts,
            resources,
        })
    }

    fn honoured(&self) -> Value {
        let mut map = Map::new();
        if self.tools {
            map.insert("toolsListChanged".into(), json!(true));
        }
        if self.prompts {
            map.insert("promptsListChanged".into(), json!(true));
        }
        if !self.resources.is_empty() {
            let mut uris: Vec<&String> = self.resources.iter().collect();
            uris.sort();
            map.insert("resourceSubscriptions".into(), json!(uris));
        }
        Value::Object(map)
    }
}

/// Serves one `subscriptions/listen` request: acknowledges, then forwards the changes
/// it asked for to `related` until the future is dropped (the client closed the stream
/// or cancelled), or `teardown` is cancelled or the server is gone, when it returns the
/// closing result.
pub(crate) async fn listen(
    server: &Server,
    extensions: &crate::Extensions,
    id: &RequestId,
    params: &Value,
    related: &Related,
    teardown: &tokio_util::sync::CancellationToken,
) -> Result<Value, ErrorObject> {
    let filter = Filter::read(server, params, extensions)?;
    // Subscribe before acknowledging: a change right after the acknowledgement is seen.
    let mut changes = server.inner.changes.subscribe();
    let mut updates = server.inner.updates.subscribe();
    let tag = json!({ META_SUBSCRIPTION_ID: id });
    related.send(jsonrpc::notification(
        "notifications/subscriptions/acknowledged",
        &json!({"notifications": filter.honoured(), "_meta": tag}),
    ));
    let list_changed = json!({"_meta": tag});
    loop {
        tokio::select! {
            () = teardown.cancelled() => break,
            change = changes.recv() => {
                let changed = match change {
                    Ok(list) => vec![list],
                    // Missed changes: say every list changed; the client lists them again.
                    Err(RecvError::Lagged(_)) => vec![ListChange::Tools, ListChange::Prompts],
                    Err(RecvError::Closed) => break,
                };
                for list in changed {
                    let wanted = match list {
                        ListChange::Tools => filter.tools,
                        ListChange::Prompts => filter.prompts,
                    };
                    if wanted {
                        related.send(jsonrpc::notification(list.method(), &list_changed));
                    }
                }
            }
            update = updates.recv() => match update {
                Ok(uri) if filter.resources.contains(&*uri) => related.send(jsonrpc::notification(
                    "notifications/resources/updated",
                    &json!({"uri": &*uri, "_meta": tag}),
                )),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
        }
    }
    Ok(json!({"_meta": tag}))
}
