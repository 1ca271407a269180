//! The export queue: OpenTelemetry's batch processor (its own thread; `on_end`
//! never blocks a request), with a bound in front of it that counts every span it
//! drops, and an exporter wrapper that counts spans a failed export lost. The SDK
//! counts its own queue drops privately; `/metrics` needs them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};

static DROPPED: AtomicU64 = AtomicU64::new(0);
static EXPORTED: AtomicU64 = AtomicU64::new(0);

/// Spans dropped since start: the queue was full, or their export failed.
pub fn dropped_spans() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Spans a collector accepted since start.
pub fn exported_spans() -> u64 {
    EXPORTED.load(Ordering::Relaxed)
}

/// Holds at most `max_queue` spans not yet handed to the exporter; the rest are
/// dropped and counted. The inner processor's own queue is as large, so it never
/// drops uncounted.
#[derive(Debug)]
pub struct Bounded<P> {
    inner: P,
    queued: Arc<AtomicUsize>,
    max_queue: usize,
}

impl<P: SpanProcessor> Bounded<P> {
    /// `queued` is shared with the `Counting` exporter, which takes spans off it.
    pub fn new(inner: P, queued: Arc<AtomicUsize>, max_queue: usize) -> Bounded<P> {
        Bounded { inner, queued, max_queue }
    }
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts what an exporter lost (a dead or slow collector) and frees queue room.
#[derive(Debug)]
pub struct Counting<E> {
    inner: E,
    queued: Arc<AtomicUsize>,
}

impl<E: SpanExporter> Counting<E> {
    pub fn new(inner: E, queued: Arc<AtomicUsize>) -> Counting<E> {
        Counting { inner, queued }
    }
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        let exported = self.inner.export(batch).await;
        match &exported {
            Ok(()) => EXPORTED.fetch_add(spans as u64, Ordering::Relaxed),
            Err(_) => DROPPED.fetch_add(spans as u64, Ordering::Relaxed),
        };
        exported
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
