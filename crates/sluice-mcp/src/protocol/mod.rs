//! MCP types (revision 2025-11-25) used by the server core: versions, implementation
//! info and content blocks here; tools, resources and prompts in their own files.
//!
//! Unknown fields sent by a client are ignored, as the specification allows; optional
//! fields we do not set are left out of what we send.

mod prompts;
mod resources;
mod tools;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use prompts::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
pub use resources::{Resource, ResourceContents, ResourceTemplate};
pub use tools::{CallToolResult, Tool, ToolAnnotations};

/// The newest protocol revision this crate speaks.
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";

/// Every revision this crate accepts, newest first.
pub const SUPPORTED_PROTOCOL_VERSIONS: &[&str] =
    &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The revision to answer a client that asked for `requested`: the same one when we
/// support it, else our latest (the client then decides whether it can go on).
pub fn negotiate_version(requested: &str) -> &'static str {
    SUPPORTED_PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LATEST_PROTOCOL_VERSION)
}

/// Name and version of a client or server implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
    /// Programmatic name.
    pub name: String,
    /// Version string.
    pub version: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where to learn more about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    /// Icons a client may show for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
}

/// An icon a client may show for a server, tool, resource or prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    /// An `https:` or `data:` URI of the image.
    pub src: String,
    /// Its MIME type, when the URI does not make it plain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The sizes it is available in (`48x48`, `any`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    /// The theme it is drawn for: `light` or `dark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
}

impl Icon {
    /// An icon at `src`.
    pub fn new(src: impl Into<String>) -> Self {
        Icon {
            src: src.into(),
            mime_type: None,
            sizes: Vec::new(),
            theme: None,
        }
    }
}

/// Who a piece of content is for, how important it is, and when it last changed: hints
/// a client may use to decide what to show the user or the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// The intended readers: `user`, `assistant`, or both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    /// From 0 (optional) to 1 (essential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// When it last changed, as an ISO 8601 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// A block of content in a tool result or a prompt message.
///
/// Build blocks with the constructors ([`Content::text`], [`Content::image`], …) and add
/// [`Annotations`] with [`Content::with_annotations`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// Text.
    Text(TextContent),
    /// An image, base64-encoded.
    Image(MediaContent),
    /// Audio, base64-encoded.
    Audio(MediaContent),
    /// A link to a resource the client may read.
    ResourceLink(Resource),
    /// A resource embedded in the result.
    Resource(EmbeddedResource),
}

/// A text block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TextContent {
    /// The text.
    pub text: String,
    /// Hints for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// An image or audio block: base64 data and its MIME type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MediaContent {
    /// Base64 data.
    pub data: String,
    /// Its MIME type, e.g. `image/png` or `audio/wav`.
    pub mime_type: String,
    /// Hints for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

/// A resource's contents embedded in a result or a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddedResource {
    /// The contents (`uri`, `mimeType`, and `text` or `blob`).
    pub resource: ResourceContents,
    /// Hints for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Content::Text(TextContent {
            text: text.into(),
            annotations: None,
            meta: None,
        })
    }

    /// An image block from base64 data.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Content::Image(MediaContent::new(data, mime_type))
    }

    /// An audio block from base64 data.
    pub fn audio(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Content::Audio(MediaContent::new(data, mime_type))
    }

    /// A link to a resource.
    pub fn resource_link(resource: Resource) -> Self {
        Content::ResourceLink(resource)
    }

    /// An embedded resource.
    pub fn embedded(contents: ResourceContents) -> Self {
        Content::Resource(EmbeddedResource {
            resource: contents,
            annotations: None,
            meta: None,
        })
    }

    /// Adds annotations (a resource link keeps them on its resource).
    #[must_use]
    pub fn with_annotations(mut self, annotations: Annotations) -> Self {
        match &mut self {
            Content::Text(c) => c.annotations = Some(annotations),
            Content::Image(c) | Content::Audio(c) => c.annotations = Some(annotations),
            Content::ResourceLink(r) => r.annotations = Some(annotations),
            Content::Resource(c) => c.annotations = Some(annotations),
        }
        self
    }

    /// The text of a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(c) => Some(&c.text),
            _ => None,
        }
    }
}

impl MediaContent {
    fn new(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        MediaContent {
            data: data.into(),
            mime_type: mime_type.into(),
            annotations: None,
            meta: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_blocks_have_the_wire_shape_of_the_schema() {
        let blocks = vec![
            Content::text("hi").with_annotations(Annotations {
                audience: vec!["user".into()],
                priority: Some(0.5),
                last_modified: None,
            }),
            Content::image("AAAA", "image/png"),
            Content::audio("BBBB", "audio/wav"),
            Content::resource_link(Resource::new("db://t", "t").with_mime_type("text/plain")),
            Content::embedded(ResourceContents::blob(
                "db://b",
                "application/octet-stream",
                "CC",
            )),
        ];
        assert_eq!(
            serde_json::to_value(&blocks).unwrap(),
            json!([
                {"type": "text", "text": "hi", "annotations": {"audience": ["user"], "priority": 0.5}},
                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                {"type": "audio", "data": "BBBB", "mimeType": "audio/wav"},
                {"type": "resource_link", "uri": "db://t", "name": "t", "mimeType": "text/plain"},
                {"type": "resource", "resource": {"uri": "db://b", "mimeType": "application/octet-stream", "blob": "CC"}},
            ])
        );
        // And back, tolerating fields we do not know.
        let parsed: Content = serde_json::from_value(json!(
            {"type": "text", "text": "x", "_meta": {"k": 1}, "future": true}
        ))
        .unwrap();
        assert_eq!(parsed.as_text(), Some("x"));
    }

    #[test]
    fn icons_and_meta_are_sent_when_set() {
        let tool = Tool::new("t", "d", json!({"type": "object"}))
            .with_icons(vec![Icon::new("https://example.com/t.png")]);
        let value = serde_json::to_value(&tool).unwrap();
        assert_eq!(value["icons"][0]["src"], "https://example.com/t.png");
        assert!(value.get("_meta").is_none());
    }
}
