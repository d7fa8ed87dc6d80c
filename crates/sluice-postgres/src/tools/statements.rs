//! `queryDatabase` and `executeDatabase`: one SQL statement, with bind parameters.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;
use sluice_auth::{Permission, PermissionPolicy};
use sluice_mcp::{
    RequestContext, Tool, ToolAnnotations, ToolError, ToolHandler, input_schema, typed_handler,
};

use super::shared::{
    Authorised, audit, authorise_on, database_argument, render, render_page, result_schema,
};
use crate::databases::Databases;
use crate::params::Param;

/// Arguments of `queryDatabase` and `executeDatabase`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SqlArgs {
    /// One SQL statement. Write $1, $2, … where a value goes and pass the values in
    /// `params`: never paste values into the SQL.
    pub sql: String,
    /// Values for $1, $2, … in order: strings, numbers, booleans, null; an array for a
    /// PostgreSQL array (or a json parameter), an object for json. PostgreSQL infers each
    /// parameter's type from where it stands; add a cast ($1::int) to choose one.
    #[serde(default)]
    pub params: Option<Vec<Value>>,
    /// Which database, when the server has several (default: the first).
    #[serde(default)]
    pub database: Option<String>,
}

/// Arguments of `queryDatabase`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QueryArgs {
    /// One read-only SQL query. Write $1, $2, … where a value goes and pass the values in
    /// `params`: never paste values into the SQL.
    pub sql: String,
    /// Values for $1, $2, … in order: strings, numbers, booleans, null; an array for a
    /// PostgreSQL array (or a json parameter), an object for json. PostgreSQL infers each
    /// parameter's type from where it stands; add a cast ($1::int) to choose one.
    #[serde(default)]
    pub params: Option<Vec<Value>>,
    /// Skip this many rows: the nextOffset of a result that was cut, for its next page
    /// (same sql and params; give the query an ORDER BY so pages join up exactly).
    #[serde(default)]
    pub offset: Option<u64>,
    /// Which database, when the server has several (default: the first).
    #[serde(default)]
    pub database: Option<String>,
}

pub(crate) fn bind(params: Option<&Vec<Value>>) -> Result<Vec<Param>, ToolError> {
    match params {
        None => Ok(Vec::new()),
        Some(values) if values.len() > crate::params::MAX_PARAMS => {
            Err(ToolError::invalid_arguments(format!(
                "{} params given; PostgreSQL accepts at most {}",
                values.len(),
                crate::params::MAX_PARAMS
            )))
        }
        Some(values) => Ok(values.iter().map(Param::from_json).collect()),
    }
}

impl SqlArgs {
    fn params(&self) -> Result<Vec<Param>, ToolError> {
        bind(self.params.as_ref())
    }
}

/// `queryDatabase { sql, params?, offset? }`: one read-only statement, judged by the read guard,
/// run inside `BEGIN READ ONLY` with the statement timeout, rolled back, capped. Needs
/// [`Permission::Read`], checked on every call.
pub fn query_database(
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let databases = databases.into();
    let tool = Tool::new(
        "queryDatabase",
        "Runs one read-only SQL query (SELECT, WITH … SELECT, VALUES, EXPLAIN, SHOW) on \
         PostgreSQL and returns the rows. Put values in params ($1, $2, …) rather than in \
         the SQL. The query runs in a read-only transaction with a time limit; results are \
         capped, and a cut result says so and gives the offset of its next page.",
        database_argument(input_schema::<QueryArgs>(), &databases),
    )
    .with_title("Query the database")
    .with_output_schema(result_schema())
    .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    let handler = typed_handler(move |args: QueryArgs, ctx: RequestContext| {
        let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
        async move {
            let tool = "queryDatabase";
            let place = args.database.as_deref();
            let Authorised {
                who,
                name,
                database: db,
                ..
            } = authorise_on(&dbs, &pol, &ctx, Permission::Read, tool, place).await?;
            let params = bind(args.params.as_ref())?;
            let start = Instant::now();
            let outcome = match args.offset {
                None | Some(0) => db.read_with(&args.sql, &params).await,
                Some(offset) => db.read_from(&args.sql, &params, offset).await,
            };
            audit(
                &who.login,
                tool,
                &name,
                &args.sql,
                &params,
                outcome.as_ref(),
                start,
            );
            render_page(outcome, Some(args.offset.unwrap_or(0)))
        }
    });
    (tool, handler)
}

/// `executeDatabase { sql, params? }`: one write, judged by the write guard, in a
/// transaction that commits. Needs [`Permission::Write`], checked on every call.
pub fn execute_database(
    databases: impl Into<Databases>,
    policy: Arc<PermissionPolicy>,
) -> (Tool, impl ToolHandler) {
    let databases = databases.into();
    let tool = Tool::new(
        "executeDatabase",
        "Runs one SQL statement that changes data (INSERT, UPDATE, DELETE, MERGE) in a \
         transaction that commits. Put values in params ($1, $2, …) rather than in the SQL. \
         Only for logins allowed to write.",
        database_argument(input_schema::<SqlArgs>(), &databases),
    )
    .with_title("Change the database")
    .with_output_schema(result_schema())
    .with_annotations(
        ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(false),
    );
    let handler = typed_handler(move |args: SqlArgs, ctx: RequestContext| {
        let (dbs, pol) = (databases.clone(), Arc::clone(&policy));
        async move {
            let tool = "executeDatabase";
            let place = args.database.as_deref();
            let Authorised {
                who,
                name,
                database: db,
                ..
            } = authorise_on(&dbs, &pol, &ctx, Permission::Write, tool, place).await?;
            let params = args.params()?;
            let start = Instant::now();
            let outcome = db.write_with(&args.sql, &params).await;
            audit(
                &who.login,
                tool,
                &name,
                &args.sql,
                &params,
                outcome.as_ref(),
                start,
            );
            render(outcome)
        }
    });
    (tool, handler)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn params_are_optional_and_typed_in_the_schema() {
        let schema = input_schema::<SqlArgs>();
        assert_eq!(schema["required"], json!(["sql"]));
        assert!(schema["properties"]["params"].is_object(), "{schema}");
    }
}
