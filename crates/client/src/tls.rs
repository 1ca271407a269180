//! TLS for `wss://`: rustls (the `ring` provider) verifying the server against the
//! platform's roots (the system's CA store as `rustls-native-certs` finds it, which
//! honours `SSL_CERT_FILE` and `SSL_CERT_DIR`) plus, for a private CA, the certificates
//! of a PEM file (`--ca-file`, `$TETHER_CA_FILE`). The name in the URL must match the
//! certificate (no "insecure" switch).

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::ClientError;

/// A client configuration that trusts the platform's roots and `ca_file`'s certificates.
///
/// Fails when `ca_file` cannot be read or holds no certificate, or when there is no root
/// at all to trust.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let failed = |why: String| ClientError::Tls(format!("CA file {}: {why}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| failed(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.to_string()))?;
        if certs.is_empty() {
            return Err(failed("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| failed(e.to_string()))?;
        }
    } else if added == 0 {
        let why = native.errors.first().map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(ClientError::Tls(format!(
            "no trusted root certificates ({why}); install the system's CA certificates or pass --ca-file"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS stream over TCP to `authority` (`host:port`, `[v6]:port`), the certificate
/// verified for `host`: for plain HTTP beside the WebSocket (`GET /healthz`).
pub async fn connect(
    authority: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::Tls(format!("{host}: {e}")))?;
    let tcp = tokio::net::TcpStream::connect(authority).await?;
    tcp.set_nodelay(true)?;
    Ok(tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?)
}
