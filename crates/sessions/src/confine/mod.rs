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

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags, MountPropagationFlags};
use rustix::process::{self, DumpableBehavior};
use rustix::thread::{self, UnshareFlags};

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
        let (uid, gid) = (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw());
        let id_maps =
            (uid != 0).then(|| (format!("{uid} {uid} 1\n").into_bytes(), format!("{gid} {gid} 1\n").into_bytes()));
        Ok(Confinement { data_dir: c_path(&data_dir)?, id_maps, exposed })
    }

    /// Runs in the child between fork and exec.
    ///
    /// Every call below is rustix's (raw system calls: no errno, no locks) on `&CStr`
    /// paths, which rustix passes through as they are, so nothing allocates.
    ///
    /// # Safety
    /// Only async-signal-safe calls, and no allocation: the daemon is multithreaded.
    pub(crate) unsafe fn enter(&self) -> io::Result<()> {
        let namespaces = UnshareFlags::NEWNS | UnshareFlags::NEWPID;
        match &self.id_maps {
            // SAFETY: no CLONE_FILES, so no descriptor table is split between threads
            // (this child has one thread anyway).
            None => unsafe { thread::unshare_unsafe(namespaces)? },
            Some((uid_map, gid_map)) => {
                // SAFETY: as above.
                unsafe { thread::unshare_unsafe(UnshareFlags::NEWUSER | namespaces)? };
                // A non-dumpable process's /proc/self belongs to root: the daemon's
                // user could not write its maps. Dumpable again only while it does.
                process::set_dumpable_behavior(DumpableBehavior::Dumpable)?;
                write_file(c"/proc/self/setgroups", b"deny")?;
                write_file(c"/proc/self/uid_map", uid_map)?;
                write_file(c"/proc/self/gid_map", gid_map)?;
                process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
            }
        }
        // Nothing mounted here propagates back to the daemon's namespace.
        mount::mount_change(c"/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE)?;
        let mut fds = [const { None }; MAX_EXPOSED];
        for (fd, exposed) in fds.iter_mut().zip(&self.exposed) {
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            *fd = Some(fs::open(exposed.source.as_c_str(), flags, Mode::empty())?);
        }
        let flags = MountFlags::NOSUID | MountFlags::NODEV;
        mount::mount(c"tmpfs", self.data_dir.as_c_str(), c"tmpfs", flags, c"mode=0700,size=64k")?;
        for (fd, exposed) in fds.iter_mut().zip(&self.exposed) {
            for dir in &exposed.dirs {
                match fs::mkdir(dir.as_c_str(), Mode::RWXU) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            let (Some(fd), Some(target)) = (fd.take(), exposed.dirs.last()) else { continue };
            let mut proc_fd = [0u8; 32];
            mount::mount_bind_recursive(fd_path(&mut proc_fd, fd.as_raw_fd()), target.as_c_str())?;
        }
        // From here on three processes: only the agent returns (to exec).
        // SAFETY: between fork and exec, after unshare(CLONE_NEWPID), as `split` requires.
        unsafe { init::split()? };
        harden::mount_proc()?;
        if self.id_maps.is_none() {
            harden::read_only_kernel()?;
            harden::minimal_dev()?;
        }
        harden::drop_capabilities()
    }
}

/// Makes the daemon non-dumpable: only a process with `CAP_SYS_PTRACE` may read its
/// memory, environment, descriptors or root through `/proc/<pid>`, so a process of the
/// same user (a session unconfined, or any other) cannot walk around the data
/// directory's permissions through it. Also turns core dumps off.
pub fn shield_daemon() -> io::Result<()> {
    Ok(process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("a path with a NUL byte"))
}

/// Writes `bytes` to `path` in one write, as `/proc/self/{uid,gid}_map` require.
fn write_file(path: &CStr, bytes: &[u8]) -> io::Result<()> {
    let fd = fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    if rustix::io::write(&fd, bytes)? != bytes.len() {
        // From an `ErrorKind`, an `io::Error` allocates nothing.
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(())
}

/// `/proc/self/fd/<fd>` as a NUL-terminated string in `buf`, without allocating.
fn fd_path(buf: &mut [u8; 32], fd: RawFd) -> &CStr {
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
    // Always found: the NUL was just written (and an empty path would only fail the mount).
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_spelled_without_allocating() {
        let mut buf = [0u8; 32];
        for (fd, expected) in [(0, "/proc/self/fd/0"), (7, "/proc/self/fd/7"), (1234, "/proc/self/fd/1234")] {
            assert_eq!(fd_path(&mut buf, fd).to_str().unwrap(), expected);
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
