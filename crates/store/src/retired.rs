//! The retirement manifest, `<journal>/retired`: which segment numbers were removed
//! on purpose. A segment that holds nothing live is deleted, but only after its
//! number is in this file and the file and its directory are synced, so at every
//! instant a segment number is on disk, or in the manifest, or lost (damage).
//!
//! Format: magic `TETHERRT`, version u32, count u32, `count` ranges (first u32, last
//! u32, inclusive, ascending, disjoint), then a CRC32C of everything before it. The
//! ranges merge as segments retire, so the file stays as small as the gaps between
//! the segments still present.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::fsync::Fsync;

const MAGIC: &[u8; 8] = b"TETHERRT";
const VERSION: u32 = 1;
pub(crate) const NAME: &str = "retired";
const TEMPORARY: &str = "retired.new";

/// Retired segment numbers, as inclusive ranges in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Retired {
    ranges: Vec<(u32, u32)>,
}

impl Retired {
    pub(crate) fn contains(&self, number: u32) -> bool {
        let i = self.ranges.partition_point(|&(_, last)| last < number);
        self.ranges.get(i).is_some_and(|&(first, _)| first <= number)
    }

    /// The highest retired number (0 when none).
    pub(crate) fn max(&self) -> u32 {
        self.ranges.last().map_or(0, |&(_, last)| last)
    }

    /// How many numbers are retired.
    pub(crate) fn count(&self) -> u64 {
        self.ranges.iter().map(|&(first, last)| (last - first) as u64 + 1).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The stretches of `first..=last` that were not retired.
    pub(crate) fn gaps(&self, first: u32, last: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let (mut at, last) = (first as u64, last as u64);
        for &(a, b) in &self.ranges {
            let (a, b) = (a as u64, b as u64);
            if b < at {
                continue;
            }
            if a > last {
                break;
            }
            if a > at {
                out.push((at as u32, a as u32 - 1));
            }
            at = b + 1;
        }
        if at <= last {
            out.push((at as u32, last as u32));
        }
        out
    }

    pub(crate) fn insert(&mut self, number: u32) {
        if self.contains(number) {
            return;
        }
        let i = self.ranges.partition_point(|&(_, last)| last < number);
        self.ranges.insert(i, (number, number));
        // Merge with the neighbours it touches.
        if i + 1 < self.ranges.len() && self.ranges[i + 1].0 == number + 1 {
            self.ranges[i].1 = self.ranges[i + 1].1;
            self.ranges.remove(i + 1);
        }
        if i > 0 && self.ranges[i - 1].1 + 1 == number {
            self.ranges[i - 1].1 = self.ranges[i].1;
            self.ranges.remove(i);
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.ranges.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.ranges.len() as u32).to_le_bytes());
        for &(first, last) in &self.ranges {
            out.extend_from_slice(&first.to_le_bytes());
            out.extend_from_slice(&last.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(buf: &[u8]) -> Result<Retired, String> {
        let word = |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
        if buf.len() < 20 || buf[..8] != *MAGIC {
            return Err("it is not a retirement manifest".into());
        }
        let count = word(12) as usize;
        if buf.len() != 20 + count * 8 {
            return Err(format!("it is {} bytes long; {count} ranges take {}", buf.len(), 20 + count * 8));
        }
        if crc32c::crc32c(&buf[..buf.len() - 4]) != word(buf.len() - 4) {
            return Err("it fails its checksum".into());
        }
        let version = word(8);
        if version != VERSION {
            return Err(format!("format version {version}; this tether reads version {VERSION}"));
        }
        let ranges: Vec<(u32, u32)> = (0..count).map(|i| (word(16 + i * 8), word(20 + i * 8))).collect();
        let ordered = ranges.iter().all(|&(first, last)| first >= 1 && first <= last)
            && ranges.windows(2).all(|pair| pair[0].1 + 1 < pair[1].0);
        if !ordered {
            return Err("its ranges are out of order".into());
        }
        Ok(Retired { ranges })
    }
}

pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(NAME)
}

/// The manifest as it is on disk: empty when there is none (nothing was ever
/// retired), `Err` with a sentence when it is there but cannot be read.
pub(crate) fn load(dir: &Path) -> io::Result<Result<Retired, String>> {
    match fs::symlink_metadata(path(dir)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(Retired::default())),
        Err(e) => return Err(e),
        Ok(meta) if !meta.file_type().is_file() => {
            return Ok(Err("the retirement manifest is not a regular file".into()));
        }
        Ok(_) => {}
    }
    let buf = fs::read(path(dir))?;
    Ok(Retired::decode(&buf).map_err(|why| format!("the retirement manifest is unreadable: {why}")))
}

/// Replaces the manifest durably: temporary file, sync, rename, sync the directory.
/// Only once this returns may a segment it names be unlinked.
pub(crate) fn store(dir: &Path, retired: &Retired, fsync: &dyn Fsync) -> io::Result<()> {
    let temporary = dir.join(TEMPORARY);
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(&retired.encode())?;
    fsync.sync(&file)?;
    drop(file);
    fs::rename(&temporary, path(dir))?;
    fsync.sync(&File::open(dir)?)
}

/// A manifest update cut short by a crash leaves its temporary file; the manifest
/// in place is the one that counts.
pub(crate) fn remove_leftover(dir: &Path) -> io::Result<()> {
    match fs::remove_file(dir.join(TEMPORARY)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_round_trip() {
        let mut retired = Retired::default();
        for n in [3, 1, 2, 7, 5, 6, 10] {
            retired.insert(n);
        }
        assert_eq!(retired.ranges, [(1, 3), (5, 7), (10, 10)]);
        assert!(retired.contains(6) && !retired.contains(4) && !retired.contains(11));
        retired.insert(4);
        assert_eq!(retired.ranges, [(1, 7), (10, 10)]);
        assert_eq!(retired.gaps(1, 12), [(8, 9), (11, 12)]);
        assert_eq!(retired.gaps(2, 6), []);
        assert_eq!(retired.gaps(9, 9), [(9, 9)]);
        assert_eq!(Retired::decode(&retired.encode()).unwrap(), retired);
        let mut flipped = retired.encode();
        flipped[17] ^= 1;
        assert!(Retired::decode(&flipped).is_err());
        let encoded = retired.encode();
        assert!(Retired::decode(&encoded[..encoded.len() - 1]).is_err());
    }
}
