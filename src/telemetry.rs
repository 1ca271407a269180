//! OTLP export, from `[telemetry]` and the standard `OTEL_*` variables: which
//! collector, which protocol, which service name, how many traces kept. Off when
//! neither names a collector. Spans leave through OpenTelemetry's batch processor on
//! a thread of its own, behind a bounded queue that drops (and counts) rather than
//! slow a request down.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use serde::Deserialize;

/// `[telemetry]`: every key optional; the `OTEL_*` variables fill what is unset.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector: `http://127.0.0.1:4317` (gRPC) or `http://127.0.0.1:4318` (HTTP,
    /// `/v1/traces` added when the URL has no path).
    pub otlp_endpoint: Option<String>,
    /// `grpc` or `http/protobuf` (the default, as OpenTelemetry's is).
    pub otlp_protocol: Option<String>,
    /// `service.name` of every span (default `tether`).
    pub service_name: Option<String>,
    /// The share of runs (and sessions, hooks) traced, 0.0 to 1.0, decided by trace id
    /// so every daemon decides alike; a caller's `traceparent` decides for its run.
    pub sampling: Option<f64>,
    /// Put tool arguments and results into spans (`gen_ai.tool.call.arguments`/`result`).
    pub record_content: bool,
    /// Spans waiting for export, at most; beyond it they are dropped and counted.
    pub max_queue: Option<usize>,
    /// One export's deadline.
    pub export_timeout_ms: Option<u64>,
}

/// What was resolved, for the log line and the tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub endpoint: String,
    pub protocol: Protocol,
    pub service_name: String,
    pub ratio: f64,
    pub max_queue: usize,
    pub timeout: Duration,
}

impl TelemetryConfig {
    /// The export settings, or `None` (off). `env` reads a variable (the process
    /// environment in the daemon).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<Export>, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let protocol = match self
            .otlp_protocol
            .clone()
            .or_else(|| env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("http/protobuf") => Protocol::HttpBinary,
            Some("grpc") => Protocol::Grpc,
            Some(other) => {
                return Err(format!("telemetry.otlp_protocol {other:?}: must be \"grpc\" or \"http/protobuf\""));
            }
        };
        // The signal's own variable is the whole URL; the general one (and ours) a base.
        let endpoint = match (&self.otlp_endpoint, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
            (Some(base), _) => base_url(base, protocol),
            (None, Some(url)) => url,
            (None, None) => match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
                Some(base) => base_url(&base, protocol),
                None => return Ok(None),
            },
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!("telemetry.otlp_endpoint {endpoint:?}: must be an http:// URL"));
        }
        if endpoint.starts_with("https://") {
            return Err(format!(
                "telemetry.otlp_endpoint {endpoint:?}: this build exports over plain HTTP only; \
                 point it at a local collector that forwards with TLS"
            ));
        }
        let ratio = match self.sampling {
            Some(ratio) => ratio,
            None => match env("OTEL_TRACES_SAMPLER_ARG") {
                Some(arg) => arg.parse().map_err(|_| format!("OTEL_TRACES_SAMPLER_ARG {arg:?}: not a number"))?,
                None => 1.0,
            },
        };
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("telemetry.sampling {ratio}: must be between 0.0 and 1.0"));
        }
        let max_queue = self.max_queue.unwrap_or(2048);
        if max_queue == 0 {
            return Err("telemetry.max_queue: must be at least 1".into());
        }
        Ok(Some(Export {
            endpoint,
            protocol,
            service_name: self.service_name.clone().or_else(|| env("OTEL_SERVICE_NAME")).unwrap_or("tether".into()),
            ratio,
            max_queue,
            timeout: Duration::from_millis(self.export_timeout_ms.unwrap_or(10_000).max(1)),
        }))
    }
}

/// `http://host:4318` → `http://host:4318/v1/traces` (HTTP only; gRPC takes the base).
fn base_url(base: &str, protocol: Protocol) -> String {
    if protocol != Protocol::HttpBinary {
        return base.to_owned();
    }
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    match after_scheme.split_once('/') {
        Some((_, path)) if !path.is_empty() => base.to_owned(),
        _ => format!("{}/v1/traces", base.trim_end_matches('/')),
    }
}

/// The running exporter; `shutdown` flushes what is queued.
pub struct Telemetry(SdkTracerProvider);

impl Telemetry {
    pub fn shutdown(self) {
        if let Err(error) = self.0.shutdown_with_timeout(Duration::from_secs(5)) {
            tracing::warn!(%error, "telemetry: spans still queued at exit were lost");
        }
    }
}

/// Starts export. gRPC needs the runtime entered (tonic's channel runs on it).
pub fn start(export: &Export, record_content: bool) -> Result<Telemetry, String> {
    let exporter = match export.protocol {
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(&export.endpoint)
            .with_timeout(export.timeout)
            .build(),
        _ => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(&export.endpoint)
            .with_timeout(export.timeout)
            .build(),
    }
    .map_err(|e| format!("telemetry: {e}"))?;
    let queued = Arc::new(AtomicUsize::new(0));
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(export.max_queue)
        .with_max_export_batch_size(export.max_queue.min(512))
        .with_scheduled_delay(Duration::from_millis(500))
        .build();
    let processor = BatchSpanProcessor::builder(tether_telemetry::Counting::new(exporter, queued.clone()))
        .with_batch_config(batch)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(tether_telemetry::Bounded::new(processor, queued, export.max_queue))
        .with_id_generator(tether_telemetry::Ids::default())
        // Sampling is decided per run, by trace id (`tether_telemetry`), before a span exists.
        .with_sampler(Sampler::AlwaysOn)
        .with_resource(
            Resource::builder_empty()
                .with_service_name(export.service_name.clone())
                .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        )
        .build();
    tether_telemetry::install(provider.tracer("tether"), record_content, export.ratio);
    Ok(Telemetry(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn off_unless_a_collector_is_named() {
        assert_eq!(TelemetryConfig::default().resolve(env(&[])).unwrap(), None);
        let on = TelemetryConfig::default().resolve(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])).unwrap();
        assert_eq!(on.unwrap().endpoint, "http://c:4318/v1/traces");
        let off = TelemetryConfig::default()
            .resolve(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]))
            .unwrap();
        assert_eq!(off, None);
    }

    #[test]
    fn the_file_wins_and_the_environment_fills_in() {
        let config = TelemetryConfig {
            otlp_endpoint: Some("http://127.0.0.1:4317".into()),
            otlp_protocol: Some("grpc".into()),
            ..Default::default()
        };
        let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318"), ("OTEL_SERVICE_NAME", "agents")];
        let export = config.resolve(env(&vars)).unwrap().unwrap();
        assert_eq!(export.endpoint, "http://127.0.0.1:4317");
        assert_eq!(export.protocol, Protocol::Grpc);
        assert_eq!(export.service_name, "agents");
        let whole = [("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom")];
        assert_eq!(TelemetryConfig::default().resolve(env(&whole)).unwrap().unwrap().endpoint, "http://c:4318/custom");
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let bad = |config: TelemetryConfig| config.resolve(env(&[])).unwrap_err();
        let named = |endpoint: &str| TelemetryConfig { otlp_endpoint: Some(endpoint.into()), ..Default::default() };
        assert!(
            bad(TelemetryConfig { otlp_protocol: Some("udp".into()), ..named("http://c") }).contains("otlp_protocol")
        );
        assert!(bad(TelemetryConfig { sampling: Some(2.0), ..named("http://c") }).contains("telemetry.sampling"));
        assert!(bad(named("c:4317")).contains("otlp_endpoint"));
        assert!(bad(TelemetryConfig { max_queue: Some(0), ..named("http://c") }).contains("max_queue"));
    }
}
