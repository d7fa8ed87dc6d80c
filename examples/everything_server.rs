//! The fixtures the official MCP conformance suite expects of a server (tools,
//! resources, two of its prompts), served over stdio. The other prompts, sampling,
//! elicitation and the
//! Streamable HTTP transport (`--transport http --bind ADDR`) come with the rest of the
//! protocol core.
//!
//! ```sh
//! cargo run --example everything_server
//! ```
#![allow(clippy::print_stderr)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use sluice_mcp::{
    CallToolResult, Content, Extensions, GetPromptResult, Prompt, PromptArgument, PromptMessage,
    RequestContext, Resource, ResourceContents, ResourceTemplate, Server, Tool, ToolError,
};

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
    /// Address for the HTTP transport (endpoint /mcp).
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

fn server() -> Server {
    Server::builder("sluice-everything-server", env!("CARGO_PKG_VERSION"))
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
                Ok(CallToolResult {
                    content: vec![Content::Image {
                        data: PNG.to_owned(),
                        mime_type: "image/png".to_owned(),
                    }],
                    ..CallToolResult::default()
                })
            },
        )
        .tool(
            Tool::new("test_audio_content", "Returns audio.", object()),
            |_a: Value, _c| async move {
                Ok(CallToolResult {
                    content: vec![Content::Audio {
                        data: WAV.to_owned(),
                        mime_type: "audio/wav".to_owned(),
                    }],
                    ..CallToolResult::default()
                })
            },
        )
        .tool(
            Tool::new(
                "test_embedded_resource",
                "Returns an embedded resource.",
                object(),
            ),
            |_a: Value, _c| async move {
                Ok(CallToolResult {
                    content: vec![embedded()],
                    ..CallToolResult::default()
                })
            },
        )
        .tool(
            Tool::new(
                "test_multiple_content_types",
                "Returns text, an image and a resource.",
                object(),
            ),
            |_a: Value, _c| async move {
                Ok(CallToolResult {
                    content: vec![
                        Content::text("Multiple content types test:"),
                        Content::Image {
                            data: PNG.to_owned(),
                            mime_type: "image/png".to_owned(),
                        },
                        embedded(),
                    ],
                    ..CallToolResult::default()
                })
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
                    ctx.log("info", json!(message));
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
            Resource {
                uri: "test://static-text".into(),
                name: "static-text".into(),
                title: None,
                description: Some("A static text resource.".into()),
                mime_type: Some("text/plain".into()),
            },
            |uri: String, _v: HashMap<String, String>, _c| async move {
                Ok(vec![ResourceContents::text(
                    uri,
                    "text/plain",
                    "This is the content of the static text resource.",
                )])
            },
        )
        .resource(
            Resource {
                uri: "test://static-binary".into(),
                name: "static-binary".into(),
                title: None,
                description: Some("A static binary resource (PNG).".into()),
                mime_type: Some("image/png".into()),
            },
            |uri: String, _v: HashMap<String, String>, _c| async move {
                Ok(vec![ResourceContents {
                    uri,
                    mime_type: Some("image/png".into()),
                    text: None,
                    blob: Some(PNG.to_owned()),
                }])
            },
        )
        .resource_template(
            ResourceTemplate {
                uri_template: "test://template/{id}/data".into(),
                name: "template".into(),
                title: None,
                description: Some("Data for an id.".into()),
                mime_type: Some("application/json".into()),
            },
            |uri: String, vars: HashMap<String, String>, _c| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                let text =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string();
                Ok(vec![ResourceContents::text(uri, "application/json", text)])
            },
        )
        .prompt(
            Prompt {
                name: "test_simple_prompt".into(),
                title: None,
                description: Some("A prompt with no arguments.".into()),
                arguments: vec![],
            },
            |_args: HashMap<String, String>, _c| async move {
                Ok(GetPromptResult {
                    description: None,
                    messages: vec![PromptMessage::user("This is a simple prompt for testing.")],
                })
            },
        )
        .prompt(
            Prompt {
                name: "test_prompt_with_arguments".into(),
                title: None,
                description: Some("A prompt with two required arguments.".into()),
                arguments: vec![
                    PromptArgument {
                        name: "arg1".into(),
                        description: Some("First argument".into()),
                        required: true,
                    },
                    PromptArgument {
                        name: "arg2".into(),
                        description: Some("Second argument".into()),
                        required: true,
                    },
                ],
            },
            |args: HashMap<String, String>, _c| async move {
                let (a, b) = (
                    args.get("arg1").cloned().unwrap_or_default(),
                    args.get("arg2").cloned().unwrap_or_default(),
                );
                Ok(GetPromptResult {
                    description: None,
                    messages: vec![PromptMessage::user(format!(
                        "Prompt with arguments: arg1='{a}', arg2='{b}'"
                    ))],
                })
            },
        )
        .build()
}

fn embedded() -> Content {
    Content::Resource {
        resource: json!({"uri": "test://embedded-resource", "mimeType": "text/plain",
                         "text": "This is an embedded resource content."}),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init_logging();
    let flags = Flags::parse();
    if flags.transport == Transport::Http {
        eprintln!(
            "everything_server: the Streamable HTTP transport is not built yet; use --transport stdio (--bind {} unused)",
            flags.bind
        );
        return ExitCode::from(2);
    }
    match sluice_mcp::transport::stdio::serve(&server(), Extensions::new()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("everything_server: {e}");
            ExitCode::from(1)
        }
    }
}
