//! The server: a registry of tools built with [`ServerBuilder`], shared by every session.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::completion::CompletionHandler;
use crate::context::RequestContext;
use crate::error::ToolError;
use crate::filter::{Filter, Filters, ToolFilter};
use crate::prompts::PromptHandler;
use crate::protocol::{CallToolResult, Implementation, Prompt, Resource, ResourceTemplate, Tool};
use crate::resources::ResourceHandler;

/// The future a tool handler returns.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, ToolError>> + Send>>;

/// Something that can be called as a tool.
pub trait ToolHandler: Send + Sync + 'static {
    /// Runs the tool on the raw JSON arguments (`Value::Null` when none were sent).
    fn call(&self, arguments: Value, context: RequestContext) -> ToolFuture;
}

impl<F, Fut> ToolHandler for F
where
    F: Fn(Value, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
{
    fn call(&self, arguments: Value, context: RequestContext) -> ToolFuture {
        Box::pin(self(arguments, context))
    }
}

#[derive(Clone)]
pub(crate) struct RegisteredTool {
    pub(crate) tool: Tool,
    pub(crate) handler: Arc<dyn ToolHandler>,
}

pub(crate) struct RegisteredResource {
    pub(crate) resource: Resource,
    pub(crate) handler: Arc<dyn ResourceHandler>,
}

pub(crate) struct RegisteredTemplate {
    pub(crate) template: ResourceTemplate,
    pub(crate) handler: Arc<dyn ResourceHandler>,
}

#[derive(Clone)]
pub(crate) struct RegisteredPrompt {
    pub(crate) prompt: Prompt,
    pub(crate) handler: Arc<dyn PromptHandler>,
}

pub(crate) struct Inner {
    pub(crate) info: Implementation,
    /// `info` as JSON, made once: every 2026-07-28 result names the server.
    pub(crate) info_json: Arc<Value>,

    pub(crate) instructions: Option<String>,
    /// Replaced whole on change, so a request reads a snapshot without taking a lock.
    pub(crate) tools: ArcSwap<Vec<RegisteredTool>>,
    /// Serialises changes to `tools` and `prompts` (readers never wait for it).
    pub(crate) lists_writer: Mutex<()>,
    pub(crate) filters: Filters,
    pub(crate) resources: Vec<RegisteredResource>,
    pub(crate) templates: Vec<RegisteredTemplate>,
    /// Replaced whole on change, as `tools`.
    pub(crate) prompts: ArcSwap<Vec<RegisteredPrompt>>,
    pub(crate) changes: broadcast::Sender<ListChange>,
    pub(crate) updates: broadcast::Sender<Arc<str>>,
    pub(crate) completion: Option<Arc<dyn CompletionHandler>>,
    pub(crate) page_size: usize,
    pub(crate) client_timeout: Duration,
    /// `ttlMs` of cacheable 2026-07-28 results.
    pub(crate) cache_ttl_ms: u64,
    /// `cacheScope` of cacheable 2026-07-28 results.
    pub(crate) cache_scope: crate::era::CacheScope,
    /// Seals the `requestState` of 2026-07-28 multi-round-trip requests.
    pub(crate) sealer: crate::mrtr::state::Sealer,
}

/// Which list changed, for the sessions and subscriptions that announce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListChange {
    Tools,
    Prompts,
}

impl ListChange {
    /// The notification that announces the change.
    pub(crate) fn method(self) -> &'static str {
        match self {
            ListChange::Tools => "notifications/tools/list_changed",
            ListChange::Prompts => "notifications/prompts/list_changed",
        }
    }
}

/// An MCP server: what it offers, shared by all its sessions. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("info", &self.inner.info)
            .field("tools", &self.tools().len())
            .finish()
    }
}

impl Server {
    /// Starts a server named `name`, version `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation {
                name: name.into(),
                version: version.into(),
                title: None,
                description: None,
                website_url: None,
                icons: Vec::new(),
            },
            instructions: None,
            tools: Vec::new(),
            filters: Filters::default(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            completion: None,
            state_key: None,
            state_lifetime: Duration::from_secs(600),
            page_size: 100,
            client_timeout: Duration::from_secs(60),
            cache: None,
        }
    }

    /// Tells every client subscribed to `uri` — sessions with `resources/subscribe`,
    /// 2026-07-28 `subscriptions/listen` streams with it in `resourceSubscriptions` —
    /// that the resource changed (`notifications/resources/updated`); they read it again.
    pub fn notify_resource_updated(&self, uri: &str) {
        // No subscribers is fine: no session is open.
        let _ = self.inner.updates.send(Arc::from(uri));
    }

    /// The tools registered now (unfiltered).
    pub fn tools(&self) -> Vec<Tool> {
        self.snapshot().iter().map(|t| t.tool.clone()).collect()
    }

    /// Adds (or replaces) a tool at run time; sessions are told with
    /// `notifications/tools/list_changed`.
    pub fn add_tool(&self, tool: Tool, handler: impl ToolHandler) {
        self.update(&self.inner.tools, ListChange::Tools, |tools| {
            tools.retain(|t| t.tool.name != tool.name);
            tools.push(RegisteredTool {
                tool,
                handler: Arc::new(handler),
            });
            true
        });
    }

    /// Removes a tool at run time; returns whether it existed.
    pub fn remove_tool(&self, name: &str) -> bool {
        self.update(&self.inner.tools, ListChange::Tools, |tools| {
            let before = tools.len();
            tools.retain(|t| t.tool.name != name);
            tools.len() != before
        })
    }

    /// Adds (or replaces) a prompt at run time; sessions are told with
    /// `notifications/prompts/list_changed`.
    pub fn add_prompt(&self, prompt: Prompt, handler: impl PromptHandler) {
        self.update(&self.inner.prompts, ListChange::Prompts, |prompts| {
            prompts.retain(|p| p.prompt.name != prompt.name);
            prompts.push(RegisteredPrompt {
                prompt,
                handler: Arc::new(handler),
            });
            true
        });
    }

    /// Removes a prompt at run time; returns whether it existed.
    pub fn remove_prompt(&self, name: &str) -> bool {
        self.update(&self.inner.prompts, ListChange::Prompts, |prompts| {
            let before = prompts.len();
            prompts.retain(|p| p.prompt.name != name);
            prompts.len() != before
        })
    }

    #[allow(
        clippy::rc_buffer,
        reason = "ArcSwap swaps an Arc of a sized value; the Vec is never changed in place"
    )]
    pub(crate) fn snapshot(&self) -> Arc<Vec<RegisteredTool>> {
        self.inner.tools.load_full()
    }

    #[allow(
        clippy::rc_buffer,
        reason = "ArcSwap swaps an Arc of a sized value; the Vec is never changed in place"
    )]
    pub(crate) fn prompts(&self) -> Arc<Vec<RegisteredPrompt>> {
        self.inner.prompts.load_full()
    }

    /// Applies `change` (true when it changed anything) to a copy of `list`, swaps the
    /// copy in, and announces `announce`. One writer lock serialises tool and prompt
    /// changes (both are rare); readers never wait for it.
    fn update<T: Clone>(
        &self,
        list: &ArcSwap<Vec<T>>,
        announce: ListChange,
        change: impl FnOnce(&mut Vec<T>) -> bool,
    ) -> bool {
        let guard = self
            .inner
            .lists_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next: Vec<T> = list.load().as_ref().clone();
        if !change(&mut next) {
            return false;
        }
        list.store(Arc::new(next));
        drop(guard);
        // No subscribers is fine: no session is open.
        let _ = self.inner.changes.send(announce);
        true
    }
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    info: Implementation,
    instructions: Option<String>,
    tools: Vec<RegisteredTool>,
    filters: Filters,
    resources: Vec<RegisteredResource>,
    templates: Vec<RegisteredTemplate>,
    prompts: Vec<RegisteredPrompt>,
    completion: Option<Arc<dyn CompletionHandler>>,
    page_size: usize,
    client_timeout: Duration,
    cache: Option<(Duration, crate::era::CacheScope)>,
    state_key: Option<[u8; 32]>,
    state_lifetime: Duration,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("info", &self.info)
            .field("tools", &self.tools.len())
            .finish()
    }
}

impl ServerBuilder {
    /// Sets the human-readable title of the server.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.info.title = Some(title.into());
        self
    }

    /// Sets the one-sentence description of the server sent at initialisation.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.info.description = Some(description.into());
        self
    }

    /// Sets the server's website and icons sent at initialisation.
    #[must_use]
    pub fn website(mut self, url: impl Into<String>, icons: Vec<crate::protocol::Icon>) -> Self {
        self.info.website_url = Some(url.into());
        self.info.icons = icons;
        self
    }

    /// Sets the instructions sent to the client at initialisation (how to use the tools).
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Registers a tool whose handler takes the raw JSON arguments.
    #[must_use]
    pub fn tool(mut self, tool: Tool, handler: impl ToolHandler) -> Self {
        self.tools.retain(|t| t.tool.name != tool.name);
        self.tools.push(RegisteredTool {
            tool,
            handler: Arc::new(handler),
        });
        self
    }

    /// Registers a tool with typed arguments: the input schema is derived from `A`, and
    /// arguments that do not fit it come back to the model as a tool error saying why,
    /// without the handler being called.
    #[must_use]
    pub fn typed_tool<A, F, Fut>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        F: Fn(A, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    {
        let tool = Tool::new(name, description, input_schema::<A>());
        self.tool(tool, typed_handler(handler))
    }

    /// Registers a typed tool described by a full [`Tool`] (title, output schema,
    /// annotations); its input schema is replaced by the one derived from `A`.
    #[must_use]
    pub fn typed_tool_with<A, F, Fut>(self, mut tool: Tool, handler: F) -> Self
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        F: Fn(A, RequestContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
    {
        tool.input_schema = input_schema::<A>();
        self.tool(tool, typed_handler(handler))
    }

    /// Registers a resource with a fixed URI.
    #[must_use]
    pub fn resource(mut self, resource: Resource, handler: impl ResourceHandler) -> Self {
        self.resources.push(RegisteredResource {
            resource,
            handler: Arc::new(handler),
        });
        self
    }

    /// Registers a family of resources named by a URI template; the handler receives
    /// the variables the URI matched.
    #[must_use]
    pub fn resource_template(
        mut self,
        template: ResourceTemplate,
        handler: impl ResourceHandler,
    ) -> Self {
        self.templates.push(RegisteredTemplate {
            template,
            handler: Arc::new(handler),
        });
        self
    }

    /// Registers a prompt.
    #[must_use]
    pub fn prompt(mut self, prompt: Prompt, handler: impl PromptHandler) -> Self {
        self.prompts.retain(|p| p.prompt.name != prompt.name);
        self.prompts.push(RegisteredPrompt {
            prompt,
            handler: Arc::new(handler),
        });
        self
    }

    /// Adds a per-caller filter of tools, resources and prompts ([`Filter`]). Filters
    /// compose: an item is visible only when every filter allows it.
    #[must_use]
    pub fn filter(mut self, filter: impl Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds a per-caller filter of tools ([`ToolFilter`]), composed with the others as
    /// [`filter`](Self::filter) is.
    #[must_use]
    pub fn tool_filter(mut self, filter: impl ToolFilter) -> Self {
        self.filters.push_tools(filter);
        self
    }

    /// Sets the cache hints of 2026-07-28 list results and `resources/read`: how long a
    /// client may keep an answer (`ttlMs`) and who may share it (`cacheScope`). Default:
    /// 0 ms (always re-fetch; list changes are also announced), and `private` when a
    /// [`filter`](Self::filter) or [`tool_filter`](Self::tool_filter) is set (the lists depend on the caller),
    /// else `public`.
    #[must_use]
    pub fn cache_hints(mut self, ttl: Duration, scope: crate::era::CacheScope) -> Self {
        self.cache = Some((ttl, scope));
        self
    }

    /// Sets the handler that answers `completion/complete` (without one, every request
    /// is answered with no suggestions).
    #[must_use]
    pub fn completion(mut self, handler: impl CompletionHandler) -> Self {
        self.completion = Some(Arc::new(handler));
        self
    }

    /// Sets how long a handler waits for the client to answer a request the server sent
    /// it (sampling, elicitation, roots; default 60 s).
    #[must_use]
    pub fn client_request_timeout(mut self, timeout: Duration) -> Self {
        self.client_timeout = timeout;
        self
    }

    /// Sets the key that seals the `requestState` of 2026-07-28 multi-round-trip
    /// requests (HMAC-SHA-256; see [`mrtr`](crate::mrtr)). Default: a random key per
    /// process, so a client's next round must reach the same process; replicas behind
    /// a load balancer need one shared key.
    #[must_use]
    pub fn request_state_key(mut self, key: [u8; 32]) -> Self {
        self.state_key = Some(key);
        self
    }

    /// Sets how long a `requestState` stays valid between rounds (default 10 minutes).
    #[must_use]
    pub fn request_state_lifetime(mut self, lifetime: Duration) -> Self {
        self.state_lifetime = lifetime;
        self
    }

    /// Sets how many items one page of a list holds (default 100).
    #[must_use]
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Finishes the server.
    pub fn build(self) -> Server {
        let (cache_ttl, cache_scope) = self.cache.unwrap_or((
            Duration::ZERO,
            if !self.filters.is_empty() {
                crate::era::CacheScope::Private
            } else {
                crate::era::CacheScope::Public
            },
        ));
        let (changes, _) = broadcast::channel(16);
        let (updates, _) = broadcast::channel(256);
        Server {
            inner: Arc::new(Inner {
                info_json: Arc::new(serde_json::to_value(&self.info).unwrap_or(Value::Null)),
                info: self.info,
                instructions: self.instructions,
                tools: ArcSwap::from_pointee(self.tools),
                lists_writer: Mutex::new(()),
                filters: self.filters,
                resources: self.resources,
                templates: self.templates,
                prompts: ArcSwap::from_pointee(self.prompts),
                changes,
                updates,
                completion: self.completion,
                page_size: self.page_size,
                client_timeout: self.client_timeout,
                cache_ttl_ms: u64::try_from(cache_ttl.as_millis()).unwrap_or(u64::MAX),
                cache_scope,
                sealer: match self.state_key {
                    Some(key) => crate::mrtr::state::Sealer::new(key, self.state_lifetime),
                    None => crate::mrtr::state::Sealer::random(self.state_lifetime),
                },
            }),
        }
    }
}

/// The JSON Schema of `A` as an MCP input schema (always an object schema), for a
/// [`Tool`] whose handler is a [`typed_handler`].
pub fn input_schema<A: schemars::JsonSchema>() -> Value {
    let mut schema = schemars::schema_for!(A).to_value();
    if let Value::Object(map) = &mut schema {
        // MCP wants an object schema; a unit struct's schema has no "type".
        map.entry("type")
            .or_insert_with(|| Value::String("object".to_owned()));
    }
    schema
}

/// A [`ToolHandler`] from a handler of typed arguments: the JSON arguments are read as
/// `A`, and arguments that do not fit come back to the model as a tool error saying why,
/// without `handler` being called. With [`input_schema`], for tools built apart from a
/// [`ServerBuilder`] (what [`ServerBuilder::typed_tool_with`] does in one step).
pub fn typed_handler<A, F, Fut>(handler: F) -> impl ToolHandler
where
    A: DeserializeOwned + Send + 'static,
    F: Fn(A, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallToolResult, ToolError>> + Send + 'static,
{
    let handler = Arc::new(handler);
    move |arguments: Value, context: RequestContext| {
        let handler = Arc::clone(&handler);
        async move {
            let arguments = if arguments.is_null() {
                Value::Object(serde_json::Map::new())
            } else {
                arguments
            };
            match serde_json::from_value::<A>(arguments) {
                Ok(parsed) => handler(parsed, context).await,
                Err(e) => Ok(CallToolResult::error(format!("invalid arguments: {e}"))),
            }
        }
    }
}
