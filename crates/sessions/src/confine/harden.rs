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

use super::check;

/// A `/proc` of the session's PID namespace: it lists only the session's processes.
pub(super) unsafe fn mount_proc() -> io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: literals are NUL-terminated; mount(2) has no memory effects.
    unsafe { check(libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), flags, std::ptr::null())) }
}

/// The kernel's writable knobs, read-only (as container runtimes make them).
pub(super) unsafe fn read_only_kernel() -> io::Result<()> {
    for path in [c"/proc/sys", c"/proc/sysrq-trigger", c"/proc/irq", c"/proc/bus", c"/sys"] {
        // SAFETY: as above.
        unsafe { read_only(path)? };
    }
    Ok(())
}

unsafe fn read_only(path: &CStr) -> io::Result<()> {
    unsafe {
        if libc::access(path.as_ptr(), libc::F_OK) != 0 {
            return Ok(());
        }
        let none = std::ptr::null();
        check(libc::mount(path.as_ptr(), path.as_ptr(), none, libc::MS_BIND | libc::MS_REC, std::ptr::null()))?;
        let flags =
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        check(libc::mount(none, path.as_ptr(), none, flags, std::ptr::null()))
    }
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
pub(super) unsafe fn minimal_dev() -> io::Result<()> {
    unsafe {
        let mut fds = [-1; DEVICES.len()];
        for (fd, (path, _)) in fds.iter_mut().zip(DEVICES) {
            *fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
        }
        let tmpfs = c"tmpfs".as_ptr();
        check(libc::mount(
            tmpfs,
            c"/dev".as_ptr(),
            tmpfs,
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"mode=0755,size=64k".as_ptr().cast(),
        ))?;
        let dev = libc::open(c"/dev".as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
        check(dev)?;
        for (fd, (_, name)) in fds.iter().zip(DEVICES) {
            if *fd < 0 {
                continue;
            }
            let node = libc::openat(dev, name.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o666);
            check(node)?;
            libc::close(node);
            bind_by_name(*fd, name)?;
            libc::close(*fd);
        }
        libc::close(dev);
        for dir in [c"/dev/pts", c"/dev/shm"] {
            check(libc::mkdir(dir.as_ptr(), 0o755))?;
        }
        check(libc::mount(
            c"devpts".as_ptr(),
            c"/dev/pts".as_ptr(),
            c"devpts".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620".as_ptr().cast(),
        ))?;
        check(libc::mount(
            tmpfs,
            c"/dev/shm".as_ptr(),
            tmpfs,
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=1777".as_ptr().cast(),
        ))?;
        for (target, link) in [
            (c"pts/ptmx", c"/dev/ptmx"),
            (c"/proc/self/fd", c"/dev/fd"),
            (c"/proc/self/fd/0", c"/dev/stdin"),
            (c"/proc/self/fd/1", c"/dev/stdout"),
            (c"/proc/self/fd/2", c"/dev/stderr"),
        ] {
            check(libc::symlink(target.as_ptr(), link.as_ptr()))?;
        }
    }
    Ok(())
}

/// Binds the device open as `fd` onto `/dev/<name>`.
unsafe fn bind_by_name(fd: libc::c_int, name: &CStr) -> io::Result<()> {
    let mut target = [0u8; 32];
    let prefix = b"/dev/";
    let name = name.to_bytes_with_nul();
    target[..prefix.len()].copy_from_slice(prefix);
    target[prefix.len()..prefix.len() + name.len()].copy_from_slice(name);
    let mut source = [0u8; 32];
    // SAFETY: both paths are NUL-terminated inside their buffers.
    unsafe {
        check(libc::mount(
            super::fd_path(&mut source, fd),
            target.as_ptr().cast(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ))
    }
}

/// No capabilities, now or after exec (the bounding set is emptied), and no way to
/// gain any through a set-uid or file-capability program.
pub(super) unsafe fn drop_capabilities() -> io::Result<()> {
    unsafe {
        for capability in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 {
                if *libc::__errno_location() == libc::EINVAL {
                    break; // past the kernel's last capability
                }
                return Err(io::Error::last_os_error());
            }
        }
        check(libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))?;
        let header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
        let data = [CapData::default(); 2];
        check(libc::syscall(libc::SYS_capset, &header, data.as_ptr()) as libc::c_int)?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
    }
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
