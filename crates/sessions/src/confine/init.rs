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

use super::check;

/// Forks the waiter and the reaper; returns only in the agent.
///
/// # Safety
/// Between fork and exec of a multithreaded process, after `unshare(CLONE_NEWPID)`.
pub(super) unsafe fn split() -> io::Result<()> {
    unsafe {
        let mut status = [-1; 2];
        check(libc::pipe2(status.as_mut_ptr(), libc::O_CLOEXEC))?;
        let [read_end, write_end] = status;
        check(libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0))?;
        let reaper = libc::fork();
        check(reaper)?;
        if reaper > 0 {
            libc::close(write_end);
            wait_for(reaper, read_end)
        }
        libc::close(read_end);
        let agent = libc::fork();
        check(agent)?;
        if agent > 0 {
            reap(agent, write_end)
        }
        libc::close(write_end);
    }
    Ok(())
}

/// The waiter: survives the signals meant for the agent (which reach it through the
/// process group), then exits as the agent did.
unsafe fn wait_for(reaper: libc::pid_t, status_pipe: libc::c_int) -> ! {
    unsafe {
        close_all_but(status_pipe);
        for signal in FORWARDED {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        let mut agent: libc::c_int = 0;
        let got = read_exact(status_pipe, &mut agent);
        let mut own: libc::c_int = 0;
        while libc::waitpid(reaper, &mut own, 0) < 0 && errno() == libc::EINTR {}
        exit_as(if got { agent } else { own })
    }
}

/// The signals a stop or an operator sends, which the waiter must outlive.
const FORWARDED: [libc::c_int; 7] =
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM];

extern "C" fn ignore(_: libc::c_int) {}

/// PID 1: reaps until the agent exits, then reports its status and ends the namespace.
unsafe fn reap(agent: libc::pid_t, status_pipe: libc::c_int) -> ! {
    unsafe {
        close_all_but(status_pipe);
        loop {
            let mut status: libc::c_int = 0;
            let pid = libc::waitpid(-1, &mut status, 0);
            if pid == agent {
                libc::write(status_pipe, (&raw const status).cast(), size_of::<libc::c_int>());
                libc::_exit(0);
            }
            if pid < 0 && errno() != libc::EINTR {
                libc::_exit(1);
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

unsafe fn read_exact(fd: libc::c_int, into: &mut libc::c_int) -> bool {
    let mut done = 0;
    while done < size_of::<libc::c_int>() {
        // SAFETY: writes at most the remaining bytes of `into`.
        let n = unsafe {
            libc::read(fd, (into as *mut libc::c_int).cast::<u8>().add(done).cast(), size_of::<libc::c_int>() - done)
        };
        match n {
            n if n > 0 => done += n as usize,
            n if n < 0 && errno() == libc::EINTR => {}
            _ => return false,
        }
    }
    true
}

fn errno() -> libc::c_int {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
