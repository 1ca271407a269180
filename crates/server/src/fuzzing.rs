//! The front door's parsing for the fuzz targets (feature `fuzzing`, off in the daemon):
//! a request head read from arbitrary bytes, then every check the door makes on it.

use tether_core::{Authenticator, Grant};

use crate::{credential, http};

struct OneToken;

impl Authenticator for OneToken {
    fn verify(&self, token: &str) -> Option<Grant> {
        (token == "fuzz-token").then(Grant::default)
    }
}

/// Any bytes as what a peer sends first: the head (size, framing, headers), the body's
/// framing (`Content-Length`, `Transfer-Encoding`), the Host check, and the credential
/// (bearer, `X-Tether-Agent`, `Sec-WebSocket-Protocol` values).
pub fn http_head(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut stream = data;
    let Ok((head, _rest)) = runtime.block_on(http::read_head(&mut stream)) else { return };
    let _ = http::content_length(&head);
    if let Some(host) = head.header("host") {
        let _ = http::is_loopback_host(host);
    }
    let _ = head.is_websocket_upgrade();
    let _ = credential::prove(&head, Some(&OneToken), 256);
    let _ = credential::prove(&head, None, 256);
}
