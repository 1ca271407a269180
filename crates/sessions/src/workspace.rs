//! Workspaces from git: one bare base clone per repository URL under the data
//! directory, one `git worktree` per session on branch `tether/<session_id>`.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::process::Command;

#[derive(Default)]
pub(crate) struct Repos {
    /// One lock per base clone, so two spawns never clone or fetch it at once.
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Repos {
    /// Creates the worktree at `path`; the error is git's own message.
    pub(crate) async fn provision(
        &self,
        repos_dir: &Path,
        url: &str,
        git_ref: Option<&str>,
        path: &Path,
        branch: &str,
    ) -> Result<(), String> {
        let base = base_dir(repos_dir, url);
        let lock = self.locks.lock().entry(base.clone()).or_default().clone();
        let _guard = lock.lock().await;
        if !base.exists() {
            let partial = base.with_extension("partial");
            let _ = tokio::fs::remove_dir_all(&partial).await;
            git(None, &["clone", "--bare", "--quiet", url, &partial.to_string_lossy()]).await?;
            git(Some(&partial), &["config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"]).await?;
            tokio::fs::rename(&partial, &base).await.map_err(|e| e.to_string())?;
        }
        if let Err(error) = git(Some(&base), &["fetch", "--quiet", "origin"]).await {
            tracing::warn!(url, %error, "fetch failed; using what the base clone has");
        }
        let start = match git_ref {
            None => "HEAD".to_owned(),
            Some(r) => {
                let remote = format!("origin/{r}");
                if git(Some(&base), &["rev-parse", "--verify", "--quiet", &format!("{remote}^{{commit}}")])
                    .await
                    .is_ok()
                {
                    remote
                } else {
                    r.to_owned()
                }
            }
        };
        git(Some(&base), &["worktree", "add", "--quiet", "-b", branch, &path.to_string_lossy(), &start]).await
    }

    /// Removes a worktree this daemon created (and only that directory).
    pub(crate) async fn remove(&self, repos_dir: &Path, url: &str, path: &Path) -> Result<(), String> {
        let base = base_dir(repos_dir, url);
        let removed = git(Some(&base), &["worktree", "remove", "--force", &path.to_string_lossy()]).await;
        if removed.is_err() && path.exists() {
            tokio::fs::remove_dir_all(path).await.map_err(|e| e.to_string())?;
            let _ = git(Some(&base), &["worktree", "prune"]).await;
        }
        Ok(())
    }
}

/// `<repos>/<name>-<hash>`: readable, and distinct for distinct URLs.
pub(crate) fn base_dir(repos_dir: &Path, url: &str) -> PathBuf {
    let name: String = url
        .rsplit('/')
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    // FNV-1a: a stable, dependency-free name for a directory, not a security boundary.
    let hash = url.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    repos_dir.join(format!("{name}-{hash:016x}"))
}

async fn git(dir: Option<&Path>, args: &[&str]) -> Result<(), String> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        Err(if stderr.is_empty() { format!("git {} failed ({})", args[0], output.status) } else { stderr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_dirs_are_readable_and_distinct() {
        let root = Path::new("/r");
        let a = base_dir(root, "https://example.com/acme/widgets.git");
        let b = base_dir(root, "https://example.com/other/widgets.git");
        assert!(a.file_name().unwrap().to_str().unwrap().starts_with("widgets-"));
        assert_ne!(a, b);
        assert!(!base_dir(root, "../../etc").to_string_lossy().contains(".."));
    }
}
