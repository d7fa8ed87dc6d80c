//! `listTables` and the table resources: what the database holds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use sluice_auth::{Permission, PermissionPolicy};
use sluice_mcp::{
    CallToolResult, RequestContext, ResourceContents, ResourceError, ResourceHandler,
    ResourceTemplate, Tool, ToolAnnotations, ToolError, ToolHandler, input_schema, typed_handler,
};

use super::shared::authorise;
use crate::database::{Database, QueryError, elapsed_ms};
use crate::introspect::list_tables as catalog;

/// The URI template of the table resources: `postgres://table/{schema}/{table}`.
pub const TABLE_TEMPLATE: &str = "postgres://table/{schema}/{table}";

/// `listTables` takes no arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NoArgs {}

/// `listTables`: the schemas, tables and views with their columns, types, nullability
/// and primary keys, as text and as `structuredContent`. Needs [`Permission::Read`].
pub fn list_tables(
    database: Arc<Database>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let tool = Tool::new(
        "listTables",
        "Lists the schemas, tables and views of the database with their columns, types, \
         nullability and primary keys. Call it first to learn what you can query.",
        input_schema::<NoArgs>(),
    )
    .with_title("List tables")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |_args: NoArgs, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
        async move {
            let who = authorise(&pol, &ctx, Permission::Read, "listTables")?;
            let start = Instant::now();
            let tables = catalog(&db).await;
            let verdict = match &tables {
                Ok(_) => "ok".to_owned(),
                Err(QueryError::Refused(refusal)) => format!("refused: {}", refusal.reason),
                Err(QueryError::Database(e)) => {
                    format!("failed: {}", e.sqlstate.as_deref().unwrap_or("-"))
                }
            };
            tracing::info!(
                target: "sluice::audit",
                login = %who.login,
                tool = "listTables",
                verdict,
                duration_ms = elapsed_ms(start),
                "call"
            );
            let tables = tables.map_err(|e| ToolError::new(e.to_string()))?;
            let mut text = String::new();
            for table in &tables {
                let _ = write!(text, "{}.{} ({}):", table.schema, table.name, table.kind);
                for column in &table.columns {
                    let _ = write!(
                        text,
                        " {} {}{}{};",
                        column.name,
                        column.type_name,
                        if column.nullable { "" } else { " not null" },
                        if column.primary_key {
                            " primary key"
                        } else {
                            ""
                        }
                    );
                }
                text.push('\n');
            }
            if tables.is_empty() {
                text.push_str("No tables or views are visible to this connection.");
            }
            Ok(CallToolResult::text(text).with_structured(json!({"tables": tables})))
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
        .with_description("A table or view's columns, types, nullability and primary key, as JSON.")
        .with_mime_type("application/json");
    let handler = move |uri: String, vars: HashMap<String, String>, ctx: RequestContext| {
        let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
        async move {
            pol.require(ctx.extensions(), Permission::Read)?;
            let tables = catalog(&db).await?;
            let (schema, name) = (vars.get("schema"), vars.get("table"));
            let table = tables
                .into_iter()
                .find(|t| Some(&t.schema) == schema && Some(&t.name) == name)
                .ok_or_else(|| ResourceError::not_found(uri.clone()))?;
            let text = serde_json::to_string(&table)?;
            Ok(vec![ResourceContents::text(uri, "application/json", text)])
        }
    };
    (template, handler)
}
