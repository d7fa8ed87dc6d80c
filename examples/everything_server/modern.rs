//! The fixtures the 2026-07-28 conformance set adds: multi-round-trip tools and a
//! prompt (`input_required`), a tool that needs an undeclared capability, a streaming
//! elicitation, a logging tool, and triggers that change the tool and prompt lists.
//!
//! Every one is an ordinary handler: it asks with `ctx.ask`/`ctx.elicit` and awaits the
//! answer. Under 2026-07-28 the server turns each question into an `input_required`
//! round; under 2025-11-25 the same handler sends the question to the client.

use std::collections::HashMap;

use serde_json::{Value, json};
use sluice_mcp::{
    CallToolResult, GetPromptResult, InputRequest, LogLevel, Prompt, PromptError, PromptMessage,
    RequestContext, Server, ServerBuilder, Tool, ToolError,
};

fn object() -> Value {
    json!({"type": "object", "properties": {}})
}

fn asked(e: sluice_mcp::ClientRequestError) -> ToolError {
    ToolError::new(format!("asking the client failed: {e}"))
}

fn name_question() -> InputRequest {
    InputRequest::elicit(
        "What is your name?",
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
    )
}

fn accepted<'a>(answer: &'a Value, field: &str) -> &'a str {
    answer
        .pointer(&format!("/content/{field}"))
        .and_then(Value::as_str)
        .unwrap_or("(none)")
}

/// The 2026-07-28 fixtures, on top of `builder`; `server` is the built server, for the
/// triggers that change its lists (set once it exists).
pub(crate) fn fixtures(
    builder: ServerBuilder,
    server: std::sync::Arc<std::sync::OnceLock<Server>>,
) -> ServerBuilder {
    let tools_server = std::sync::Arc::clone(&server);
    let prompts_server = server;
    builder
        .tool(
            Tool::new("test_input_required_result_elicitation", "Asks the user's name, then greets.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let answer = ctx.ask(name_question().key("user_name")).await.map_err(asked)?;
                Ok(CallToolResult::text(format!("Hello, {}!", accepted(&answer, "name"))))
            },
        )
        .tool(
            Tool::new("test_input_required_result_sampling", "Asks the client's model a question.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let question = InputRequest::create_message(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": "What is the capital of France?"}}],
                    "maxTokens": 100,
                }))
                .key("capital_question");
                let answer = ctx.ask(question).await.map_err(asked)?;
                let text = answer.pointer("/content/text").and_then(Value::as_str).unwrap_or("");
                Ok(CallToolResult::text(format!("The model said: {text}")))
            },
        )
        .tool(
            Tool::new("test_input_required_result_list_roots", "Lists the client's roots.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let answer = ctx.ask(InputRequest::list_roots().key("client_roots")).await.map_err(asked)?;
                let uris: Vec<&str> = answer["roots"]
                    .as_array()
                    .map(|roots| roots.iter().filter_map(|r| r["uri"].as_str()).collect())
                    .unwrap_or_default();
                Ok(CallToolResult::text(format!("Roots: {}", uris.join(", "))))
            },
        )
        .tool(
            Tool::new("test_input_required_result_request_state", "Asks for a confirmation; its state is sealed.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let confirm = InputRequest::elicit(
                    "Please confirm",
                    json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}),
                )
                .key("confirm");
                let answer = ctx.ask(confirm).await.map_err(asked)?;
                Ok(CallToolResult::text(format!("state-ok: confirmed with action {}", answer["action"])))
            },
        )
        .tool(
            Tool::new("test_input_required_result_multiple_inputs", "Asks three questions in one round.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let answers = ctx
                    .ask_all(vec![
                        name_question().key("user_name"),
                        InputRequest::create_message(json!({
                            "messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}],
                            "maxTokens": 50,
                        }))
                        .key("greeting"),
                        InputRequest::list_roots().key("client_roots"),
                    ])
                    .await
                    .map_err(asked)?;
                let greeting = answers["greeting"].pointer("/content/text").and_then(Value::as_str).unwrap_or("");
                Ok(CallToolResult::text(format!(
                    "{greeting} {} ({} roots)",
                    accepted(&answers["user_name"], "name"),
                    answers["client_roots"]["roots"].as_array().map_or(0, Vec::len)
                )))
            },
        )
        .tool(
            Tool::new("test_input_required_result_multi_round", "Asks two questions, one round each.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let name = ctx
                    .ask(InputRequest::elicit(
                        "Step 1: What is your name?",
                        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
                    ).key("step1"))
                    .await
                    .map_err(asked)?;
                let color = ctx
                    .ask(InputRequest::elicit(
                        "Step 2: What is your favorite color?",
                        json!({"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}),
                    ).key("step2"))
                    .await
                    .map_err(asked)?;
                Ok(CallToolResult::text(format!(
                    "{} likes {}",
                    accepted(&name, "name"),
                    accepted(&color, "color")
                )))
            },
        )
        .tool(
            Tool::new("test_input_required_result_tampered_state", "Asks once; refuses altered state.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let answer = ctx
                    .ask(InputRequest::elicit(
                        "Proceed?",
                        json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}),
                    ).key("proceed"))
                    .await
                    .map_err(asked)?;
                Ok(CallToolResult::text(format!("Proceeding: {}", answer["action"])))
            },
        )
        .tool(
            Tool::new("test_input_required_result_capabilities", "Asks only what the client can answer.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let capabilities = ctx.client_capabilities();
                let mut questions = Vec::new();
                if capabilities.get("elicitation").is_some() {
                    questions.push(name_question().key("user_name"));
                }
                if capabilities.get("sampling").is_some() {
                    questions.push(InputRequest::create_message(json!({
                        "messages": [{"role": "user", "content": {"type": "text", "text": "Say hello"}}],
                        "maxTokens": 20,
                    })).key("hello"));
                }
                if questions.is_empty() {
                    return Ok(CallToolResult::text("The client can answer no questions."));
                }
                let answers = ctx.ask_all(questions).await.map_err(asked)?;
                Ok(CallToolResult::text(format!("Answered: {}", answers.len())))
            },
        )
        .tool(
            Tool::new("test_missing_capability", "Needs sampling, whether or not the client declared it.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let answer = ctx
                    .create_message(json!({
                        "messages": [{"role": "user", "content": {"type": "text", "text": "Hello"}}],
                        "maxTokens": 10,
                    }))
                    .await
                    .map_err(asked)?;
                Ok(CallToolResult::text(answer.to_string()))
            },
        )
        .tool(
            Tool::new(
                "test_streaming_elicitation",
                "Reports progress and logs on its stream, then asks the user a question.",
                object(),
            ),
            |_a: Value, ctx: RequestContext| async move {
                ctx.progress(0.0, Some(1.0), Some("starting"));
                ctx.log(LogLevel::Info, json!("about to ask the user"));
                let answer = ctx.ask(name_question().key("user_name")).await.map_err(asked)?;
                Ok(CallToolResult::text(format!("Hello, {}!", accepted(&answer, "name"))))
            },
        )
        .tool(
            Tool::new("test_logging_tool", "Logs at three levels (sent only when the request asks for logs).", object()),
            |_a: Value, ctx: RequestContext| async move {
                ctx.log(LogLevel::Debug, json!("debug entry"));
                ctx.log(LogLevel::Info, json!("info entry"));
                ctx.log(LogLevel::Warning, json!("warning entry"));
                Ok(CallToolResult::text("Logged three entries"))
            },
        )
        .tool(
            Tool::new("test_trigger_tool_change", "Adds a tool (or removes it again): the tool list changes.", object()),
            move |_a: Value, _c: RequestContext| {
                let server = tools_server.get().cloned();
                async move {
                    let Some(server) = server else {
                        return Err(ToolError::new("the server is not running yet"));
                    };
                    if !server.remove_tool("test_dynamic_tool") {
                        server.add_tool(
                            Tool::new("test_dynamic_tool", "Added by test_trigger_tool_change.", object()),
                            |_a: Value, _c| async { Ok(CallToolResult::text("dynamic")) },
                        );
                    }
                    Ok(CallToolResult::text("The tool list changed"))
                }
            },
        )
        .tool(
            Tool::new("test_trigger_prompt_change", "Adds a prompt (or removes it again): the prompt list changes.", object()),
            move |_a: Value, _c: RequestContext| {
                let server = prompts_server.get().cloned();
                async move {
                    let Some(server) = server else {
                        return Err(ToolError::new("the server is not running yet"));
                    };
                    if !server.remove_prompt("test_dynamic_prompt") {
                        server.add_prompt(
                            Prompt::new("test_dynamic_prompt", "Added by test_trigger_prompt_change."),
                            |_a: HashMap<String, String>, _c| async {
                                Ok(GetPromptResult::new(vec![PromptMessage::user("dynamic")]))
                            },
                        );
                    }
                    Ok(CallToolResult::text("The prompt list changed"))
                }
            },
        )
        .tool(
            Tool::new(
                "test_header_parameter",
                "Echoes a region that travels in the Mcp-Param-Region header too (x-mcp-header).",
                json!({"type": "object", "properties": {
                    "region": {"type": "string", "x-mcp-header": "Region", "description": "A region name"}
                }, "required": ["region"]}),
            ),
            |args: Value, _c: RequestContext| async move {
                Ok(CallToolResult::text(format!("Region: {}", args["region"].as_str().unwrap_or(""))))
            },
        )
        .prompt(
            Prompt::new("test_input_required_result_prompt", "Asks the user for context first."),
            |_args: HashMap<String, String>, ctx: RequestContext| async move {
                let question = InputRequest::elicit(
                    "What context should the prompt use?",
                    json!({"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}),
                )
                .key("user_context");
                let answer = ctx.ask(question).await.map_err(|e| PromptError::new(format!("asking the client failed: {e}")))?;
                Ok(GetPromptResult::new(vec![PromptMessage::user(format!(
                        "Use this context: {}",
                        accepted(&answer, "context")
                    ))]))
            },
        )
}
