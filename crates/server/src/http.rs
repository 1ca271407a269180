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

    /// Every header whose value is valid UTF-8, in order.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers.iter().filter_map(|(n, v)| Some((n.as_str(), std::str::from_utf8(v).ok()?.trim())))
    }

    /// Every value of a header, case-insensitively, that is valid UTF-8.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    #[cfg(test)]
    pub fn for_test(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
        let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec())).collect();
        RequestHead { method: method.to_owned(), path: path.to_owned(), headers }
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

/// The body length of a request that must frame its body with exactly one plain
/// `Content-Length`. Anything a proxy in front might read differently from this server
/// (request smuggling) is refused: `Transfer-Encoding`, two `Content-Length` headers
/// (even equal ones), or a value that is not just digits (`+5`, `-1`, `1 2`).
/// `Ok(None)`: no `Content-Length` at all. A value too large for `u64` is `u64::MAX`.
pub(crate) fn content_length(head: &RequestHead) -> Result<Option<u64>, &'static str> {
    if head.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding")) {
        return Err("Transfer-Encoding is not accepted; send the body with one Content-Length");
    }
    let mut values = head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    let Some((_, value)) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err("more than one Content-Length");
    }
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err("Content-Length must be decimal digits only");
    }
    let length = value.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    Ok(Some(length.unwrap_or(u64::MAX)))
}

/// Whether a `Host` header names this machine by loopback: `localhost`, `127.x.y.z` or
/// `[::1]`, each with an optional port. Parsed as an authority (RFC 3986: no userinfo,
/// a bracketed IPv6 literal or a name, then at most `:port`), so `[::1]evil.example`,
/// `127.0.0.1.evil.example` and `localhost:80@evil` are not mistaken for loopback.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    // `rest` is what follows the host: nothing, or `:port`.
    let (loopback, rest) = match host.strip_prefix('[') {
        Some(bracketed) => {
            let Some((literal, rest)) = bracketed.split_once(']') else { return false };
            (literal.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()), rest)
        }
        None => {
            let (name, rest) = host.split_at(host.find(':').unwrap_or(host.len()));
            let ipv4 = || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
            (name.eq_ignore_ascii_case("localhost") || ipv4(), rest)
        }
    };
    let port_ok = rest.is_empty()
        || rest.strip_prefix(':').is_some_and(|port| {
            (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
        });
    loopback && port_ok
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

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_parsed_as_authorities() {
        for ok in ["localhost", "localhost:9100", "LOCALHOST", "127.0.0.1", "127.0.0.1:9100", "127.1.2.3:9", "[::1]"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        assert!(is_loopback_host("[::1]:9100"));
        for bad in [
            "[::1]evil.example",
            "[::1]:9100evil",
            "[::1]:",
            "127.0.0.1.evil.example",
            "localhost:80@evil",
            "user@localhost",
            "user:pw@127.0.0.1:9100",
            "localhost:",
            "localhost:99999",
            "localhost:+80",
            "localhost:80:80",
            "localhost.",
            "localhost.evil.com",
            "evil.com",
            "evil.com:9100",
            "10.0.0.1:9100",
            "[::2]:1",
            "[::1",
            "0.0.0.0",
            "127.1",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn body_framing_must_be_one_plain_content_length() {
        let length = |headers: &[(&str, &str)]| content_length(&RequestHead::for_test("POST", "/hooks", headers));
        assert_eq!(length(&[("content-length", "42")]), Ok(Some(42)));
        assert_eq!(length(&[]), Ok(None));
        assert_eq!(length(&[("content-length", "99999999999999999999999")]), Ok(Some(u64::MAX)));
        for bad in [
            &[("content-length", "5"), ("transfer-encoding", "chunked")][..],
            &[("transfer-encoding", "chunked")],
            &[("content-length", "5"), ("Content-Length", "5")],
            &[("content-length", "5"), ("content-length", "6")],
            &[("content-length", "+5")],
            &[("content-length", "-1")],
            &[("content-length", "1 2")],
            &[("content-length", "0x10")],
            &[("content-length", "")],
        ] {
            assert!(length(bad).is_err(), "{bad:?}");
        }
    }
}
