//! The daemon's auth token: a 256-bit secret in a 0600 file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: String, mode: u32 },
    #[error("token file {path} is empty")]
    Empty { path: String },
    #[error("token file {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Reads the token at `path`, or creates one there (mode 0600, fsynced) if it does not exist.
pub fn load_or_create(path: &Path) -> Result<String, TokenError> {
    let shown = path.display().to_string();
    let io_err = |source| TokenError::Io { path: shown.clone(), source };
    match fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(TokenError::TooOpen { path: shown, mode });
            }
            let token = fs::read_to_string(path).map_err(io_err)?.trim().to_owned();
            if token.is_empty() {
                return Err(TokenError::Empty { path: shown });
            }
            Ok(token)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let token = generate().map_err(io_err)?;
            write_private(path, &token).map_err(io_err)?;
            tracing::info!(path = %shown, "generated a new auth token");
            Ok(token)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// 32 random bytes, hex-encoded.
pub fn generate() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, token: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    // The new directory entry is durable only once its parent is synced.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_256_bit_token_then_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth-token");
        let token = load_or_create(&path).unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), token);
    }

    #[test]
    fn refuses_a_token_file_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth-token");
        fs::write(&path, "abc").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(load_or_create(&path), Err(TokenError::TooOpen { mode: 0o644, .. })));
    }
}
