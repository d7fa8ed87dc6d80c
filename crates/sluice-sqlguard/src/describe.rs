//! How statements are named in refusal messages, and which kinds change data.

use sqlparser::ast::Statement;

pub(crate) fn writes_data(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Merge(_)
            | Statement::Truncate(_)
            | Statement::Copy { .. }
    ) || is_ddl_kind(statement)
}

pub(crate) fn is_ddl_kind(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::AlterTable(_)
            | Statement::Drop { .. }
    )
}

/// A short, upper-case name of what a statement is, for messages.
pub(crate) fn describe(statement: &Statement) -> String {
    let name = match statement {
        Statement::Query(_) => "a query",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Copy { .. } => "COPY",
        Statement::Call(_) => "CALL",
        Statement::Set(_) => "SET",
        Statement::Reset(_) => "RESET",
        Statement::Discard { .. } => "DISCARD",
        Statement::StartTransaction { .. } => "transaction control (BEGIN/START TRANSACTION)",
        Statement::Commit { .. } => "transaction control (COMMIT)",
        Statement::Rollback { .. } => "transaction control (ROLLBACK)",
        Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => {
            "transaction control (SAVEPOINT)"
        }
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::LISTEN { .. } => "LISTEN",
        Statement::UNLISTEN { .. } => "UNLISTEN",
        Statement::NOTIFY { .. } => "NOTIFY",
        Statement::LockTables { .. } => "LOCK",
        Statement::Vacuum(_) => "VACUUM",
        Statement::Analyze(_) => "ANALYZE",
        Statement::Explain { .. } => "EXPLAIN",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Drop { object_type, .. } => {
            return format!("DROP {}", object_type.to_string().to_uppercase());
        }
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateProcedure { .. } => "CREATE PROCEDURE",
        Statement::CreateExtension(_) => "CREATE EXTENSION",
        Statement::CreateTrigger(_) => "CREATE TRIGGER",
        Statement::CreateRole(_) | Statement::CreateUser(_) => "CREATE ROLE",
        Statement::AlterRole { .. } | Statement::AlterUser(_) => "ALTER ROLE",
        Statement::Grant(_) => "GRANT",
        Statement::Revoke(_) => "REVOKE",
        Statement::Declare { .. } => "DECLARE (cursor)",
        Statement::Fetch { .. } => "FETCH (cursor)",
        Statement::Close { .. } => "CLOSE (cursor)",
        Statement::Comment { .. } => "COMMENT",
        _ => {
            // Name it by its first keyword, as the user wrote it.
            let text = statement.to_string();
            let keyword: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase();
            return if keyword.is_empty() {
                "this statement".to_owned()
            } else {
                keyword
            };
        }
    };
    name.to_owned()
}
