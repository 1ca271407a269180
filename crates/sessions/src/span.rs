//! A session's process as a span of the session's trace: named when it starts (its
//! `TRACEPARENT`), written when it exits.

use tether_proto::sessions::{SessionRecord, SessionState};

/// A session's process as a span in the session's trace (the session id is a ULID).
pub(crate) fn process_span(session: &str, process: ulid::Ulid) -> Option<tether_telemetry::Lifetime> {
    let session = ulid::Ulid::from_string(session).ok()?;
    Some(tether_telemetry::Lifetime::new(session, "session process", process, None))
}

/// Writes the span of a process that ended, from its start to now.
pub(crate) fn trace_exit(record: &SessionRecord, process: Option<ulid::Ulid>) {
    let Some(process) = process.filter(|_| tether_telemetry::enabled()) else { return };
    let Some(span) = process_span(&record.session_id, process) else { return };
    use tether_telemetry::KeyValue;
    let runtime = serde_json::to_value(record.runtime).ok().and_then(|v| v.as_str().map(str::to_owned));
    let mut attributes = vec![
        KeyValue::new("tether.session.id", record.session_id.clone()),
        KeyValue::new("tether.session.name", record.name.clone()),
        KeyValue::new("tether.session.runtime", runtime.clone().unwrap_or_default()),
        KeyValue::new("tether.session.confined", record.confined),
    ];
    if let Some(code) = record.exit_code {
        attributes.push(KeyValue::new("process.exit.code", i64::from(code)));
    }
    let failed = record.state == SessionState::Exited && record.exit_code.is_some_and(|c| c != 0);
    let error = failed.then(|| format!("exited with {}", record.exit_code.unwrap_or_default()));
    span.end(tether_telemetry::Ending {
        name: format!("session {}", runtime.unwrap_or_default()),
        started_at: process.datetime(),
        attributes,
        error: error.as_deref(),
    });
}
