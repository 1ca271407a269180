//! Login codes and console sessions. Only SHA-256 hashes of their secrets are kept, in
//! memory: a restart logs every console out, and nothing on disk grants anything.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tether_core::{Authenticator, Credential, Grant, Lifetime};
use tether_proto::console::ConsoleSession;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::ConsoleConfig;

/// Codes start `tlc_`, sessions `tcs_`: a log line or a paste says which it is.
const CODE_PREFIX: &str = "tlc_";
const SESSION_PREFIX: &str = "tcs_";

struct Entry {
    expires: Instant,
    read_only: bool,
}

/// A console session: what its connections are closed by.
struct Session {
    /// Its public name: the first 8 bytes of its hash, in hex (never the secret).
    id: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    expires: Instant,
    read_only: bool,
    /// Sent `true` when it is logged out, revoked or pushed out by `max_sessions`;
    /// every connection it authenticated watches it (core's `Lifetime`).
    ended: watch::Sender<bool>,
}

impl Session {
    fn grant(&self) -> Grant {
        let lifetime = Lifetime { id: self.id.clone(), until: self.expires, ended: self.ended.subscribe() };
        Grant { read_only: self.read_only, lifetime: Some(lifetime), ..Grant::default() }
    }

    fn end(&self) {
        self.ended.send_replace(true);
    }
}

pub struct Logins {
    config: ConsoleConfig,
    /// `http://host:port` of the TCP listener, once bound.
    origin: Mutex<String>,
    codes: Mutex<HashMap<[u8; 32], Entry>>,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
}

/// A login code as `console.login` answers it.
pub struct Code {
    pub code: String,
    pub expires_at: OffsetDateTime,
    pub read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("{0} login codes are waiting to be used (console.max_codes); use or let one expire first")]
    TooManyCodes(usize),
    #[error("no randomness: {0}")]
    Random(String),
}

impl Logins {
    pub fn new(config: ConsoleConfig) -> Self {
        let origin = Mutex::new("http://127.0.0.1:9100".to_owned());
        Logins { config, origin, codes: Mutex::default(), sessions: Mutex::default() }
    }

    /// Where the console is served (set once the TCP listener is bound).
    pub fn set_origin(&self, origin: String) {
        *self.origin.lock() = origin;
    }

    pub fn origin(&self) -> String {
        self.origin.lock().clone()
    }

    /// A new single-use code, valid for `console.code_ttl_ms`.
    pub fn mint(&self, read_only: bool) -> Result<Code, LoginError> {
        let now = Instant::now();
        let mut codes = self.codes.lock();
        codes.retain(|_, e| e.expires > now);
        if codes.len() >= self.config.max_codes {
            return Err(LoginError::TooManyCodes(self.config.max_codes));
        }
        let secret = secret()?;
        let ttl = Duration::from_millis(self.config.code_ttl_ms);
        codes.insert(hash(&secret), Entry { expires: now + ttl, read_only });
        Ok(Code { code: format!("{CODE_PREFIX}{secret}"), expires_at: OffsetDateTime::now_utc() + ttl, read_only })
    }

    /// A code, once: it becomes a console session whose credential is returned.
    fn redeem(&self, secret: &str) -> Option<Grant> {
        let now = Instant::now();
        let entry = self.codes.lock().remove(&hash(secret))?;
        if entry.expires <= now {
            return None;
        }
        let session = secret_or_log()?;
        let ttl = Duration::from_millis(self.config.session_ttl_ms);
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, e| e.expires > now);
        if sessions.len() >= self.config.max_sessions {
            // Bounded: the session closest to expiring gives way to the new one.
            let oldest = sessions.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k);
            if let Some(oldest) = oldest.and_then(|oldest| sessions.remove(&oldest)) {
                oldest.end();
            }
        }
        let key = hash(&session);
        let created_at = OffsetDateTime::now_utc();
        let entry = Session {
            id: key[..8].iter().map(|b| format!("{b:02x}")).collect(),
            created_at,
            expires_at: created_at + ttl,
            expires: now + ttl,
            read_only: entry.read_only,
            ended: watch::channel(false).0,
        };
        let expires_at = tether_core::stamp::format(entry.expires_at);
        let grant = Grant {
            credential: Some(Credential { token: format!("{SESSION_PREFIX}{session}"), expires_at }),
            ..entry.grant()
        };
        sessions.insert(key, entry);
        Some(grant)
    }

    fn session(&self, secret: &str) -> Option<Grant> {
        let sessions = self.sessions.lock();
        let entry = sessions.get(&hash(secret))?;
        (entry.expires > Instant::now()).then(|| entry.grant())
    }

    /// The console sessions alive, oldest first.
    pub fn sessions(&self) -> Vec<ConsoleSession> {
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, e| e.expires > now);
        let mut alive: Vec<&Session> = sessions.values().collect();
        alive.sort_by_key(|s| (s.created_at, s.id.clone()));
        alive
            .into_iter()
            .map(|s| ConsoleSession {
                session_id: s.id.clone(),
                created_at: tether_core::stamp::format(s.created_at),
                expires_at: tether_core::stamp::format(s.expires_at),
                read_only: s.read_only,
            })
            .collect()
    }

    /// Ends the sessions `which` picks: their credentials are refused from now on,
    /// and each connection they opened is closed (it watches `ended`). Returns how many.
    pub fn revoke(&self, which: impl Fn(&str) -> bool) -> usize {
        let mut sessions = self.sessions.lock();
        let before = sessions.len();
        sessions.retain(|_, session| {
            let ends = which(&session.id);
            if ends {
                session.end();
            }
            !ends
        });
        before - sessions.len()
    }
}

impl Authenticator for Logins {
    fn verify(&self, token: &str) -> Option<Grant> {
        // Lookups are by hash of the whole secret, so timing reveals nothing about a
        // near miss (the hash of a wrong guess shares no prefix with a right one).
        if let Some(secret) = token.strip_prefix(CODE_PREFIX) {
            return self.redeem(secret);
        }
        self.session(token.strip_prefix(SESSION_PREFIX)?)
    }
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn secret() -> Result<String, LoginError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| LoginError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn secret_or_log() -> Option<String> {
    secret().map_err(|e| tracing::error!("console session: {e}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(code_ttl_ms: u64) -> Logins {
        Logins::new(ConsoleConfig { code_ttl_ms, max_codes: 2, max_sessions: 2, ..ConsoleConfig::default() })
    }

    #[test]
    fn a_code_works_once_and_yields_a_session_that_works_until_it_expires() {
        let logins = logins(60_000);
        let code = logins.mint(false).unwrap();
        let grant = logins.verify(&code.code).expect("the code, once");
        assert!(!grant.read_only && grant.agent_id.is_none());
        assert!(logins.verify(&code.code).is_none(), "used");
        let session = grant.credential.unwrap().token;
        assert!(session.starts_with("tcs_"));
        assert!(logins.verify(&session).is_some());
        assert!(logins.verify(&session).is_some(), "a session is not single-use");
        assert!(logins.verify("tcs_00").is_none() && logins.verify("tlc_00").is_none() && logins.verify("x").is_none());
    }

    #[test]
    fn an_expired_code_is_refused_and_read_only_carries_over() {
        let logins = logins(0);
        let code = logins.mint(true).unwrap();
        assert!(logins.verify(&code.code).is_none(), "expired at once");
        let logins = super::tests::logins(60_000);
        let grant = logins.verify(&logins.mint(true).unwrap().code).unwrap();
        assert!(grant.read_only);
        assert!(logins.verify(&grant.credential.unwrap().token).unwrap().read_only);
    }

    #[test]
    fn codes_and_sessions_are_bounded() {
        let logins = logins(60_000);
        let (a, b) = (logins.mint(false).unwrap(), logins.mint(false).unwrap());
        assert!(matches!(logins.mint(false), Err(LoginError::TooManyCodes(2))));
        let first = logins.verify(&a.code).unwrap().credential.unwrap().token;
        let second = logins.verify(&b.code).unwrap().credential.unwrap().token;
        let third = logins.verify(&logins.mint(false).unwrap().code).unwrap().credential.unwrap().token;
        let alive = [&first, &second, &third].iter().filter(|t| logins.verify(t).is_some()).count();
        assert_eq!(alive, 2, "console.max_sessions");
        assert!(logins.verify(&third).is_some(), "the newest stays");
    }
}
