//! The TCP listener's own TLS (`tether serve --tls-cert/--tls-key`): rustls with the
//! `ring` provider, as the client side uses. Without it the TCP port speaks plain
//! HTTP and WebSocket, for loopback or a TLS-terminating proxy in front.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What [`server_config`] makes, for [`crate::ServerConfig::tls`].
pub type Config = rustls::ServerConfig;

/// The server configuration for `cert` (PEM: the certificate, then any intermediates)
/// and `key` (PEM: its private key, PKCS#8, PKCS#1 or SEC1). Each error names the
/// file and the flag (and config key) that gave it.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<Config>, String> {
    let cert_error = |why: String| format!("TLS certificate {} (--tls-cert, tls_cert): {why}", cert.display());
    let key_error = |why: String| format!("TLS key {} (--tls-key, tls_key): {why}", key.display());
    let cert_pem = std::fs::read(cert).map_err(|e| cert_error(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in it".into()));
    }
    let key_pem = std::fs::read(key).map_err(|e| key_error(e.to_string()))?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => key_error("no PEM private key in it".into()),
        other => key_error(other.to_string()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| format!("TLS certificate {} and key {}: {e}", cert.display(), key.display()))?;
    Ok(Arc::new(config))
}
