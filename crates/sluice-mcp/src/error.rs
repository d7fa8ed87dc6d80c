//! The one error type of tool, resource and prompt handlers: [`HandlerError`].

use std::error::Error;
use std::fmt;

/// What kind of failure a [`HandlerError`] is; it decides how the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerErrorKind {
    /// The handler failed. A tool answers a result with `isError: true`; a resource or
    /// prompt, JSON-RPC error `-32603`.
    Failed,
    /// What was asked for does not exist. A resource answers "resource not found"
    /// (`-32002`, or `-32602` under 2026-07-28); a prompt, `-32602`.
    NotFound,
    /// The arguments are not acceptable. A tool answers `isError: true` (the model can
    /// correct them); a resource or prompt, `-32602`.
    InvalidArguments,
}

/// A handler failed: the one error type of tool, resource and prompt handlers.
///
/// A handler returns `Result<_, HandlerError>` (named [`ToolError`], [`ResourceError`] or
/// [`PromptError`] where that reads better; they are the same type). Any
/// [`std::error::Error`] converts into it, so `?` works on the errors of the crates a
/// handler calls; the message is what the client sees, the source stays attached for the
/// server's own log. The [kind](HandlerErrorKind) decides how the client is told.
///
/// ```
/// use sluice_mcp::{CallToolResult, HandlerErrorKind, ToolError};
///
/// fn parse_quantity(text: &str) -> Result<CallToolResult, ToolError> {
///     let quantity: u32 = text.parse()?; // ParseIntError → ToolError, source kept
///     if quantity == 0 {
///         return Err(ToolError::invalid_arguments("quantity must be at least 1"));
///     }
///     Ok(CallToolResult::text(format!("{quantity} ordered")))
/// }
/// assert!(parse_quantity("x").unwrap_err().source().is_some());
/// assert_eq!(parse_quantity("0").unwrap_err().kind(), HandlerErrorKind::InvalidArguments);
/// ```
///
/// A handler returns `Result<_, HandlerError>` (named [`ToolError`], [`ResourceError`]
/// or [`PromptError`] where that reads better; they are the same type). Any
/// [`std::error::Error`] converts into it, so `?` works on the errors of the crates a
/// handler calls; the message is what the client sees, the source stays attached for the
/// server's own log.
///
/// ```
/// use sluice_mcp::{CallToolResult, ToolError};
///
/// fn parse_quantity(text: &str) -> Result<CallToolResult, ToolError> {
///     let quantity: u32 = text.parse()?; // ParseIntError → ToolError, source kept
///     if quantity == 0 {
///         return Err(ToolError::invalid_arguments("quantity must be at least 1"));
///     }
///     Ok(CallToolResult::text(format!("{quantity} ordered")))
/// }
/// assert!(parse_quantity("x").is_err());
/// assert_eq!(parse_quantity("0").unwrap_err().kind(), sluice_mcp::HandlerErrorKind::InvalidArguments);
/// ```
pub struct HandlerError {
    kind: HandlerErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

/// The error of a tool handler ([`HandlerError`]).
pub type ToolError = HandlerError;
/// The error of a resource handler ([`HandlerError`]).
pub type ResourceError = HandlerError;
/// The error of a prompt handler ([`HandlerError`]).
pub type PromptError = HandlerError;

impl HandlerError {
    /// A failure with a message for the client (the model, for a tool).
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Failed,
            message: message.into(),
            source: None,
        }
    }

    /// Nothing answers to `what` (a resource's URI, a name).
    pub fn not_found(what: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::NotFound,
            message: what.into(),
            source: None,
        }
    }

    /// The arguments are not acceptable; `message` says why.
    pub fn invalid_arguments(message: impl Into<String>) -> Self {
        HandlerError {
            kind: HandlerErrorKind::InvalidArguments,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the error that caused this one (kept for logs, not sent).
    #[must_use]
    pub fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> HandlerErrorKind {
        self.kind
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error that caused this one, when known.
    pub fn source(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

/// Any error becomes a [`HandlerErrorKind::Failed`] with its message, keeping it as the
/// source. (So that this is possible, `HandlerError` is not itself a
/// [`std::error::Error`].)
impl<E: Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Failed,
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}
