//! The OS keychain as a secret store (the `keyring` crate: Secret Service
//! or the kernel keyring on Linux, Keychain on macOS, Credential Manager on
//! Windows). It is only ever used behind [`super::LayeredStore`], where "no
//! value" and every error are misses.

/// What a keychain bridge looks like: any call may fail or find nothing.
pub trait SecretStore: Send + Sync + 'static {
    /// The stored secret; `Ok(None)` when there is none.
    fn get(&self) -> Result<Option<String>, String>;
    fn set(&self, secret: &str) -> Result<(), String>;
    fn delete(&self) -> Result<(), String>;
}

/// One keychain entry (service, account) through the `keyring` crate.
pub struct KeyringSecret {
    service: String,
    account: String,
}

impl KeyringSecret {
    pub fn new(service: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            account: account.into(),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, String> {
        keyring::Entry::new(&self.service, &self.account).map_err(|e| e.to_string())
    }
}

impl SecretStore for KeyringSecret {
    fn get(&self) -> Result<Option<String>, String> {
        match self.entry()?.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set(&self, secret: &str) -> Result<(), String> {
        self.entry()?.set_password(secret).map_err(|e| e.to_string())
    }

    fn delete(&self) -> Result<(), String> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
