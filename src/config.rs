//! The daemon's configuration: embedded defaults, then the TOML file, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tether_console::ConsoleConfig;
use tether_core::{Keepalive, Limits};
use tether_events::EventsConfig;
use tether_hooks::HooksConfig;
use tether_runs::RunsConfig;
use tether_sessions::SessionsConfig;

use crate::cli::{LogFormat, ServeArgs};

/// The TOML file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub socket: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub auth: Option<bool>,
    pub allow_remote: Option<bool>,
    /// TLS on the TCP port: the certificate chain and its key (PEM), both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub allowed_origins: Vec<String>,
    /// `/metrics` needs the operator's bearer token (default true).
    pub metrics_auth: Option<bool>,
    pub log_format: Option<LogFormat>,
    pub limits: Limits,
    pub keepalive: Keepalive,
    pub runs: RunsConfig,
    pub journal: JournalConfig,
    pub store: StoreConfig,
    pub sessions: SessionsConfig,
    pub events: EventsConfig,
    pub hooks: HooksConfig,
    pub console: ConsoleConfig,
    pub mcp: tether_mcp::McpOptions,
    pub telemetry: crate::telemetry::TelemetryConfig,
}

/// Where runs live: the local journal (no `url`), or a PostgreSQL database shared
/// by several daemons.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user@host/db` or `host=/run/postgresql dbname=tether`.
    pub url: Option<String>,
    /// This daemon's stable name among the nodes (default: host name + data directory).
    /// A node restarting under its name ends what its previous process left open at once.
    pub node_name: Option<String>,
    /// A node that has not renewed its lease for this long is dead to the others.
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    /// How often this node looks for runs of dead nodes to take over.
    pub sweep_ms: u64,
    pub pool_size: usize,
    /// Appends per group-commit transaction, at most.
    pub max_batch: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            node_name: None,
            lease_ms: 5_000,
            heartbeat_ms: 1_000,
            sweep_ms: 1_000,
            pool_size: 8,
            max_batch: 256,
        }
    }
}

impl StoreConfig {
    /// The PostgreSQL store's options, when one is configured.
    pub fn postgres(&self, data_dir: &Path) -> Option<tether_pg::PgOptions> {
        let url = self.url.clone()?;
        let name = self.node_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
            format!("{}:{}", host.trim(), data_dir.display())
        });
        let mut options = tether_pg::PgOptions::new(url, name);
        options.lease = std::time::Duration::from_millis(self.lease_ms.max(1));
        options.heartbeat = std::time::Duration::from_millis(self.heartbeat_ms.max(1));
        options.pool_size = self.pool_size;
        options.max_batch = self.max_batch;
        Some(options)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    /// A journal segment is sealed once it would grow past this.
    pub segment_bytes: u64,
    /// Open a journal with missing or shortened segments (`--accept-journal-damage`).
    pub accept_damage: bool,
    /// Sealed segments kept open for reads at most (least recently read closed first).
    pub max_open_segments: usize,
    /// Zeros written ahead of the journal's records, this many bytes at a time (0: none).
    pub preallocate_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        let defaults = tether_store::JournalOptions::default();
        JournalConfig {
            segment_bytes: defaults.segment_bytes,
            accept_damage: false,
            max_open_segments: defaults.max_open_segments,
            preallocate_bytes: defaults.preallocate_bytes,
        }
    }
}

/// The settings the daemon runs with, after layering.
#[derive(Debug)]
pub struct Settings {
    /// The config file read, if any (`--config`, else `<data-dir>/config.toml`).
    pub config: Option<PathBuf>,
    pub listen: SocketAddr,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub token_file: PathBuf,
    pub auth: bool,
    pub allow_remote: bool,
    /// The TCP port's TLS certificate chain and key, when it speaks TLS.
    pub tls: Option<TlsFiles>,
    pub allowed_origins: Vec<String>,
    pub metrics_auth: bool,
    pub log_format: LogFormat,
    pub limits: Limits,
    pub keepalive: Keepalive,
    pub runs: RunsConfig,
    pub journal: JournalConfig,
    pub store: StoreConfig,
    pub sessions: SessionsConfig,
    pub events: EventsConfig,
    pub hooks: HooksConfig,
    pub console: ConsoleConfig,
    pub mcp: tether_mcp::McpOptions,
    pub telemetry: crate::telemetry::TelemetryConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9100";

impl Settings {
    pub fn resolve(mut args: ServeArgs) -> Result<Settings, String> {
        if args.config.is_none() {
            // `tether init` writes `<data-dir>/config.toml`; without --config, serve reads it.
            let beside = args.data_dir.clone().or_else(default_data_dir).map(|dir| dir.join("config.toml"));
            args.config = beside.filter(|path| path.is_file());
        }
        let mut file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        // A relative path in the config file is relative to that file, not to where the daemon starts.
        if let Some(config) = &args.config {
            let base = config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            for path in [&mut file.hooks.policy_file, &mut file.tls_cert, &mut file.tls_key].into_iter().flatten() {
                if path.is_relative() {
                    *path = std::path::absolute(base.join(&*path)).map_err(|e| e.to_string())?;
                }
            }
        }
        let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err("--tls-cert (tls_cert) needs --tls-key (tls_key): TLS takes both".into()),
            (None, Some(_)) => return Err("--tls-key (tls_key) needs --tls-cert (tls_cert): TLS takes both".into()),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .or_else(default_data_dir)
            .ok_or("no data directory: pass --data-dir or set TETHER_HOME")?;
        Ok(Settings {
            config: args.config.clone(),
            listen: args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().unwrap()),
            socket: args.socket.or(file.socket).unwrap_or_else(|| data_dir.join("tether.sock")),
            token_file: args.token_file.or(file.token_file).unwrap_or_else(|| data_dir.join("auth-token")),
            auth: !args.no_auth && file.auth.unwrap_or(true),
            allow_remote: args.allow_remote || file.allow_remote.unwrap_or(false),
            tls,
            allowed_origins: file.allowed_origins,
            metrics_auth: file.metrics_auth.unwrap_or(true),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            keepalive: file.keepalive,
            runs: file.runs,
            journal: JournalConfig {
                accept_damage: args.accept_journal_damage || file.journal.accept_damage,
                ..file.journal
            },
            store: StoreConfig { url: args.store.or(file.store.url), ..file.store },
            sessions: file.sessions,
            events: file.events,
            hooks: file.hooks,
            console: file.console,
            mcp: file.mcp,
            telemetry: file.telemetry,
            limits: file.limits,
            data_dir,
        })
    }
}

/// `$TETHER_HOME`, else the platform data directory's `tether`.
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("TETHER_HOME").map(PathBuf::from).or_else(|| dirs::data_dir().map(|d| d.join("tether")))
}

fn load_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tether.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:7000\"\nlog_format = \"json\"\n[limits]\nmax_batch = 7\n[keepalive]\ninterval_ms = 5\n",
        )
        .unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(dir.path().to_owned()),
            config: Some(path),
            ..ServeArgs::default()
        };
        let settings = Settings::resolve(args).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.limits.max_batch, 7);
        assert_eq!(settings.limits.max_in_flight, Limits::default().max_in_flight);
        assert_eq!(settings.keepalive.interval_ms, 5);
        assert_eq!(settings.socket, dir.path().join("tether.sock"));
        assert!(settings.auth);
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tether.toml");
        std::fs::write(&path, "[limits]\nmax_bach = 7\n").unwrap();
        let args = ServeArgs { config: Some(path), data_dir: Some(dir.path().to_owned()), ..ServeArgs::default() };
        let err = Settings::resolve(args).unwrap_err();
        assert!(err.contains("max_bach"), "{err}");
    }

    #[test]
    fn a_relative_policy_file_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tether.toml");
        std::fs::write(&path, "[hooks]\npolicy_file = \"rules/policy.toml\"\n").unwrap();
        let args = ServeArgs { data_dir: Some(dir.path().to_owned()), config: Some(path), ..ServeArgs::default() };
        let settings = Settings::resolve(args).unwrap();
        assert_eq!(settings.hooks.policy_file.unwrap(), dir.path().join("rules/policy.toml"));
    }

    #[test]
    fn tls_takes_both_files_and_relative_ones_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tether.toml");
        std::fs::write(&path, "tls_cert = \"tls/cert.pem\"\ntls_key = \"/etc/tether/key.pem\"\n").unwrap();
        let args = ServeArgs { data_dir: Some(dir.path().to_owned()), config: Some(path), ..ServeArgs::default() };
        let tls = Settings::resolve(args).unwrap().tls.unwrap();
        assert_eq!(tls.cert, dir.path().join("tls/cert.pem"));
        assert_eq!(tls.key, Path::new("/etc/tether/key.pem"));

        let half =
            ServeArgs { data_dir: Some(dir.path().to_owned()), tls_cert: Some("c.pem".into()), ..ServeArgs::default() };
        assert!(Settings::resolve(half).unwrap_err().contains("--tls-cert (tls_cert) needs --tls-key (tls_key)"));
        let none = ServeArgs { data_dir: Some(dir.path().to_owned()), ..ServeArgs::default() };
        assert_eq!(Settings::resolve(none).unwrap().tls, None);
    }
}
