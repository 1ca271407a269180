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
