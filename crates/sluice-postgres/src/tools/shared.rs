//! What every database tool does around its statement, public so a team's own tools
//! behave like ours: the permission check, the audit line, the result.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sluice_auth::{Identity, Permission, PermissionPolicy};
use sluice_mcp::{CallToolResult, RequestContext, ToolError};

use super::framing::{Frame, push_visible, visible_json};
use crate::ValueRef;
use crate::database::{Cap, Database, QueryError, QueryOutput, elapsed_ms};
use crate::databases::Databases;
use crate::params::Param;

/// Checks that the caller of `ctx` has `needed`, and returns who it is. A refusal is
/// logged on the audit target (`sluice::audit`) and becomes a tool error the model can
/// read. Call it first in every tool, whatever the tool list showed.
///
/// # Errors
///
/// A [`ToolError`] saying why (no identity, not on the list, token scope too narrow).
pub fn authorise(
    policy: &PermissionPolicy,
    ctx: &RequestContext,
    needed: Permission,
    tool: &str,
) -> Result<Identity, ToolError> {
    match policy.require(ctx.extensions(), needed) {
        Ok(identity) => Ok(identity.clone()),
        Err(e) => {
            let login = Identity::of(ctx.extensions()).map(|i| i.login.as_str());
            tracing::warn!(target: "sluice::audit", tool, login, reason = %e, "call refused");
            Err(ToolError::new(e.to_string()).with_source(e))
        }
    }
}

/// A caller allowed on the database its call names ([`authorise_on`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authorised {
    /// Who is calling.
    pub who: Identity,
    /// The database's name in the set.
    pub name: String,
    /// The database, connected.
    pub database: Arc<Database>,
}

/// [`authorise`] for a call on one of several databases: resolves `database` (`None`:
/// the default), checks the caller has `needed` there (that database's policy,
/// [`PermissionPolicy::for_database`]), and hands over the connected database.
///
/// # Errors
///
/// A [`ToolError`] the model can act on: not allowed there (a caller allowed nowhere
/// is told so before it learns any database's name), no database of that name (naming
/// those there are), or the database is down now.
pub async fn authorise_on(
    databases: &Databases,
    policy: &PermissionPolicy,
    ctx: &RequestContext,
    needed: Permission,
    tool: &str,
    database: Option<&str>,
) -> Result<Authorised, ToolError> {
    let name = match databases.resolve(database) {
        Ok(name) => name,
        Err(unknown) => {
            let identity = Identity::of(ctx.extensions());
            if policy.widest(identity, databases.names()) < needed {
                // Refused as it would be anywhere, naming nothing.
                authorise(
                    policy.for_database(databases.default_name()),
                    ctx,
                    needed,
                    tool,
                )?;
            }
            tracing::warn!(target: "sluice::audit", tool, login = identity.map(|i| i.login.as_str()),
                reason = %unknown, "call refused");
            return Err(ToolError::invalid_arguments(unknown.to_string()).with_source(unknown));
        }
    };
    let several = databases.len() > 1;
    let who = match policy.for_database(name).require(ctx.extensions(), needed) {
        Ok(identity) => identity.clone(),
        Err(e) => {
            let login = Identity::of(ctx.extensions()).map(|i| i.login.as_str());
            tracing::warn!(target: "sluice::audit", tool, login, database = name, reason = %e,
                "call refused");
            let message = if several {
                format!("on database {name}: {e}")
            } else {
                e.to_string()
            };
            return Err(ToolError::new(message).with_source(e));
        }
    };
    match databases.get(Some(name)).await {
        Ok(database) => Ok(Authorised {
            who,
            name: name.to_owned(),
            database,
        }),
        Err(e) => {
            tracing::warn!(target: "sluice::audit", tool, login = %who.login, database = name,
                reason = %e, "call failed");
            Err(ToolError::new(e.to_string()).with_source(e))
        }
    }
}

/// Logs one call on the audit target (`sluice::audit`, level info): who, which tool, on
/// which database, the SQL, the parameters' shape (never their values), the verdict
/// (`ok`, `refused: …`, `failed: SQLSTATE`), the SQLSTATE of a failure, the rows and the
/// duration since `start`.
pub fn audit(
    login: &str,
    tool: &str,
    database: &str,
    sql: &str,
    params: &[Param],
    outcome: Result<&QueryOutput, &QueryError>,
    start: Instant,
) {
    let verdict = verdict(outcome.map(|_| ()));
    let rows = outcome.ok().map(|output| output.row_count);
    let shapes = params
        .iter()
        .map(Param::shape)
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(
        target: "sluice::audit",
        login,
        tool,
        database,
        sql,
        params = %shapes,
        verdict,
        sqlstate = sqlstate(outcome.map(|_| ())),
        rows,
        duration_ms = elapsed_ms(start),
        "call"
    );
}

/// The SQLSTATE of a failed call, for the audit line.
pub(crate) fn sqlstate(outcome: Result<(), &QueryError>) -> Option<&str> {
    match outcome {
        Err(QueryError::Database(e)) => e.sqlstate.as_deref(),
        _ => None,
    }
}

/// The JSON Schema of a tool's arguments with the `database` property as the set needs
/// it: with several databases, their names (the default first); with one, no property
/// (the argument is still accepted, naming that one).
pub fn database_argument(mut schema: Value, databases: &Databases) -> Value {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return schema;
    };
    if databases.len() > 1 {
        let names: Vec<&str> = databases.names().collect();
        properties.insert(
            "database".to_owned(),
            json!({
                "type": "string",
                "enum": names,
                "description": format!(
                    "Which database (default {}); listTables says which there are and whether each is up.",
                    databases.default_name()
                ),
            }),
        );
    } else {
        properties.remove("database");
    }
    schema
}

/// The audit line's verdict: `ok`, `refused: <reason>` or `failed: <SQLSTATE>`.
pub(crate) fn verdict(outcome: Result<(), &QueryError>) -> String {
    match outcome {
        Ok(()) => "ok".to_owned(),
        Err(QueryError::Refused(refusal)) => format!("refused: {}", refusal.reason),
        Err(QueryError::Database(e)) => format!("failed: {}", e.sqlstate.as_deref().unwrap_or("-")),
    }
}

/// A statement's outcome as a tool result: a refusal or database error as a tool error
/// the model can act on; rows as a text table (`a | b`, one row per line, framed as data
/// by a random boundary with every value made visible — see [`Frame`] — then the count
/// and whether the caps cut it) and as `structuredContent` matching [`result_schema`],
/// exact.
///
/// # Errors
///
/// The refusal or the (sanitised) database error, as a [`ToolError`].
pub fn render(outcome: Result<QueryOutput, QueryError>) -> Result<CallToolResult, ToolError> {
    render_page(outcome, None)
}

/// [`render`] for a page of a read that started at row `offset`: when the caps cut it,
/// the text and `structuredContent.nextOffset` say where the next page starts
/// (`queryDatabase` with the same `sql`, `params` and that `offset`).
///
/// # Errors
///
/// As [`render`].
pub fn render_page(
    outcome: Result<QueryOutput, QueryError>,
    offset: Option<u64>,
) -> Result<CallToolResult, ToolError> {
    // A refusal reads `refused: <the guard's words>`, a database error sanitised
    // (`QueryError`'s own text), the error kept as the source.
    let output = outcome?;
    let mut text = String::new();
    if !output.columns.is_empty() {
        // The rows are data: framed, each value on its line ([`Frame`], [`visible`]),
        // written straight into the text.
        let frame = Frame::new();
        text.reserve(output.rows.text_size_hint() + 400);
        frame.open(&mut text, "rows");
        for (i, column) in output.columns.iter().enumerate() {
            if i > 0 {
                text.push_str(" | ");
            }
            push_visible(&mut text, &column.name, &['|']);
        }
        text.push('\n');
        let mut digits = itoa::Buffer::new();
        for row in output.rows.iter() {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    text.push_str(" | ");
                }
                // Floats and plain texts (known when they were read) show as they are.
                if let Some(as_is) = row.shown_as_is(i) {
                    text.push_str(as_is);
                    continue;
                }
                match value {
                    ValueRef::Text(s) => push_visible(&mut text, s, &['|']),
                    ValueRef::Null => text.push_str("NULL"),
                    // Digits, a sign, a point, an exponent: nothing to show.
                    ValueRef::Int(n) => text.push_str(digits.format(n)),
                    ValueRef::Float(f) => {
                        let _ = write!(text, "{f}");
                    }
                    ValueRef::Bool(b) => text.push_str(if b { "true" } else { "false" }),
                    ValueRef::Json(other) => text.push_str(&visible_json(&other.to_string())),
                }
            }
            text.push('\n');
        }
        frame.close(&mut text);
        text.push('\n');
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
    let next_offset = match (output.truncated, offset) {
        (true, Some(offset)) => Some(offset + u64::try_from(output.row_count).unwrap_or(u64::MAX)),
        _ => None,
    };
    if output.truncated {
        let cap = match output.cut_by {
            Some(Cap::Bytes) => "the size limit",
            _ => "the row limit",
        };
        let _ = write!(text, "; truncated at {cap}");
        match next_offset {
            Some(next) => {
                let _ = write!(
                    text,
                    ": for the next rows call queryDatabase again with the same sql and params and \
                     offset {next} (with an ORDER BY that fixes the order, pages join up exactly), \
                     or refine the query"
                );
            }
            None => text.push_str(": refine the query"),
        }
    }
    text.push(')');
    // The structured result is written once, straight from the rows, and copied into
    // the response as it is.
    let structured = super::structured::write(&output, next_offset)?;
    Ok(CallToolResult::text(text).with_structured_text(structured))
}

/// The output schema of a result made by [`render`]: `columns` (name and type), `rows`
/// (arrays in column order), `rowCount`, `truncated`, `rowsAffected`.
pub fn result_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "type": {"type": "string"}}, "required": ["name", "type"]}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "rowCount": {"type": "integer"},
            "truncated": {"type": "boolean"},
            "cutBy": {"type": ["string", "null"], "enum": ["rows", "bytes", null]},
            "nextOffset": {"type": ["integer", "null"]},
            "rowsAffected": {"type": ["integer", "null"]}
        },
        "required": ["columns", "rows", "rowCount", "truncated"]
    })
}
