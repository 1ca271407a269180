//! The `tether` binary: parse flags, load settings, start the server, wait for a signal.

// The daemon's platform, said at build time rather than as a missing symbol (README, Install).
#[cfg(not(target_os = "linux"))]
compile_error!(
    "tether runs on Linux only: managed sessions use pidfds, namespaces and mounts, and metrics read /proc; \
     build it on Linux (a container or VM elsewhere). The SDKs (sdks/) run anywhere."
);

mod allocator;
mod connect;
mod hook;
mod init;
mod mcp;
mod ops;

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tether_core::{Authenticator, ConnectionConfig, Shutdown, StaticToken};
use tether_server::{Server, ServerConfig, token};
use tether_store::{DirLock, JournalOptions, RealFsync};
use tokio::signal::unix::{SignalKind, signal};

// At the root, so that the binary's modules reach them as `crate::cli` and `crate::config`.
use tether::{cli, config, telemetry};

use crate::cli::{Cli, Command, LogFormat};
use crate::config::Settings;

fn main() -> ExitCode {
    let args = match Cli::parse().command {
        Command::Serve(args) => args,
        Command::Hook(args) => return hook::run(args),
        Command::Mcp(args) => return mcp::run(args),
        Command::Init(args) => return init::run(args),
        Command::Completions { shell } => {
            ops::quiet_on_closed_pipe();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "tether",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        operator => {
            ops::quiet_on_closed_pipe();
            return ops::run(operator);
        }
    };
    let settings = match Settings::resolve(args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("tether: {e}");
            return ExitCode::from(2);
        }
    };
    // Refused before anything starts: a daemon asked for TLS never serves without it.
    let tls = match &settings.tls {
        Some(files) => match tether_server::tls::server_config(&files.cert, &files.key) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("tether: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    init_logging(settings.log_format);
    tether_core::set_release_free_memory(allocator::release_free_memory);
    allocator::without_huge_pages();
    // Before anything in the data directory is opened, recovered or signalled.
    let lock = match claim_data_dir(&settings.data_dir) {
        Ok(lock) => lock,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::collect_if_asked)
        .build()
        .expect("a tokio runtime");
    let telemetry = match settings.telemetry.resolve(|name| std::env::var(name).ok()) {
        Ok(Some(export)) => {
            let _entered = runtime.enter();
            match telemetry::start(&export, settings.telemetry.record_content) {
                Ok(telemetry) => {
                    tracing::info!(endpoint = %export.endpoint, protocol = ?export.protocol, sampling = export.ratio, "telemetry: exporting spans over OTLP");
                    Some(telemetry)
                }
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let served = runtime.block_on(serve(settings, tls));
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    drop(lock);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the data directory (0700), checks nobody else can look inside, and locks it.
fn claim_data_dir(dir: &std::path::Path) -> Result<DirLock, String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
    check_private(dir)?;
    DirLock::acquire(dir).map_err(|e| e.to_string())
}

async fn serve(settings: Settings, tls: Option<Arc<tether_server::tls::Config>>) -> Result<(), String> {
    raise_open_file_limit();
    if let Err(error) = tether_sessions::shield_daemon() {
        tracing::warn!(%error, "cannot make the daemon non-dumpable");
    }
    let operator = authenticator(&settings)?;
    let domains = tether::Domains {
        runs: settings.runs.clone(),
        journal: JournalOptions {
            segment_bytes: settings.journal.segment_bytes,
            accept_damage: settings.journal.accept_damage,
            max_open_segments: settings.journal.max_open_segments,
            preallocate_bytes: settings.journal.preallocate_bytes,
            ..JournalOptions::default()
        },
        store: settings.store.postgres(&settings.data_dir),
        sweep: std::time::Duration::from_millis(settings.store.sweep_ms.max(1)),
        sessions: settings.sessions.clone(),
        events: settings.events.clone(),
        hooks: settings.hooks.clone(),
        console: settings.console.clone(),
        limits: settings.limits.clone(),
    };
    let assembly = tether::assemble(&settings.data_dir, &domains, Arc::new(RealFsync)).await?;
    let authenticator = operator.map(|operator| assembly.authenticator(operator));
    let config = ServerConfig {
        listen: Some(settings.listen),
        socket: Some(settings.socket.clone()),
        authenticator,
        allow_remote: settings.allow_remote,
        allowed_origins: settings.allowed_origins.clone(),
        connection: ConnectionConfig {
            limits: settings.limits.clone(),
            keepalive: settings.keepalive.clone(),
            ..Default::default()
        },
        hooks: Some(Arc::new(tether::HooksOverHttp(assembly.hooks.clone()))),
        mcp: Some(assembly.mcp(settings.mcp.clone())),
        health: Some(assembly.health()),
        metrics: Some(assembly.metrics()),
        metrics_auth: settings.metrics_auth,
        console: settings.console.enabled.then(|| Arc::new(tether_console::Assets) as Arc<dyn tether_server::Site>),
        tls,
    };
    let server = Server::bind(config, assembly.registry).await.map_err(|e| e.to_string())?;
    let addr = server.local_addr().expect("a TCP listener is always configured");
    let (ws, http) = if server.tls() { ("wss", "https") } else { ("ws", "http") };
    // Sessions inherit the daemon's environment: its TETHER_CA_FILE, if any, lets them verify.
    assembly.sessions.set_daemon_url(format!("{ws}://{addr}"));
    // The MCP endpoint's own calls need no certificate on the Unix socket.
    let loopback = if server.tls() { format!("unix:{}", settings.socket.display()) } else { format!("ws://{addr}") };
    let _ = assembly.daemon_url.set(loopback);
    if let Some(logins) = &assembly.logins {
        logins.set_origin(format!("{http}://{addr}"));
    }
    let config = settings.config.as_ref().map_or("none".into(), |path| path.display().to_string());
    tracing::info!(%addr, socket = ?server.socket_path(), data_dir = %settings.data_dir.display(), %config, "ready");
    // The one line on stdout: scripts and tests wait for it.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "tether listening on {ws}://{addr}");
    let _ = stdout.flush();
    drop(stdout);

    // SIGHUP reloads the policy; a bad file keeps the old rules.
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let hooks = assembly.hooks.clone();
    tokio::spawn(async move {
        while sighup.recv().await.is_some() {
            match hooks.reload_policy() {
                Ok(info) => tracing::info!(rules = info.rules.len(), "SIGHUP: policy reloaded"),
                Err(error) => tracing::error!(%error, "SIGHUP: policy reload failed; the old rules stay"),
            }
        }
    });
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    server
        .run(async move {
            // A service manager stops with SIGTERM, often to start again: say 1012 so
            // clients reconnect at once; Ctrl-C (SIGINT) means going away (1001).
            tokio::select! {
                _ = sigterm.recv() => {
                    tracing::info!("SIGTERM");
                    Shutdown::Restart
                }
                _ = sigint.recv() => {
                    tracing::info!("SIGINT");
                    Shutdown::Away
                }
            }
        })
        .await;
    Ok(())
}

/// The data directory holds the token and the socket: nobody else may look inside.
fn check_private(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "data directory {} is accessible by others (mode {mode:o}); run `chmod 700 {}` or choose another",
            dir.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// Every connection, pending upgrade and journal segment is a descriptor: take all
/// the kernel allows (the soft limit is often 1024 while the hard one is far higher).
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    // `None` is RLIM_INFINITY.
    let limit = getrlimit(Resource::Nofile);
    let shown = |value: Option<u64>| value.unwrap_or(u64::MAX);
    let soft = limit.current;
    let mut now = soft;
    if shown(limit.current) < shown(limit.maximum) {
        match setrlimit(Resource::Nofile, rustix::process::Rlimit { current: limit.maximum, ..limit }) {
            Ok(()) => now = limit.maximum,
            Err(error) => tracing::warn!(error = %std::io::Error::from(error), "cannot raise the open-file limit"),
        }
    }
    let (now, soft, hard) = (shown(now), shown(soft), shown(limit.maximum));
    tracing::info!(soft = now, was = soft, hard, "open-file limit (RLIMIT_NOFILE)");
}

fn authenticator(settings: &Settings) -> Result<Option<Arc<dyn Authenticator>>, String> {
    if !settings.auth {
        tracing::warn!("authentication is OFF (--no-auth): any local process can drive this daemon");
        return Ok(None);
    }
    let token = match std::env::var("TETHER_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => token::load_or_create(&settings.token_file).map_err(|e| e.to_string())?,
    };
    Ok(Some(Arc::new(StaticToken::new(token))))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in a redirected log.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
