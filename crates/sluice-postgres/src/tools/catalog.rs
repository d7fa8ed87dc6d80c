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
use super::shared::{Authorised, authorise_on, database_argument, sqlstate, verdict};
use crate::database::{Database, QueryError, elapsed_ms};
use crate::databases::{DatabaseStatus, Databases};
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
    /// Which database, when the server has several (default: the first).
    #[serde(default)]
    pub database: Option<String>,
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
    /// Which database, when the server has several (default: the first).
    #[serde(default)]
    pub database: Option<String>,
}

/// Logs a catalog call on the audit target.
fn audit_catalog<T>(
    login: &str,
    tool: &str,
    database: &str,
    outcome: &Result<T, QueryError>,
    start: Instant,
) {
    let outcome = outcome.as_ref().map(|_| ());
    let (verdict, sqlstate) = (verdict(outcome), sqlstate(outcome));
    tracing::info!(target: "sluice::audit", login, tool, database, verdict, sqlstate,
        duration_ms = elapsed_ms(start), "call");
}

/// `listTables {schema?, pattern?, cursor?}`: a page of at most 100 tables and views with
/// their columns, primary key, foreign keys, comments and estimated rows, how many match
/// per schema, and a cursor for the next page. Needs [`Permission::Read`].
pub fn list_tables(
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let databases = databases.into();
    let tool = Tool::new(
        "listTables",
        "Lists the tables and views of the database: columns with types and nullability, \
         primary and foreign keys, comments, estimated rows. Call it first to learn what you \
         can query. Large databases come a page at a time (pass nextCursor back as cursor); \
         narrow with schema or pattern. describeTable gives everything about one table.",
        database_argument(input_schema::<ListTablesArgs>(), &databases),
    )
    .with_title("List tables")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |args: ListTablesArgs, ctx: RequestContext| {
        let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
        async move {
            let tool = "listTables";
            let place = args.database.as_deref();
            let Authorised {
                who,
                name,
                database: db,
                ..
            } = authorise_on(&dbs, &pol, &ctx, Permission::Read, tool, place).await?;
            let start = Instant::now();
            let filter = ListFilter {
                schema: args.schema,
                pattern: args.pattern,
                cursor: args.cursor,
                ..ListFilter::default()
            };
            let page = introspect::list_tables(&db, &filter).await;
            audit_catalog(&who.login, tool, &name, &page, start);
            let page = page?;
            let mut text = page_text(&page, &filter);
            let mut structured = serde_json::to_value(&page)?;
            if dbs.len() > 1 {
                // Which databases there are, as far as this caller may read them.
                let status: Vec<DatabaseStatus> = dbs
                    .status()
                    .into_iter()
                    .filter(|d| {
                        pol.for_database(&d.name).permission(Some(&who)) >= Permission::Read
                    })
                    .collect();
                text.insert_str(0, &databases_text(&name, &status));
                if let Some(object) = structured.as_object_mut() {
                    object.insert("database".to_owned(), name.clone().into());
                    object.insert("databases".to_owned(), serde_json::to_value(&status)?);
                }
            }
            Ok(CallToolResult::text(text).with_structured(structured))
        }
    });
    (tool, handler)
}

/// The line that says which database this is and which others there are.
fn databases_text(current: &str, status: &[DatabaseStatus]) -> String {
    let others: Vec<String> = status
        .iter()
        .filter(|d| d.name != current)
        .map(|d| {
            if d.reachable {
                d.name.clone()
            } else {
                format!("{} (not reachable now)", d.name)
            }
        })
        .collect();
    let default = status.iter().any(|d| d.default && d.name == current);
    format!(
        "Database {current}{}. {}\n",
        if default { " (the default)" } else { "" },
        if others.is_empty() {
            "No other database is open to you.".to_owned()
        } else {
            format!(
                "Also on this server: {}; pass database to use one.",
                others.join(", ")
            )
        }
    )
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
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let databases = databases.into();
    let tool = Tool::new(
        "describeTable",
        "Describes one table or view fully: columns (type, default, nullability, comment), \
         primary, unique and foreign keys, check constraints, indexes, and a view's definition.",
        database_argument(input_schema::<DescribeTableArgs>(), &databases),
    )
    .with_title("Describe a table")
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |args: DescribeTableArgs, ctx: RequestContext| {
        let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
        async move {
            let tool = "describeTable";
            let place = args.database.as_deref();
            let Authorised {
                who,
                name,
                database: db,
                ..
            } = authorise_on(&dbs, &pol, &ctx, Permission::Read, tool, place).await?;
            let start = Instant::now();
            let described = introspect::describe_table(&db, &args.schema, &args.table).await;
            audit_catalog(&who.login, tool, &name, &described, start);
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

/// The URI template of one database's table resources: [`TABLE_TEMPLATE`] for a server
/// with one database, `postgres://db/{name}/table/{schema}/{table}` for each of several.
pub fn table_template(databases: &Databases, name: &str) -> String {
    if databases.len() > 1 {
        format!("postgres://db/{name}/table/{{schema}}/{{table}}")
    } else {
        TABLE_TEMPLATE.to_owned()
    }
}

/// The URI of one database's posture resource: [`POSTURE_URI`] for a server with one
/// database, `postgres://db/{name}/posture` for each of several.
pub fn posture_uri(databases: &Databases, name: &str) -> String {
    if databases.len() > 1 {
        format!("postgres://db/{name}/posture")
    } else {
        POSTURE_URI.to_owned()
    }
}

/// The database a resource read is for, connected, for a caller who may read it.
async fn resource_database(
    databases: &Databases,
    policy: &PermissionPolicy,
    ctx: &RequestContext,
    name: &str,
) -> Result<Arc<Database>, ResourceError> {
    policy
        .for_database(name)
        .require(ctx.extensions(), Permission::Read)?;
    databases
        .get(Some(name))
        .await
        .map_err(|e| ResourceError::new(e.to_string()).with_source(e))
}

/// The table resources, one template per database ([`table_template`]): one table or
/// view's description as JSON. Needs [`Permission::Read`] on that database, checked on
/// every read.
pub fn table_resources(
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> Vec<(ResourceTemplate, impl ResourceHandler)> {
    let databases = databases.into();
    let names: Vec<String> = databases.names().map(str::to_owned).collect();
    names
        .into_iter()
        .map(|name| {
            let several = databases.len() > 1;
            let template = ResourceTemplate::new(table_template(&databases, &name), "table")
                .with_title(if several {
                    format!("Table schema ({name})")
                } else {
                    "Table schema".to_owned()
                })
                .with_description(
                    "Everything about a table or view, as describeTable gives it: columns, \
                     keys, constraints, indexes, comments, a view's definition; JSON.",
                )
                .with_mime_type("application/json");
            let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
            let handler = move |uri: String, vars: HashMap<String, String>, ctx: RequestContext| {
                let (dbs, pol, name) = (dbs.clone(), Arc::clone(&pol), name.clone());
                async move {
                    let db = resource_database(&dbs, &pol, &ctx, &name).await?;
                    let (Some(schema), Some(table)) = (vars.get("schema"), vars.get("table"))
                    else {
                        return Err(ResourceError::not_found(uri));
                    };
                    let described = introspect::describe_table(&db, schema, table)
                        .await?
                        .ok_or_else(|| ResourceError::not_found(uri.clone()))?;
                    let text = serde_json::to_string(&described)?;
                    Ok(vec![ResourceContents::text(uri, "application/json", text)])
                }
            };
            (template, handler)
        })
        .collect()
}

/// The URI of the posture resource: the least-privilege check of the server's roles.
pub const POSTURE_URI: &str = "postgres://posture";

/// The posture resources, one per database ([`posture_uri`]): what the roles the server
/// connects as may do beyond what it needs ([`crate::posture`]), as JSON, checked when
/// read. Needs [`Permission::Read`] on that database.
pub fn posture_resources(
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> Vec<(sluice_mcp::Resource, impl ResourceHandler)> {
    let databases = databases.into();
    let names: Vec<String> = databases.names().map(str::to_owned).collect();
    names
        .into_iter()
        .map(|name| {
            let resource = sluice_mcp::Resource::new(posture_uri(&databases, &name), "posture")
                .with_title(if databases.len() > 1 {
                    format!("Database role posture ({name})")
                } else {
                    "Database role posture".to_owned()
                })
                .with_description(
                    "Whether the roles this server connects as are narrower than a superuser: \
                     superuser, BYPASSRLS, server file roles, tables the read role may change \
                     or owns.",
                )
                .with_mime_type("application/json");
            let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
            let handler =
                move |uri: String, _vars: HashMap<String, String>, ctx: RequestContext| {
                    let (dbs, pol, name) = (dbs.clone(), Arc::clone(&pol), name.clone());
                    async move {
                        let db = resource_database(&dbs, &pol, &ctx, &name).await?;
                        let posture = crate::posture::inspect(&db).await?;
                        let text = serde_json::to_string(&posture)?;
                        Ok(vec![ResourceContents::text(uri, "application/json", text)])
                    }
                };
            (resource, handler)
        })
        .collect()
}
