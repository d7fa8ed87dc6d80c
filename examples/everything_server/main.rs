//! Every fixture the official MCP conformance suite expects of a server — tools (text,
//! image, audio, embedded resources, logging, progress, errors, sampling, elicitation,
//! JSON Schema 2020-12, SSE reconnection), resources (static, binary, templated,
//! subscribable), prompts and completion, and the 2026-07-28 additions (multi-round-trip
//! requests, list-change triggers, a logging tool, a missing-capability tool: see
//! `modern.rs`) — served over stdio or Streamable HTTP, to 2025-11-25 sessions and
//! 2026-07-28 requests alike.
//!
//! ```sh
//! cargo run --example everything_server                                   # stdio
//! cargo run --example everything_server -- --transport http --bind 127.0.0.1:3111
//! ```
//!
//! Over HTTP the endpoint is `/mcp`; `scripts/conformance.sh` runs the suite against it.
#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use sluice_mcp::transport::http::HttpConfig;
use sluice_mcp::{
    CallToolResult, CompletionReference, CompletionRequest, Content, Extensions, GetPromptResult,
    LogLevel, Prompt, PromptMessage, RequestContext, Resource, ResourceContents, ResourceTemplate,
    Server, Tool, ToolError,
};

mod modern;

/// A 1×1 transparent PNG.
const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
/// A WAV header with no samples.
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

/// Serves the conformance fixtures.
#[derive(Debug, Parser)]
struct Flags {
    /// How clients connect.
    #[arg(long, value_enum, default_value_t = Transport::Stdio)]
    transport: Transport,
    /// Address for the HTTP transport (endpoint /mcp); port 0 picks a free port, and the
    /// address chosen is printed to standard error.
    #[arg(long, default_value = "127.0.0.1:3111")]
    bind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// Standard input and output.
    Stdio,
    /// Streamable HTTP.
    Http,
}

fn object() -> Value {
    json!({"type": "object", "properties": {}})
}

/// An object schema with required string properties.
fn strings(required: &[(&str, &str)]) -> Value {
    let properties: serde_json::Map<String, Value> = required
        .iter()
        .map(|(name, description)| {
            (
                (*name).to_owned(),
                json!({"type": "string", "description": description}),
            )
        })
        .collect();
    let names: Vec<&str> = required.iter().map(|(name, _)| *name).collect();
    json!({"type": "object", "properties": properties, "required": names})
}

fn text_argument(arguments: &Value, name: &str) -> Result<String, ToolError> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ToolError::new(format!("the argument {name} (a string) is required")))
}

fn server() -> Server {
    let builder = Server::builder("sluice-everything-server", env!("CARGO_PKG_VERSION"))
        .instructions("Fixtures for the MCP conformance suite.")
        .tool(
            Tool::new("test_simple_text", "Returns a fixed text.", object()),
            |_a: Value, _c| async move {
                Ok(CallToolResult::text(
                    "This is a simple text response for testing.",
                ))
            },
        )
        .tool(
            Tool::new("test_image_content", "Returns an image.", object()),
            |_a: Value, _c| async move {
                Ok(CallToolResult::content(vec![Content::image(
                    PNG,
                    "image/png",
                )]))
            },
        )
        .tool(
            Tool::new("test_audio_content", "Returns audio.", object()),
            |_a: Value, _c| async move {
                Ok(CallToolResult::content(vec![Content::audio(
                    WAV,
                    "audio/wav",
                )]))
            },
        )
        .tool(
            Tool::new(
                "test_embedded_resource",
                "Returns an embedded resource.",
                object(),
            ),
            |_a: Value, _c| async move { Ok(CallToolResult::content(vec![embedded()])) },
        )
        .tool(
            Tool::new(
                "test_multiple_content_types",
                "Returns text, an image and a resource.",
                object(),
            ),
            |_a: Value, _c| async move {
                Ok(CallToolResult::content(vec![
                    Content::text("Multiple content types test:"),
                    Content::image(PNG, "image/png"),
                    embedded(),
                ]))
            },
        )
        .tool(
            Tool::new(
                "test_tool_with_logging",
                "Logs three messages while it runs.",
                object(),
            ),
            |_a: Value, ctx: RequestContext| async move {
                for message in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ] {
                    ctx.log(LogLevel::Info, json!(message));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(CallToolResult::text(
                    "Tool with logging executed successfully",
                ))
            },
        )
        .tool(
            Tool::new(
                "test_tool_with_progress",
                "Reports progress 0, 50, 100.",
                object(),
            ),
            |_a: Value, ctx: RequestContext| async move {
                for step in [0.0, 50.0, 100.0] {
                    ctx.progress(step, Some(100.0), None);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(CallToolResult::text(
                    "Tool with progress executed successfully",
                ))
            },
        )
        .tool(
            Tool::new("test_error_handling", "Always fails.", object()),
            |_a: Value, _c| async move {
                Err(ToolError::new(
                    "This tool intentionally returns an error for testing",
                ))
            },
        )
        .resource(
            Resource::new("test://static-text", "static-text")
                .with_description("A static text resource.")
                .with_mime_type("text/plain"),
            |uri: String, _v: HashMap<String, String>, _c| async move {
                Ok(vec![ResourceContents::text(
                    uri,
                    "text/plain",
                    "This is the content of the static text resource.",
                )])
            },
        )
        .resource(
            Resource::new("test://static-binary", "static-binary")
                .with_description("A static binary resource (PNG).")
                .with_mime_type("image/png"),
            |uri: String, _v: HashMap<String, String>, _c| async move {
                Ok(vec![ResourceContents::blob(uri, "image/png", PNG)])
            },
        )
        .resource_template(
            ResourceTemplate::new("test://template/{id}/data", "template")
                .with_description("Data for an id.")
                .with_mime_type("application/json"),
            |uri: String, vars: HashMap<String, String>, _c| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                let text =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string();
                Ok(vec![ResourceContents::text(uri, "application/json", text)])
            },
        )
        .prompt(
            Prompt::new("test_simple_prompt", "A prompt with no arguments."),
            |_args: HashMap<String, String>, _c| async move {
                Ok(GetPromptResult::new(vec![PromptMessage::user(
                    "This is a simple prompt for testing.",
                )]))
            },
        )
        .prompt(
            Prompt::new(
                "test_prompt_with_arguments",
                "A prompt with two required arguments.",
            )
            .with_argument("arg1", "First argument", true)
            .with_argument("arg2", "Second argument", true),
            |args: HashMap<String, String>, _c| async move {
                let (a, b) = (
                    args.get("arg1").cloned().unwrap_or_default(),
                    args.get("arg2").cloned().unwrap_or_default(),
                );
                Ok(GetPromptResult::new(vec![PromptMessage::user(format!(
                    "Prompt with arguments: arg1='{a}', arg2='{b}'"
                ))]))
            },
        )
        .completion(|request: CompletionRequest, _c| async move {
            let candidates: &[&str] = match (&request.reference, request.argument.as_str()) {
                (CompletionReference::Prompt(name), "arg1" | "arg2")
                    if name == "test_prompt_with_arguments" =>
                {
                    &["paris", "park", "party", "pasta", "value1", "value2"]
                }
                (CompletionReference::ResourceTemplate(_), "id") => &["1", "2", "42"],
                _ => &[],
            };
            candidates
                .iter()
                .filter(|c| c.starts_with(&request.value))
                .map(|c| (*c).to_owned())
                .collect()
        });
    // The triggers of the 2026-07-28 fixtures change the lists of the built server.
    let handle = Arc::new(OnceLock::new());
    let server = modern::fixtures(interactive_fixtures(builder), Arc::clone(&handle)).build();
    let _ = handle.set(server.clone());
    server
}

/// The fixtures that call the client back, the later prompts and the watched resource.
fn interactive_fixtures(builder: sluice_mcp::ServerBuilder) -> sluice_mcp::ServerBuilder {
    builder
        .tool(
            Tool::new(
                "test_sampling",
                "Asks the client's model to answer a prompt (sampling/createMessage).",
                strings(&[("prompt", "The prompt to send to the LLM")]),
            ),
            |args: Value, ctx: RequestContext| async move {
                let prompt = text_argument(&args, "prompt")?;
                let params = json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 100,
                });
                let answer = ctx
                    .create_message(params)
                    .await
                    .map_err(|e| ToolError::new(format!("sampling failed: {e}")))?;
                let text = answer
                    .pointer("/content/text")
                    .and_then(Value::as_str)
                    .map_or_else(|| answer.to_string(), str::to_owned);
                Ok(CallToolResult::text(format!("LLM response: {text}")))
            },
        )
        .tool(
            Tool::new(
                "test_elicitation",
                "Asks the user for a username and an email (elicitation/create).",
                strings(&[("message", "The message to show the user")]),
            ),
            |args: Value, ctx: RequestContext| async move {
                let message = text_argument(&args, "message")?;
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"},
                    },
                    "required": ["username", "email"],
                });
                let answer = ctx
                    .elicit(&message, schema)
                    .await
                    .map_err(|e| ToolError::new(format!("elicitation failed: {e}")))?;
                Ok(CallToolResult::text(format!(
                    "User response: action={}, content={}",
                    answer.get("action").and_then(Value::as_str).unwrap_or("unknown"),
                    answer.get("content").unwrap_or(&Value::Null)
                )))
            },
        )
        .tool(
            Tool::new(
                "test_elicitation_sep1034_defaults",
                "Elicits values whose schema carries defaults (SEP-1034).",
                object(),
            ),
            |_a: Value, ctx: RequestContext| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status",
                                   "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true},
                    },
                    "required": [],
                });
                elicitation_summary(&ctx, "Please review and update the form fields with defaults", schema).await
            },
        )
        .tool(
            Tool::new(
                "test_elicitation_sep1330_enums",
                "Elicits the five kinds of enum fields (SEP-1330).",
                object(),
            ),
            |_a: Value, ctx: RequestContext| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {"type": "string", "description": "Pick one",
                                           "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "description": "Pick one", "oneOf": [
                            {"const": "value1", "title": "First Option"},
                            {"const": "value2", "title": "Second Option"},
                            {"const": "value3", "title": "Third Option"},
                        ]},
                        "legacyEnum": {"type": "string", "description": "Pick one (legacy)",
                                       "enum": ["opt1", "opt2", "opt3"],
                                       "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "description": "Pick any",
                                          "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "description": "Pick any", "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"},
                        ]}},
                    },
                    "required": [],
                });
                elicitation_summary(&ctx, "Please choose from the enum fields", schema).await
            },
        )
        .tool(
            Tool::new(
                "json_schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features",
                json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {
                        "street": {"type": "string"}, "city": {"type": "string"}}}},
                    "properties": {
                        "name": {"type": "string"},
                        "address": {"$ref": "#/$defs/address"},
                        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                        "phone": {"type": "string"},
                        "email": {"type": "string"},
                    },
                    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
                    "then": {"required": ["phone"]},
                    "else": {"required": ["email"]},
                    "additionalProperties": false,
                }),
            ),
            |args: Value, _c| async move {
                Ok(CallToolResult::text(format!("Received: {args}")))
            },
        )
        .tool(
            Tool::new(
                "test_reconnection",
                "Closes its event stream mid-call; the client reconnects and gets the answer.",
                object(),
            ),
            |_a: Value, ctx: RequestContext| async move {
                ctx.close_connection();
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(CallToolResult::text("Reconnection test completed successfully"))
            },
        )
        .resource(
            Resource::new("test://watched-resource", "watched-resource")
                .with_description("A resource clients may subscribe to.")
                .with_mime_type("text/plain"),
            |uri: String, _v: HashMap<String, String>, _c| async move {
                Ok(vec![ResourceContents::text(uri, "text/plain", "Watched resource content")])
            },
        )
        .prompt(
            Prompt::new("test_prompt_with_embedded_resource", "A prompt embedding the resource it is given.")
                .with_argument("resourceUri", "URI of the resource to embed", true),
            |args: HashMap<String, String>, _c| async move {
                let uri = args.get("resourceUri").cloned().unwrap_or_default();
                Ok(GetPromptResult::new(vec![
                        PromptMessage::user_content(Content::embedded(ResourceContents::text(
                            uri,
                            "text/plain",
                            "Embedded resource content for testing.",
                        ))),
                        PromptMessage::user("Please process the embedded resource above."),
                    ]))
            },
        )
        .prompt(
            Prompt::new("test_prompt_with_image", "A prompt with an image."),
            |_args: HashMap<String, String>, _c| async move {
                Ok(GetPromptResult::new(vec![
                        PromptMessage::user_content(Content::image(PNG, "image/png")),
                        PromptMessage::user("Please analyze the image above."),
                    ]))
            },
        )
}

async fn elicitation_summary(
    ctx: &RequestContext,
    message: &str,
    schema: Value,
) -> Result<CallToolResult, ToolError> {
    let answer = ctx
        .elicit(message, schema)
        .await
        .map_err(|e| ToolError::new(format!("elicitation failed: {e}")))?;
    Ok(CallToolResult::text(format!(
        "Elicitation completed: action={}, content={}",
        answer
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("unknown"),
        answer.get("content").unwrap_or(&Value::Null)
    )))
}

fn embedded() -> Content {
    Content::embedded(ResourceContents::text(
        "test://embedded-resource",
        "text/plain",
        "This is an embedded resource content.",
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init_logging();
    let flags = Flags::parse();
    let served = match flags.transport {
        Transport::Stdio => sluice_mcp::transport::stdio::serve(&server(), Extensions::new()).await,
        Transport::Http => serve_http(&flags.bind).await,
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("everything_server: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve_http(bind: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let address = listener.local_addr()?;
    eprintln!("everything_server: listening on http://{address}/mcp");
    let stop = async {
        // Without a signal handler the server simply runs until killed.
        let _ = tokio::signal::ctrl_c().await;
    };
    sluice_mcp::transport::http::serve(listener, server(), HttpConfig::default(), stop).await
}
