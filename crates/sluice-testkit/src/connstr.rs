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

/// Returns `conn` pointed at `127.0.0.1:port` instead of its own host and port.
pub(crate) fn on_loopback_port(conn: &str, port: u16) -> Result<String, String> {
    let trimmed = conn.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let mut url = url::Url::parse(trimmed).map_err(|e| e.to_string())?;
        url.set_host(Some("127.0.0.1")).map_err(|e| e.to_string())?;
        url.set_port(Some(port))
            .map_err(|()| "the URL takes no port".to_owned())?;
        Ok(url.to_string())
    } else {
        // Host and port settings accumulate into lists in this form: drop the old ones
        // (our strings have no quoted values, so words are settings).
        let kept: Vec<&str> = trimmed
            .split_whitespace()
            .filter(|word| {
                !["host=", "hostaddr=", "port="]
                    .iter()
                    .any(|key| word.starts_with(key))
            })
            .collect();
        Ok(format!("{} host=127.0.0.1 port={port}", kept.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::{on_loopback_port, with_dbname};

    #[test]
    fn a_relayed_string_points_at_the_loopback_port() {
        let config: tokio_postgres::Config = on_loopback_port("host=/tmp port=5432 dbname=d", 4444)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(config.get_ports(), [4444]);
        assert_eq!(config.get_hosts().len(), 1);
        assert_eq!(
            on_loopback_port("postgres://u:p@h:5433/d?sslmode=disable", 4444).unwrap(),
            "postgres://u:p@127.0.0.1:4444/d?sslmode=disable"
        );
    }

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
