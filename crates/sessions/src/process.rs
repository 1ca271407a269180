//! The process host: spawn a child in its own process group with its output in a
//! log file, tell whether a pid is still that child, signal its group, and learn
//! of its exit without polling (pidfd), even for a child adopted after a restart.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::process::{Child, ChildStdin, Command};

use crate::confine::Confinement;

pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) pid: u32,
    pub(crate) start_time: Option<u64>,
}

/// Runs `argv` (no shell) in `cwd`, stdout and stderr appended to `log`, stdin a
/// pipe, entering `confinement` (if any) before it execs.
pub(crate) fn spawn(
    argv: &[String],
    cwd: &Path,
    env: &BTreeMap<String, String>,
    log: &Path,
    confinement: Option<Arc<Confinement>>,
) -> io::Result<Spawned> {
    let (program, args) = argv.split_first().ok_or_else(|| io::Error::other("empty argv"))?;
    let out = OpenOptions::new().create(true).append(true).mode(0o600).open(log)?;
    let err = out.try_clone()?;
    let mut command = Command::new(program);
    // SAFETY: one prctl, then `enter`, which makes only async-signal-safe calls and
    // allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // The daemon turned transparent huge pages off for itself (its
            // allocator); an agent starts with the system's default again.
            let _ = rustix::thread::disable_transparent_huge_pages(false);
            match &confinement {
                Some(confinement) => confinement.enter(),
                None => Ok(()),
            }
        });
    }
    let mut child = command
        .args(args)
        .current_dir(cwd)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        // Its own group: stop signals reach everything it started, and a Ctrl-C
        // aimed at the daemon does not reach it.
        .process_group(0)
        .kill_on_drop(false)
        .spawn()?;
    let pid = child.id().ok_or_else(|| io::Error::other("the child exited at once"))?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let start_time = match probe(pid) {
        Liveness::Alive { start_time } => Some(start_time),
        _ => None,
    };
    Ok(Spawned { child, stdin, pid, start_time })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    Alive {
        start_time: u64,
    },
    Gone,
    /// `/proc` could not be read for another reason: nothing can be concluded.
    Unknown(String),
}

/// Reads `/proc/<pid>/stat` for the process's start time.
pub fn probe(pid: u32) -> Liveness {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match start_time(&stat) {
            Some(start_time) => Liveness::Alive { start_time },
            None => Liveness::Unknown(format!("unparsable /proc/{pid}/stat")),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Liveness::Gone,
        Err(e) => Liveness::Unknown(e.to_string()),
    }
}

/// Field 22 of `/proc/<pid>/stat`; the command name (field 2) may hold spaces and parentheses.
fn start_time(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 on; start time is field 22, so index 19 here.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Is `pid` still the process started at `start_time`? A zombie counts as gone.
pub(crate) fn same_process(pid: u32, start_time: Option<u64>) -> Liveness {
    match probe(pid) {
        Liveness::Alive { start_time: now } if start_time.is_none_or(|then| then == now) => {
            if is_zombie(pid) {
                Liveness::Gone
            } else {
                Liveness::Alive { start_time: now }
            }
        }
        Liveness::Alive { .. } => Liveness::Gone,
        other => other,
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat[stat.rfind(')')? + 1..].split_whitespace().next().map(|s| s == "Z"))
        .unwrap_or(false)
}

/// Sends `signal` to the process group led by `pid`.
pub(crate) fn signal_group(pid: u32, signal: Signal) -> io::Result<()> {
    // Pid 0 would be this daemon's own group.
    let pid = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or(Errno::SRCH)?;
    Ok(rustix::process::kill_process_group(pid, signal)?)
}

/// Resolves when `pid` exits, for a process that is not our child (adopted at boot).
pub(crate) async fn exited(pid: u32) -> io::Result<()> {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else { return Ok(()) };
    let fd = match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    // SAFETY: the `OwnedFd` keeps its descriptor open and unchanged for as long as the `AsyncFd` lives.
    let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
        .map_err(|e| io::Error::other(e.to_string()))?;
    let _ready = fd.readable().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_command_names() {
        let stat = "1234 (a) (b c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(start_time("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_pid_is_gone() {
        assert!(matches!(probe(std::process::id()), Liveness::Alive { .. }));
        assert_eq!(probe(u32::MAX / 2), Liveness::Gone);
    }
}
