//! Per-connection limits and keepalive, each configurable (`[limits]`, `[keepalive]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest incoming WebSocket message; larger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// Largest incoming WebSocket frame payload; larger ones close with 1009.
    pub max_frame_bytes: usize,
    /// Deepest JSON nesting accepted (at most 128, serde_json's own ceiling).
    pub max_json_depth: usize,
    /// Most requests in one batch.
    pub max_batch: usize,
    /// Most requests being handled at once on one connection.
    pub max_in_flight: usize,
    /// Longest string id accepted, in bytes.
    pub max_id_bytes: usize,
    /// Most open authenticated WebSocket connections; further ones get HTTP 503
    /// (or, authenticating by frame, -32002 and a close).
    pub max_connections: usize,
    /// Most WebSocket connections waiting to authenticate, kept apart from
    /// `max_connections` so they can never take an authenticated client's place.
    /// Further upgrades without a bearer header get HTTP 503.
    pub max_unauthenticated: usize,
    /// Most accepted sockets still sending their HTTP request head; more are closed at once.
    pub max_pending_upgrades: usize,
    /// How long a socket may take to send its HTTP request head (and a POST body).
    pub head_timeout_ms: u64,
    /// How long a connection may stay unauthenticated; then it is closed with 1008.
    pub auth_timeout_ms: u64,
    /// How long after opening a connection must have completed `server.handshake`.
    pub handshake_timeout_ms: u64,
    /// Most bytes a connection may send before it authenticates; more closes it with 1009.
    pub max_preauth_bytes: usize,
    /// Outgoing messages queued per connection before it counts as stalled.
    pub outbound_queue: usize,
    /// How long the outbound queue may stay full before the connection is closed with 1008.
    pub stall_timeout_ms: u64,
    /// Capacity of the per-connection read buffer.
    pub read_buffer_bytes: usize,
    /// Outgoing bytes buffered before a write is forced.
    pub write_buffer_bytes: usize,
    /// The longest name or identifier of each kind a client may send (`[limits.names]`).
    pub names: crate::NameLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 8 << 20,
            max_frame_bytes: 8 << 20,
            max_json_depth: 128,
            max_batch: 100,
            max_in_flight: 256,
            max_id_bytes: 256,
            max_connections: 1024,
            max_unauthenticated: 64,
            max_pending_upgrades: 256,
            head_timeout_ms: 5_000,
            auth_timeout_ms: 5_000,
            handshake_timeout_ms: 10_000,
            max_preauth_bytes: 64 << 10,
            outbound_queue: 1024,
            stall_timeout_ms: 10_000,
            read_buffer_bytes: 2 << 10,
            write_buffer_bytes: 16 << 10,
            names: crate::NameLimits::default(),
        }
    }
}

impl Limits {
    /// Checks the values that would make the daemon misbehave rather than just be strict.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_message_bytes", self.max_message_bytes),
            ("max_frame_bytes", self.max_frame_bytes),
            ("max_json_depth", self.max_json_depth),
            ("max_batch", self.max_batch),
            ("max_in_flight", self.max_in_flight),
            ("max_id_bytes", self.max_id_bytes),
            ("max_connections", self.max_connections),
            ("max_unauthenticated", self.max_unauthenticated),
            ("max_pending_upgrades", self.max_pending_upgrades),
            ("head_timeout_ms", self.head_timeout_ms as usize),
            ("auth_timeout_ms", self.auth_timeout_ms as usize),
            ("handshake_timeout_ms", self.handshake_timeout_ms as usize),
            ("max_preauth_bytes", self.max_preauth_bytes),
            ("outbound_queue", self.outbound_queue),
            ("read_buffer_bytes", self.read_buffer_bytes),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("limits.{name} must be at least 1"));
        }
        self.names.validate()?;
        if self.max_json_depth > 128 {
            return Err("limits.max_json_depth must be at most 128".into());
        }
        Ok(())
    }

    pub fn stall_timeout(&self) -> Duration {
        Duration::from_millis(self.stall_timeout_ms)
    }

    pub fn head_timeout(&self) -> Duration {
        Duration::from_millis(self.head_timeout_ms)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Keepalive {
    /// A WebSocket ping is sent this often.
    pub interval_ms: u64,
    /// A peer that sends nothing (not even a pong) for this long is closed.
    pub timeout_ms: u64,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive { interval_ms: 30_000, timeout_ms: 90_000 }
    }
}

/// Everything a connection needs to know about its limits.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub limits: Limits,
    pub keepalive: Keepalive,
    /// How long a closing connection may spend flushing its last messages.
    pub close_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            limits: Limits::default(),
            keepalive: Keepalive::default(),
            close_timeout: Duration::from_secs(1),
        }
    }
}
