//! The durability seam: tests swap in an `fdatasync` that fails.

use std::fs::File;
use std::io;

pub trait Fsync: Send + Sync + 'static {
    /// Makes the file's data (and, for a directory, its entries) durable.
    fn sync(&self, file: &File) -> io::Result<()>;
}

/// `fdatasync(2)` for real.
pub struct RealFsync;

impl Fsync for RealFsync {
    fn sync(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}
