//! The database tools: `listTables`, `queryDatabase`, `executeDatabase`, and the table
//! resources — all of them with [`DatabaseTools`], or each on its own.
//!
//! Every tool checks the caller's permission on every call ([`authorise`]), logs an
//! audit line ([`audit`]) and answers through [`render`]; those pieces are public so a
//! team's own tools behave the same way.
//!
//! ```no_run
//! use sluice_auth::PermissionPolicy;
//! use sluice_mcp::Server;
//! use sluice_postgres::tools::{DatabaseTool, DatabaseTools};
//! use sluice_postgres::{Database, DatabaseConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let database = Database::connect(DatabaseConfig::from_env()?).await?;
//! // Only the read tool, for everyone the policy lets read.
//! let tools = DatabaseTools::new(database, PermissionPolicy::from_lists("", None))
//!     .only([DatabaseTool::QueryDatabase]);
//! let server = tools.register(Server::builder("reports", "1.0.0")).build();
//! # let _ = server;
//! # Ok(()) }
//! # let _ = demo;
//! ```

mod catalog;
mod explain;
mod framing;
mod shared;
mod statements;
mod structured;

use std::sync::Arc;

use sluice_auth::{Permission, PermissionPolicy, PolicyFilter};
use sluice_mcp::ServerBuilder;

pub use catalog::{
    DescribeTableArgs, ListTablesArgs, POSTURE_URI, TABLE_TEMPLATE, describe_table, list_tables,
    posture_resources, posture_uri, table_resources, table_template,
};
pub use explain::{ExplainArgs, explain_query};
pub use framing::{Frame, visible, visible_json};
pub use shared::{
    Authorised, audit, authorise, authorise_on, database_argument, render, render_page,
    result_schema,
};
pub use statements::{QueryArgs, SqlArgs, execute_database, query_database};

use crate::databases::Databases;

/// One of the standard database tools or resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DatabaseTool {
    /// `listTables` ([`list_tables`]), for readers.
    ListTables,
    /// `describeTable` ([`describe_table`]), for readers.
    DescribeTable,
    /// `queryDatabase` ([`query_database`]), for readers.
    QueryDatabase,
    /// `explainQuery` ([`explain_query`]), for readers.
    ExplainQuery,
    /// `executeDatabase` ([`execute_database`]), for writers only.
    ExecuteDatabase,
    /// The table resources, [`TABLE_TEMPLATE`] or one template per database
    /// ([`table_resources`]), for readers.
    TableResource,
    /// The least-privilege report, [`POSTURE_URI`] or one per database
    /// ([`posture_resources`]), for readers.
    PostureResource,
}

impl DatabaseTool {
    /// Every standard tool and resource.
    pub const ALL: [DatabaseTool; 7] = [
        DatabaseTool::ListTables,
        DatabaseTool::DescribeTable,
        DatabaseTool::QueryDatabase,
        DatabaseTool::ExplainQuery,
        DatabaseTool::ExecuteDatabase,
        DatabaseTool::TableResource,
        DatabaseTool::PostureResource,
    ];

    /// The tool's name, or the resource's URI template.
    pub fn name(self) -> &'static str {
        match self {
            DatabaseTool::ListTables => "listTables",
            DatabaseTool::DescribeTable => "describeTable",
            DatabaseTool::QueryDatabase => "queryDatabase",
            DatabaseTool::ExplainQuery => "explainQuery",
            DatabaseTool::ExecuteDatabase => "executeDatabase",
            DatabaseTool::TableResource => TABLE_TEMPLATE,
            DatabaseTool::PostureResource => POSTURE_URI,
        }
    }

    /// The permission it needs.
    pub fn needs(self) -> Permission {
        match self {
            DatabaseTool::ExecuteDatabase => Permission::Write,
            _ => Permission::Read,
        }
    }
}

/// The standard database tools over a [`Database`](crate::Database) (or several, [`Databases`]) and one
/// [`PermissionPolicy`]: all of them by default, or those [`only`](Self::only) names.
///
/// With several databases every tool takes a `database` argument (its schema lists the
/// names; default the first), `listTables` says which databases there are, resources
/// carry the database's name in their URI (`postgres://db/{name}/…`), and the policy's
/// per-database sections ([`PermissionPolicy::for_database`]) decide on each.
#[derive(Debug, Clone)]
pub struct DatabaseTools {
    databases: Databases,
    policy: Arc<PermissionPolicy>,
    chosen: Vec<DatabaseTool>,
}

impl DatabaseTools {
    /// Every standard tool and resource over `databases` (a [`Database`](crate::Database) or a
    /// [`Databases`] set), guarded by `policy`.
    pub fn new(databases: impl Into<Databases>, policy: PermissionPolicy) -> Self {
        DatabaseTools {
            databases: databases.into(),
            policy: Arc::new(policy),
            chosen: DatabaseTool::ALL.to_vec(),
        }
    }

    /// Only these tools and resources.
    #[must_use]
    pub fn only(mut self, tools: impl IntoIterator<Item = DatabaseTool>) -> Self {
        self.chosen = tools.into_iter().collect();
        self.chosen.sort();
        self.chosen.dedup();
        self
    }

    /// All that are chosen, but `tool`.
    #[must_use]
    pub fn without(mut self, tool: DatabaseTool) -> Self {
        self.chosen.retain(|t| *t != tool);
        self
    }

    /// The databases the tools use.
    pub fn databases(&self) -> &Databases {
        &self.databases
    }

    /// The policy the tools enforce.
    pub fn policy(&self) -> &Arc<PermissionPolicy> {
        &self.policy
    }

    /// The filter that hides each chosen tool and resource from callers without its
    /// permission, and judges nothing else (a team's own tools keep their own rules).
    pub fn filter(&self) -> PolicyFilter {
        let dbs = &self.databases;
        let mut filter = PolicyFilter::new((*self.policy).clone())
            .judge_only_named()
            .databases(dbs.names());
        for tool in &self.chosen {
            filter = match tool {
                DatabaseTool::TableResource => dbs.names().fold(filter, |f, name| {
                    f.resource_in(name, table_template(dbs, name), tool.needs())
                }),
                DatabaseTool::PostureResource => dbs.names().fold(filter, |f, name| {
                    f.resource_in(name, posture_uri(dbs, name), tool.needs())
                }),
                _ => filter.tool(tool.name(), tool.needs()),
            };
        }
        filter
    }

    /// Registers the chosen tools and resources on `builder`, with [`filter`](Self::filter).
    pub fn register(self, mut builder: ServerBuilder) -> ServerBuilder {
        let (db, policy) = (&self.databases, &self.policy);
        for tool in &self.chosen {
            builder = match tool {
                DatabaseTool::ListTables => {
                    let (tool, handler) = list_tables(db.clone(), Arc::clone(policy));
                    builder.tool(tool, handler)
                }
                DatabaseTool::DescribeTable => {
                    let (tool, handler) = describe_table(db.clone(), Arc::clone(policy));
                    builder.tool(tool, handler)
                }
                DatabaseTool::QueryDatabase => {
                    let (tool, handler) = query_database(db.clone(), Arc::clone(policy));
                    builder.tool(tool, handler)
                }
                DatabaseTool::ExplainQuery => {
                    let (tool, handler) = explain_query(db.clone(), Arc::clone(policy));
                    builder.tool(tool, handler)
                }
                DatabaseTool::ExecuteDatabase => {
                    let (tool, handler) = execute_database(db.clone(), Arc::clone(policy));
                    builder.tool(tool, handler)
                }
                DatabaseTool::TableResource => table_resources(db.clone(), Arc::clone(policy))
                    .into_iter()
                    .fold(builder, |b, (template, handler)| {
                        b.resource_template(template, handler)
                    }),
                DatabaseTool::PostureResource => posture_resources(db.clone(), Arc::clone(policy))
                    .into_iter()
                    .fold(builder, |b, (resource, handler)| {
                        b.resource(resource, handler)
                    }),
            };
        }
        builder.filter(self.filter())
    }
}

/// Registers every standard tool and resource on `builder`:
/// `DatabaseTools::new(database, policy).register(builder)`.
pub fn register(
    builder: ServerBuilder,
    databases: impl Into<Databases>,
    policy: PermissionPolicy,
) -> ServerBuilder {
    DatabaseTools::new(databases, policy).register(builder)
}
