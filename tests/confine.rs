//! What a confined session can reach, tried as an attacker would from inside one, with
//! the real binary: as root (the tests run as root here), as an unprivileged user, and
//! with confinement off (which shows that the probe does find what is open).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Each attack prints `<name>:open` if it worked and `<name>:shut` if it did not.
/// `$D` is the daemon's pid, `$DATA` its data directory.
const ATTACKS: &str = r#"
t() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name:open"; else echo "$name:shut"; fi; }
t token cat "/proc/$D/root$DATA/auth-token"
t journal sh -c 'ls "/proc/$D/fd/" | grep -q .'
t daemon_environ sh -c 'tr "\0" "\n" < "/proc/$D/environ" | grep -q .'
t neighbour_environ sh -c 'cat /proc/[0-9]*/environ | tr "\0" "\n" | grep "^TETHER_TOKEN=" | grep -vqx "TETHER_TOKEN=$TETHER_TOKEN"'
t init_memory sh -c 'tr "\0" "\n" < /proc/1/environ | grep -q .'
t umount umount "$DATA"
t umount_lazy umount -l "$DATA"
t kill_daemon kill -0 "$D"
t disk_node sh -c 'for b in /sys/class/block/*; do [ -b "/dev/${b##*/}" ] && [ -r "/dev/${b##*/}" ] && exit 0; done; exit 1'
t mknod sh -c 'b=$(ls /sys/class/block | head -1); IFS=: read ma mi < "/sys/class/block/$b/dev"; mknod ./disk b "$ma" "$mi" && [ "$(head -c 512 ./disk | wc -c)" = 512 ]'
t sysctl sh -c 'cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname'
echo x > mine && echo workspace:wrote
echo end
"#;

/// Starts `binary serve` (through `setpriv` as nobody when `as_nobody`), with `config`.
fn serve(dir: &Path, as_nobody: bool, config: &str) -> (std::process::Child, String, std::path::PathBuf) {
    let data = dir.join("data");
    let binary = dir.join("tether");
    std::fs::copy(env!("CARGO_BIN_EXE_tether"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("tether.toml"), config).unwrap();
    let mut command = if as_nobody {
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&binary);
        command
    } else {
        Command::new(&binary)
    };
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(dir.join("tether.toml"))
        .arg("--data-dir")
        .arg(&data)
        .env("HOME", dir)
        .env_remove("TETHER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("tether listening on ").expect("a readiness line").to_owned();
    (child, url, data)
}

async fn record(client: &Client, id: &str) -> Value {
    client.call_raw("sessions.get", json!({"session_id": id})).await.unwrap()
}

async fn output(client: &Client, id: &str) -> String {
    let out = client.call_raw("sessions.output", json!({"session_id": id})).await.unwrap();
    out["text"].as_str().unwrap().to_owned()
}

/// Runs the attacks in one session while a neighbour session waits; returns each
/// attack's outcome and the attacker's record.
async fn attack(as_nobody: bool, config: &str) -> (Vec<(String, String)>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let (mut child, url, data) = serve(dir.path(), as_nobody, config);
    if as_nobody {
        std::os::unix::fs::chown(&work, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let token = std::fs::read_to_string(data.join("auth-token")).unwrap();
    let client = Client::builder(&url).token(token.trim()).connect().await.unwrap();
    let neighbour = client
        .call_raw(
            "sessions.spawn",
            json!({"task": "wait", "command": ["sh", "-c", "echo up; while read l; do :; done"], "cwd": work}),
        )
        .await
        .unwrap();
    let neighbour = neighbour["session_id"].as_str().unwrap().to_owned();
    wait_until("the neighbour is up", async || output(&client, &neighbour).await.contains("up")).await;
    let env = json!({"D": child.id().to_string(), "DATA": data});
    let spawned = client
        .call_raw(
            "sessions.spawn",
            json!({"task": "attack", "command": ["sh", "-c", ATTACKS], "cwd": work, "env": env}),
        )
        .await
        .unwrap();
    let id = spawned["session_id"].as_str().unwrap().to_owned();
    wait_until("the attacker exits", async || record(&client, &id).await["state"] == "exited").await;
    let done = record(&client, &id).await;
    let text = output(&client, &id).await;
    client.call_raw("sessions.stop", json!({"session_id": neighbour, "grace_ms": 100})).await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("{}", std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default());
    assert!(text.ends_with("workspace:wrote\nend\n"), "the session works in its workspace: {text}");
    let outcomes = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| *name != "workspace")
        .map(|(name, outcome)| (name.to_owned(), outcome.to_owned()))
        .collect();
    (outcomes, done)
}

fn open(outcomes: &[(String, String)]) -> Vec<&str> {
    outcomes.iter().filter(|(_, outcome)| outcome != "shut").map(|(name, _)| name.as_str()).collect()
}

#[tokio::test]
async fn a_root_daemons_confined_session_reaches_neither_the_daemon_nor_its_neighbours() {
    assert!(is_root(), "this test is about a daemon running as root");
    let (outcomes, done) = attack(false, "").await;
    assert_eq!(done["confined"], true, "{done}");
    assert_eq!(outcomes.len(), 11, "{outcomes:?}");
    assert_eq!(open(&outcomes), Vec::<&str>::new(), "every attack fails: {outcomes:?}");
}

#[tokio::test]
async fn an_unprivileged_daemons_confined_session_reaches_neither_the_daemon_nor_its_neighbours() {
    assert!(is_root(), "the test drops from root to nobody with setpriv");
    let (outcomes, done) = attack(true, "").await;
    assert_eq!(done["confined"], true, "{done}");
    assert_eq!(outcomes.len(), 11, "{outcomes:?}");
    assert_eq!(open(&outcomes), Vec::<&str>::new(), "every attack fails: {outcomes:?}");
}

/// The same probe against an unconfined session of a root daemon finds the doors
/// confinement shuts (so the tests above can fail). Reading a disk through its node,
/// or one made with mknod, this machine refuses even to root, so only the node's
/// presence is checked here.
#[tokio::test]
async fn with_confinement_off_the_same_attacks_succeed() {
    let (outcomes, done) = attack(false, "[sessions]\nconfine = \"off\"\n").await;
    assert_eq!(done["confined"], false, "{done}");
    let open = open(&outcomes);
    for door in ["token", "journal", "daemon_environ", "neighbour_environ", "kill_daemon", "disk_node", "sysctl"] {
        assert!(open.contains(&door), "{door} is open without confinement: {outcomes:?}");
    }
}
