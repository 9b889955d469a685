//! A durable store (the file) plus a secure store (an OS keychain).
//!
//! The lesson of a client whose keychain bridge silently did nothing: the
//! durable copy is written FIRST and is authoritative; the secure copy is
//! only used when it provably equals the durable one (same generation). A
//! secure store that fails, finds nothing, returns garbage or an older copy
//! is a miss, never a success. Same rules as the TS client's LayeredStore.
use std::sync::Arc;

use super::{SecretStore, SessionStore, StorageError, StoreLock, StoredState, parse_stored_state};

/// Why the secure copy was not used (for diagnostics; never holds the state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureMiss {
    Failed,
    Empty,
    Invalid,
    Stale,
}

type MissHook = Arc<dyn Fn(&'static str, SecureMiss) + Send + Sync>;

pub struct LayeredStore<D: SessionStore> {
    durable: D,
    secure: Box<dyn SecretStore>,
    on_miss: Option<MissHook>,
}

impl<D: SessionStore> LayeredStore<D> {
    pub fn new(durable: D, secure: impl SecretStore) -> Self {
        Self {
            durable,
            secure: Box::new(secure),
            on_miss: None,
        }
    }

    /// Called with ("get" | "set" | "delete", why) whenever the secure store misses.
    pub fn on_secure_miss(mut self, hook: impl Fn(&'static str, SecureMiss) + Send + Sync + 'static) -> Self {
        self.on_miss = Some(Arc::new(hook));
        self
    }

    pub fn durable(&self) -> &D {
        &self.durable
    }

    fn miss(&self, operation: &'static str, why: SecureMiss) {
        if let Some(hook) = &self.on_miss {
            hook(operation, why);
        }
    }

    fn read_secure(&self) -> Option<StoredState> {
        match self.secure.get() {
            Err(_) => {
                self.miss("get", SecureMiss::Failed);
                None
            }
            Ok(None) => {
                self.miss("get", SecureMiss::Empty);
                None
            }
            Ok(Some(text)) if text.is_empty() => {
                self.miss("get", SecureMiss::Empty);
                None
            }
            Ok(Some(text)) => {
                let state = parse_stored_state(&text);
                if state.is_none() {
                    self.miss("get", SecureMiss::Invalid);
                }
                state
            }
        }
    }

    fn set_secure(&self, state: &StoredState) {
        let written = serde_json::to_string(state)
            .map_err(|e| e.to_string())
            .and_then(|text| self.secure.set(&text));
        if written.is_err() {
            self.miss("set", SecureMiss::Failed);
        }
    }

    fn delete_secure(&self) {
        if self.secure.delete().is_err() {
            self.miss("delete", SecureMiss::Failed);
        }
    }
}

impl<D: SessionStore> SessionStore for LayeredStore<D> {
    fn load(&self) -> Result<Option<StoredState>, StorageError> {
        // The durable copy decides whether there is a state at all, so a secure
        // copy that outlived a logout (its delete failed) cannot resurrect a session.
        let Some(durable) = self.durable.load()? else {
            self.delete_secure();
            return Ok(None);
        };
        if let Some(secure) = self.read_secure() {
            // Only a copy identical to the durable one is used. Comparing the
            // generation alone is not enough when the file is shared: a writer
            // that keeps the state's other fields (the TS client spreads the
            // loaded state) may change the session yet keep the generation.
            if durable.generation.is_some() && secure == durable {
                return Ok(Some(secure));
            }
            self.miss("get", SecureMiss::Stale);
        }
        // Repair the secure copy for next time; a failure changes nothing.
        self.set_secure(&durable);
        Ok(Some(durable))
    }

    fn save(&self, state: &StoredState) -> Result<(), StorageError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| StorageError(e.to_string()))?;
        let mut stamped = state.clone();
        stamped.generation = Some(id.iter().map(|b| format!("{b:02x}")).collect());
        self.durable.save(&stamped)?; // must succeed: it is the copy we trust
        self.set_secure(&stamped);
        Ok(())
    }

    fn clear(&self) -> Result<(), StorageError> {
        self.durable.clear()?;
        self.delete_secure();
        Ok(())
    }

    fn lock(&self) -> Result<StoreLock, StorageError> {
        self.durable.lock()
    }
}
