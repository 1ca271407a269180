//! Trace identity: W3C `traceparent`, and ids derived from tether's own ids so that
//! every span of a run lands in one trace whichever process (or node) writes it.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use ulid::Ulid;

/// The longest `tracestate` kept (W3C allows 32 members of 256 bytes; 512 is what
/// its propagation guidance says to keep at least).
pub const MAX_TRACESTATE: usize = 512;

/// The longest `traceparent` read: version 00 is 55 bytes, and a later version may only
/// append fields, so this leaves room for them without letting a client send a megabyte.
pub const MAX_TRACEPARENT: usize = 256;

/// A parsed W3C `traceparent`: the caller's trace and span, and whether it sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>` (a later version may append fields after
    /// a `-`, as the specification says). All-zero ids and version `ff` are invalid.
    pub fn parse(text: &str) -> Result<TraceParent, String> {
        let bad = |why: &str| format!("traceparent {:?}: {why}", excerpt(text));
        if text.len() > MAX_TRACEPARENT {
            return Err(bad(&format!("{} bytes exceeds the {MAX_TRACEPARENT} read", text.len())));
        }
        let mut parts = text.splitn(5, '-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not version-traceid-spanid-flags"));
        };
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex(version, 2) || version == "ff" {
            return Err(bad("bad version"));
        }
        if version == "00" && parts.next().is_some() {
            return Err(bad("version 00 has four fields"));
        }
        if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return Err(bad("ids must be lowercase hex of 32 and 16 digits, flags 2"));
        }
        let trace_id = TraceId::from_hex(trace).map_err(|_| bad("bad trace id"))?;
        let span_id = SpanId::from_hex(span).map_err(|_| bad("bad span id"))?;
        if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
            return Err(bad("an all-zero id"));
        }
        let flags = u8::from_str_radix(flags, 16).map_err(|_| bad("bad flags"))?;
        Ok(TraceParent { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    pub fn format(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
        format!("00-{trace_id}-{span_id}-{:02x}", u8::from(sampled))
    }

    pub(crate) fn remote(&self, state: Option<&str>) -> SpanContext {
        let flags = if self.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let state = state.and_then(|s| s.parse::<TraceState>().ok()).unwrap_or_default();
        SpanContext::new(self.trace_id, self.span_id, flags, true, state)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&TraceParent::format(self.trace_id, self.span_id, self.sampled))
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A ULID is 128 bits, the size of a trace id, and its last 80 bits are random (what
/// W3C's sampling by trace id needs): a run's trace id is its run id.
pub fn trace_id_of(id: Ulid) -> TraceId {
    TraceId::from_bytes(id.to_bytes())
}

/// The span id of the span that stands for the thing itself (a run's `invoke_agent`,
/// a session's lifetime): the same in every process, so children written after a
/// restart name a parent that exists.
pub fn span_id_of(kind: &str, id: Ulid) -> SpanId {
    let digest = Sha256::new().chain_update(kind.as_bytes()).chain_update(id.to_bytes()).finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    SpanId::from_bytes(bytes)
}

/// Whether a trace is kept at this ratio: decided by the trace id alone (as
/// OpenTelemetry's `TraceIdRatioBased` does), so every process decides alike.
pub fn sampled_at(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..16].try_into().expect("16 bytes")) >> 1;
    (low as f64) < ratio * (1u64 << 63) as f64
}

thread_local! {
    static NEXT: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
}

/// The SDK's id generator, random unless a span is being built with ids of our
/// choosing (the span builder has no say over ids; its generator does).
#[derive(Debug, Default)]
pub struct Ids(opentelemetry_sdk::trace::RandomIdGenerator);

impl opentelemetry_sdk::trace::IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        NEXT.with(|next| {
            let (trace, span) = next.get();
            next.set((None, span));
            trace
        })
        .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        NEXT.with(|next| {
            let (trace, span) = next.get();
            next.set((trace, None));
            span
        })
        .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Builds a span (synchronously, on this thread) with these ids.
pub(crate) fn with_ids<T>(trace: Option<TraceId>, span: SpanId, build: impl FnOnce() -> T) -> T {
    NEXT.with(|next| next.set((trace, Some(span))));
    let built = build();
    NEXT.with(|next| next.set((None, None)));
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_refuses_what_w3c_refuses() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(text).unwrap();
        assert!(parsed.sampled);
        assert_eq!(parsed.to_string(), text);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?} accepted");
        }
        // A later version may carry more fields, within a bound.
        assert!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more").is_ok());
        let long = format!("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-{}", "x".repeat(1 << 20));
        let refused = TraceParent::parse(&long).unwrap_err();
        assert!(refused.contains("exceeds the 256"), "{refused}");
        assert!(refused.len() < 200, "the error quotes an excerpt, not the megabyte");
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let run = Ulid::new();
        assert_eq!(trace_id_of(run), trace_id_of(run));
        assert_eq!(span_id_of("run", run), span_id_of("run", run));
        assert_ne!(span_id_of("run", run), span_id_of("session", run));
        assert_eq!(u128::from_be_bytes(trace_id_of(run).to_bytes()), u128::from(run));
    }

    #[test]
    fn sampling_by_ratio_is_deterministic_and_roughly_proportional() {
        let ids: Vec<TraceId> = (0..4000).map(|_| trace_id_of(Ulid::new())).collect();
        let kept = ids.iter().filter(|id| sampled_at(**id, 0.25)).count();
        assert!((700..1300).contains(&kept), "{kept} of 4000 kept at 0.25");
        assert!(ids.iter().all(|id| sampled_at(*id, 0.25) == sampled_at(*id, 0.25)));
        assert!(ids.iter().all(|id| sampled_at(*id, 1.0) && !sampled_at(*id, 0.0)));
    }
}
