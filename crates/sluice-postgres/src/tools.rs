//! The database tools: `listTables`, `queryDatabase`, `executeDatabase`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_auth::{Permission, PermissionPolicy, PolicyToolFilter};
use sluice_mcp::{
    CallToolResult, RequestContext, ResourceContents, ResourceError, ResourceTemplate,
    ServerBuilder, Tool, ToolAnnotations, ToolError,
};

use crate::database::{Database, QueryError, QueryOutput, elapsed_ms};
use crate::introspect::list_tables;

/// The URI template of the table resources: `postgres://table/{schema}/{table}`.
pub const TABLE_TEMPLATE: &str = "postgres://table/{schema}/{table}";

/// Arguments of `queryDatabase` and `executeDatabase`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlArgs {
    /// One SQL statement.
    pub sql: String,
}

/// `listTables` takes no arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Registers the three database tools on `builder`, with a tool filter from `policy`:
/// `executeDatabase` only for writers, nothing for callers with no permission. Every
/// call checks the permission again.
pub fn register(
    builder: ServerBuilder,
    database: Database,
    policy: PermissionPolicy,
) -> ServerBuilder {
    let database = Arc::new(database);
    let policy = Arc::new(policy);
    let result_schema = result_schema();

    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let builder = builder.typed_tool_with(
        Tool::new(
            "listTables",
            "Lists the schemas, tables and views of the database with their columns, types, \
             nullability and primary keys. Call it first to learn what you can query.",
            json!({}),
        )
        .with_title("List tables")
        .with_annotations(ToolAnnotations {
            read_only_hint: Some(true),
            open_world_hint: Some(false),
            ..ToolAnnotations::default()
        }),
        move |_args: NoArgs, ctx: RequestContext| {
            let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
            async move {
                let login = authorise(&pol, &ctx, Permission::Read, "listTables")?;
                let start = Instant::now();
                let tables = list_tables(&db).await;
                audit(&login, "listTables", "", tables.as_ref().map(|_| ()), start);
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
        },
    );

    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let builder = builder.typed_tool_with(
        Tool::new(
            "queryDatabase",
            "Runs one read-only SQL query (SELECT, WITH … SELECT, VALUES, EXPLAIN, SHOW) on \
             PostgreSQL and returns the rows. The query runs in a read-only transaction with \
             a time limit; results are capped and say when they were cut.",
            json!({}),
        )
        .with_title("Query the database")
        .with_output_schema(result_schema.clone())
        .with_annotations(ToolAnnotations {
            read_only_hint: Some(true),
            open_world_hint: Some(false),
            ..ToolAnnotations::default()
        }),
        move |args: SqlArgs, ctx: RequestContext| {
            let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
            async move {
                let login = authorise(&pol, &ctx, Permission::Read, "queryDatabase")?;
                let start = Instant::now();
                let outcome = db.read(&args.sql).await;
                audit(
                    &login,
                    "queryDatabase",
                    &args.sql,
                    outcome.as_ref().map(|_| ()),
                    start,
                );
                render(outcome)
            }
        },
    );

    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let builder = builder.typed_tool_with(
        Tool::new(
            "executeDatabase",
            "Runs one SQL statement that changes data (INSERT, UPDATE, DELETE, MERGE) in a \
             transaction that commits. Only for logins allowed to write.",
            json!({}),
        )
        .with_title("Change the database")
        .with_output_schema(result_schema)
        .with_annotations(ToolAnnotations {
            read_only_hint: Some(false),
            destructive_hint: Some(true),
            idempotent_hint: Some(false),
            open_world_hint: Some(false),
            ..ToolAnnotations::default()
        }),
        move |args: SqlArgs, ctx: RequestContext| {
            let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
            async move {
                let login = authorise(&pol, &ctx, Permission::Write, "executeDatabase")?;
                let start = Instant::now();
                let outcome = db.write(&args.sql).await;
                audit(
                    &login,
                    "executeDatabase",
                    &args.sql,
                    outcome.as_ref().map(|_| ()),
                    start,
                );
                render(outcome)
            }
        },
    );

    // Each table's description as a resource, read with the same permission as
    // listTables.
    let (db, pol) = (Arc::clone(&database), Arc::clone(&policy));
    let builder = builder.resource_template(
        ResourceTemplate::new(TABLE_TEMPLATE, "table")
            .with_title("Table schema")
            .with_description(
                "A table or view's columns, types, nullability and primary key, as JSON.",
            )
            .with_mime_type("application/json"),
        move |uri: String, vars: HashMap<String, String>, ctx: RequestContext| {
            let (db, pol) = (Arc::clone(&db), Arc::clone(&pol));
            async move {
                pol.require(ctx.extensions(), Permission::Read)
                    .map_err(|e| ResourceError::Failed(e.to_string()))?;
                let tables = list_tables(&db)
                    .await
                    .map_err(|e| ResourceError::Failed(e.to_string()))?;
                let (schema, name) = (vars.get("schema"), vars.get("table"));
                let table = tables
                    .into_iter()
                    .find(|t| Some(&t.schema) == schema && Some(&t.name) == name)
                    .ok_or_else(|| ResourceError::NotFound(uri.clone()))?;
                let text = serde_json::to_string(&table)
                    .map_err(|e| ResourceError::Failed(e.to_string()))?;
                Ok(vec![ResourceContents::text(uri, "application/json", text)])
            }
        },
    );

    builder.tool_filter(
        PolicyToolFilter::new((*policy).clone())
            .require("listTables", Permission::Read)
            .require("queryDatabase", Permission::Read)
            .require("executeDatabase", Permission::Write),
    )
}

fn authorise(
    policy: &PermissionPolicy,
    ctx: &RequestContext,
    needed: Permission,
    tool: &str,
) -> Result<String, ToolError> {
    match policy.require(ctx.extensions(), needed) {
        Ok(identity) => Ok(identity.login.clone()),
        Err(e) => {
            tracing::warn!(target: "sluice::audit", tool, reason = %e, "call refused");
            Err(ToolError::new(e.to_string()))
        }
    }
}

fn audit(login: &str, tool: &str, sql: &str, outcome: Result<(), &QueryError>, start: Instant) {
    let verdict = match outcome {
        Ok(()) => "ok".to_owned(),
        Err(QueryError::Refused(refusal)) => format!("refused: {}", refusal.reason),
        Err(QueryError::Database(e)) => format!("failed: {}", e.sqlstate.as_deref().unwrap_or("-")),
    };
    tracing::info!(target: "sluice::audit", login, tool, sql, verdict, duration_ms = elapsed_ms(start), "call");
}

fn render(outcome: Result<QueryOutput, QueryError>) -> Result<CallToolResult, ToolError> {
    let output = outcome.map_err(|e| match e {
        QueryError::Refused(refusal) => ToolError::new(format!("refused: {}", refusal.message)),
        other => ToolError::new(other.to_string()),
    })?;
    let mut text = String::new();
    if !output.columns.is_empty() {
        for (i, column) in output.columns.iter().enumerate() {
            if i > 0 {
                text.push_str(" | ");
            }
            text.push_str(&column.name);
        }
        text.push('\n');
        for row in &output.rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    text.push_str(" | ");
                }
                match value {
                    Value::String(s) => text.push_str(s),
                    Value::Null => text.push_str("NULL"),
                    other => {
                        let _ = write!(text, "{other}");
                    }
                }
            }
            text.push('\n');
        }
    }
    let _ = write!(
        text,
        "({} row{}",
        output.row_count,
        if output.row_count == 1 { "" } else { "s" }
    );
    if let Some(n) = output.rows_affected.filter(|_| output.columns.is_empty()) {
        let _ = write!(text, "; {n} affected");
    }
    if output.truncated {
        text.push_str("; truncated: the result was cut at the row or size limit, refine the query");
    }
    text.push(')');
    // The rows move into the structured result; they are not copied.
    let columns =
        serde_json::to_value(&output.columns).map_err(|e| ToolError::new(e.to_string()))?;
    let structured = json!({
        "columns": columns,
        "rows": Value::Array(output.rows.into_iter().map(Value::Array).collect()),
        "rowCount": output.row_count,
        "truncated": output.truncated,
        "rowsAffected": output.rows_affected,
    });
    Ok(CallToolResult::text(text).with_structured(structured))
}

fn result_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "type": {"type": "string"}}, "required": ["name", "type"]}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "rowCount": {"type": "integer"},
            "truncated": {"type": "boolean"},
            "rowsAffected": {"type": ["integer", "null"]}
        },
        "required": ["columns", "rows", "rowCount", "truncated"]
    })
}
