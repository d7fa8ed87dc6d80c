//! Asking the client for input — elicitation, sampling, roots — with one handler for
//! both protocol eras.
//!
//! Under 2025-11-25 a question is a request from the server to the client, answered on
//! the same session. MCP 2026-07-28 has no server-to-client requests: the server ends
//! the request with an `input_required` result listing its questions
//! (`inputRequests`), and the client sends the request again with the answers
//! (`inputResponses`) and the `requestState` it was given.
//!
//! A handler does not see the difference. It calls
//! [`RequestContext::ask`](crate::RequestContext::ask) (or
//! [`elicit`](crate::RequestContext::elicit) and friends) and awaits the answer. Under
//! 2026-07-28 the first round stops the handler at its first unanswered question and
//! answers `input_required`; the retry runs the handler again from the top, and this
//! time the question finds its answer — from the retry's `inputResponses`, or from the
//! sealed `requestState` that carries what earlier rounds gathered. Handlers should
//! therefore ask before they act: work done before a question is done again on the
//! retry.
//!
//! Every question has a key, the name it has in `inputRequests`: chosen by the handler
//! ([`InputRequest::key`]) or numbered in the order the handler asks. Answers that do
//! not have the shape of the question's result (an elicitation answer without an
//! `action`, say) count as missing and the question is asked again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value, json};
use tokio::sync::Notify;

pub(crate) mod state;

/// The methods whose requests may end with `input_required` (2026-07-28).
pub(crate) const INPUT_METHODS: &[&str] = &["tools/call", "prompts/get", "resources/read"];

/// One question to the client: an elicitation, a sampling request or a roots listing.
///
/// ```
/// use sluice_mcp::InputRequest;
/// use serde_json::json;
///
/// let ask = InputRequest::elicit(
///     "Which name?",
///     json!({"type": "object", "properties": {"name": {"type": "string"}}}),
/// )
/// .key("user_name");
/// assert_eq!(ask.method(), "elicitation/create");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct InputRequest {
    key: Option<String>,
    method: &'static str,
    capability: &'static str,
    params: Value,
}

impl InputRequest {
    /// `elicitation/create`: asks the user, through the client, for the values
    /// `requested_schema` (a flat object schema) describes.
    pub fn elicit(message: &str, requested_schema: Value) -> Self {
        InputRequest {
            key: None,
            method: "elicitation/create",
            capability: "elicitation",
            params: json!({"message": message, "requestedSchema": requested_schema}),
        }
    }

    /// `sampling/createMessage`: asks the client's language model for a completion;
    /// `params` holds `messages`, `maxTokens` and the rest.
    pub fn create_message(params: Value) -> Self {
        InputRequest {
            key: None,
            method: "sampling/createMessage",
            capability: "sampling",
            params,
        }
    }

    /// `roots/list`: the directories or files the client offers the server.
    pub fn list_roots() -> Self {
        InputRequest {
            key: None,
            method: "roots/list",
            capability: "roots",
            params: json!({}),
        }
    }

    /// Names the question (its key in `inputRequests`); unnamed questions are numbered
    /// in the order the handler asks them.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The JSON-RPC method of the question.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The client capability the question needs (`elicitation`, `sampling`, `roots`).
    pub fn capability(&self) -> &'static str {
        self.capability
    }

    /// The question's parameters.
    pub fn params(&self) -> &Value {
        &self.params
    }

    pub(crate) fn into_parts(self) -> (Option<String>, &'static str, Value) {
        (self.key, self.method, self.params)
    }

    /// True when `answer` has the shape of this question's result.
    fn accepts(&self, answer: &Value) -> bool {
        let Value::Object(answer) = answer else {
            return false;
        };
        match self.method {
            "elicitation/create" => {
                matches!(
                    answer.get("action").and_then(Value::as_str),
                    Some("accept" | "decline" | "cancel")
                ) && answer
                    .get("content")
                    .is_none_or(|c| c.is_object() || c.is_null())
            }
            "sampling/createMessage" => {
                answer.get("role").is_some_and(Value::is_string) && answer.contains_key("content")
            }
            "roots/list" => answer.get("roots").is_some_and(Value::is_array),
            _ => false,
        }
    }
}

/// Why a handler was stopped before it finished.
#[derive(Debug)]
pub(crate) enum Interruption {
    /// Questions without answers yet: the request ends `input_required`.
    Input(Vec<(String, Value)>),
    /// The handler needs a capability the request did not declare (`-32021`).
    MissingCapability(&'static str),
}

/// The rounds of one 2026-07-28 request: the answers it brought, the answers it used,
/// and what stopped its handler.
#[derive(Debug)]
pub(crate) struct Rounds {
    /// From the sealed state (earlier rounds) and this round's `inputResponses`.
    offered: HashMap<String, Value>,
    /// The answers the handler used, to seal for the next round.
    used: Mutex<Map<String, Value>>,
    /// The request's client, for its capabilities.
    era: std::sync::Arc<crate::era::RequestEra>,
    unnamed: AtomicU32,
    stop: Mutex<Option<Interruption>>,
    stopped: Notify,
}

impl Rounds {
    pub(crate) fn new(
        offered: HashMap<String, Value>,
        era: std::sync::Arc<crate::era::RequestEra>,
    ) -> Self {
        Rounds {
            offered,
            used: Mutex::new(Map::new()),
            era,
            unnamed: AtomicU32::new(0),
            stop: Mutex::new(None),
            stopped: Notify::new(),
        }
    }

    /// Resolves when the handler was stopped; [`take`](Self::take) says why.
    pub(crate) async fn stopped(&self) {
        self.stopped.notified().await;
    }

    pub(crate) fn take(&self) -> Option<Interruption> {
        lock(&self.stop).take()
    }

    /// The answers used so far, to seal into the next `requestState`.
    pub(crate) fn used(&self) -> Map<String, Value> {
        lock(&self.used).clone()
    }

    /// The answers to `questions`, by key; or, when some are missing, the handler is
    /// stopped (this future never resolves) and the request ends `input_required`.
    pub(crate) async fn ask(&self, questions: Vec<InputRequest>) -> HashMap<String, Value> {
        let mut answers = HashMap::new();
        let mut missing = Vec::new();
        for question in questions {
            if self.era.capabilities.get(question.capability).is_none() {
                self.interrupt(Interruption::MissingCapability(question.capability));
                return std::future::pending().await;
            }
            let key = question.key.clone().unwrap_or_else(|| {
                let n = self.unnamed.fetch_add(1, Ordering::Relaxed) + 1;
                format!("{}-{n}", question.capability)
            });
            match self.offered.get(&key) {
                Some(answer) if question.accepts(answer) => {
                    lock(&self.used).insert(key.clone(), answer.clone());
                    answers.insert(key, answer.clone());
                }
                _ => missing.push((
                    key,
                    json!({"method": question.method, "params": question.params}),
                )),
            }
        }
        if missing.is_empty() {
            return answers;
        }
        self.interrupt(Interruption::Input(missing));
        std::future::pending().await
    }

    fn interrupt(&self, why: Interruption) {
        let mut stop = lock(&self.stop);
        match (&mut *stop, why) {
            // Questions asked side by side (joined futures) end up in one round.
            (Some(Interruption::Input(asked)), Interruption::Input(more)) => asked.extend(more),
            (Some(Interruption::MissingCapability(_)), _) => {}
            (slot, why) => *slot = Some(why),
        }
        drop(stop);
        self.stopped.notify_one();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the multi-round-trip fields out of a 2026-07-28 request's `params` (so handlers
/// never see them) and opens its `requestState`: the rounds of the request, and the
/// binding its next state is sealed to.
pub(crate) fn prepare(
    method: &str,
    params: &mut Value,
    sealer: &state::Sealer,
    subject: &str,
    era: &std::sync::Arc<crate::era::RequestEra>,
) -> Result<(Rounds, String), crate::jsonrpc::ErrorObject> {
    use crate::jsonrpc::ErrorObject;
    let Value::Object(map) = params else {
        return Ok((
            Rounds::new(HashMap::new(), std::sync::Arc::clone(era)),
            String::new(),
        ));
    };
    let responses = match map.remove("inputResponses") {
        None => Map::new(),
        Some(Value::Object(responses)) => responses,
        Some(_) => {
            return Err(ErrorObject::invalid_params(
                "inputResponses must be an object keyed by the keys of inputRequests",
            ));
        }
    };
    let state = match map.remove("requestState") {
        None => None,
        Some(Value::String(state)) => Some(state),
        Some(_) => {
            return Err(ErrorObject::invalid_params(
                "requestState must be the string the server sent",
            ));
        }
    };
    let target = map
        .get(if method == "resources/read" {
            "uri"
        } else {
            "name"
        })
        .and_then(Value::as_str)
        .unwrap_or_default();
    let arguments = map.get("arguments").unwrap_or(&Value::Null);
    let binding = state::binding(method, target, arguments, subject);
    let mut offered: HashMap<String, Value> = responses.into_iter().collect();
    if let Some(state) = state {
        let earlier = sealer
            .open(&binding, &state)
            .map_err(|refused| ErrorObject::invalid_params(refused.0))?;
        // What an earlier round accepted stands; a retry cannot replace it.
        offered.extend(earlier);
    }
    Ok((Rounds::new(offered, std::sync::Arc::clone(era)), binding))
}

/// The `input_required` result that asks `questions`, with the state of this round.
pub(crate) fn input_required(
    questions: Vec<(String, Value)>,
    rounds: &Rounds,
    sealer: &state::Sealer,
    binding: &str,
) -> Value {
    let requests: Map<String, Value> = questions.into_iter().collect();
    json!({
        "resultType": "input_required",
        "inputRequests": requests,
        "requestState": sealer.seal(binding, &rounds.used()),
    })
}

/// The `-32021` error for a question the request's capabilities do not cover.
pub(crate) fn missing_capability(capability: &str) -> crate::jsonrpc::ErrorObject {
    let mut error = crate::jsonrpc::ErrorObject::new(
        crate::era::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!(
            "this request needs the client capability {capability:?}, which the request's \
             _meta does not declare"
        ),
    );
    error.data = Some(json!({"requiredCapabilities": {capability: {}}}));
    error
}
