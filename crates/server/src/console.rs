//! `GET /console/…`: the web console's static files, with a strict Content-Security-Policy.
//! The files come from a [`Site`] (compiled into the binary); the page logs in over the
//! WebSocket, so nothing here needs or sees a credential.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::http::RequestHead;

/// One static file.
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
}

/// The console's files by name (`index.html`, `app.js`, …).
pub trait Site: Send + Sync + 'static {
    fn asset(&self, name: &str) -> Option<Asset>;
}

/// Scripts, styles and connections only from this origin (WebSocket included), no inline
/// script, no framing, no plugins, no forms, no `<base>`.
fn policy(head: &RequestHead, tls: bool) -> String {
    let host = head.header("host").unwrap_or("localhost");
    let ws = if tls { "wss" } else { "ws" };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {ws}://{host}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Serves `path` (under `/console`) from `site`; `None` when it is not a console path.
pub(crate) async fn serve<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &RequestHead,
    site: &dyn Site,
    tls: bool,
) -> Option<std::io::Result<()>> {
    let path = head.path.split(['?', '#']).next().unwrap_or_default();
    let name = match path {
        "/console" => return Some(redirect(stream, "/console/").await),
        "/console/" => "index.html",
        other => other.strip_prefix("/console/")?,
    };
    let response = match site.asset(name) {
        Some(asset) => {
            let head_text = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\ncontent-security-policy: {}\r\n\
                 x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\ncache-control: no-cache\r\n\
                 cross-origin-opener-policy: same-origin\r\nconnection: close\r\n\r\n",
                asset.content_type,
                asset.body.len(),
                policy(head, tls),
            );
            write(stream, head_text.as_bytes(), asset.body).await
        }
        None => crate::http::respond_text(stream, 404, &format!("no console file {name:?}\n")).await,
    };
    Some(response)
}

async fn redirect<S: AsyncWrite + Unpin>(stream: &mut S, to: &str) -> std::io::Result<()> {
    let text =
        format!("HTTP/1.1 308 Permanent Redirect\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    write(stream, text.as_bytes(), b"").await
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    stream.write_all(head).await?;
    stream.write_all(body).await?;
    stream.flush().await
}
