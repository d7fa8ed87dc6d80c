//! The least-privilege role for reads: SQL that creates it, for
//! [`DatabaseConfig::reads`](crate::DatabaseConfig::reads).
//!
//! The guard, the catalog check and the read-only transaction stand between a model and
//! the database; a role that may only read makes PostgreSQL's own permissions the last
//! of them. Connected as that role, a read that slipped past everything else still
//! cannot write (no privilege), read `pg_authid` (superuser only), read a server file
//! (`pg_read_file` needs `pg_read_server_files`), signal other sessions, or see other
//! users' SQL in `pg_stat_activity`.
//!
//! ```
//! let sql = sluice_postgres::setup::read_role_sql("sluice_reader", "shop", &["public"]);
//! assert!(sql.contains(r#"CREATE ROLE "sluice_reader" LOGIN"#));
//! assert!(sql.contains(r#"GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "sluice_reader""#));
//! ```

use std::fmt::Write as _;

/// SQL, to run once as the database's owner (or a superuser), that creates `role`:
/// it may log in, connect to `database`, use `schemas` and read every table, view and
/// sequence in them (and those created there later by the role running the script),
/// and nothing else: no superuser, no role or database creation, no replication, no
/// bypassing row-level security, read-only by default, and a connection limit.
///
/// The role gets no password: set one (`\password` in psql) unless the server trusts
/// local connections, and put it in the read connection string, never in the script.
pub fn read_role_sql(role: &str, database: &str, schemas: &[&str]) -> String {
    let role_q = quote_identifier(role);
    let mut sql = String::new();
    let _ = writeln!(
        sql,
        "-- A role that may only read, for Sluice's read connection (--read-database-url)."
    );
    let _ = writeln!(
        sql,
        "CREATE ROLE {role_q} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
         NOBYPASSRLS NOINHERIT CONNECTION LIMIT 32;"
    );
    let _ = writeln!(
        sql,
        "ALTER ROLE {role_q} SET default_transaction_read_only = on;"
    );
    let _ = writeln!(
        sql,
        "GRANT CONNECT ON DATABASE {} TO {role_q};",
        quote_identifier(database)
    );
    for schema in schemas {
        let schema_q = quote_identifier(schema);
        let _ = writeln!(sql, "GRANT USAGE ON SCHEMA {schema_q} TO {role_q};");
        let _ = writeln!(
            sql,
            "GRANT SELECT ON ALL TABLES IN SCHEMA {schema_q} TO {role_q};"
        );
        let _ = writeln!(
            sql,
            "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema_q} TO {role_q};"
        );
        let _ = writeln!(
            sql,
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema_q} GRANT SELECT ON TABLES TO {role_q};"
        );
    }
    let _ = writeln!(
        sql,
        "-- Then give it a password (\\password {role} in psql) unless local connections \
         are trusted."
    );
    sql
}

/// `"name"`, with inner quotes doubled: an identifier as PostgreSQL reads it, whatever
/// it holds (also how the catalog check hands names to `to_regclass`).
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
