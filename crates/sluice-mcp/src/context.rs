//! What a handler knows about the request it serves: [`RequestContext`] and the typed
//! [`Extensions`] other crates attach (the caller's identity rides there).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::jsonrpc::{self, RequestId};

/// A type map: at most one value of each type, cheap to clone (values are shared).
///
/// ```
/// use sluice_mcp::Extensions;
///
/// #[derive(Debug, PartialEq)]
/// struct Login(String);
///
/// let mut extensions = Extensions::new();
/// extensions.insert(Login("alice".to_owned()));
/// assert_eq!(extensions.get::<Login>(), Some(&Login("alice".to_owned())));
/// assert_eq!(extensions.get::<u32>(), None);
/// ```
#[derive(Clone, Default)]
pub struct Extensions {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Extensions {
    /// An empty map.
    pub fn new() -> Self {
        Extensions::default()
    }

    /// Stores `value`, replacing any earlier value of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.map.len())
            .finish()
    }
}

/// The context of one request, handed to every tool handler.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub(crate) id: RequestId,
    pub(crate) extensions: Extensions,
    pub(crate) cancellation: CancellationToken,
    pub(crate) progress_token: Option<Value>,
    pub(crate) outgoing: mpsc::UnboundedSender<String>,
}

impl RequestContext {
    /// The request's JSON-RPC id.
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// What the transport and the session attached: the caller's identity, for example.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Cancelled when the client sends `notifications/cancelled` for this request or the
    /// session ends. The server also drops the handler's future then; long-running work
    /// outside that future (a database query) can watch this token to stop early.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancellation
    }

    /// Sends `notifications/progress` when the client asked for progress (by sending a
    /// `progressToken` in the request's `_meta`); does nothing otherwise.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.progress_token else {
            return;
        };
        let mut params = json!({"progressToken": token, "progress": progress});
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        // A closed channel means the session ended; there is nobody left to tell.
        let _ = self
            .outgoing
            .send(jsonrpc::notification("notifications/progress", &params));
    }

    /// Sends a `notifications/message` log entry to the client.
    pub fn log(&self, level: &str, data: Value) {
        let params = json!({"level": level, "data": data});
        let _ = self
            .outgoing
            .send(jsonrpc::notification("notifications/message", &params));
    }
}
