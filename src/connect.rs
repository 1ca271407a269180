//! How the command-line tools find and reach the daemon: `--url`, `--socket`,
//! `$TETHER_URL`, the Unix socket in the data directory when it exists, else the
//! default port; the token from `$TETHER_TOKEN` or the token file.

use std::path::PathBuf;

use tether_client::{Client, ClientBuilder};

use crate::cli::Target;

pub fn data_dir(target: &Target) -> Option<PathBuf> {
    target.data_dir.clone().or_else(crate::config::default_data_dir)
}

/// Where the operator token is read from.
pub fn token_path(target: &Target) -> Option<PathBuf> {
    target.token_file.clone().or_else(|| data_dir(target).map(|d| d.join("auth-token")))
}

pub fn token(target: &Target) -> Result<String, String> {
    if let Ok(token) = std::env::var("TETHER_TOKEN")
        && !token.is_empty()
    {
        return Ok(token);
    }
    let path = token_path(target).ok_or("no token: set TETHER_TOKEN or pass --token-file")?;
    match std::fs::read_to_string(&path) {
        Ok(token) => Ok(token.trim().to_owned()),
        // The usual cause: this shell's TETHER_HOME is not the daemon's.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "no token found at {} (the daemon writes it there on first start): point TETHER_HOME or \
             --data-dir at the daemon's data directory, or set TETHER_TOKEN, or pass --token-file",
            path.display()
        )),
        Err(e) => Err(format!("token file {}: {e}", path.display())),
    }
}

/// Where the daemon is: a WebSocket URL or a Unix socket.
enum Endpoint {
    Url(String),
    Unix(PathBuf),
}

fn endpoint(target: &Target) -> Endpoint {
    let env_url = std::env::var("TETHER_URL").ok().filter(|u| !u.is_empty());
    match (&target.url, &target.socket, env_url) {
        (Some(url), _, _) => Endpoint::Url(url.clone()),
        (None, Some(path), _) => Endpoint::Unix(path.clone()),
        (None, None, Some(url)) => Endpoint::Url(url),
        (None, None, None) => match data_dir(target).map(|d| d.join("tether.sock")).filter(|p| p.exists()) {
            Some(path) => Endpoint::Unix(path),
            None => Endpoint::Url(format!("ws://{}", crate::config::DEFAULT_LISTEN)),
        },
    }
}

/// The CA file a `wss://` URL is also verified against: `--ca-file`, else `$TETHER_CA_FILE`.
fn ca_file(target: &Target) -> Option<PathBuf> {
    target.ca_file.clone().or_else(|| std::env::var_os("TETHER_CA_FILE").filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn builder(target: &Target) -> ClientBuilder {
    let builder = match endpoint(target) {
        Endpoint::Url(url) => Client::builder(url),
        Endpoint::Unix(path) => Client::builder_unix(path),
    };
    match ca_file(target) {
        Some(path) => builder.ca_file(path),
        None => builder,
    }
}

/// `GET /healthz` over the same endpoint (the daemon serves plain HTTP on both).
pub async fn healthz(target: &Target) -> Result<serde_json::Value, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut response = Vec::new();
    let failed = |e: std::io::Error| format!("cannot reach the daemon: {e}");
    match endpoint(target) {
        Endpoint::Url(url) if tether_client::is_wss(&url) => {
            let host = url[6..].split('/').next().unwrap_or_default();
            let config = tether_client::tls::client_config(ca_file(target).as_deref()).map_err(|e| e.to_string())?;
            let mut stream =
                tether_client::tls::connect(host, config).await.map_err(|e| format!("cannot reach the daemon: {e}"))?;
            stream.write_all(request).await.map_err(failed)?;
            // A peer that closes without TLS's close_notify ends the answer all the same.
            match stream.read_to_end(&mut response).await {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
                other => {
                    other.map_err(failed)?;
                }
            }
        }
        Endpoint::Url(url) => {
            let host = url.trim_start_matches("ws://").trim_start_matches("http://");
            let host = host.split('/').next().unwrap_or(host);
            let mut stream = tokio::net::TcpStream::connect(host).await.map_err(failed)?;
            stream.write_all(request).await.map_err(failed)?;
            stream.read_to_end(&mut response).await.map_err(failed)?;
        }
        Endpoint::Unix(path) => {
            let mut stream = tokio::net::UnixStream::connect(path).await.map_err(failed)?;
            stream.write_all(request).await.map_err(failed)?;
            stream.read_to_end(&mut response).await.map_err(failed)?;
        }
    }
    let text = String::from_utf8_lossy(&response);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).map_err(|e| format!("unexpected /healthz answer: {e}"))
}

/// An authenticated, handshaken connection, or why not.
pub async fn connect(target: &Target) -> Result<Client, String> {
    connect_with(target, &[]).await
}

/// [`connect`], negotiating `capabilities` as optional ones.
pub async fn connect_with(target: &Target, capabilities: &[&str]) -> Result<Client, String> {
    let token = token(target)?;
    let mut builder = builder(target).token(token);
    for capability in capabilities {
        builder = builder.optional_capability(*capability);
    }
    builder.connect().await.map_err(|e| format!("{e} (tried {})", describe(target)))
}

/// Where the commands look for the daemon, for an error that says where it tried.
pub fn describe(target: &Target) -> String {
    match endpoint(target) {
        Endpoint::Url(url) => url,
        Endpoint::Unix(path) => format!("the Unix socket {}", path.display()),
    }
}
