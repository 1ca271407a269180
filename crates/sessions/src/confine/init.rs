//! The three processes of a confined session, split in the child between fork and
//! exec (so, like all of `confine`, only async-signal-safe calls and no allocation):
//!
//! - the **waiter**, the process the daemon spawned and tracks (pid, pidfd, process
//!   group), outside the session's PID namespace. It outlives the agent, then exits
//!   the way the agent did (same code, or the same signal re-raised), so stop, exit
//!   codes and adoption after a restart see what they saw before confinement.
//! - the **reaper**, PID 1 of the new namespace. It reaps orphans and reports the
//!   agent's wait status to the waiter; when it exits the kernel kills whatever is
//!   left in the namespace, so a session leaves no process behind.
//! - the **agent**, PID 2, which returns to `Command` to exec the session's program.
//!
//! Neither waiter nor reaper ever execs: they are copies of the daemon's memory, made
//! non-dumpable before the fork so that no process in the namespace can read them
//! through `/proc/1/{mem,environ,root,fd}`, and they close every descriptor they do
//! not need (the daemon's listeners and journal files among them).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{self, DumpableBehavior, Pid, WaitOptions};

/// Forks the waiter and the reaper; returns only in the agent.
///
/// `fork`, `sigaction`, `sigprocmask`, `close_range` and `_exit` stay libc's: rustix
/// has them only in its `runtime` module, for programs that are their own libc.
///
/// # Safety
/// Between fork and exec of a multithreaded process, after `unshare(CLONE_NEWPID)`.
pub(super) unsafe fn split() -> io::Result<()> {
    let (read_end, write_end) = pipe_with(PipeFlags::CLOEXEC)?;
    process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    // SAFETY: this process has a single thread (it is the child of a fork), and each
    // side below only makes async-signal-safe calls until it exits or execs.
    let reaper = unsafe { libc::fork() };
    check(reaper)?;
    if reaper > 0 {
        drop(write_end);
        // SAFETY: as above.
        unsafe { wait_for(reaper, read_end) }
    }
    drop(read_end);
    // SAFETY: as above.
    let agent = unsafe { libc::fork() };
    check(agent)?;
    if agent > 0 {
        // SAFETY: as above.
        unsafe { reap(agent, write_end) }
    }
    drop(write_end);
    Ok(())
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// The waiter: survives the signals meant for the agent (which reach it through the
/// process group), then exits as the agent did.
unsafe fn wait_for(reaper: libc::pid_t, status_pipe: OwnedFd) -> ! {
    unsafe {
        close_all_but(status_pipe.as_raw_fd());
        for signal in FORWARDED {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        let agent = read_status(&status_pipe);
        let own = loop {
            match process::waitpid(Pid::from_raw(reaper), WaitOptions::empty()) {
                Err(Errno::INTR) => {}
                Ok(Some((_, status))) => break status.as_raw(),
                _ => break 0,
            }
        };
        exit_as(agent.unwrap_or(own))
    }
}

/// The signals a stop or an operator sends, which the waiter must outlive.
const FORWARDED: [libc::c_int; 7] =
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM];

extern "C" fn ignore(_: libc::c_int) {}

/// PID 1: reaps until the agent exits, then reports its status and ends the namespace.
unsafe fn reap(agent: libc::pid_t, status_pipe: OwnedFd) -> ! {
    unsafe {
        close_all_but(status_pipe.as_raw_fd());
        loop {
            match process::wait(WaitOptions::empty()) {
                Ok(Some((pid, status))) if pid.as_raw_pid() == agent => {
                    let _ = rustix::io::write(&status_pipe, &status.as_raw().to_ne_bytes());
                    libc::_exit(0);
                }
                Ok(_) | Err(Errno::INTR) => {}
                Err(_) => libc::_exit(1),
            }
        }
    }
}

/// Exits with `status`'s code, or dies of its signal (`128 + signal` if that fails).
unsafe fn exit_as(status: libc::c_int) -> ! {
    unsafe {
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            // libc's kill: rustix's takes only the named signals, and this may be a real-time one.
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 1 })
    }
}

unsafe fn close_all_but(keep: libc::c_int) {
    unsafe {
        let keep = keep as libc::c_uint;
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, keep - 1, 0 as libc::c_uint);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0 as libc::c_uint);
    }
}

/// The agent's wait status, or `None` if the reaper died without writing it.
fn read_status(pipe: &OwnedFd) -> Option<libc::c_int> {
    let mut bytes = [0u8; size_of::<libc::c_int>()];
    let mut done = 0;
    while done < bytes.len() {
        match rustix::io::read(pipe, &mut bytes[done..]) {
            Ok(0) => return None,
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    Some(libc::c_int::from_ne_bytes(bytes))
}
