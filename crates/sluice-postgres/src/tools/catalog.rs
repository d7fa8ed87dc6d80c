//! `listTables`, `describeTable` and the table resources: what the database holds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use sluice_auth::{Permission, PermissionPolicy};
use sluice_mcp::{
    CallToolResult, RequestContext, ResourceContents, ResourceError, ResourceHandler,
    ResourceTemplate, Tool, ToolAnnotations, ToolError, ToolHandler, input_schema, typed_handler,
};

use super::framing::{Frame, visible, visible_json};
use super::shared::{authorise, verdict};
use crate::database::{Database, QueryError, elapsed_ms};
use crate::introspect::{self, ListFilter, TablePage};

/// The URI template of the table resources: `postgres://table/{schema}/{table}`.
pub const TABLE_TEMPLATE: &str = "postgres://table/{schema}/{table}";

/// Arguments of `listTables`: all optional.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListTablesArgs {
    /// Only this schema.
    #[serde(default)]
    pub schema: Option<String>,
    /// Only tables whose name contains this text (case-insensitive); with % it is an SQL
    /// LIKE pattern (order%).
    #[serde(default)]
    pub pattern: Option<String>,
    /// The nextCursor of the previous page, for the next one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of `describeTable`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DescribeTableArgs {
    /// The table's schema (public unless listTables says otherwise).
    pub schema: String,
    /// The table or view.
    pub table: String,
}

/// Logs a catalog call on the audit target.
fn audit_catalog<T>(login: &str, tool: &str, outcome: &Result<T, QueryError>, start: Instant) {
    let verdict = verdict(outcome.as_ref().map(|_| ()));
    tracing::info!(target: "sluice::audit", login, tool, verdict, duration_ms = elapsed_ms(start), "call");
}

/// `listTables {schema?, pattern?, cursor?}`: a page of at most 100 tables and views with
/// their columns, primary key, foreign keys, comments and estimated rows, how many match
/// per schema, and a cursor for the next page. Needs [`Permission::Read`].
pub fn list_tables(
    database: Arc<Database>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let tool = Tool::new(
        "listTables",
        "Lists the tables and views of the database: columns with types and nullability, \
         primary and foreign keys, comments, estimated rows. Call it first to learn what you \
         can query. Large databases come a page at a time (pass nextCursor back as cursor); \
         narrow with schema or pattern. describeTable gives everything about one table.",
        input_schema::<ListTablesArgs>(),
    )
    .with_title("List tables")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |args: ListTablesArgs, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
        async move {
            let who = authorise(&pol, &ctx, Permission::Read, "listTables")?;
            let start = Instant::now();
            let filter = ListFilter {
                schema: args.schema,
                pattern: args.pattern,
                cursor: args.cursor,
                ..ListFilter::default()
            };
            let page = introspect::list_tables(&db, &filter).await;
            audit_catalog(&who.login, "listTables", &page, start);
            let page = page?;
            let text = page_text(&page, &filter);
            Ok(CallToolResult::text(text).with_structured(serde_json::to_value(&page)?))
        }
    });
    (tool, handler)
}

/// A page as the model reads it: one block per table.
fn page_text(page: &TablePage, filter: &ListFilter) -> String {
    let mut text = String::new();
    let schemas: Vec<String> = page
        .schemas
        .iter()
        .map(|s| format!("{}: {}", s.schema, s.tables))
        .collect();
    let _ = writeln!(
        text,
        "{} table{} and views match ({}); {} on this page.",
        page.total,
        if page.total == 1 { "" } else { "s" },
        if schemas.is_empty() {
            "none".to_owned()
        } else {
            schemas.join(", ")
        },
        page.tables.len()
    );
    // Names and comments are data (a comment may say anything): framed, made visible.
    let mut body = String::new();
    for table in &page.tables {
        let _ = write!(
            body,
            "{}.{} ({}",
            visible(&table.schema, &[]),
            visible(&table.name, &[]),
            table.kind
        );
        if let Some(rows) = table.estimated_rows {
            let _ = write!(body, ", ~{rows} rows");
        }
        body.push(')');
        if let Some(comment) = &table.comment {
            let _ = write!(body, " — {}", visible(comment, &[]));
        }
        body.push_str("\n  ");
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| {
                let mut column = format!(
                    "{} {}{}",
                    visible(&c.name, &[',']),
                    c.type_name,
                    if c.nullable { "" } else { " not null" }
                );
                if let Some(comment) = &c.comment {
                    let _ = write!(column, " ({})", visible(comment, &[',']));
                }
                column
            })
            .collect();
        body.push_str(&columns.join(", "));
        if !table.primary_key.is_empty() {
            let key: Vec<Cow<'_, str>> = table
                .primary_key
                .iter()
                .map(|c| visible(c, &[',']))
                .collect();
            let _ = write!(body, "\n  primary key ({})", key.join(", "));
        }
        for fk in &table.foreign_keys {
            let names = |cols: &[String]| {
                cols.iter()
                    .map(|c| visible(c, &[',']).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                body,
                "\n  foreign key ({}) → {}.{}({})",
                names(&fk.columns),
                visible(&fk.references_schema, &[]),
                visible(&fk.references_table, &[]),
                names(&fk.references_columns)
            );
        }
        body.push_str("\n\n");
    }
    if !body.is_empty() {
        text.push('\n');
        text.push_str(&Frame::new().wrap("tables, columns and comments", body.trim_end()));
        text.push('\n');
    }
    if page.total == 0 {
        text.push_str("No tables or views match what this connection can see.\n");
    }
    if let Some(cursor) = &page.next_cursor {
        let _ = write!(
            text,
            "\nMore follow: call listTables with cursor \"{cursor}\""
        );
        if filter.schema.is_none() && filter.pattern.is_none() {
            text.push_str(", or narrow the list with schema or pattern");
        }
        text.push_str(".\n");
    }
    text
}

/// `describeTable {schema, table}`: everything about one table or view — columns with
/// types, defaults, nullability and comments; primary, unique and foreign keys; check
/// constraints; indexes; a view's definition. Needs [`Permission::Read`].
pub fn describe_table(
    database: Arc<Database>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let tool = Tool::new(
        "describeTable",
        "Describes one table or view fully: columns (type, default, nullability, comment), \
         primary, unique and foreign keys, check constraints, indexes, and a view's definition.",
        input_schema::<DescribeTableArgs>(),
    )
    .with_title("Describe a table")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |args: DescribeTableArgs, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
        async move {
            let who = authorise(&pol, &ctx, Permission::Read, "describeTable")?;
            let start = Instant::now();
            let described = introspect::describe_table(&db, &args.schema, &args.table).await;
            audit_catalog(&who.login, "describeTable", &described, start);
            let Some(table) = described? else {
                return Err(ToolError::not_found(format!(
                    "no table or view {}.{} is visible; listTables shows what there is",
                    args.schema, args.table
                )));
            };
            let json = serde_json::to_string_pretty(&table)?;
            let text = Frame::new().wrap(
                "table's names, definitions and comments",
                &visible_json(&json),
            );
            Ok(CallToolResult::text(text).with_structured(serde_json::to_value(&table)?))
        }
    });
    (tool, handler)
}

/// The table resources, `postgres://table/{schema}/{table}`: one table or view's
/// description as JSON. Needs [`Permission::Read`], checked on every read.
pub fn table_resource(
    database: Arc<Database>,
    policy: Arc<PermissionPolicy>,
) -> (ResourceTemplate, impl ResourceHandler) {
    let template = ResourceTemplate::new(TABLE_TEMPLATE, "table")
        .with_title("Table schema")
        .with_description(
            "Everything about a table or view, as describeTable gives it: columns, keys, \
             constraints, indexes, comments, a view's definition; JSON.",
        )
        .with_mime_type("application/json");
    let handler = move |uri: String, vars: HashMap<String, String>, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
        async move {
            pol.require(ctx.extensions(), Permission::Read)?;
            let (Some(schema), Some(name)) = (vars.get("schema"), vars.get("table")) else {
                return Err(ResourceError::not_found(uri));
            };
            let table = introspect::describe_table(&db, schema, name)
                .await?
                .ok_or_else(|| ResourceError::not_found(uri.clone()))?;
            let text = serde_json::to_string(&table)?;
            Ok(vec![ResourceContents::text(uri, "application/json", text)])
        }
    };
    (template, handler)
}

/// The URI of the posture resource: the least-privilege check of the server's roles.
pub const POSTURE_URI: &str = "postgres://posture";

/// The posture resource, [`POSTURE_URI`]: what the roles the server connects as may do
/// beyond what it needs ([`crate::posture`]), as JSON, checked when read. Needs
/// [`Permission::Read`].
pub fn posture_resource(
    database: Arc<Database>,
    policy: Arc<PermissionPolicy>,
) -> (sluice_mcp::Resource, impl ResourceHandler) {
    let resource = sluice_mcp::Resource::new(POSTURE_URI, "posture")
        .with_title("Database role posture")
        .with_description(
            "Whether the roles this server connects as are narrower than a superuser: \
             superuser, BYPASSRLS, server file roles, tables the read role may change or owns.",
        )
        .with_mime_type("application/json");
    let handler = move |uri: String, _vars: HashMap<String, String>, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
        async move {
            pol.require(ctx.extensions(), Permission::Read)?;
            let posture = crate::posture::inspect(&db).await?;
            let text = serde_json::to_string(&posture)?;
            Ok(vec![ResourceContents::text(uri, "application/json", text)])
        }
    };
    (resource, handler)
}
