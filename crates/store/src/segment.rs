//! Segment files: `seg-00000001.log`, … in a 0700 directory, each 0600.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::fsync::Fsync;

pub(crate) fn path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("seg-{number:08}.log"))
}

/// Segment numbers present in `dir`, ascending.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<u32>> {
    let mut numbers: Vec<u32> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// Creates the journal directory (0700) if needed, durably.
pub(crate) fn ensure_dir(dir: &Path, fsync: &dyn Fsync) -> io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    sync_parent(dir, fsync)
}

/// Creates an empty segment (0600) and makes its directory entry durable.
pub(crate) fn create(dir: &Path, number: u32, fsync: &dyn Fsync) -> io::Result<File> {
    let path = path(dir, number);
    let file = OpenOptions::new().append(true).read(true).create_new(true).mode(0o600).open(&path)?;
    fsync.sync(&file)?;
    sync_parent(&path, fsync)?;
    Ok(file)
}

pub(crate) fn open_append(dir: &Path, number: u32) -> io::Result<File> {
    OpenOptions::new().append(true).read(true).open(path(dir, number))
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

/// Replaces a segment's content atomically: write a temporary file, sync it,
/// rename it over the segment, sync the directory.
pub(crate) fn replace(dir: &Path, number: u32, content: &[u8], fsync: &dyn Fsync) -> io::Result<File> {
    use std::io::Write;
    let target = path(dir, number);
    let temporary = target.with_extension("log.compact");
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(content)?;
    fsync.sync(&file)?;
    fs::rename(&temporary, &target)?;
    sync_parent(&target, fsync)?;
    File::open(&target)
}

/// Deletes a segment that holds nothing wanted any more.
pub(crate) fn delete(dir: &Path, number: u32, fsync: &dyn Fsync) -> io::Result<()> {
    let target = path(dir, number);
    fs::remove_file(&target)?;
    sync_parent(&target, fsync)
}
