//! Pointing a connection string at another database, in either libpq form.

/// Returns `conn` with its database replaced by `dbname`.
///
/// Accepts both libpq forms: a `postgres://` / `postgresql://` URL (its path is the
/// database) and a `key=value` string (a trailing `dbname=` wins, as it does in libpq).
pub(crate) fn with_dbname(conn: &str, dbname: &str) -> Result<String, String> {
    let trimmed = conn.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let mut url = url::Url::parse(trimmed).map_err(|e| e.to_string())?;
        url.set_path(&format!("/{dbname}"));
        Ok(url.to_string())
    } else {
        // Our names are plain identifiers, so they need no quoting.
        Ok(format!("{trimmed} dbname={dbname}"))
    }
}

#[cfg(test)]
mod tests {
    use super::with_dbname;

    #[test]
    fn replaces_the_database_in_every_form() {
        let cases = [
            (
                "postgres://u:p@h:5433/old?sslmode=disable",
                "postgres://u:p@h:5433/new?sslmode=disable",
            ),
            ("postgresql://h", "postgresql://h/new"),
            (
                "host=h port=1 dbname=old user=u",
                "host=h port=1 dbname=old user=u dbname=new",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(with_dbname(input, "new").unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn key_value_form_ends_up_on_the_new_database() {
        let conn = with_dbname("host=h dbname=old", "new").unwrap();
        let config: tokio_postgres::Config = conn.parse().unwrap();
        assert_eq!(config.get_dbname(), Some("new"));
    }
}
