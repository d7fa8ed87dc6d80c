//! Rules about relations by name: the catalogs nobody may read through the guard, and
//! the system relations nobody may write.

use crate::policy::Policy;
use crate::verdict::{RefusalReason, Verdict};

/// System relations refused by default, because they show what readers should not see:
/// password hashes (`pg_authid`, `pg_shadow`), passwords in foreign-server user
/// mappings and in subscription and replication connection strings, the server's
/// authentication rules and configuration files with their paths (`pg_hba_file_rules`,
/// `pg_file_settings`, `pg_settings`, `pg_config`), other sessions' SQL and client
/// identities (`pg_stat_activity`, `pg_stat_statements`, `pg_stat_ssl`), large objects,
/// and raw column statistics (`pg_statistic`), which hold sample values of every column.
pub(crate) const SENSITIVE_RELATIONS: &[&str] = &[
    "pg_catalog.pg_authid",
    "pg_catalog.pg_shadow",
    "pg_catalog.pg_user_mapping",
    "pg_catalog.pg_user_mappings",
    "pg_catalog.pg_hba_file_rules",
    "pg_catalog.pg_ident_file_mappings",
    "pg_catalog.pg_file_settings",
    "pg_catalog.pg_settings",
    "pg_catalog.pg_db_role_setting",
    "pg_catalog.pg_config",
    "pg_catalog.pg_stat_activity",
    "pg_catalog.pg_stat_ssl",
    "pg_catalog.pg_stat_gssapi",
    "pg_catalog.pg_stat_replication",
    "pg_catalog.pg_stat_wal_receiver",
    "pg_catalog.pg_stat_subscription",
    "pg_catalog.pg_subscription",
    "pg_catalog.pg_replication_slots",
    "pg_catalog.pg_foreign_server",
    "pg_catalog.pg_foreign_table",
    "pg_catalog.pg_largeobject",
    "pg_catalog.pg_largeobject_metadata",
    "pg_catalog.pg_statistic",
    "pg_catalog.pg_statistic_ext_data",
    "public.pg_stat_statements",
    "public.pg_stat_statements_info",
    "information_schema.user_mappings",
    "information_schema.user_mapping_options",
    "information_schema.foreign_server_options",
    "information_schema.foreign_table_options",
];

/// Schemas that belong to the system: nothing in them may be written.
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "pg_toast"];

/// The schema-qualified name and the bare name of a relation as written
/// (`db.schema.name`, `schema.name` or `name`).
fn split(name: &str) -> (Option<&str>, &str) {
    let mut parts = name.rsplitn(3, '.');
    let base = parts.next().unwrap_or(name);
    (parts.next(), base)
}

/// A refusal when `name` (folded as PostgreSQL folds it) is on the policy's list of
/// sensitive relations. An unqualified name is refused when any listed relation has
/// that name, whatever its schema: `search_path` decides which one PostgreSQL reads,
/// and `pg_catalog` comes first unless it is placed otherwise.
pub(crate) fn sensitive(policy: &Policy, name: &str) -> Option<Verdict> {
    let (schema, base) = split(name);
    let listed = match schema {
        Some(schema) => policy.sensitive.contains(&format!("{schema}.{base}")),
        None => policy.sensitive.iter().any(|entry| split(entry).1 == base),
    };
    listed.then(|| {
        Verdict::refused(
            RefusalReason::SensitiveRelation,
            format!(
                "{name} cannot be read here: it is one of the system relations that hold \
                 secrets or the server's private details (password hashes, connection \
                 strings, configuration files, other sessions' queries). Query the \
                 application's own tables, or information_schema.tables/columns for the \
                 schema."
            ),
        )
    })
}

/// A refusal when a write targets a system relation: anything in `pg_catalog`,
/// `information_schema`, `pg_toast` or a temporary schema, and any unqualified name
/// starting with `pg_`, which resolves to `pg_catalog` first (`UPDATE pg_settings …` is
/// a `SET` in disguise; `UPDATE pg_database …` changes the whole cluster).
pub(crate) fn system_target(name: &str) -> Option<Verdict> {
    let (schema, base) = split(name);
    let system = match schema {
        Some(schema) => {
            SYSTEM_SCHEMAS.contains(&schema)
                || schema.starts_with("pg_temp")
                || schema.starts_with("pg_toast")
        }
        None => base.starts_with("pg_"),
    };
    system.then(|| {
        Verdict::refused(
            RefusalReason::SystemCatalogWrite,
            format!(
                "{name} is a system relation and cannot be written here: the system \
                 catalogs are changed only by the database's own commands, which this \
                 server does not run. (A table of your own whose name starts with pg_ \
                 must be written with its schema, e.g. public.{base}.)"
            ),
        )
    })
}
