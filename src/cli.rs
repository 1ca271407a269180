//! Command-line flags. Each one overrides the config file, which overrides the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "tether", version, about = "Orchestrates AI agent harnesses over JSON-RPC 2.0 on WebSocket")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Serve(ServeArgs),
    /// Forward a Claude Code hook (JSON on stdin) to the daemon and print its answer.
    Hook(HookArgs),
}

#[derive(Debug, clap::Args, Default)]
pub struct HookArgs {
    /// Exit 2 (block) when the daemon cannot be reached; recommended for PreToolUse
    #[arg(long)]
    pub fail_closed: bool,
    /// Wait this long for an operator to resolve an `ask`
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub wait_ms: u64,
    /// Give up on the daemon after this long (plus --wait-ms)
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// The daemon's WebSocket URL [default: $TETHER_URL, else the Unix socket if present, else ws://127.0.0.1:9100]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The daemon's Unix socket [default: <data-dir>/tether.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Where the daemon keeps its state (for the socket and token defaults)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The token file [default: $TETHER_TOKEN, else <data-dir>/auth-token]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args, Default)]
pub struct ServeArgs {
    /// TCP address for WebSocket and HTTP (port 0 picks a free port) [default: 127.0.0.1:9100]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Unix socket for WebSocket [default: <data-dir>/tether.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Where tether keeps its state [default: $TETHER_HOME, else the platform data directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The auth token file, created (0600) if missing [default: <data-dir>/auth-token]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Turn authentication off (local experiments only)
    #[arg(long)]
    pub no_auth: bool,
    /// Allow a non-loopback --listen address (auth must stay on)
    #[arg(long)]
    pub allow_remote: bool,
    /// Start even though journal segments are missing or shortened, with the runs
    /// whose records may have been there flagged `trace_corruption`
    #[arg(long)]
    pub accept_journal_damage: bool,
    /// TOML configuration file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
