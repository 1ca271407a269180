//! `/mcp`: MCP's Streamable HTTP, on the front door. The front door authenticates
//! (bearer token), checks Origin and Host, takes a connection slot and bounds the
//! body, exactly as for a WebSocket; what the MCP request means is the
//! [`McpEndpoint`]'s (the binary plugs `tether-mcp` in). Replies stream: an SSE body
//! is written chunk by chunk as the endpoint produces it.

use std::future::Future;
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::front::Transport;
use crate::http::{self, RequestHead};
use crate::listener::Shared;

/// One HTTP request to `/mcp`, authenticated.
pub struct McpRequest {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The bearer token the request authenticated with (`None` when auth is off): the
    /// endpoint acts as this identity and no other.
    pub token: Option<String>,
}

pub type McpBody = Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>;

pub struct McpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: McpBody,
}

pub trait McpEndpoint: Send + Sync + 'static {
    fn handle(&self, request: McpRequest) -> Pin<Box<dyn Future<Output = McpResponse> + Send>>;
}

pub(crate) fn is_mcp(head: &RequestHead) -> bool {
    head.path == "/mcp" || head.path.starts_with("/mcp?")
}

pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: &RequestHead,
    leftover: Vec<u8>,
    transport: Transport,
    shared: &Shared,
) -> std::io::Result<()> {
    let Some(endpoint) = &shared.config.mcp else {
        return http::respond_text(stream, 404, "no MCP endpoint\n").await;
    };
    if let Err((status, why)) = crate::front::check_browser(head, transport, shared) {
        return http::respond_text(stream, status, &format!("{why}\n")).await;
    }
    match crate::front::bearer(head, shared) {
        Ok(Some(_)) => {}
        Ok(None) if shared.config.authenticator.is_none() => {}
        Ok(None) => return unauthorized(stream).await,
        Err((status, why)) => return http::respond_text(stream, status, &format!("{why}\n")).await,
    }
    // An MCP exchange may stream for as long as a WebSocket lives: it holds a connection slot.
    let Ok(_gate) = crate::front::admit(shared, true, transport) else {
        let why = format!("too many connections (max_connections = {})\n", shared.connections.max());
        return http::respond_text(stream, 503, &why).await;
    };
    let limit = shared.config.connection.limits.max_message_bytes;
    let body = match http::content_length(head) {
        Ok(None) => Vec::new(),
        Ok(Some(n)) if n > limit as u64 => {
            let why = format!("an MCP message is at most limits.max_message_bytes = {limit} bytes\n");
            return http::respond_text(stream, 413, &why).await;
        }
        Ok(Some(n)) => {
            let timeout = shared.config.connection.limits.head_timeout();
            match tokio::time::timeout(timeout, http::read_body(stream, leftover, n as usize)).await {
                Ok(Ok(body)) => body,
                _ => return Ok(()),
            }
        }
        Err(why) => return http::respond_text(stream, 400, &format!("ambiguous body framing: {why}\n")).await,
    };
    let token = head
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(|token| token.trim().to_owned());
    let headers = head.all().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
    let request = McpRequest { method: head.method.clone(), path: head.path.clone(), headers, body, token };
    let response = endpoint.handle(request).await;
    write_streaming(stream, response).await
}

async fn unauthorized<S: AsyncWrite + Unpin>(stream: &mut S) -> std::io::Result<()> {
    let body = "/mcp needs `Authorization: Bearer <token>`\n";
    let response = format!(
        "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await
}

/// The status and headers, then the body in chunked encoding as it comes.
async fn write_streaming<S: AsyncWrite + Unpin>(stream: &mut S, mut response: McpResponse) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, http::reason(response.status));
    for (name, value) in &response.headers {
        let framing = ["content-length", "transfer-encoding", "connection"];
        if framing.iter().any(|f| name.eq_ignore_ascii_case(f)) || value.contains(['\r', '\n']) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    while let Some(chunk) = response.body.next().await {
        if chunk.is_empty() {
            continue;
        }
        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
        stream.write_all(&chunk).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await?;
    }
    stream.write_all(b"0\r\n\r\n").await?;
    stream.flush().await
}
