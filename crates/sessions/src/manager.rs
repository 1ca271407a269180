//! The session manager: spawn, watch, stop, resume, remove. Every transition is
//! persisted before it is reported, and logged.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tether_core::AgentId;
use tether_events::{EventBus, Scope};
use tether_proto::runs::RunSummary;
use tether_proto::sessions::{RepoSpec, Runtime, SessionRecord, SessionState, SpawnParams, StopCause};
use tokio::process::{Child, ChildStdin};
use tokio::sync::watch;

use crate::config::{Confine, SessionsConfig};
use crate::confine::Confinement;
use crate::error::{SessionsError, invalid};
use crate::process;
use crate::span::{process_span, trace_exit};
use crate::store::{Store, Stored};
use crate::tokens::{self, SessionTokens};
use crate::workspace::Repos;

/// How long to wait for the group to die after SIGKILL before giving up.
const KILL_WAIT: Duration = Duration::from_secs(5);

pub type RunsOf = Box<dyn Fn(&str) -> Vec<RunSummary> + Send + Sync>;

pub struct Sessions {
    pub(crate) config: SessionsConfig,
    /// Hidden from session processes (`sessions.confine`).
    pub(crate) data_dir: PathBuf,
    pub(crate) store: Store,
    pub(crate) repos_dir: PathBuf,
    pub(crate) repos: Repos,
    pub(crate) tokens: Arc<SessionTokens>,
    pub(crate) daemon_url: OnceLock<String>,
    pub(crate) runs_of: RunsOf,
    pub(crate) sessions: Mutex<BTreeMap<String, Arc<Managed>>>,
    pub(crate) events: Arc<EventBus>,
}

pub(crate) struct Managed {
    pub(crate) stored: Mutex<Stored>,
    pub(crate) stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    /// Counts the exits of this session's processes; `stop` waits on it.
    pub(crate) exits: watch::Sender<u64>,
    /// Serialises stop, resume and remove of one session.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    /// Held from a change until it is durable and visible: one session's records reach
    /// the disk in the order they were made.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl Managed {
    pub(crate) fn new(stored: Stored) -> Arc<Managed> {
        Arc::new(Managed {
            stored: Mutex::new(stored),
            stdin: tokio::sync::Mutex::new(None),
            exits: watch::channel(0).0,
            lifecycle: tokio::sync::Mutex::new(()),
            writing: Arc::default(),
        })
    }

    pub(crate) fn record(&self) -> SessionRecord {
        self.stored.lock().record.clone()
    }

    pub(crate) fn state(&self) -> SessionState {
        self.stored.lock().record.state
    }
}

impl Sessions {
    /// The daemon's own URL, handed to children as `TETHER_URL` (known once bound).
    pub fn set_daemon_url(&self, url: String) {
        let _ = self.daemon_url.set(url);
    }

    pub fn tokens(&self) -> Arc<SessionTokens> {
        self.tokens.clone()
    }

    pub(crate) fn get(&self, id: &str) -> Result<Arc<Managed>, SessionsError> {
        self.sessions.lock().get(id).cloned().ok_or_else(|| SessionsError::UnknownSession(id.to_owned()))
    }

    /// Applies a change, persists it, and logs the transition. The record is written
    /// (and fsynced) on the blocking pool and made visible there once durable, so no
    /// runtime thread waits on the disk and a caller dropped mid-write (a cancelled
    /// request) cannot leave memory and disk apart.
    pub(crate) async fn update(
        &self,
        managed: &Arc<Managed>,
        change: impl FnOnce(&mut Stored),
    ) -> Result<SessionRecord, SessionsError> {
        let order = managed.writing.clone().lock_owned().await;
        let mut next = managed.stored.lock().clone();
        let before = next.record.state;
        change(&mut next);
        next.record.updated_at = tether_core::stamp::now();
        let (store, target, events) = (self.store.clone(), managed.clone(), self.events.clone());
        // Written, committed and announced by one task that finishes even if this caller
        // is dropped: nobody sees a change that is not durable, and none goes unannounced.
        let record = tokio::task::spawn_blocking(move || {
            let _order = order;
            store.save(&next)?;
            let record = next.record.clone();
            *target.stored.lock() = next;
            if record.state != before {
                announce(&events, before, &record);
            }
            Ok::<_, std::io::Error>(record)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(record)
    }

    pub async fn spawn(self: &Arc<Self>, params: SpawnParams) -> Result<SessionRecord, SessionsError> {
        if params.task.trim().is_empty() {
            return Err(invalid("task", "must not be empty"));
        }
        if params.task.len() > self.config.max_task_bytes {
            return Err(invalid(
                "task",
                format!("{} bytes exceeds sessions.max_task_bytes = {}", params.task.len(), self.config.max_task_bytes),
            ));
        }
        let names = &self.config.names;
        names.check_opt(tether_core::NameKind::Session, "params.name", params.name.as_deref())?;
        let argv = self.argv(&params)?;
        for key in params.env.keys() {
            if !valid_env_key(key) {
                return Err(invalid("env", format!("{key:?} is not a valid variable name (or is reserved: TETHER_*)")));
            }
        }
        let id = tether_core::new_id().to_string();
        let (cwd, owned) = match (&params.cwd, &params.repo) {
            (Some(_), Some(_)) => return Err(invalid("cwd", "give cwd or repo, not both")),
            (Some(dir), None) => {
                let path = PathBuf::from(dir);
                if path.is_relative() {
                    // Relative to what? The daemon's working directory is not the caller's.
                    return Err(invalid("cwd", format!("{dir} is relative: give an absolute path")));
                }
                if !path.is_dir() {
                    return Err(invalid("cwd", format!("{dir} is not an existing directory")));
                }
                (path, false)
            }
            (None, Some(repo)) => {
                if !self.config.repo_allowed(&repo.url) {
                    return Err(SessionsError::Refused(format!(
                        "repository {} is not in sessions.allowed_repos",
                        repo.url
                    )));
                }
                (self.store.session_dir(&id).join("workspace"), true)
            }
            (None, None) => return Err(invalid("cwd", "give cwd (an existing directory) or repo")),
        };
        // A relative program path (`./run.sh`) means the one in the session's directory; stored absolute.
        let mut argv = argv;
        if argv[0].contains('/') && std::path::Path::new(&argv[0]).is_relative() {
            let joined = cwd.join(&argv[0]);
            let clean: PathBuf = joined.components().filter(|c| *c != std::path::Component::CurDir).collect();
            argv[0] = clean.to_string_lossy().into_owned();
        }
        let name = params.name.clone().unwrap_or_else(|| format!("session-{}", id[16..].to_lowercase()));
        let now = tether_core::stamp::now();
        let record = SessionRecord {
            session_id: id.clone(),
            name: name.clone(),
            state: SessionState::Provisioning,
            runtime: params.runtime,
            task: params.task.clone(),
            argv,
            pid: None,
            cwd: cwd.to_string_lossy().into_owned(),
            workspace: cwd.to_string_lossy().into_owned(),
            workspace_owned: owned,
            repo: params.repo.clone(),
            created_at: now.clone(),
            updated_at: now,
            exit_code: None,
            stop_cause: None,
            error: None,
            stdin_detached: false,
            confined: false,
            runs: Vec::new(),
        };
        let stored = Stored {
            record,
            token_hash: String::new(),
            env: params.env,
            start_time: None,
            stop_requested: false,
            process: None,
        };
        let managed = Managed::new(stored.clone());
        {
            // Capacity and names are checked and claimed under one lock: concurrent spawns cannot overshoot.
            let mut sessions = self.sessions.lock();
            let live = sessions
                .values()
                .filter(|m| matches!(m.state(), SessionState::Provisioning | SessionState::Active))
                .count();
            if live >= self.config.max_active {
                return Err(SessionsError::Refused(format!(
                    "{live} sessions are active (sessions.max_active = {})",
                    self.config.max_active
                )));
            }
            if sessions.values().any(|m| m.state() != SessionState::Removed && m.stored.lock().record.name == name) {
                return Err(invalid("name", format!("a session named {name:?} already exists")));
            }
            sessions.insert(id.clone(), managed.clone());
        }
        let (store, dir) = (self.store.clone(), id.clone());
        let created = tokio::task::spawn_blocking(move || store.create_dir(&dir).and_then(|_| store.save(&stored)))
            .await
            .map_err(std::io::Error::other)
            .and_then(|created| created);
        if let Err(error) = created {
            self.sessions.lock().remove(&id);
            return Err(error.into());
        }
        tracing::info!(session = %id, name = %name, "session provisioning");

        if let Some(RepoSpec { url, git_ref }) = &params.repo {
            let branch = format!("tether/{id}");
            if let Err(git_error) = self.repos.provision(&self.repos_dir, url, git_ref.as_deref(), &cwd, &branch).await
            {
                return self
                    .update(&managed, |s| {
                        s.record.state = SessionState::Errored;
                        s.record.error = Some(git_error);
                    })
                    .await;
            }
        }
        self.start_process(&managed).await
    }

    fn argv(&self, params: &SpawnParams) -> Result<Vec<String>, SessionsError> {
        let argv = match params.runtime {
            Runtime::Command => match &params.command {
                Some(argv) if !argv.is_empty() && !argv[0].is_empty() => argv.clone(),
                _ => return Err(invalid("command", "the command runtime needs a non-empty argv")),
            },
            Runtime::ClaudeCode => {
                let cc = &self.config.claude_code;
                let mut argv = vec![
                    cc.program.clone(),
                    "-p".into(),
                    params.task.clone(),
                    "--output-format".into(),
                    cc.output_format.clone(),
                ];
                // The daemon's own executable answers Claude Code's hooks and serves its MCP.
                let tether = std::env::current_exe()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "tether".into());
                if cc.hooks {
                    argv.extend(["--settings".to_owned(), crate::config::hook_settings(&tether)]);
                }
                if cc.mcp {
                    argv.extend(["--mcp-config".to_owned(), crate::config::mcp_config(&tether)]);
                }
                argv.extend(cc.extra_args.iter().cloned());
                argv
            }
        };
        if !self.config.command_allowed(&argv[0]) {
            return Err(SessionsError::Refused(format!("command {:?} is not in sessions.allowed_commands", argv[0])));
        }
        Ok(argv)
    }

    /// Starts (or restarts) the session's process and watches for its exit.
    pub(crate) async fn start_process(
        self: &Arc<Self>,
        managed: &Arc<Managed>,
    ) -> Result<SessionRecord, SessionsError> {
        let (argv, cwd, mut env, id, repo) = {
            let s = managed.stored.lock();
            let repo = s.record.repo.as_ref().map(|r| r.url.clone());
            (s.record.argv.clone(), PathBuf::from(&s.record.cwd), s.env.clone(), s.record.session_id.clone(), repo)
        };
        // A fresh secret per process; its hash is durable before the process can use it.
        let (secret, hash) = tokens::new_secret()?;
        self.update(managed, |s| s.token_hash = hash.clone()).await?;
        self.tokens.insert(&id, &hash);
        env.insert("TETHER_URL".into(), self.daemon_url.get().cloned().unwrap_or_default());
        env.insert("TETHER_SESSION_ID".into(), id.clone());
        env.insert("TETHER_TOKEN".into(), SessionTokens::token(&id, &secret));
        let process = ulid::Ulid::new();
        // Continued by what the agent traces (Codex reads it; so do tether's SDKs).
        if let Some(traceparent) = process_span(&id, process).and_then(|span| span.traceparent()) {
            env.insert("TRACEPARENT".into(), traceparent);
        }
        let log = self.store.log_path(&id);
        let mut confined = self.config.confine != Confine::Off;
        let mut started = match self.confinement(&cwd, repo.as_deref()) {
            Ok(confinement) => process::spawn(&argv, &cwd, &env, &log, confinement),
            Err(error) => Err(error),
        };
        if let Err(error) = &started
            && self.config.confine == Confine::Auto
        {
            tracing::warn!(session = %id, %error, "cannot confine the session's process; starting it unconfined (sessions.confine = \"auto\")");
            confined = false;
            started = process::spawn(&argv, &cwd, &env, &log, None);
        }
        let spawned = match started {
            Ok(spawned) => spawned,
            Err(error) => {
                return self
                    .update(managed, |s| {
                        s.record.state = SessionState::Errored;
                        s.record.error = Some(format!("cannot start {:?}: {error}", argv[0]));
                    })
                    .await;
            }
        };
        *managed.stdin.lock().await = Some(spawned.stdin);
        let record = self
            .update(managed, |s| {
                s.record.state = SessionState::Active;
                s.record.pid = Some(spawned.pid);
                s.record.exit_code = None;
                s.record.stop_cause = None;
                s.record.error = None;
                s.record.stdin_detached = false;
                s.record.confined = confined;
                s.start_time = spawned.start_time;
                s.stop_requested = false;
                s.process = Some(process);
            })
            .await?;
        self.watch_child(managed.clone(), spawned.child);
        Ok(record)
    }

    /// What hides the data directory from a session working in `cwd` (and, for a
    /// worktree, in its base repository); `None` when confinement is off.
    fn confinement(&self, cwd: &Path, repo: Option<&str>) -> std::io::Result<Option<Arc<Confinement>>> {
        if self.config.confine == Confine::Off {
            return Ok(None);
        }
        let mut expose = vec![cwd.to_owned()];
        expose.extend(repo.map(|url| crate::workspace::base_dir(&self.repos_dir, url)));
        Ok(Some(Arc::new(Confinement::new(&self.data_dir, &expose)?)))
    }

    fn watch_child(self: &Arc<Self>, managed: Arc<Managed>, mut child: Child) {
        let this = self.clone();
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(status) => exit_code(status),
                Err(error) => {
                    tracing::warn!(%error, "lost track of a session process");
                    None
                }
            };
            this.on_exit(&managed, code, false).await;
        });
    }

    /// Watches a process adopted at boot (not our child) through a pidfd.
    pub(crate) fn watch_adopted(self: &Arc<Self>, managed: Arc<Managed>, pid: u32) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = process::exited(pid).await {
                tracing::warn!(pid, %error, "cannot watch an adopted session process");
                return;
            }
            this.on_exit(&managed, None, true).await;
        });
    }

    async fn on_exit(self: &Arc<Self>, managed: &Arc<Managed>, code: Option<i32>, adopted: bool) {
        managed.stdin.lock().await.take();
        // What it wrote since the last check is bounded too (nothing writes it now).
        let (this, id) = (self.clone(), managed.stored.lock().record.session_id.clone());
        let _ = tokio::task::spawn_blocking(move || this.bound_log(&id)).await;
        let result = self
            .update(managed, |s| {
                if s.stop_requested {
                    s.record.state = SessionState::Stopped;
                    s.record.stop_cause = Some(StopCause::Requested);
                } else {
                    s.record.state = SessionState::Exited;
                    s.record.stop_cause = adopted.then_some(StopCause::ExitedWhileDetached);
                }
                s.record.exit_code = code;
            })
            .await;
        match result {
            Ok(record) => trace_exit(&record, managed.stored.lock().process),
            Err(error) => tracing::error!(%error, "could not record a session's exit"),
        }
        managed.exits.send_modify(|n| *n += 1);
    }

    pub async fn stop(&self, id: &str, grace_ms: Option<u64>) -> Result<SessionRecord, SessionsError> {
        let managed = self.get(id)?;
        let _lifecycle = managed.lifecycle.lock().await;
        let state = managed.state();
        if state != SessionState::Active {
            return Err(SessionsError::WrongState { id: id.to_owned(), state, action: "stop" });
        }
        let pid = managed.stored.lock().record.pid.expect("an active session has a pid");
        let mut exits = managed.exits.subscribe();
        let seen = *exits.borrow_and_update();
        // Persisted before the signal: a crash from here on still ends in a deliberate stop.
        self.update(&managed, |s| s.stop_requested = true).await?;
        let grace = Duration::from_millis(grace_ms.unwrap_or(self.config.stop_grace_ms));
        let _ = process::signal_group(pid, rustix::process::Signal::TERM);
        if tokio::time::timeout(grace, exits.wait_for(|n| *n > seen)).await.is_err() {
            tracing::info!(session = %id, "still running after the grace; SIGKILL");
            let _ = process::signal_group(pid, rustix::process::Signal::KILL);
            let _ = tokio::time::timeout(KILL_WAIT, exits.wait_for(|n| *n > seen)).await;
        }
        Ok(managed.record())
    }

    pub async fn resume(self: &Arc<Self>, id: &str) -> Result<SessionRecord, SessionsError> {
        let managed = self.get(id)?;
        let _lifecycle = managed.lifecycle.lock().await;
        let (state, cwd) = {
            let s = managed.stored.lock();
            (s.record.state, PathBuf::from(&s.record.cwd))
        };
        if !matches!(state, SessionState::Exited | SessionState::Stopped | SessionState::Errored) {
            return Err(SessionsError::WrongState { id: id.to_owned(), state, action: "resume" });
        }
        if !cwd.is_dir() {
            return Err(invalid(
                "session_id",
                format!("session {id} has no workspace to resume in ({})", cwd.display()),
            ));
        }
        let live = self.sessions.lock().values().filter(|m| m.state() == SessionState::Active).count();
        if live >= self.config.max_active {
            return Err(SessionsError::Refused(format!(
                "{live} sessions are active (sessions.max_active = {})",
                self.config.max_active
            )));
        }
        self.start_process(&managed).await
    }

    pub async fn remove(&self, id: &str, delete_workspace: bool) -> Result<SessionRecord, SessionsError> {
        let managed = self.get(id)?;
        let _lifecycle = managed.lifecycle.lock().await;
        let record = managed.record();
        if matches!(record.state, SessionState::Active | SessionState::Provisioning | SessionState::Removed) {
            return Err(SessionsError::WrongState { id: id.to_owned(), state: record.state, action: "remove" });
        }
        if delete_workspace {
            match (&record.repo, record.workspace_owned) {
                (Some(repo), true) => {
                    let path = PathBuf::from(&record.workspace);
                    self.repos.remove(&self.repos_dir, &repo.url, &path).await.map_err(SessionsError::Io)?;
                }
                _ => {
                    tracing::info!(session = %id, workspace = %record.workspace, "not deleting a workspace the daemon does not own")
                }
            }
        }
        self.tokens.revoke(id);
        self.update(&managed, |s| s.record.state = SessionState::Removed).await
    }

    pub async fn send(&self, id: &str, text: &str) -> Result<usize, SessionsError> {
        use tokio::io::AsyncWriteExt;
        let managed = self.get(id)?;
        let (state, detached) = {
            let s = managed.stored.lock();
            (s.record.state, s.record.stdin_detached)
        };
        if state != SessionState::Active {
            return Err(SessionsError::WrongState { id: id.to_owned(), state, action: "send to it" });
        }
        if detached {
            return Err(SessionsError::StdinDetached(id.to_owned()));
        }
        let mut stdin = managed.stdin.lock().await;
        let pipe = stdin.as_mut().ok_or(SessionsError::WrongState {
            id: id.to_owned(),
            state: SessionState::Exited,
            action: "send to it",
        })?;
        let line = format!("{text}\n");
        pipe.write_all(line.as_bytes()).await?;
        pipe.flush().await?;
        Ok(line.len())
    }

    /// How many sessions are in each state (for metrics).
    pub fn state_counts(&self) -> Vec<(String, usize)> {
        let mut counts = BTreeMap::new();
        for managed in self.sessions.lock().values() {
            let state = serde_json::to_value(managed.state()).ok().and_then(|v| v.as_str().map(str::to_owned));
            *counts.entry(state.unwrap_or_default()).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    pub fn list(&self, state: Option<SessionState>, only: Option<&str>) -> Vec<SessionRecord> {
        let sessions = self.sessions.lock();
        sessions
            .iter()
            .filter(|(id, _)| only.is_none_or(|o| o == id.as_str()))
            .map(|(_, m)| m.record())
            .filter(|r| match state {
                Some(wanted) => r.state == wanted,
                None => r.state != SessionState::Removed,
            })
            .collect()
    }

    pub fn get_record(&self, id: &str) -> Result<SessionRecord, SessionsError> {
        let mut record = self.get(id)?.record();
        record.runs = (self.runs_of)(AgentId::for_session(id).as_str());
        Ok(record)
    }
}

/// Logs a session's transition and publishes it (`session.<state>`).
fn announce(events: &EventBus, before: SessionState, record: &SessionRecord) {
    tracing::info!(session = %record.session_id, name = %record.name, from = %before, to = %record.state, "session transition");
    let scope = Scope {
        session_id: Some(record.session_id.as_str().into()),
        run_id: None,
        agent_id: Some(AgentId::for_session(&record.session_id).into_string().into()),
    };
    let payload = tether_proto::events::SessionTransitionPayload {
        from: before,
        to: record.state,
        name: record.name.clone(),
        exit_code: record.exit_code,
        stop_cause: record.stop_cause,
    };
    events.emit(tether_proto::events::Published::SessionTransition(payload), scope);
}

/// Exit code, or 128 + signal for a process killed by one (the shell's convention).
fn exit_code(status: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s))
}

fn valid_env_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with("TETHER_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys() {
        assert!(valid_env_key("RUST_LOG"));
        assert!(valid_env_key("_x1"));
        for bad in ["", "1A", "A-B", "A B", "TETHER_TOKEN", "A=B"] {
            assert!(!valid_env_key(bad), "{bad:?}");
        }
    }
}
