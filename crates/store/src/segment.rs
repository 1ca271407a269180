//! Segment files: `seg-00000001.log`, … in a 0700 directory, each 0600. Each
//! starts with a 16-byte header: a magic, the format version, its own number.
//! (Segments written before headers existed start straight with a frame: format 0.)

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::fsync::Fsync;

const MAGIC: &[u8; 8] = b"TETHERJL";
/// The segment format this build writes and reads (and 0, headerless, it reads).
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 16;

pub(crate) fn header(number: u32) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..].copy_from_slice(&number.to_le_bytes());
    header
}

/// What the start of a segment file says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// A current segment: frames follow the header.
    Current,
    /// Written before segments had headers: frames start at byte 0.
    Headerless,
    /// Shorter than a header, all of it a prefix of the right one: a creation cut
    /// short (only ever acceptable for the newest segment).
    Torn,
    Damaged(String),
}

pub(crate) fn read_header(buf: &[u8], number: u32, starts_with_frame: bool) -> Header {
    let expected = header(number);
    if buf.len() < HEADER_LEN && expected.starts_with(buf) {
        return Header::Torn;
    }
    if buf.len() >= HEADER_LEN && buf[..8] == *MAGIC {
        let version = u32::from_le_bytes(buf[8..12].try_into().unwrap());
        let stated = u32::from_le_bytes(buf[12..16].try_into().unwrap());
        return if version != VERSION {
            Header::Damaged(format!(
                "format version {version}; this tether reads version {VERSION} (and headerless segments)"
            ))
        } else if stated != number {
            Header::Damaged(format!("its header says it is segment {stated}"))
        } else {
            Header::Current
        };
    }
    if starts_with_frame { Header::Headerless } else { Header::Damaged("no segment header".into()) }
}

pub(crate) fn path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("seg-{number:08}.log"))
}

/// Segment numbers present in `dir`, ascending. A segment's name on anything but a
/// regular file (a FIFO, whose read would block forever, a directory, a socket, a
/// symlink) is refused by name: the journal writes only regular files.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<u32>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(number) = entry.file_name().to_str().and_then(number_of) else { continue };
        let kind = fs::symlink_metadata(entry.path())?.file_type();
        if !kind.is_file() {
            return Err(not_regular(&entry.path(), kind));
        }
        numbers.push(number);
    }
    numbers.sort_unstable();
    Ok(numbers)
}

fn number_of(name: &str) -> Option<u32> {
    name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
}

fn not_regular(path: &Path, kind: fs::FileType) -> io::Error {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_symlink() {
        "a symlink"
    } else {
        "a device"
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("{} is {what}, not a regular file", path.display()))
}

/// A segment's bytes. Opened without blocking and without following a symlink, and
/// checked to be a regular file once open, so what replaced a segment after
/// [`list`] looked can still not hang the reader.
pub(crate) fn read(dir: &Path, number: u32) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_into(dir, number, &mut buf)?;
    Ok(buf)
}

/// `read` into `buf` (cleared first), reusing its memory.
pub(crate) fn read_into(dir: &Path, number: u32, buf: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Read;
    let path = path(dir, number);
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOFOLLOW).bits() as i32)
        .open(&path)
        .map_err(|e| {
            if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is a symlink, not a regular file", path.display()),
                )
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&path, meta.file_type()));
    }
    buf.clear();
    let len = meta.len() as usize;
    if buf.capacity() < len {
        // Never grown in place: that would copy the old contents, all stale. An
        // eighth to spare, so the next segment (as long, give or take a record) fits.
        *buf = Vec::with_capacity(len + len / 8);
    }
    file.read_to_end(buf)?;
    Ok(())
}

/// Creates the journal directory (0700) if needed, durably.
pub(crate) fn ensure_dir(dir: &Path, fsync: &dyn Fsync) -> io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    sync_parent(dir, fsync)
}

/// Creates a segment (0600) holding just its header, and makes it and its
/// directory entry durable.
pub(crate) fn create(dir: &Path, number: u32, fsync: &dyn Fsync) -> io::Result<File> {
    use std::os::unix::fs::FileExt;
    let path = path(dir, number);
    let file = OpenOptions::new().write(true).read(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all_at(&header(number), 0)?;
    fsync.sync(&file)?;
    sync_parent(&path, fsync)?;
    Ok(file)
}

/// Opens a segment to write at offsets of the writer's choosing (not `O_APPEND`:
/// the zeros written ahead of the records are overwritten in place).
pub(crate) fn open_write(dir: &Path, number: u32) -> io::Result<File> {
    OpenOptions::new().write(true).read(true).open(path(dir, number))
}

fn sync_parent(path: &Path, fsync: &dyn Fsync) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => fsync.sync(&File::open(parent)?),
        _ => Ok(()),
    }
}

/// A compaction cut short by a crash leaves its temporary file behind; the
/// original segment is intact, so the leftover is simply removed.
pub(crate) fn remove_leftovers(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "compact") {
            fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// The first half of replacing a segment's content atomically: the new content in
/// a temporary file, synced. [`install`] renames it over the segment; then the
/// directory is synced ([`sync_dir`]).
pub(crate) fn write_temporary(dir: &Path, number: u32, content: &[u8], fsync: &dyn Fsync) -> io::Result<()> {
    use std::io::Write;
    let temporary = path(dir, number).with_extension("log.compact");
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(content)?;
    fsync.sync(&file)
}

/// Renames the temporary file [`write_temporary`] wrote over the segment.
pub(crate) fn install(dir: &Path, number: u32) -> io::Result<()> {
    let target = path(dir, number);
    fs::rename(target.with_extension("log.compact"), &target)
}

/// Makes the directory's entries (creations, renames, unlinks) durable.
pub(crate) fn sync_dir(dir: &Path, fsync: &dyn Fsync) -> io::Result<()> {
    fsync.sync(&File::open(dir)?)
}

/// Unlinks a retired segment (already gone is fine). Only after its number is
/// in the retirement manifest, durably.
pub(crate) fn unlink(dir: &Path, number: u32) -> io::Result<()> {
    match fs::remove_file(path(dir, number)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Completes a header cut short by a crash (the newest segment only).
pub(crate) fn repair_header(dir: &Path, number: u32, fsync: &dyn Fsync) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path(dir, number))?;
    std::os::unix::fs::FileExt::write_all_at(&file, &header(number), 0)?;
    fsync.sync(&file)
}
