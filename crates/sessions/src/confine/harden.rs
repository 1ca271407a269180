//! What the agent does to itself before it execs, inside its namespaces: its own
//! `/proc`, and when the daemon is root, the rest of what keeps a uid-0 process with
//! no capabilities from reaching around the mounts (the raw disk under `/dev`, the
//! kernel's knobs under `/proc/sys` and `/sys`), then no capabilities at all.
//!
//! Why this much: uid 0 without capabilities still owns every root-owned file, so a
//! block device (`brw-rw---- root disk`) or a sysctl (`-rw-r--r-- root`) would open for
//! it. Async-signal-safe calls only, and no allocation (see `init.rs`).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::fs::{self, Access, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags};
use rustix::thread::{self, CapabilitySet, CapabilitySets};

/// A `/proc` of the session's PID namespace: it lists only the session's processes.
pub(super) fn mount_proc() -> io::Result<()> {
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    Ok(mount::mount(c"proc", c"/proc", c"proc", flags, None::<&CStr>)?)
}

/// The kernel's writable knobs, read-only (as container runtimes make them).
pub(super) fn read_only_kernel() -> io::Result<()> {
    for path in [c"/proc/sys", c"/proc/sysrq-trigger", c"/proc/irq", c"/proc/bus", c"/sys"] {
        read_only(path)?;
    }
    Ok(())
}

fn read_only(path: &CStr) -> io::Result<()> {
    if fs::access(path, Access::EXISTS).is_err() {
        return Ok(());
    }
    mount::mount_bind_recursive(path, path)?;
    // rustix passes "" as the data where libc was given NULL: a bind remount ignores it.
    let flags = MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    Ok(mount::mount_remount(path, flags, c"")?)
}

/// The devices a program expects, and nothing that reaches hardware or the disk.
const DEVICES: [(&CStr, &CStr); 6] = [
    (c"/dev/null", c"null"),
    (c"/dev/zero", c"zero"),
    (c"/dev/full", c"full"),
    (c"/dev/random", c"random"),
    (c"/dev/urandom", c"urandom"),
    (c"/dev/tty", c"tty"),
];

/// A fresh `/dev`: the harmless character devices bound from the host's, a private
/// pseudo-terminal instance and `/dev/shm`.
pub(super) fn minimal_dev() -> io::Result<()> {
    let mut fds: [Option<OwnedFd>; DEVICES.len()] = [const { None }; DEVICES.len()];
    for (fd, (path, _)) in fds.iter_mut().zip(DEVICES) {
        // A device the host lacks is left out.
        *fd = fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).ok();
    }
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC;
    mount::mount(c"tmpfs", c"/dev", c"tmpfs", flags, c"mode=0755,size=64k")?;
    let dev = fs::open(c"/dev", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    for (fd, (_, name)) in fds.iter_mut().zip(DEVICES) {
        let Some(fd) = fd.take() else { continue };
        let flags = OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC;
        drop(fs::openat(&dev, name, flags, Mode::from_raw_mode(0o666))?);
        bind_by_name(&fd, name)?;
    }
    drop(dev);
    for dir in [c"/dev/pts", c"/dev/shm"] {
        fs::mkdir(dir, Mode::from_raw_mode(0o755))?;
    }
    let flags = MountFlags::NOSUID | MountFlags::NOEXEC;
    mount::mount(c"devpts", c"/dev/pts", c"devpts", flags, c"newinstance,ptmxmode=0666,mode=0620")?;
    mount::mount(c"tmpfs", c"/dev/shm", c"tmpfs", MountFlags::NOSUID | MountFlags::NODEV, c"mode=1777")?;
    for (target, link) in [
        (c"pts/ptmx", c"/dev/ptmx"),
        (c"/proc/self/fd", c"/dev/fd"),
        (c"/proc/self/fd/0", c"/dev/stdin"),
        (c"/proc/self/fd/1", c"/dev/stdout"),
        (c"/proc/self/fd/2", c"/dev/stderr"),
    ] {
        fs::symlink(target, link)?;
    }
    Ok(())
}

/// Binds the device open as `fd` onto `/dev/<name>`.
fn bind_by_name(fd: &OwnedFd, name: &CStr) -> io::Result<()> {
    let mut target = [0u8; 32];
    let prefix = b"/dev/";
    let name = name.to_bytes_with_nul();
    target[..prefix.len()].copy_from_slice(prefix);
    target[prefix.len()..prefix.len() + name.len()].copy_from_slice(name);
    let target = CStr::from_bytes_until_nul(&target).unwrap_or_default();
    let mut source = [0u8; 32];
    Ok(mount::mount_bind(super::fd_path(&mut source, fd.as_raw_fd()), target)?)
}

/// No capabilities, now or after exec (the bounding set is emptied), and no way to
/// gain any through a set-uid or file-capability program.
pub(super) fn drop_capabilities() -> io::Result<()> {
    // By number, not by rustix's named set: a kernel newer than rustix may have more.
    for capability in 0..64 {
        match thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(1 << capability)) {
            Ok(()) => {}
            Err(Errno::INVAL) => break, // past the kernel's last capability
            Err(error) => return Err(error.into()),
        }
    }
    thread::clear_ambient_capability_set()?;
    let none = CapabilitySet::empty();
    thread::set_capabilities(None, CapabilitySets { effective: none, permitted: none, inheritable: none })?;
    Ok(thread::set_no_new_privs(true)?)
}
