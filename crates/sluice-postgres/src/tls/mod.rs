//! TLS for database connections, chosen by the connection string's `sslmode` as libpq
//! chooses it, carried out with rustls (feature `tls`, on by default; without it only
//! `disable` and `prefer` connect, in plain text).
//!
//! | `sslmode` | encrypted | certificate checked | host name checked |
//! | --- | --- | --- | --- |
//! | `disable` | never | — | — |
//! | `prefer` (the default) | when the server offers it | no | no |
//! | `require` | always | no (as libpq, unless `sslrootcert` is given: then as `verify-ca`) | no |
//! | `verify-ca` | always | against the roots | no |
//! | `verify-full` | always | against the roots | yes |
//!
//! The roots are the operating system's certificate store, or the PEM file named by
//! `sslrootcert`. `require` without a root file protects against eavesdropping but not
//! against an impostor server; use `verify-full` where that matters.
//!
//! As with libpq, none of this applies to a Unix-domain socket (`host=/var/run/postgresql`):
//! such a connection never leaves the machine, PostgreSQL offers no TLS on it, and it is
//! made in plain text whatever `sslmode` says.

#[cfg(feature = "tls")]
mod rustls;

use std::path::PathBuf;

use tokio_postgres::config::SslMode;

/// How connections are encrypted and checked: libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it; check nothing (libpq's default).
    #[default]
    Prefer,
    /// Always encrypt; check the certificate only when a root file is given.
    Require,
    /// Always encrypt, and check the certificate against the roots.
    VerifyCa,
    /// Always encrypt, check the certificate against the roots and the host name.
    VerifyFull,
}

impl TlsMode {
    /// From an `sslmode` value.
    pub fn parse(value: &str) -> Option<TlsMode> {
        Some(match value {
            "disable" => TlsMode::Disable,
            // libpq's `allow` tries plain first; encrypting when offered is no weaker.
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            _ => return None,
        })
    }

    fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }
}

/// TLS settings of a [`DatabaseConfig`](crate::DatabaseConfig).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsConfig {
    /// How to encrypt and what to check.
    pub mode: TlsMode,
    /// A PEM file of root certificates to trust instead of the system's (`sslrootcert`).
    pub root_cert: Option<PathBuf>,
}

impl TlsConfig {
    /// TLS as `mode` says, checked against the system's roots.
    pub fn new(mode: TlsMode) -> Self {
        TlsConfig {
            mode,
            root_cert: None,
        }
    }

    /// Trusts the roots in this PEM file instead of the system's (`sslrootcert`).
    #[must_use]
    pub fn with_root_cert(mut self, file: impl Into<PathBuf>) -> Self {
        self.root_cert = Some(file.into());
        self
    }

    /// The `sslmode` tokio-postgres uses to reach `postgres`: [`mode`](Self::mode), except
    /// where every host is a Unix-domain socket. As libpq, those connect in plain text:
    /// PostgreSQL offers no TLS on a socket, so asking would make `require` fail where
    /// psql connects.
    pub(crate) fn ssl_mode_for(&self, postgres: &tokio_postgres::Config) -> SslMode {
        let hosts = postgres.get_hosts();
        // `Host` has a `Unix` variant only on Unix; anything not TCP is a socket.
        let sockets_only = !hosts.is_empty()
            && hosts
                .iter()
                .all(|host| !matches!(host, tokio_postgres::config::Host::Tcp(_)));
        if sockets_only {
            SslMode::Disable
        } else {
            self.mode.ssl_mode()
        }
    }
}

/// Splits the TLS options (`sslmode`, `sslrootcert`) out of a connection string, in URL
/// or `key=value` form, since tokio-postgres knows only part of them. Returns the rest of
/// the string, the settings and which of them the string named.
pub(crate) fn split_options(connection: &str) -> Result<(String, TlsConfig, Named), String> {
    let mut tls = TlsConfig::default();
    let mut named = Named::default();
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => {
                named.mode = true;
                tls.mode = TlsMode::parse(value).ok_or_else(|| {
                    format!(
                        "invalid sslmode {value:?}: use disable, prefer, require, verify-ca or verify-full"
                    )
                })?;
                Ok(true)
            }
            "sslrootcert" => {
                named.root_cert = true;
                tls.root_cert = Some(PathBuf::from(value));
                Ok(true)
            }
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => Err(format!(
                "{key}: client certificates are not supported; authenticate with a password"
            )),
            _ => Ok(false),
        }
    };
    let trimmed = connection.trim();
    let rest = if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        let mut url = url::Url::parse(trimmed).map_err(|e| url_error(trimmed, &e))?;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            if !take(&key, &value)? {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        url.to_string()
    } else {
        let mut kept = Vec::new();
        for (key, value) in key_values(trimmed)? {
            if !take(&key, &value)? {
                let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
                kept.push(format!("{key}='{quoted}'"));
            }
        }
        kept.join(" ")
    };
    Ok((rest, tls, named))
}

/// Which TLS options a connection string named (so the environment's `PGSSLMODE` and
/// `PGSSLROOTCERT` apply only to the others, as with libpq).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) mode: bool,
    pub(crate) root_cert: bool,
}

/// Why a `postgres://` URL does not parse, naming the part and never quoting it (the
/// password is in there).
fn url_error(text: &str, error: &url::ParseError) -> String {
    let after_scheme = text.split_once("://").map_or("", |(_, rest)| rest);
    // The user and password end at the last `@` before the path; a `/`, `?` or `#` in
    // them ends the authority early, and the rest reads as a bad port or host.
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    if after_scheme[authority_end..].contains('@') {
        return "the user name or password holds a character that must be percent-encoded in a URL \
                (`/` as %2F, `?` as %3F, `#` as %23, `@` as %40, `%` as %25), or use the \
                key=value form with the password in single quotes"
            .to_owned();
    }
    let part = match error {
        url::ParseError::InvalidPort => "the port is not a number from 1 to 65535",
        url::ParseError::EmptyHost | url::ParseError::InvalidDomainCharacter => {
            "the host name is not valid"
        }
        url::ParseError::InvalidIpv4Address | url::ParseError::InvalidIpv6Address => {
            "the host's IP address is not valid"
        }
        _ => "it is not a valid URL",
    };
    format!("{part} (postgres://user:password@host:port/database?option=value)")
}

/// The `key=value` pairs of a libpq connection string (values may be single-quoted,
/// with `\` escapes).
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // Never quote the word: it may be a password, or a whole URL of another kind.
            return Err(if key.contains("://") {
                "a connection string is a postgres:// (or postgresql://) URL or key=value \
                 pairs; this one is neither"
                    .to_owned()
            } else {
                format!(
                    "word {} has no `=value`: a key=value connection string is pairs such as \
                     host=db user=app password='secret' dbname=shop",
                    pairs.len() + 1
                )
            });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("unterminated quoted value")?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err("invalid connection string: unterminated quote".to_owned()),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(
                        chars
                            .next()
                            .ok_or("invalid connection string: trailing \\")?,
                    );
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// What connects to the server: rustls (feature `tls`), or plain TCP.
#[derive(Clone)]
pub(crate) enum Connector {
    /// TLS as [`TlsConfig`] asks.
    #[cfg(feature = "tls")]
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
    /// No TLS: `sslmode=disable` or `prefer` in a build without the `tls` feature.
    #[cfg_attr(feature = "tls", allow(dead_code))]
    Plain,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            #[cfg(feature = "tls")]
            Connector::Rustls(_) => "Connector::Rustls",
            Connector::Plain => "Connector::Plain",
        })
    }
}

impl Connector {
    /// A pool manager connecting with `settings` through this connector.
    #[cfg(any(feature = "oauth", feature = "audit"))]
    pub(crate) fn manager(
        &self,
        settings: tokio_postgres::Config,
        config: deadpool_postgres::ManagerConfig,
    ) -> deadpool_postgres::Manager {
        match self {
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => {
                deadpool_postgres::Manager::from_config(settings, tls.clone(), config)
            }
            Connector::Plain => {
                deadpool_postgres::Manager::from_config(settings, tokio_postgres::NoTls, config)
            }
        }
    }

    /// Sends a cancel request for the statement running on `token`'s connection, over
    /// `socket` (to `host`), for a connection Sluice opened itself
    /// ([`crate::database::connections`]).
    pub(crate) async fn cancel_raw(
        &self,
        token: &tokio_postgres::CancelToken,
        socket: crate::database::connections::Socket,
        host: &str,
    ) -> Result<(), crate::database::connections::ConnectionError> {
        match self {
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => {
                use crate::database::connections::ConnectionError;
                use tokio_postgres::tls::MakeTlsConnect;
                let connect = <tokio_postgres_rustls::MakeRustlsConnect as MakeTlsConnect<
                    crate::database::connections::Socket,
                >>::make_tls_connect(&mut tls.clone(), host)
                .map_err(|e| ConnectionError::Tls(e.to_string()))?;
                Ok(token.cancel_query_raw(socket, connect).await?)
            }
            Connector::Plain => {
                let _ = host;
                Ok(token
                    .cancel_query_raw(socket, tokio_postgres::NoTls)
                    .await?)
            }
        }
    }

    /// Sends a cancel request for the statement running on `token`'s connection.
    pub(crate) async fn cancel(
        &self,
        token: &tokio_postgres::CancelToken,
    ) -> Result<(), tokio_postgres::Error> {
        match self {
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => token.cancel_query(tls.clone()).await,
            Connector::Plain => token.cancel_query(tokio_postgres::NoTls).await,
        }
    }
}

/// The connector for `tls`.
#[cfg(feature = "tls")]
pub(crate) fn connector(tls: &TlsConfig) -> Result<Connector, String> {
    rustls::connector(tls).map(Connector::Rustls)
}

/// The connector for `tls` in a build without TLS: plain, unless TLS is required.
#[cfg(not(feature = "tls"))]
pub(crate) fn connector(tls: &TlsConfig) -> Result<Connector, String> {
    match tls.mode {
        TlsMode::Disable | TlsMode::Prefer => Ok(Connector::Plain),
        _ => Err("sslmode asks for TLS, and this build of sluice-postgres has none (enable its `tls` feature)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_come_out_of_urls() {
        let (rest, tls, _) = split_options(
            "postgres://me:secret@db.example.com:6543/app?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            rest,
            "postgres://me:secret@db.example.com:6543/app?application_name=x"
        );
        let (rest, tls, _) = split_options("postgresql://localhost/app?sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgresql://localhost/app", TlsMode::Require)
        );
        let (_, tls, _) = split_options("postgres://localhost/app").unwrap();
        assert_eq!(tls, TlsConfig::default());
    }

    #[test]
    fn tls_options_come_out_of_key_value_strings() {
        let (rest, tls, _) =
            split_options("host=db user=me password='a b\\'c' sslmode=verify-ca dbname=app")
                .unwrap();
        assert_eq!(tls.mode, TlsMode::VerifyCa);
        assert_eq!(rest, "host='db' user='me' password='a b\\'c' dbname='app'");
        let parsed: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"a b'c"[..]));
    }

    #[test]
    fn bad_tls_options_are_refused_with_a_reason() {
        assert!(
            split_options("host=db sslmode=sometimes")
                .unwrap_err()
                .contains("invalid sslmode")
        );
        assert!(
            split_options("postgres://db/app?sslcert=/c.pem")
                .unwrap_err()
                .contains("client certificates")
        );
        assert!(split_options("host=db password='open").is_err());
    }

    /// A bad connection string's error names the part and never repeats a secret.
    #[test]
    fn errors_name_the_part_and_keep_secrets() {
        for (text, says) in [
            ("postgres://app:pa/ss@db/shop", "percent-encoded"),
            ("postgres://app:pa#ss@db/shop", "percent-encoded"),
            ("postgres://app:pa?ss@db/shop", "percent-encoded"),
            ("postgres://app:s3cret@db:99999/shop", "port"),
            ("mysql://app:s3cret@db/shop", "neither"),
            ("host=db s3cret dbname=shop", "word 2"),
        ] {
            let error = crate::config::parse_connection_string(text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(says), "{text}: {error}");
            for secret in ["s3cret", "pa/ss", "pa#ss", "pa?ss", "ss@db"] {
                assert!(!error.contains(secret), "{text}: {error}");
            }
        }
    }
}
