//! Prompts: templates of messages a client can ask for by name, with arguments.

use crate::error::PromptError;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::context::RequestContext;
use crate::protocol::GetPromptResult;

/// The future a prompt handler returns; an `Err` is sent as `-32602` with its message.
pub type PromptFuture = Pin<Box<dyn Future<Output = Result<GetPromptResult, PromptError>> + Send>>;

/// Produces a prompt's messages from its arguments.
pub trait PromptHandler: Send + Sync + 'static {
    /// Builds the prompt. Required arguments have been checked already.
    fn get(&self, arguments: HashMap<String, String>, context: RequestContext) -> PromptFuture;
}

impl<F, Fut> PromptHandler for F
where
    F: Fn(HashMap<String, String>, RequestContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<GetPromptResult, PromptError>> + Send + 'static,
{
    fn get(&self, arguments: HashMap<String, String>, context: RequestContext) -> PromptFuture {
        Box::pin(self(arguments, context))
    }
}
