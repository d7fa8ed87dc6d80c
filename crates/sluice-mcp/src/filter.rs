//! Per-caller visibility: [`Filter`] and [`ToolFilter`].

use std::sync::Arc;

use crate::context::Extensions;
use crate::protocol::{Prompt, Resource, ResourceTemplate, Tool};

/// What a [`Filter`] is asked about.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Item<'a> {
    /// A tool: in `tools/list`, and when called.
    Tool(&'a Tool),
    /// A resource: in `resources/list`, and when read or subscribed to.
    Resource(&'a Resource),
    /// A resource template: in `resources/templates/list`, and when a URI it matches is
    /// read or subscribed to.
    ResourceTemplate(&'a ResourceTemplate),
    /// A prompt: in `prompts/list`, when fetched, and when its arguments are completed.
    Prompt(&'a Prompt),
}

impl Item<'_> {
    /// The item's name: a tool's or prompt's name, a resource's URI, a template's URI
    /// template.
    pub fn name(&self) -> &str {
        match self {
            Item::Tool(tool) => &tool.name,
            Item::Resource(resource) => &resource.uri,
            Item::ResourceTemplate(template) => &template.uri_template,
            Item::Prompt(prompt) => &prompt.name,
        }
    }
}

/// Decides, per caller, which tools, resources and prompts they may see and use.
///
/// A server may carry any number of filters; an item is visible to a caller only when
/// every filter allows it (filters compose: adding one never widens what another hid).
/// An item a filter hides is absent from its list and answered as unknown when named:
/// `tools/call` of a hidden tool is an unknown tool, `resources/read` of a hidden resource
/// is not found, `prompts/get` of a hidden prompt is an unknown prompt.
///
/// ```
/// use sluice_mcp::{Extensions, Filter, Item, Server, ToolFilter, Tool};
///
/// /// Only admins see anything under `admin://`, or any tool named `admin*`.
/// struct AdminsOnly;
///
/// #[derive(Clone)]
/// struct Admin;
///
/// impl Filter for AdminsOnly {
///     fn allows(&self, item: Item<'_>, extensions: &Extensions) -> bool {
///         let restricted = match item {
///             Item::Tool(tool) => tool.name.starts_with("admin"),
///             other => other.name().starts_with("admin://"),
///         };
///         !restricted || extensions.get::<Admin>().is_some()
///     }
/// }
///
/// /// A second, independent rule: nobody sees tools marked as drafts.
/// struct NoDrafts;
///
/// impl ToolFilter for NoDrafts {
///     fn allows(&self, tool: &Tool, _: &Extensions) -> bool {
///         !tool.name.ends_with("Draft")
///     }
/// }
///
/// let server = Server::builder("demo", "1.0.0").filter(AdminsOnly).tool_filter(NoDrafts).build();
/// # let _ = server;
/// ```
///
/// The session's [`Extensions`] carry whatever the transport learned about the caller
/// (an identity from a bearer token, a login from a flag).
pub trait Filter: Send + Sync + 'static {
    /// True when the caller described by `extensions` may see and use `item`.
    fn allows(&self, item: Item<'_>, extensions: &Extensions) -> bool;
}

/// A [`Filter`] for tools only: resources and prompts pass it.
pub trait ToolFilter: Send + Sync + 'static {
    /// True when the caller described by `extensions` may see and call `tool`.
    fn allows(&self, tool: &Tool, extensions: &Extensions) -> bool;
}

/// A [`ToolFilter`] as a [`Filter`].
struct ToolsOnly<F>(F);

impl<F: ToolFilter> Filter for ToolsOnly<F> {
    fn allows(&self, item: Item<'_>, extensions: &Extensions) -> bool {
        match item {
            Item::Tool(tool) => self.0.allows(tool, extensions),
            _ => true,
        }
    }
}

/// Every filter of a server: an item is visible when all allow it.
#[derive(Clone, Default)]
pub(crate) struct Filters(Vec<Arc<dyn Filter>>);

impl Filters {
    pub(crate) fn push(&mut self, filter: impl Filter) {
        self.0.push(Arc::new(filter));
    }

    pub(crate) fn push_tools(&mut self, filter: impl ToolFilter) {
        self.push(ToolsOnly(filter));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn allows(&self, item: Item<'_>, extensions: &Extensions) -> bool {
        self.0.iter().all(|filter| filter.allows(item, extensions))
    }
}
