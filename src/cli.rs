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
    /// Set up: the data directory, a commented config.toml and a starter policy.toml
    /// (`--claude DIR` also wires a Claude Code project's hooks and MCP server).
    Init(InitArgs),
    /// Run the daemon.
    Serve(ServeArgs),
    /// Forward a Claude Code hook (JSON on stdin) to the daemon and print its answer.
    Hook(HookArgs),
    /// Whether the daemon answers: version, uptime, connections, health.
    Status(Conn),
    /// Runs: list them, show one, read or follow its trace.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Print events as they happen.
    Events(EventsArgs),
    /// Managed sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Approvals waiting for a human.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// The hooks policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Overseers: connections that review hooks a `review` policy rule sends them.
    #[command(subcommand)]
    Overseers(OverseersCommand),
    /// The newest entries of the hook audit log.
    Audit {
        #[arg(long)]
        session: Option<String>,
        /// 1 to 1000, as `audit.recent` takes
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read the journal offline, without the daemon (safe beside a running one).
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Print the path of the operator token file (`--show` prints the token itself).
    Token(TokenArgs),
    /// Print a URL that logs a browser into the web console (single use, short-lived).
    Console(ConsoleArgs),
    /// An MCP server on stdio for an agent (`claude mcp add tether -- tether mcp`): each
    /// tool one method of the daemon, as the token's identity.
    Mcp(McpArgs),
    /// Print the OpenRPC document (`rpc.discover`) of this build, without a daemon.
    Openrpc,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How the command-line tools reach the daemon (`tether hook` and the operator commands).
#[derive(Debug, Clone, clap::Args, Default)]
pub struct Target {
    /// The daemon's WebSocket URL [default: $TETHER_URL, else the Unix socket if present, else ws://127.0.0.1:9100]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The daemon's Unix socket [default: <data-dir>/tether.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The daemon's data directory [default: $TETHER_HOME, else the platform data directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The token file [default: $TETHER_TOKEN, else <data-dir>/auth-token]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// For a wss:// URL, CA certificates (PEM) to trust beside the platform's roots, for a private CA [default: $TETHER_CA_FILE]
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

/// `tether init`.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct InitArgs {
    /// Where tether keeps its state [default: $TETHER_HOME, else the platform data directory]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A Claude Code project: merge the hook wiring into DIR/.claude/settings.json and the
    /// MCP server into DIR/.mcp.json, keeping every key already there
    #[arg(long, value_name = "DIR")]
    pub claude: Option<PathBuf>,
}

/// `tether mcp`.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct McpArgs {
    #[command(flatten)]
    pub target: Target,
    /// Offer `session_spawn` (starting processes) to the agent; off by default
    #[arg(long)]
    pub allow_spawn: bool,
    /// How long one round of `approval_request` waits before answering `input_required` (2026-07-28 clients)
    #[arg(long, value_name = "MS", default_value_t = tether_mcp::McpOptions::default().approval_round_ms)]
    pub approval_round_ms: u64,
    /// Resources this connection may watch at once (resources/subscribe and subscriptions/listen)
    #[arg(long, value_name = "N", default_value_t = tether_mcp::McpOptions::default().max_subscriptions)]
    pub max_subscriptions: usize,
}

impl McpArgs {
    pub fn options(&self) -> tether_mcp::McpOptions {
        tether_mcp::McpOptions {
            allow_spawn: self.allow_spawn,
            approval_round_ms: self.approval_round_ms,
            max_subscriptions: self.max_subscriptions,
        }
    }
}

// An operator command's connection and output options. (A plain comment: a doc comment
// here would become the help text of every subcommand that flattens it and has none.)
#[derive(Debug, Clone, clap::Args, Default)]
pub struct Conn {
    #[command(flatten)]
    pub target: Target,
    /// One JSON object per line instead of a table (the same as `-o json`); an error is
    /// then one line `{"error": …, "exit": N}` on stderr
    #[arg(long = "json", conflicts_with = "output")]
    pub json_lines: bool,
    /// The output format
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
}

impl Conn {
    /// Whether to print JSON lines rather than tables and sentences.
    pub fn json(&self) -> bool {
        self.json_lines || self.output == Some(Output::Json)
    }
}

/// `-o json|table`, as `kubectl` and `gh` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first (every agent's, for the operator).
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long)]
        agent: Option<String>,
        /// in_progress, completed, incomplete or cancelled
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        session: Option<String>,
        /// 1 to 200, as `runs.list` takes
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=200))]
        limit: u64,
        /// Print the list again whenever a run starts or ends
        #[arg(long, short)]
        watch: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Fork a run: a new run whose history is its first N turns (default: all). The
    /// fork waits detached for a harness to `runs.resume` it with the printed token.
    Fork {
        run: String,
        #[arg(long)]
        turns: Option<u32>,
        #[arg(long)]
        intent: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Compare two runs turn by turn (a coloured unified view on a terminal; `--json`
    /// for the structure `runs.diff` answers).
    Diff {
        a: String,
        b: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// One run's summary, origin, usage and budget, and its trace, oldest first.
    Show {
        run: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// A run's trace, oldest first; `--follow` keeps printing until the run ends.
    Trace {
        run: String,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The last --count events, then new ones as they happen (like `tail -n N -f`).
    Tail {
        #[arg(long = "family")]
        families: Vec<String>,
        #[arg(long)]
        run: Option<String>,
        #[arg(long)]
        session: Option<String>,
        /// How many of the recent events to print first, 0 to 1024 (the daemon's ring)
        #[arg(long, short = 'n', default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1024))]
        count: u64,
        /// Print the recent events and exit instead of following
        #[arg(long)]
        no_follow: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, with their state and process.
    #[command(visible_alias = "list")]
    Ls {
        /// Print the list again whenever a session changes
        #[arg(long, short)]
        watch: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// One session, with the runs its harness started.
    Show {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Its output; `-f` keeps printing as it grows.
    Logs {
        id: String,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// A line on its stdin.
    Send {
        id: String,
        text: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Stop its process: SIGTERM to its group, SIGKILL after the grace.
    Stop {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Start its process again, in the same workspace with the same task.
    Resume {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Forget it; its workspace stays unless `--delete-workspace` (and tether made it).
    Rm {
        id: String,
        /// Also delete a workspace tether created
        #[arg(long)]
        delete_workspace: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Start a session running CMD (no shell).
    Spawn {
        #[arg(long)]
        name: Option<String>,
        /// The working directory [default: the current one]
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// The task text [default: the command line]; for `--runtime claude-code`, the
        /// prompt (or give it after `--`)
        #[arg(long)]
        task: Option<String>,
        /// `command` runs CMD as given; `claude-code` runs Claude Code on --task, its argv
        /// from the daemon's `[sessions.claude_code]`
        #[arg(long, value_enum, default_value_t = SpawnRuntime::Command)]
        runtime: SpawnRuntime,
        /// Check this repository out into a fresh worktree the daemon owns (instead of --cwd)
        #[arg(long, conflicts_with = "cwd")]
        repo: Option<String>,
        /// The branch, tag or commit of --repo
        #[arg(long = "ref", requires = "repo")]
        git_ref: Option<String>,
        /// The program and its arguments for `--runtime command`; the prompt for
        /// `--runtime claude-code`
        #[arg(last = true)]
        command: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpawnRuntime {
    Command,
    ClaudeCode,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Pending approvals (`--all` for every state).
    #[command(visible_alias = "list")]
    Ls {
        #[arg(long)]
        all: bool,
        /// Print the list again whenever an approval is created or resolved
        #[arg(long, short)]
        watch: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Allow a pending approval: the waiting hook answers allow.
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// A `budget` approval: raise the limit by this much (default: `runs.budget_step`)
        #[arg(long)]
        raise: Option<f64>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Deny a pending approval: the waiting hook answers deny.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, Subcommand)]
pub enum OverseersCommand {
    /// The connected overseers, in review order (the first whose globs match reviews),
    /// with their counts and answer latency.
    #[command(visible_alias = "list")]
    Ls {
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse a policy file as a reload would, offline.
    Check {
        file: PathBuf,
        /// One JSON line: `{"file", "ok", "rules"}`, or `{"file", "ok": false, "error"}`
        #[arg(long)]
        json: bool,
    },
    /// Ask the daemon to re-read its policy file.
    Reload {
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Scan every segment: runs, records, and any damage (exit 1 on damage).
    Verify {
        #[command(flatten)]
        conn: Conn,
    },
    /// One run's records as JSON lines, oldest first.
    Export {
        run: String,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The console may only look: no approve, deny, stop or resume
    #[arg(long)]
    pub read_only: bool,
    /// Open the URL in the default browser too
    #[arg(long)]
    pub open: bool,
    /// List the console sessions alive instead (id, created, expires, read-only)
    #[arg(long, conflicts_with_all = ["read_only", "open", "revoke", "revoke_all"])]
    pub list: bool,
    /// End one console session (its id from --list): its connections are closed
    #[arg(long, value_name = "ID", conflicts_with_all = ["read_only", "open", "revoke_all"])]
    pub revoke: Option<String>,
    /// End every console session: every browser logged in must log in again
    #[arg(long, conflicts_with_all = ["read_only", "open"])]
    pub revoke_all: bool,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Print the token itself rather than its path
    #[arg(long)]
    pub show: bool,
    #[command(flatten)]
    pub conn: Conn,
}

#[derive(Debug, clap::Args, Default)]
pub struct HookArgs {
    /// Exit 2 (block) for every event the daemon cannot judge, not only permissions
    #[arg(long)]
    pub fail_closed: bool,
    /// Exit 0 (let the tool run) when the daemon cannot judge a PreToolUse or
    /// PermissionRequest; without it they exit 2 (block)
    #[arg(long, conflicts_with = "fail_closed")]
    pub fail_open: bool,
    /// Wait this long for an operator to resolve an `ask` (0: answer `ask` at once);
    /// below Claude Code's hook timeout (600 s unless the hook sets `timeout`)
    #[arg(long, value_name = "MS", default_value_t = 300_000)]
    pub wait_ms: u64,
    /// A hook larger than this is sent in its bounded form (names, head of the tool input)
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_bytes: usize,
    /// Give up on the daemon after this long (plus --wait-ms)
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    #[command(flatten)]
    pub target: Target,
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
    /// Serve TLS on the TCP port (wss://, https://) with this certificate chain (PEM);
    /// needs --tls-key (config `tls_cert`)
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert (config `tls_key`)
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// Start even though journal segments are missing or shortened, with the runs
    /// whose records may have been there flagged `trace_corruption`
    #[arg(long)]
    pub accept_journal_damage: bool,
    /// TOML configuration file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep runs in PostgreSQL (`postgres://…` or `host=… dbname=…`), shared with other
    /// daemons, instead of the local journal (config `store.url`)
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
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

impl Command {
    /// The operator options of a command that reaches the daemon (for how its errors print).
    pub fn conn(&self) -> Option<&Conn> {
        match self {
            Command::Status(conn) | Command::Audit { conn, .. } => Some(conn),
            Command::Runs(c) => Some(match c {
                RunsCommand::Ls { conn, .. }
                | RunsCommand::Fork { conn, .. }
                | RunsCommand::Diff { conn, .. }
                | RunsCommand::Show { conn, .. }
                | RunsCommand::Trace { conn, .. } => conn,
            }),
            Command::Events(EventsArgs { command: EventsCommand::Tail { conn, .. } }) => Some(conn),
            Command::Sessions(c) => Some(match c {
                SessionsCommand::Ls { conn, .. }
                | SessionsCommand::Show { conn, .. }
                | SessionsCommand::Logs { conn, .. }
                | SessionsCommand::Send { conn, .. }
                | SessionsCommand::Stop { conn, .. }
                | SessionsCommand::Resume { conn, .. }
                | SessionsCommand::Rm { conn, .. }
                | SessionsCommand::Spawn { conn, .. } => conn,
            }),
            Command::Approvals(c) => Some(match c {
                ApprovalsCommand::Ls { conn, .. }
                | ApprovalsCommand::Approve { conn, .. }
                | ApprovalsCommand::Deny { conn, .. } => conn,
            }),
            Command::Policy(PolicyCommand::Reload { conn }) | Command::Overseers(OverseersCommand::Ls { conn }) => {
                Some(conn)
            }
            Command::Journal(JournalCommand::Verify { conn } | JournalCommand::Export { conn, .. }) => Some(conn),
            Command::Token(TokenArgs { conn, .. }) | Command::Console(ConsoleArgs { conn, .. }) => Some(conn),
            Command::Policy(PolicyCommand::Check { .. })
            | Command::Init(_)
            | Command::Serve(_)
            | Command::Hook(_)
            | Command::Mcp(_)
            | Command::Openrpc
            | Command::Completions { .. } => None,
        }
    }
}
