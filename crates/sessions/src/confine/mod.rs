//! Keeping a session's process out of the daemon's data directory (the operator
//! token, other sessions' logs, the journal, approvals, the audit log).
//!
//! Between fork and exec the child enters a mount namespace and a PID namespace of
//! its own (and a user namespace first when the daemon is not root), mounts an empty
//! tmpfs over the data directory, and binds back only what it works in: its own
//! workspace and the base repository its worktree points into. The PID namespace,
//! with its own `/proc`, is what keeps the daemon and the other sessions out of
//! reach: no `/proc/<daemon>/root` or `/fd` to walk around the tmpfs, no neighbour's
//! `environ`, no pid to signal (`init.rs`). A root daemon's session also loses every
//! capability (so it cannot unmount the tmpfs) and sees a minimal `/dev` and a
//! read-only `/proc/sys` and `/sys` (`harden.rs`). Everything else on the machine
//! looks as it does to the daemon. (Landlock was the other candidate; it only
//! allow-lists, so hiding one directory would also hide every file created later
//! directly in its parents, e.g. `~/.claude.json` rewritten by Claude Code.)

mod harden;
mod init;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `sessions.confine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Confine {
    /// Confine when the kernel allows it; otherwise run unconfined, with a warning
    /// and `confined: false` in the session record.
    #[default]
    Auto,
    /// Refuse to start a session that cannot be confined.
    Required,
    /// Never confine: the process sees everything the daemon sees.
    Off,
}

/// The most directories bound back into the hidden data directory.
const MAX_EXPOSED: usize = 4;

/// Everything the child needs, prepared before the fork: after it only
/// async-signal-safe system calls may run, so nothing here allocates then.
pub(crate) struct Confinement {
    data_dir: CString,
    /// Set when the daemon is not root: the user namespace maps it to itself.
    id_maps: Option<(Vec<u8>, Vec<u8>)>,
    exposed: Vec<Exposed>,
}

struct Exposed {
    source: CString,
    /// The directories to create inside the tmpfs, outermost first (the last is the target).
    dirs: Vec<CString>,
}

impl Confinement {
    /// Hides `data_dir` except `expose` (each inside it; others are ignored: they stay visible anyway).
    pub(crate) fn new(data_dir: &Path, expose: &[PathBuf]) -> io::Result<Confinement> {
        let data_dir = data_dir.canonicalize()?;
        let mut exposed = Vec::new();
        for path in expose {
            let Ok(path) = path.canonicalize() else { continue };
            let Ok(inside) = path.strip_prefix(&data_dir) else { continue };
            if inside.as_os_str().is_empty() || exposed.len() == MAX_EXPOSED {
                continue;
            }
            let mut dirs = Vec::new();
            let mut at = data_dir.clone();
            for part in inside.components() {
                at.push(part);
                dirs.push(c_path(&at)?);
            }
            exposed.push(Exposed { source: c_path(&path)?, dirs });
        }
        // SAFETY: geteuid and getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let id_maps =
            (uid != 0).then(|| (format!("{uid} {uid} 1\n").into_bytes(), format!("{gid} {gid} 1\n").into_bytes()));
        Ok(Confinement { data_dir: c_path(&data_dir)?, id_maps, exposed })
    }

    /// Runs in the child between fork and exec.
    ///
    /// # Safety
    /// Only async-signal-safe calls, and no allocation: the daemon is multithreaded.
    pub(crate) unsafe fn enter(&self) -> io::Result<()> {
        unsafe {
            match &self.id_maps {
                None => check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID))?,
                Some((uid_map, gid_map)) => {
                    check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID))?;
                    // A non-dumpable process's /proc/self belongs to root: the daemon's
                    // user could not write its maps. Dumpable again only while it does.
                    check(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0))?;
                    write_file(c"/proc/self/setgroups", b"deny")?;
                    write_file(c"/proc/self/uid_map", uid_map)?;
                    write_file(c"/proc/self/gid_map", gid_map)?;
                    check(libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0))?;
                }
            }
            // Nothing mounted here propagates back to the daemon's namespace.
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            let mut fds = [-1; MAX_EXPOSED];
            for (fd, exposed) in fds.iter_mut().zip(&self.exposed) {
                *fd = libc::open(exposed.source.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
                check(*fd)?;
            }
            let flags = libc::MS_NOSUID | libc::MS_NODEV;
            check(libc::mount(
                c"tmpfs".as_ptr(),
                self.data_dir.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                c"mode=0700,size=64k".as_ptr().cast(),
            ))?;
            for (fd, exposed) in fds.iter().zip(&self.exposed) {
                for dir in &exposed.dirs {
                    if libc::mkdir(dir.as_ptr(), 0o700) != 0 && *libc::__errno_location() != libc::EEXIST {
                        return Err(io::Error::last_os_error());
                    }
                }
                let target = exposed.dirs.last().expect("an exposed path is inside the data directory");
                let mut proc_fd = [0u8; 32];
                let source = fd_path(&mut proc_fd, *fd);
                check(libc::mount(
                    source,
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ))?;
                libc::close(*fd);
            }
            // From here on three processes: only the agent returns (to exec).
            init::split()?;
            harden::mount_proc()?;
            if self.id_maps.is_none() {
                harden::read_only_kernel()?;
                harden::minimal_dev()?;
            }
            harden::drop_capabilities()
        }
    }
}

/// Makes the daemon non-dumpable: only a process with `CAP_SYS_PTRACE` may read its
/// memory, environment, descriptors or root through `/proc/<pid>`, so a process of the
/// same user (a session unconfined, or any other) cannot walk around the data
/// directory's permissions through it. Also turns core dumps off.
pub fn shield_daemon() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_DUMPABLE) only changes a flag of this process.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("a path with a NUL byte"))
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Writes `bytes` to `path` with raw system calls.
unsafe fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd)?;
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if written != bytes.len() as isize {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `/proc/self/fd/<fd>` as a NUL-terminated string in `buf`, without allocating.
fn fd_path(buf: &mut [u8; 32], fd: libc::c_int) -> *const libc::c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let mut n = fd.max(0) as u32;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    buf.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_spelled_without_allocating() {
        let mut buf = [0u8; 32];
        for (fd, expected) in [(0, "/proc/self/fd/0"), (7, "/proc/self/fd/7"), (1234, "/proc/self/fd/1234")] {
            let ptr = fd_path(&mut buf, fd);
            // SAFETY: fd_path NUL-terminates inside buf.
            let text = unsafe { std::ffi::CStr::from_ptr(ptr) };
            assert_eq!(text.to_str().unwrap(), expected);
        }
    }

    #[test]
    fn only_paths_inside_the_data_directory_are_bound_back() {
        let data = tempfile::tempdir().unwrap();
        let inside = data.path().join("sessions/a/workspace");
        std::fs::create_dir_all(&inside).unwrap();
        let outside = tempfile::tempdir().unwrap();
        let confinement = Confinement::new(data.path(), &[inside.clone(), outside.path().to_owned()]).unwrap();
        assert_eq!(confinement.exposed.len(), 1);
        let dirs: Vec<&str> = confinement.exposed[0].dirs.iter().map(|d| d.to_str().unwrap()).collect();
        let root = data.path().canonicalize().unwrap();
        assert_eq!(dirs.last().unwrap(), &inside.canonicalize().unwrap().to_str().unwrap());
        assert_eq!(dirs.first().unwrap(), &root.join("sessions").to_str().unwrap());
    }
}
