//! Argument completion (`completion/complete`): suggestions for a prompt's arguments and
//! a resource template's variables while the user types.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::context::RequestContext;

/// The most values one `completion/complete` answer carries (the specification's cap).
pub const MAX_COMPLETION_VALUES: usize = 100;

/// What is being completed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompletionReference {
    /// An argument of the prompt with this name.
    Prompt(String),
    /// A variable of the resource template with this URI template.
    ResourceTemplate(String),
}

/// One `completion/complete` request, checked: the reference names a registered prompt
/// or template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// The prompt or resource template.
    pub reference: CompletionReference,
    /// The argument (or template variable) being completed.
    pub argument: String,
    /// What the user has typed so far.
    pub value: String,
    /// Arguments already filled in (`context.arguments`), for dependent suggestions.
    pub context: HashMap<String, String>,
}

/// The future a completion handler returns: the suggestions, best first.
pub type CompletionFuture = Pin<Box<dyn Future<Output = Vec<String>> + Send>>;

/// Suggests values for prompt arguments and template variables.
///
/// The session keeps at most [`MAX_COMPLETION_VALUES`] of what the handler returns and
/// tells the client how many there were in all.
pub trait CompletionHandler: Send + Sync + 'static {
    /// Suggestions for `request`, best first.
    fn complete(&self, request: CompletionRequest, context: RequestContext) -> CompletionFuture;
}

impl<F, Fut> CompletionHandler for F
where
    F: Fn(CompletionRequest, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<String>> + Send + 'static,
{
    fn complete(&self, request: CompletionRequest, context: RequestContext) -> CompletionFuture {
        Box::pin(self(request, context))
    }
}
