//! What the client persists and the stores that keep it.
//!
//! The server URL and the tokens of a session live in ONE record
//! ([`StoredSession`]), written and removed together. The JSON shape is the
//! TS client's (`client/storage/session-store.ts`), so the Rust and the TS
//! clients can share one session file.
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

mod file;
mod keychain;
mod layered;

pub use file::{FileStore, default_session_file};
pub use keychain::{KeyringSecret, SecretStore};
pub use layered::{LayeredStore, SecureMiss};

/// The version the TS client writes and reads.
pub const STORED_STATE_VERSION: u32 = 1;

/// The whole stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredState {
    pub version: u32,
    /// The server the latest login was started against; written before the
    /// browser opens so it survives a crash mid-login. Not a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_server_url: Option<String>,
    /// Present exactly when signed in; carries its own server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<StoredSession>,
    /// Random id of this write (set by [`LayeredStore`]) to tell a current secure copy from a stale one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
}

impl StoredState {
    pub fn empty() -> Self {
        Self {
            version: STORED_STATE_VERSION,
            login_server_url: None,
            session: None,
            generation: None,
        }
    }
}

/// One signed-in session. Times are ISO 8601 strings as JavaScript writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSession {
    pub server_url: String,
    pub access_token: String,
    pub access_token_expires_at: String,
    /// When this client received the access token (drives the proactive refresh).
    pub access_token_received_at: String,
    pub refresh_token: String,
    pub refresh_token_expires_at: String,
    pub did: String,
    pub handle: String,
    pub pds_url: String,
    pub session_id: String,
}

impl StoredSession {
    pub fn access_expires(&self) -> SystemTime {
        parse_time(&self.access_token_expires_at)
    }
    pub fn access_received(&self) -> SystemTime {
        parse_time(&self.access_token_received_at)
    }
    pub fn refresh_expires(&self) -> SystemTime {
        parse_time(&self.refresh_token_expires_at)
    }
    fn is_valid(&self) -> bool {
        !self.server_url.is_empty()
            && !self.access_token.is_empty()
            && !self.refresh_token.is_empty()
            && !self.did.is_empty()
            && !self.session_id.is_empty()
            && [
                &self.access_token_expires_at,
                &self.access_token_received_at,
                &self.refresh_token_expires_at,
            ]
            .iter()
            .all(|t| humantime::parse_rfc3339_weak(t).is_ok())
    }
}

/// Parses what a store read back; anything that is not a valid state is `None`
/// (the same rule as the TS client's zod schema).
pub fn parse_stored_state(text: &str) -> Option<StoredState> {
    let state: StoredState = serde_json::from_str(text).ok()?;
    if state.version != STORED_STATE_VERSION {
        return None;
    }
    if state.login_server_url.as_deref() == Some("") {
        return None;
    }
    if state.session.as_ref().is_some_and(|s| !s.is_valid()) {
        return None;
    }
    Some(state)
}

/// `2026-01-02T03:04:05.678Z`, as JavaScript's `Date.toISOString()`.
pub fn format_time(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// An unparseable time counts as the epoch (already expired).
pub fn parse_time(text: &str) -> SystemTime {
    humantime::parse_rfc3339_weak(text).unwrap_or(SystemTime::UNIX_EPOCH)
}

pub(crate) fn from_timestamp(ts: Option<&prost_types::Timestamp>, fallback: SystemTime) -> SystemTime {
    match ts {
        Some(t) if t.seconds >= 0 => SystemTime::UNIX_EPOCH + Duration::new(t.seconds as u64, t.nanos.clamp(0, 999_999_999) as u32),
        _ => fallback,
    }
}

/// Errors of a store; the client turns them into [`crate::Error::Storage`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StorageError(pub String);

impl From<StorageError> for crate::Error {
    fn from(error: StorageError) -> Self {
        crate::Error::Storage(error.0)
    }
}

/// Held while a read-modify-write (or a refresh) of a shared store runs;
/// releases the cross-process lock when dropped.
pub struct StoreLock {
    // Dropped first: the directory lock goes before the flock is released.
    pub(crate) _dir: Option<file::DirLock>,
    pub(crate) _file: Option<std::fs::File>,
}

impl StoreLock {
    /// A lock for a store no other process can see.
    pub fn none() -> Self {
        Self { _dir: None, _file: None }
    }
}

/// Where the session is kept. Every method is blocking; the client calls
/// them on tokio's blocking pool.
pub trait SessionStore: Send + Sync + 'static {
    /// The stored state, `None` when nothing is stored. An unreadable store is an error.
    fn load(&self) -> Result<Option<StoredState>, StorageError>;
    /// Replaces the whole state atomically.
    fn save(&self, state: &StoredState) -> Result<(), StorageError>;
    /// Removes the whole state atomically.
    fn clear(&self) -> Result<(), StorageError>;
    /// An exclusive lock shared with every process using the same store
    /// (blocks until it is free). Stores only this process sees need none.
    fn lock(&self) -> Result<StoreLock, StorageError> {
        Ok(StoreLock::none())
    }
}

/// A store in memory, for apps that keep nothing and for tests.
#[derive(Default)]
pub struct MemoryStore {
    state: std::sync::Mutex<Option<StoredState>>,
}

impl SessionStore for MemoryStore {
    fn load(&self) -> Result<Option<StoredState>, StorageError> {
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
    fn save(&self, state: &StoredState) -> Result<(), StorageError> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
        Ok(())
    }
    fn clear(&self) -> Result<(), StorageError> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}
