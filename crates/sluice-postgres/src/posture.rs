//! The least-privilege check: what the roles the server connects as may do beyond what
//! it needs.
//!
//! The SQL guard, the catalog check and the read-only transaction stand between a model
//! and the data; the database's own permissions are the last line, and only hold if the
//! roles are narrow. [`inspect`] asks PostgreSQL, for each connection (writes, and reads
//! when they have their own), whether the role is a superuser, bypasses row-level
//! security, belongs to the roles that reach the server's files and programs
//! (`pg_read_server_files`, `pg_write_server_files`, `pg_execute_server_program`), and —
//! for the connection reads use — whether it may change or owns any table. Each answer
//! that weakens the last line is a [`Finding`].

use serde::Serialize;

use crate::database::{Database, QueryError};
use crate::introspect::{Row, USER_SCHEMAS};

/// What a connection is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Purpose {
    /// Writes only (reads have their own connection).
    Writes,
    /// Reads only (a separate read connection).
    Reads,
    /// Both (no separate read connection).
    ReadsAndWrites,
}

/// What one connection's role may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RoleReport {
    /// What the connection is used for.
    pub purpose: Purpose,
    /// The role it connects as.
    pub role: String,
    /// A superuser: every permission check passes.
    pub superuser: bool,
    /// Row-level security policies do not apply to it.
    pub bypass_rls: bool,
    /// The roles it belongs to that reach the server's files and programs.
    pub server_roles: Vec<String>,
    /// How many user tables and views it may INSERT into, UPDATE, DELETE from or TRUNCATE.
    pub writable_tables: i64,
    /// A few of them, by name.
    pub writable_examples: Vec<String>,
    /// How many user tables and views it owns (an owner may alter, drop and grant them).
    pub owned_tables: i64,
}

/// One way a role is wider than the server needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The connection it concerns.
    pub purpose: Purpose,
    /// What was found and what to do, in words.
    pub message: String,
}

/// The roles of every connection, and what is wider than needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Posture {
    /// One report per connection.
    pub connections: Vec<RoleReport>,
    /// What weakens the database's own permissions as the last line of defence.
    pub findings: Vec<Finding>,
}

impl Posture {
    /// True when nothing was found.
    pub fn is_least_privilege(&self) -> bool {
        self.findings.is_empty()
    }
}

fn report_sql() -> String {
    let tables = format!(
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_SCHEMAS}"
    );
    let writable = "(pg_catalog.has_table_privilege(c.oid, 'INSERT') OR pg_catalog.has_table_privilege(c.oid, 'UPDATE') \
         OR pg_catalog.has_table_privilege(c.oid, 'DELETE') OR pg_catalog.has_table_privilege(c.oid, 'TRUNCATE'))";
    format!(
        "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls, \
                ARRAY(SELECT g FROM unnest(ARRAY['pg_read_server_files', 'pg_write_server_files', \
                      'pg_execute_server_program']) AS g \
                      WHERE pg_catalog.pg_has_role(r.oid, g, 'MEMBER') ORDER BY g), \
                (SELECT count(*) {tables} AND {writable}), \
                ARRAY(SELECT n.nspname || '.' || c.relname {tables} AND {writable} ORDER BY 1 LIMIT 5), \
                (SELECT count(*) {tables} AND c.relowner = r.oid) \
         FROM pg_catalog.pg_roles r WHERE r.rolname = current_user"
    )
}

/// Inspects the role of every connection of `database`.
///
/// # Errors
///
/// When a catalog query fails.
pub async fn inspect(database: &Database) -> Result<Posture, QueryError> {
    let sql = report_sql();
    let separate_reads = database.read_target().is_some();
    let mut connections = vec![role_report(
        database.read_all_as_writer(&sql, &[]).await?,
        if separate_reads {
            Purpose::Writes
        } else {
            Purpose::ReadsAndWrites
        },
    )];
    if separate_reads {
        connections.push(role_report(
            database.read_all(&sql, &[]).await?,
            Purpose::Reads,
        ));
    }
    let mut findings = Vec::new();
    for report in &connections {
        let mut found = |message: String| {
            findings.push(Finding {
                purpose: report.purpose,
                message,
            });
        };
        let role = &report.role;
        let used_for = match report.purpose {
            Purpose::Writes => "writes",
            Purpose::Reads => "reads",
            Purpose::ReadsAndWrites => "reads and writes",
        };
        if report.superuser {
            found(format!(
                "{used_for} connect as {role}, a superuser: every permission check passes, so the \
                 database's own permissions stop nothing; connect as a role of its own"
            ));
        }
        if report.bypass_rls {
            found(format!(
                "{used_for} connect as {role}, which bypasses row-level security (BYPASSRLS)"
            ));
        }
        for server_role in &report.server_roles {
            found(format!(
                "{used_for} connect as {role}, a member of {server_role}, which reaches the server's \
                 files or programs; revoke it"
            ));
        }
        if report.purpose != Purpose::Writes && !report.superuser {
            if report.writable_tables > 0 {
                found(format!(
                    "reads run as {role}, which may change {} table(s) (e.g. {}): give reads a role \
                     that may only read (--print-setup-sql, --read-database-url)",
                    report.writable_tables,
                    report.writable_examples.join(", ")
                ));
            }
            if report.owned_tables > 0 {
                found(format!(
                    "reads run as {role}, which owns {} table(s): an owner may alter, drop and grant \
                     them; give reads a role that owns nothing",
                    report.owned_tables
                ));
            }
        }
    }
    Ok(Posture {
        connections,
        findings,
    })
}

fn role_report(output: crate::QueryOutput, purpose: Purpose) -> RoleReport {
    let row = Row(output.rows.get(0));
    RoleReport {
        purpose,
        role: row.string(0),
        superuser: row.flag(1),
        bypass_rls: row.flag(2),
        server_roles: row.parsed(3),
        writable_tables: row.int(4).unwrap_or(0),
        writable_examples: row.parsed(5),
        owned_tables: row.int(6).unwrap_or(0),
    }
}
