//! TLS to PostgreSQL, chosen as libpq chooses it: by `sslmode` (and `sslrootcert`) in the
//! store URL, in either form (`postgres://…?sslmode=verify-full&sslrootcert=/ca.pem`, or
//! `host=… sslmode=verify-full sslrootcert=/ca.pem`). rustls (the `ring` provider) through
//! `tokio-postgres-rustls`:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default) | if the server offers it | not checked (libpq's meaning) |
//! | `require` | always, or the connection fails | not checked (libpq's meaning) |
//! | `verify-full` | always | chain to `sslrootcert` (a PEM file; `system` or absent: the platform's roots) and the host name |
//!
//! `verify-ca` (a chain without the name) is refused with a message: use `verify-full`.
//! A Unix socket never carries TLS (PostgreSQL offers none there).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::Config;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A connection error with its causes ("db error: FATAL: no pg_hba.conf entry …",
/// "error performing TLS handshake: invalid peer certificate: UnknownIssuer"), where
/// tokio-postgres's own text stops at the first.
pub fn explain(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    text
}

/// How the store URL asks to verify the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt (when TLS is used) but accept any certificate: libpq's `prefer`/`require`.
    Nothing,
    /// The chain to a trusted root, and the host name: `verify-full`.
    Full,
}

/// The connector every connection of the store uses (the pool's, the writer's, the
/// listener's). It wraps `MakeRustlsConnect` only to give a Unix socket, which has no
/// host name, a placeholder one: tokio-postgres asks for a connector before it knows
/// the server will refuse TLS there, and rustls refuses an empty name.
#[derive(Clone)]
pub struct Tls(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for Tls
where
    MakeRustlsConnect: MakeTlsConnect<S>,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<Self::TlsConnect, Self::Error> {
        let name = if hostname.is_empty() { "localhost" } else { hostname };
        <MakeRustlsConnect as MakeTlsConnect<S>>::make_tls_connect(&mut self.0, name)
    }
}

/// Where the store's connections go: tokio-postgres's `Config` and the TLS connector.
#[derive(Clone)]
pub struct Database {
    pub config: Config,
    pub tls: Tls,
}

impl Database {
    pub fn from_url(url: &str) -> Result<Database, String> {
        let (config, tls, _) = parse(url)?;
        Ok(Database { config, tls })
    }

    pub async fn connect(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, <Tls as MakeTlsConnect<tokio_postgres::Socket>>::Stream>,
        ),
        tokio_postgres::Error,
    > {
        self.config.connect(self.tls.clone()).await
    }
}

/// The store URL as tokio-postgres's `Config` (libpq's TLS options taken out and applied
/// here), and the connector for it.
pub fn parse(url: &str) -> Result<(Config, Tls, Verify), String> {
    let (rest, mode, root) = take_tls_options(url);
    let mut config = Config::from_str(&rest).map_err(|e| e.to_string())?;
    let (ssl_mode, verify) = match mode.as_deref() {
        None | Some("prefer") => (SslMode::Prefer, Verify::Nothing),
        Some("disable") => (SslMode::Disable, Verify::Nothing),
        Some("require") => (SslMode::Require, Verify::Nothing),
        Some("verify-full") => (SslMode::Require, Verify::Full),
        Some("verify-ca") => {
            return Err(
                "sslmode=verify-ca is not supported: use verify-full (the chain and the host name) or require".into()
            );
        }
        Some(other) => return Err(format!("sslmode={other}: expected disable, prefer, require or verify-full")),
    };
    if root.is_some() && verify != Verify::Full {
        return Err("sslrootcert is used with sslmode=verify-full only".into());
    }
    config.ssl_mode(ssl_mode);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let client = match verify {
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        Verify::Full => builder.with_root_certificates(roots(root.as_deref())?).with_no_client_auth(),
    };
    Ok((config, Tls(MakeRustlsConnect::new(client)), verify))
}

/// The roots `verify-full` trusts: `sslrootcert`'s certificates, or the platform's.
fn roots(root: Option<&str>) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    match root {
        None | Some("system") => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(
                    "sslmode=verify-full: no system root certificates found; give sslrootcert=<PEM file>".into()
                );
            }
        }
        Some(path) => {
            let failed = |why: String| format!("sslrootcert {path}: {why}");
            let certs = CertificateDer::pem_file_iter(Path::new(path))
                .map_err(|e| failed(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| failed(e.to_string()))?;
            if certs.is_empty() {
                return Err(failed("no PEM certificate in it".into()));
            }
            for cert in certs {
                store.add(cert).map_err(|e| failed(e.to_string()))?;
            }
        }
    }
    Ok(store)
}

/// Takes `sslmode` and `sslrootcert` out of a URL (`?a=b&…`) or key=value string; what is
/// left, and their values.
fn take_tls_options(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |key: &str, value: &str| match key {
        "sslmode" => mode = Some(value.to_owned()),
        "sslrootcert" => root = Some(value.to_owned()),
        _ => {}
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    match pair.split_once('=') {
                        Some((key @ ("sslmode" | "sslrootcert"), value)) => {
                            take(key, &percent_encoding::percent_decode_str(value).decode_utf8_lossy())
                        }
                        _ => kept.push(pair),
                    }
                }
                if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
            }
        }
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            match word.split_once('=') {
                Some((key @ ("sslmode" | "sslrootcert"), value)) => take(key, value.trim_matches('\'')),
                _ => kept.push(word),
            }
        }
        kept.join(" ")
    };
    (rest, mode, root)
}

/// libpq's `prefer` and `require`: any certificate is accepted (the connection is
/// encrypted, not authenticated), but the handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_options_are_taken_out_of_either_form() {
        let (rest, mode, root) = take_tls_options(
            "postgres://u@db.example:5432/t?sslmode=verify-full&application_name=x&sslrootcert=%2Fca%20dir%2Fca.pem",
        );
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root.as_deref()),
            ("postgres://u@db.example:5432/t?application_name=x", Some("verify-full"), Some("/ca dir/ca.pem"))
        );
        let (rest, mode, root) = take_tls_options("host=db.example user=u sslmode=require dbname=t");
        assert_eq!((rest.as_str(), mode.as_deref(), root), ("host=db.example user=u dbname=t", Some("require"), None));
        assert_eq!(take_tls_options("host=/run/postgresql dbname=t").0, "host=/run/postgresql dbname=t");
    }

    #[test]
    fn unknown_or_unsupported_modes_are_refused_by_name() {
        let refused = |url: &str| parse(url).err().unwrap_or_default();
        assert!(refused("host=h sslmode=verify-ca").contains("verify-ca is not supported"));
        assert!(refused("host=h sslmode=sometimes").contains("sslmode=sometimes"));
        assert!(refused("host=h sslmode=require sslrootcert=/x.pem").contains("verify-full only"));
        assert!(refused("host=h sslmode=verify-full sslrootcert=/nonexistent.pem").contains("/nonexistent.pem"));
        assert_eq!(parse("host=h sslmode=verify-full").map(|p| p.2).ok(), Some(Verify::Full));
        assert_eq!(parse("host=h").map(|p| p.0.get_ssl_mode()).ok(), Some(SslMode::Prefer));
    }
}
