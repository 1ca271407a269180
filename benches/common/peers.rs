//! The servers tether is compared with, and the independent load generator:
//! `benches/peers`, a crate of its own (so that CI never compiles jsonrpsee),
//! built here on first use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::TOKEN;

/// Builds `benches/peers` (release) and returns its binary.
pub fn build() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .status()
        .unwrap();
    assert!(status.success(), "building benches/peers failed");
    dir.join("target/release/bench-peers")
}

/// A server in a child process that printed `… ws://ADDR`; SIGTERM when dropped
/// (so that a server run under callgrind writes its counts), then killed.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub url: String,
    /// tether wants a bearer token and a handshake; the peers want neither.
    pub tether: bool,
    pub _dir: Option<tempfile::TempDir>,
}

impl Server {
    pub fn spawn(name: &'static str, mut command: Command, tether: bool, dir: Option<tempfile::TempDir>) -> Server {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("ws://"), "{name} printed {line:?}");
        Server { name, child, url, tether, _dir: dir }
    }

    pub fn peer(bin: &Path, name: &'static str, args: &[&str]) -> Server {
        let mut command = Command::new(bin);
        command.args(args);
        Server::spawn(name, command, false, None)
    }

    pub fn rss_kib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("ws://")
    }

    /// CPU time the process has used so far, every thread's: (user, system) seconds.
    pub fn cpu_seconds(&self) -> (f64, f64) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let field = |n: usize| fields[n - 3].parse::<f64>().unwrap() / ticks;
        (field(14), field(15))
    }

    /// Context switches so far, voluntary and not, summed over the threads alive now
    /// (a thread that exited takes its count with it: the runtime's and the journal's
    /// threads live as long as the server).
    pub fn context_switches(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else { return 0 };
        let count = |status: String| -> u64 {
            let value = |key: &str| {
                let line = status.lines().find(|l| l.starts_with(key));
                line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            };
            value("voluntary_ctxt_switches:") + value("nonvoluntary_ctxt_switches:")
        };
        tasks.flatten().filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok()).map(count).sum()
    }

    /// Peak resident memory (VmHWM).
    pub fn hwm_kib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn stop(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run of the load generator saw.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Every turn `bench-peers turns` completed, warm-up included (NaN for other loads).
    pub turns_all: f64,
    pub rate: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// `bench-peers turns`' halves of a turn at p50 (NaN for other loads): proposal
    /// sent to `tools.execute` read, and reply sent to answer read.
    pub call_p50_us: f64,
    pub answer_p50_us: f64,
}

/// Runs `bench-peers load` against `server` in its own process.
pub fn load(
    bin: &Path,
    server: &Server,
    connections: usize,
    depth: usize,
    seconds: f64,
    message: Option<&str>,
) -> Load {
    let mut command = Command::new(bin);
    command.args(["load", &server.url, &connections.to_string(), &depth.to_string(), &seconds.to_string()]);
    if server.tether {
        command.args(["--token", TOKEN, "--handshake"]);
    }
    if let Some(message) = message {
        command.args(["--message", message]);
    }
    parse(command)
}

fn parse(mut command: Command) -> Load {
    let output = command.output().unwrap();
    assert!(output.status.success(), "load generator failed: {}", String::from_utf8_lossy(&output.stderr));
    let line = String::from_utf8(output.stdout).unwrap();
    let find = |name: &str| line.split_whitespace().find_map(|kv| kv.strip_prefix(name));
    let field = |name: &str| -> f64 { find(name).unwrap().parse().unwrap() };
    let optional = |name: &str| find(name).map_or(f64::NAN, |n| n.parse().unwrap());
    Load {
        turns_all: optional("turns_all="),
        call_p50_us: optional("call_p50_us="),
        answer_p50_us: optional("answer_p50_us="),
        rate: field("rate="),
        p50_us: field("p50_us="),
        p99_us: field("p99_us="),
        p999_us: field("p999_us="),
    }
}

/// Runs `bench-peers turns` against `server` in its own process: durable turns
/// (one-action proposals, each answered through `tools.execute`) on `runs` connections.
pub fn turns(bin: &Path, server: &Server, runs: usize, seconds: f64) -> Load {
    let mut command = Command::new(bin);
    command.args(["turns", &server.url, &runs.to_string(), &seconds.to_string()]);
    if server.tether {
        command.args(["--token", TOKEN]);
    }
    parse(command)
}

/// Runs `bench-peers turns --count` against `server`: exactly `count` durable turns on one run.
pub fn turns_counted(bin: &Path, server: &Server, count: u64) -> Load {
    let mut command = Command::new(bin);
    command.args(["turns", &server.url, "1", "0", "--count", &count.to_string()]);
    if server.tether {
        command.args(["--token", TOKEN]);
    }
    parse(command)
}

/// The instructions a callgrind output file counted (its `totals:` or `summary:` line).
pub fn callgrind_total(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().rev().find(|l| l.starts_with("totals:") || l.starts_with("summary:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}
