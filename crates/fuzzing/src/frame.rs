//! One text frame through parse → dispatch, against the daemon's real registry
//! (every domain assembled in a scratch data directory; sessions may run nothing).
//! Each input is a fresh connection: a handshake, the input, a close.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tether_core::{ConnectionConfig, ConnectionOptions, Registry, Shutdown, serve_connection};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

struct World {
    runtime: tokio::runtime::Runtime,
    registry: Arc<Registry>,
    config: Arc<ConnectionConfig>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // Paused time: waits (approvals, tool calls) resolve at once instead of stalling the fuzzer.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        let dir = tempfile::tempdir_in(crate::scratch()).unwrap();
        let mut domains = tether::Domains::default();
        domains.sessions.allowed_commands = vec!["/nonexistent/fuzzing-runs-nothing".into()];
        domains.sessions.allowed_repos = vec!["file:///nonexistent/fuzzing".into()];
        let registry =
            runtime.block_on(tether::registry(dir.path(), &domains, Arc::new(tether_store::RealFsync))).unwrap();
        World { runtime, registry: Arc::new(registry), config: Arc::new(ConnectionConfig::default()), _dir: dir }
    })
}

/// Any bytes as one text frame after a handshake.
pub fn frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        serve(text);
    }
}

/// Any JSON as the tool definitions of a `tools.register`: schema compilation and its
/// cost bounds (sizes, regex counts and lengths, the per-connection budget).
pub fn tools_register(data: &[u8]) {
    let Ok(definitions) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let request = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools.register", "params": definitions});
    serve(&request.to_string());
}

fn serve(text: &str) {
    let world = world();
    world.runtime.block_on(async {
        let (to_server, inbound) = mpsc::unbounded_channel::<Result<Message, WsError>>();
        let (outbound, mut from_server) = mpsc::unbounded_channel::<Message>();
        let incoming =
            Box::pin(futures_util::stream::unfold(inbound, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }));
        let outgoing = Box::pin(futures_util::sink::unfold(outbound, |tx, message: Message| async move {
            tx.send(message).map_err(|_| WsError::ConnectionClosed)?;
            Ok::<_, WsError>(tx)
        }));
        let options = ConnectionOptions {
            config: world.config.clone(),
            principal: None,
            read_only: false,
            authenticator: None,
            shutdown: watch::channel(Shutdown::Running).1,
            admission: None,
            credential: None,
            lifetime: None,
        };
        let connection = tokio::spawn(serve_connection(incoming, outgoing, world.registry.clone(), options));
        let handshake = r#"{"jsonrpc":"2.0","id":"hs","method":"server.handshake","params":{"protocol_version":3}}"#;
        let _ = to_server.send(Ok(Message::Text(handshake.into())));
        let _ = to_server.send(Ok(Message::Text(text.into())));
        // Give the handlers a moment (of paused time), then close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = to_server.send(Ok(Message::Close(None)));
        let drain = async { while from_server.recv().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(600), async { tokio::join!(connection, drain) }).await;
    });
}
