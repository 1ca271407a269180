//! Telling someone that an approval waits: a JSON POST to `hooks.notify_url`, sent
//! from its own task (a hook never waits on it), retried with doubling backoff. The
//! body suits Slack-style receivers (`text`) and ntfy-style ones (`title`, `message`,
//! `click`, and `topic` when configured) and carries the approval itself.
//!
//! Plain `http://` only, over a bare TCP stream (no HTTP client is in the dependency
//! tree, and one POST needs none); put a relay in front for `https://` receivers.

use std::time::Duration;

use serde_json::{Value, json};
use tether_proto::hooks::Approval;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What `[hooks]` says about notifications.
#[derive(Clone)]
pub(crate) struct Notify {
    pub(crate) url: String,
    pub(crate) console_url: String,
    pub(crate) topic: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) backoff: Duration,
    pub(crate) timeout: Duration,
}

/// The parts of an `http://host[:port]/path` URL.
pub(crate) fn parse(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: needs a host (and no user info)"));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path))
}

/// The body a receiver gets.
pub(crate) fn body(approval: &Approval, console_url: &str, topic: Option<&str>) -> Value {
    let input = tether_core::excerpt(&approval.input.to_string(), 200);
    let tool = approval.tool.as_deref().unwrap_or(&approval.event);
    let whose = approval.session_id.as_deref().or(approval.agent_id.as_deref()).unwrap_or("-");
    let rule = approval.rule.as_deref().unwrap_or("-");
    let link = format!("{console_url}#/approvals");
    let title = format!("tether: approve {tool}?");
    let message = format!("{tool} in {whose} (rule {rule}): {input}");
    let mut body = json!({
        "text": format!("{title} {message} {link}"),
        "title": title,
        "message": message,
        "click": link,
        "console_url": link,
        "approval": approval,
    });
    if let Some(topic) = topic {
        body["topic"] = json!(topic);
    }
    body
}

impl Notify {
    /// Sends in the background; failures are logged, never returned.
    pub(crate) fn send(&self, approval: &Approval) {
        let notify = self.clone();
        let body = body(approval, &self.console_url, self.topic.as_deref()).to_string();
        let id = approval.approval_id.clone();
        tokio::spawn(async move {
            let mut delay = notify.backoff;
            for attempt in 1..=notify.attempts.max(1) {
                match tokio::time::timeout(notify.timeout, post(&notify.url, &body)).await {
                    Ok(Ok(())) => return tracing::debug!(approval = %id, attempt, "approval notification sent"),
                    Ok(Err(error)) => tracing::debug!(approval = %id, attempt, %error, "approval notification failed"),
                    Err(_) => tracing::debug!(approval = %id, attempt, "approval notification timed out"),
                }
                if attempt < notify.attempts {
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
            }
            tracing::warn!(approval = %id, url = %notify.url, "approval notification not delivered (hooks.notify_attempts)");
        });
    }
}

/// One POST; `Ok` for a 2xx status.
async fn post(url: &str, body: &str) -> Result<(), String> {
    let (authority, path) = parse(url)?;
    let mut stream = tokio::net::TcpStream::connect(&authority).await.map_err(|e| e.to_string())?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    // The status line is all that matters; read no more than its first bytes.
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.map_err(|e| e.to_string())?;
    let status = std::str::from_utf8(&head[9..12]).ok().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        other => Err(format!("status {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(parse("http://127.0.0.1:9/hook?x=1").unwrap(), ("127.0.0.1:9".into(), "/hook?x=1".into()));
        assert_eq!(parse("http://relay").unwrap(), ("relay:80".into(), "/".into()));
        assert!(parse("https://hooks.slack.com/x").is_err());
        assert!(parse("http://user@host/").is_err());
    }
}
