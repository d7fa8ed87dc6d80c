//! Tools: their descriptions, hints and results.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{Content, Icon};

/// Hints about what a tool does. Hints, not guarantees: clients must not rely on them
/// for security.
///
/// ```
/// use sluice_mcp::ToolAnnotations;
///
/// let hints = ToolAnnotations::new().read_only(true).open_world(false);
/// assert_eq!(hints.read_only_hint, Some(true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolAnnotations {
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool does not change its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// The tool may destroy or overwrite data (meaningful when not read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling the tool twice with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// The tool talks to an open world of external entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// No hints.
    pub fn new() -> Self {
        ToolAnnotations::default()
    }

    /// Sets the human-readable title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Whether the tool leaves its environment unchanged.
    #[must_use]
    pub fn read_only(mut self, hint: bool) -> Self {
        self.read_only_hint = Some(hint);
        self
    }

    /// Whether the tool may destroy or overwrite data.
    #[must_use]
    pub fn destructive(mut self, hint: bool) -> Self {
        self.destructive_hint = Some(hint);
        self
    }

    /// Whether calling it twice with the same arguments has no further effect.
    #[must_use]
    pub fn idempotent(mut self, hint: bool) -> Self {
        self.idempotent_hint = Some(hint);
        self
    }

    /// Whether it talks to an open world of external entities.
    #[must_use]
    pub fn open_world(mut self, hint: bool) -> Self {
        self.open_world_hint = Some(hint);
        self
    }
}

/// A tool as listed by `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Tool {
    /// The name the client calls it by.
    pub name: String,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of its arguments (an object schema).
    pub input_schema: Value,
    /// JSON Schema of its `structuredContent`, when it returns any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Icons a client may show for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

impl Tool {
    /// A tool with a name, a description and an argument schema.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
    ) -> Self {
        Tool {
            name: name.into(),
            title: None,
            description: Some(description.into()),
            input_schema,
            output_schema: None,
            annotations: None,
            icons: Vec::new(),
            meta: None,
        }
    }

    /// Sets the icons.
    #[must_use]
    pub fn with_icons(mut self, icons: Vec<Icon>) -> Self {
        self.icons = icons;
        self
    }

    /// Sets the human-readable title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the schema of the tool's structured output.
    #[must_use]
    pub fn with_output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// Sets the behaviour hints.
    #[must_use]
    pub fn with_annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = Some(annotations);
        self
    }

    /// Sets the schema of the tool's arguments.
    #[must_use]
    pub fn with_input_schema(mut self, schema: Value) -> Self {
        self.input_schema = schema;
        self
    }

    /// Sets the metadata (`_meta`).
    #[must_use]
    pub fn with_meta(mut self, meta: Map<String, Value>) -> Self {
        self.meta = Some(meta);
        self
    }
}

/// The result of `tools/call`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CallToolResult {
    /// What the model reads.
    pub content: Vec<Content>,
    /// Structured output, matching the tool's output schema.
    #[serde(default)]
    pub structured_content: Option<Value>,
    /// Structured output already serialised ([`CallToolResult::with_structured_json`]);
    /// sent in place of `structured_content` when set.
    #[serde(skip)]
    structured_json: Option<StructuredJson>,
    /// True when the tool failed; the content says why.
    #[serde(default)]
    pub is_error: bool,
    /// Metadata.
    #[serde(rename = "_meta", default)]
    pub meta: Option<Map<String, Value>>,
}

/// Serialised structured output; two are equal when their text is.
#[derive(Debug, Clone)]
enum StructuredJson {
    /// Serialised by serde ([`CallToolResult::with_structured_json`]).
    Raw(Box<RawValue>),
    /// Written by a [`crate::json::JsonWriter`] ([`CallToolResult::with_structured_text`]).
    Text(crate::json::JsonText),
}

impl StructuredJson {
    fn get(&self) -> &str {
        match self {
            StructuredJson::Raw(raw) => raw.get(),
            StructuredJson::Text(text) => text.as_str(),
        }
    }
}

impl PartialEq for StructuredJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for StructuredJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StructuredJson::Raw(raw) => raw.serialize(serializer),
            // Valid by construction, so this only borrows it (the response itself is
            // written without serde: `write_fields`).
            StructuredJson::Text(text) => serde_json::from_str::<&RawValue>(text.as_str())
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
        }
    }
}

impl Serialize for CallToolResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("CallToolResult", 4)?;
        out.serialize_field("content", &self.content)?;
        match (&self.structured_json, &self.structured_content) {
            (Some(json), _) => out.serialize_field("structuredContent", json)?,
            (None, Some(value)) => out.serialize_field("structuredContent", value)?,
            (None, None) => out.skip_field("structuredContent")?,
        }
        if self.is_error {
            out.serialize_field("isError", &true)?;
        } else {
            out.skip_field("isError")?;
        }
        match &self.meta {
            Some(meta) => out.serialize_field("_meta", meta)?,
            None => out.skip_field("_meta")?,
        }
        out.end()
    }
}

impl CallToolResult {
    /// About how many bytes the result takes serialised: its texts and serialised
    /// structured output, with room for escapes and the fields around them (a
    /// response's buffer is made this size, so a large result is not copied as it
    /// grows).
    pub(crate) fn size_hint(&self) -> usize {
        let texts: usize = self
            .content
            .iter()
            .map(|block| match block {
                Content::Text(text) => text.text.len(),
                _ => 256,
            })
            .fold(0, usize::saturating_add);
        let structured = self
            .structured_json
            .as_ref()
            .map_or(0, |json| json.get().len());
        texts
            .saturating_add(texts / 16)
            .saturating_add(structured)
            .saturating_add(512)
    }

    /// Writes the result's fields (`"content":[…]` and those after it, without the
    /// braces around them) into `out`, as its `Serialize` does: plain text blocks by
    /// hand ([`crate::json`]), the rest through `serde_json`.
    pub(crate) fn write_fields(&self, out: &mut String) -> Result<(), serde_json::Error> {
        out.push_str("\"content\":[");
        for (i, block) in self.content.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match block {
                Content::Text(crate::protocol::TextContent {
                    text,
                    annotations: None,
                    meta: None,
                }) => {
                    out.push_str("{\"type\":\"text\",\"text\":");
                    crate::json::push_string(out, text);
                    out.push('}');
                }
                other => out.push_str(&serde_json::to_string(other)?),
            }
        }
        out.push(']');
        match (&self.structured_json, &self.structured_content) {
            (Some(json), _) => {
                out.push_str(",\"structuredContent\":");
                out.push_str(json.get());
            }
            (None, Some(value)) => {
                out.push_str(",\"structuredContent\":");
                out.push_str(&serde_json::to_string(value)?);
            }
            (None, None) => {}
        }
        if self.is_error {
            out.push_str(",\"isError\":true");
        }
        if let Some(meta) = &self.meta {
            out.push_str(",\"_meta\":");
            out.push_str(&serde_json::to_string(meta)?);
        }
        Ok(())
    }

    /// A successful result with one text block.
    pub fn text(text: impl Into<String>) -> Self {
        CallToolResult {
            content: vec![Content::text(text)],
            ..CallToolResult::default()
        }
    }

    /// A failed result with one text block saying why: the model reads it and can try
    /// again, which is why tool failures are results and not protocol errors.
    pub fn error(text: impl Into<String>) -> Self {
        CallToolResult {
            content: vec![Content::text(text)],
            is_error: true,
            ..CallToolResult::default()
        }
    }

    /// A successful result of any content blocks.
    pub fn content(content: Vec<Content>) -> Self {
        CallToolResult {
            content,
            ..CallToolResult::default()
        }
    }

    /// Adds structured content.
    #[must_use]
    pub fn with_structured(mut self, value: Value) -> Self {
        self.structured_content = Some(value);
        self.structured_json = None;
        self
    }

    /// Adds structured content already serialised, for a large result written once
    /// (with [`serde_json::value::to_raw_value`], say, from the tool's own types) and
    /// copied into the response as it is, never built as a [`Value`].
    ///
    /// It is what the client receives as `structuredContent`; `structured_content`
    /// stays `None` (read it back with [`CallToolResult::structured_json`]).
    ///
    /// ```
    /// use sluice_mcp::CallToolResult;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Rows<'a> { rows: &'a [[i64; 2]] }
    ///
    /// let raw = serde_json::value::to_raw_value(&Rows { rows: &[[1, 2], [3, 4]] }).unwrap();
    /// let result = CallToolResult::text("2 rows").with_structured_json(raw);
    /// let sent = serde_json::to_value(&result).unwrap();
    /// assert_eq!(sent["structuredContent"]["rows"][1][0], 3);
    /// assert_eq!(result.structured_json(), Some(r#"{"rows":[[1,2],[3,4]]}"#));
    /// ```
    #[must_use]
    pub fn with_structured_json(mut self, json: Box<RawValue>) -> Self {
        self.structured_json = Some(StructuredJson::Raw(json));
        self.structured_content = None;
        self
    }

    /// Adds structured content written by a [`JsonWriter`](crate::json::JsonWriter):
    /// as [`CallToolResult::with_structured_json`], for a result too large to go
    /// through serde twice (see [`crate::json`] for an example).
    #[must_use]
    pub fn with_structured_text(mut self, json: crate::json::JsonText) -> Self {
        self.structured_json = Some(StructuredJson::Text(json));
        self.structured_content = None;
        self
    }

    /// The structured content given already serialised, if any, as its JSON text
    /// ([`CallToolResult::with_structured_json`],
    /// [`CallToolResult::with_structured_text`]).
    pub fn structured_json(&self) -> Option<&str> {
        self.structured_json.as_ref().map(StructuredJson::get)
    }

    /// Adds a content block.
    #[must_use]
    pub fn with_content(mut self, block: Content) -> Self {
        self.content.push(block);
        self
    }

    /// Sets the metadata (`_meta`).
    #[must_use]
    pub fn with_meta(mut self, meta: Map<String, Value>) -> Self {
        self.meta = Some(meta);
        self
    }
}
