//! The body of `POST /hooks`, read so that every hook can still be judged: a body
//! too large for `limits.max_message_bytes`, or too deep to parse, is read through
//! `tether_core::skim` (no buffering, no recursion) and handed on in its bounded form.
//! Refusing it with a 4xx would be read by Claude Code as "no objection" (an http
//! hook's non-2xx reply is a non-blocking error), so the tool would run.

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of a cut `tool_input`'s raw text the bounded form keeps (for the audit
/// and an approval card; rules never match on it).
const INPUT_HEAD_BYTES: usize = 4096;

pub(crate) enum HookBody {
    /// A JSON object, parsed whole.
    Whole(Value),
    /// Only the names of a hook, and why (`IngestParams::bounded`).
    Bounded(Map<String, Value>, String),
    /// Not a hook at all: the status and why.
    NotAHook(u16, String),
}

/// Reads `length` bytes of body (`leftover` first). `limit` is `limits.max_message_bytes`.
pub(crate) async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    leftover: Vec<u8>,
    length: u64,
    limit: usize,
    timeout: std::time::Duration,
) -> HookBody {
    if length > limit as u64 {
        let skim = match tokio::time::timeout(timeout, skim(stream, leftover, length)).await {
            Ok(Ok(skim)) => skim,
            _ => return HookBody::NotAHook(400, "incomplete body".into()),
        };
        let why = format!("a body of {length} bytes exceeds limits.max_message_bytes = {limit}");
        return bounded(skim, why).unwrap_or_else(|| {
            HookBody::NotAHook(413, format!("body of {length} bytes exceeds limits.max_message_bytes = {limit}"))
        });
    }
    let body = match tokio::time::timeout(timeout, crate::http::read_body(stream, leftover, length as usize)).await {
        Ok(Ok(body)) => body,
        _ => return HookBody::NotAHook(400, "incomplete body".into()),
    };
    match serde_json::from_slice(&body) {
        Ok(value @ Value::Object(_)) => HookBody::Whole(value),
        Ok(_) => HookBody::NotAHook(400, "the body must be a JSON object".into()),
        Err(e) => {
            let mut skim = tether_core::skim::Skim::new(INPUT_HEAD_BYTES);
            skim.feed(&body);
            bounded(skim, format!("the body could not be parsed whole: {e}"))
                .unwrap_or_else(|| HookBody::NotAHook(400, format!("invalid JSON: {e}")))
        }
    }
}

/// A bounded form only if it names an event: anything else is not a hook.
fn bounded(skim: tether_core::skim::Skim, why: String) -> Option<HookBody> {
    let form = skim.finish()?;
    form.get("hook_event_name").and_then(Value::as_str)?;
    Some(HookBody::Bounded(form, why))
}

async fn skim<S: AsyncRead + Unpin>(
    stream: &mut S,
    leftover: Vec<u8>,
    length: u64,
) -> std::io::Result<tether_core::skim::Skim> {
    let mut skim = tether_core::skim::Skim::new(INPUT_HEAD_BYTES);
    let first = leftover.len().min(length as usize);
    skim.feed(&leftover[..first]);
    let mut buf = vec![0; 64 << 10];
    while skim.total() < length {
        let want = buf.len().min((length - skim.total()) as usize);
        let n = stream.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        skim.feed(&buf[..n]);
    }
    Ok(skim)
}

/// The wait a hook asks for: `?wait_ms=N` on the path, else an `X-Tether-Wait-Ms`
/// header (the daemon bounds it by `hooks.max_wait_ms`). `Err` for a malformed one.
pub(crate) fn wait_ms(head: &crate::http::RequestHead) -> Result<Option<u64>, String> {
    let query = head.path.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let from_query = query.split('&').find_map(|pair| pair.strip_prefix("wait_ms="));
    let Some(text) = from_query.or_else(|| head.header("x-tether-wait-ms")) else { return Ok(None) };
    text.trim().parse().map(Some).map_err(|_| format!("wait_ms must be a whole number of milliseconds, not {text:?}"))
}
