//! Database errors, sanitised for the client.
//!
//! The client (often a language model) needs to know *what* went wrong to fix its SQL:
//! "relation \"x\" does not exist" is useful and safe, and so is PostgreSQL's `HINT`
//! ("You might need to add explicit type casts"), which is what a model needs to fix
//! its SQL. It must not learn the server's internals: connection strings, passwords,
//! file paths, or the rows and context PostgreSQL puts in `DETAIL` and `WHERE`. Those go
//! to the server log only; file paths and connection strings are scrubbed from the
//! message and the hint.

use tokio_postgres::error::SqlState;

/// An error ready to show the client: an SQLSTATE and a safe message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct ClientError {
    /// The five-character SQLSTATE, when the database gave one.
    pub sqlstate: Option<String>,
    /// The safe message.
    pub message: String,
}

impl ClientError {
    /// An error with no SQLSTATE.
    pub fn new(message: impl Into<String>) -> Self {
        ClientError {
            sqlstate: None,
            message: message.into(),
        }
    }
}

/// The SQLSTATE of a failure the database reported (none for a connection's or the
/// driver's own).
pub(crate) fn sqlstate_of(error: &tokio_postgres::Error) -> Option<&str> {
    error.code().map(SqlState::code)
}

/// Turns a tokio-postgres error into what the client may see, logging the full detail.
pub fn sanitise(error: &tokio_postgres::Error) -> ClientError {
    let Some(db) = error.as_db_error() else {
        // Connection trouble: the detail may hold host names and addresses.
        tracing::warn!(error = %with_causes(error), "database connection error");
        return ClientError::new("the database connection failed; try again later");
    };
    tracing::info!(
        sqlstate = db.code().code(),
        message = db.message(),
        detail = db.detail(),
        hint = db.hint(),
        "database error"
    );
    let code = db.code();
    let message = if code == &SqlState::QUERY_CANCELED {
        "the statement was cancelled: it ran past the time limit or the client cancelled it"
            .to_owned()
    } else if code == &SqlState::READ_ONLY_SQL_TRANSACTION {
        "this statement tried to write inside a read-only transaction".to_owned()
    } else if code.code().starts_with("28") || code.code().starts_with("08") {
        // Authentication and connection classes can name users, hosts and files.
        "the database refused the connection".to_owned()
    } else if code.code().starts_with("58") || code.code().starts_with("XX") {
        // System and internal errors can name files on the server.
        "the database reported an internal error".to_owned()
    } else {
        match db.hint() {
            Some(hint) => format!("{} Hint: {}", scrub(db.message()), scrub(hint)),
            None => scrub(db.message()),
        }
    };
    ClientError {
        sqlstate: Some(code.code().to_owned()),
        message: format!("{message} (SQLSTATE {})", code.code()),
    }
}

/// Removes what looks like a file path or a connection string from a message. A path
/// starts with `/` and a name (`/etc/hostname`); the operator `/` on its own stays
/// ("operator does not exist: text / integer").
fn scrub(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| c == '"' || c == '\'' || c == ',' || c == ':');
            let path = bare.strip_prefix('/').is_some_and(|rest| {
                rest.starts_with(|c: char| {
                    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '~')
                })
            });
            if path || bare.contains("://") || bare.contains("password=") {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error's message followed by those of its causes: tokio-postgres keeps the useful
/// part ("server does not support TLS", "invalid peer certificate: …") in the cause.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let message = inner.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn paths_and_urls_are_scrubbed() {
        assert_eq!(
            scrub("could not open file \"/var/lib/postgresql/15/main/base/1\": No such file"),
            "could not open file [redacted] No such file"
        );
        assert_eq!(
            scrub("relation \"users\" does not exist"),
            "relation \"users\" does not exist"
        );
        assert_eq!(scrub("bad postgres://u:p@h/db here"), "bad [redacted] here");
        // Operators are not paths.
        assert_eq!(
            scrub("operator does not exist: text / integer"),
            "operator does not exist: text / integer"
        );
        assert_eq!(
            scrub("could not stat \"/etc\""),
            "could not stat [redacted]"
        );
    }
}
