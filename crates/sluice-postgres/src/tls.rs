//! TLS for database connections, chosen by the connection string's `sslmode` as libpq
//! chooses it, carried out with rustls.
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

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

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
pub struct TlsConfig {
    /// How to encrypt and what to check.
    pub mode: TlsMode,
    /// A PEM file of root certificates to trust instead of the system's (`sslrootcert`).
    pub root_cert: Option<PathBuf>,
}

impl TlsConfig {
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

/// The rustls connector for `tls`.
pub(crate) fn connector(tls: &TlsConfig) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let check = match (tls.mode, &tls.root_cert) {
        (TlsMode::Disable | TlsMode::Prefer, _) | (TlsMode::Require, None) => Check::Nothing,
        (TlsMode::Require | TlsMode::VerifyCa, Some(_)) | (TlsMode::VerifyCa, None) => Check::Chain,
        (TlsMode::VerifyFull, _) => Check::ChainAndName,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(AcceptAny { provider }),
        Check::Chain | Check::ChainAndName => {
            let roots = Arc::new(roots(tls.root_cert.as_ref())?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("TLS set-up: {e}"))?;
            if matches!(check, Check::Chain) {
                Arc::new(ChainOnly { inner: webpki })
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

fn roots(file: Option<&PathBuf>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            for certificate in certificates {
                let certificate = certificate
                    .map_err(|e| format!("invalid certificate in {}: {e}", path.display()))?;
                store
                    .add(certificate)
                    .map_err(|e| format!("unusable certificate in {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!(%error, "skipping part of the system certificate store");
            }
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "no root certificates in the system store: install them (ca-certificates) \
                     or name a PEM file with sslrootcert"
                        .to_owned(),
                );
            }
        }
    }
    if store.is_empty() {
        return Err("the root certificate file holds no certificate".to_owned());
    }
    Ok(store)
}

/// Checks the handshake's signatures (the server holds the key of the certificate it
/// sent) but not the certificate itself: libpq's `prefer` and `require`.
#[derive(Debug)]
struct AcceptAny {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Checks the certificate chain against the roots but not the host name: `verify-ca`.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
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
}
