//! Just enough HTTP/1.1 for the WebSocket upgrade and the plain endpoints.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest request head accepted; longer ones get 431.
pub(crate) const MAX_HEAD_BYTES: usize = 16 << 10;
const MAX_HEADERS: usize = 64;

pub(crate) struct RequestHead {
    pub method: String,
    pub path: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    /// The first value of a header, case-insensitively, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// True when a comma-separated header lists `token` (e.g. `Connection: keep-alive, Upgrade`).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.method == "GET"
            && self.header_has_token("connection", "upgrade")
            && self.header_has_token("upgrade", "websocket")
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
    #[error("connection closed before the request head ended")]
    Eof,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one request head. Returns it with any bytes read past its end.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let want = (MAX_HEAD_BYTES - buf.len()).min(4096);
        let n = (&mut *stream).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(HeadError::Eof);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf).map_err(HeadError::Malformed)? {
            httparse::Status::Partial => continue,
            httparse::Status::Complete(len) => {
                let head = RequestHead {
                    method: request.method.unwrap_or_default().to_owned(),
                    path: request.path.unwrap_or_default().to_owned(),
                    headers: request.headers.iter().map(|h| (h.name.to_owned(), h.value.to_owned())).collect(),
                };
                return Ok((head, buf.split_off(len)));
            }
        }
    }
}

/// Reads a body of `length` bytes, starting with what was read past the head.
pub(crate) async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    mut body: Vec<u8>,
    length: usize,
) -> std::io::Result<Vec<u8>> {
    body.truncate(length);
    let mut rest = vec![0; length - body.len()];
    stream.read_exact(&mut rest).await?;
    body.extend_from_slice(&rest);
    Ok(body)
}

/// Writes a complete response with a body and closes nothing: the caller drops the stream.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        reason(status),
        body.len(),
    );
    stream.write_all(response.as_bytes()).await?;
    stream.flush().await
}

pub(crate) async fn respond_text<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    body: &str,
) -> std::io::Result<()> {
    respond(stream, status, "text/plain; charset=utf-8", body).await
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}
