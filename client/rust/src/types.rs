//! The values the client hands to an app. Tokens stay inside the client.
//! Times serialise as ISO 8601 strings, so a Tauri command can return them as is.
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::storage::{StoredSession, format_time};

fn iso<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*time))
}

fn iso_opt<S: Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(t) => s.serialize_str(&format_time(*t)),
        None => s.serialize_none(),
    }
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// A login started by [`crate::AirlockClient::start_login`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartedLogin {
    pub login_id: String,
    /// Open this in the system browser.
    pub authorize_url: String,
    #[serde(serialize_with = "iso")]
    pub expires_at: SystemTime,
    pub server_url: String,
    /// Show this to the user while they sign in (e.g. "K7QM-3XHP"): a browser
    /// on another network shows the same code and asks the user to continue
    /// only if both match. Empty from servers without it.
    pub confirmation_code: String,
}

/// The signed-in session as an app may show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub server_url: String,
    pub did: String,
    pub handle: String,
    pub pds_url: String,
    pub session_id: String,
    #[serde(serialize_with = "iso")]
    pub access_token_expires_at: SystemTime,
    #[serde(serialize_with = "iso")]
    pub refresh_token_expires_at: SystemTime,
}

impl From<&StoredSession> for SessionInfo {
    fn from(s: &StoredSession) -> Self {
        Self {
            server_url: s.server_url.clone(),
            did: s.did.clone(),
            handle: s.handle.clone(),
            pds_url: s.pds_url.clone(),
            session_id: s.session_id.clone(),
            access_token_expires_at: s.access_expires(),
            refresh_token_expires_at: s.refresh_expires(),
        }
    }
}

/// One event of a login's progress, as `await_login` streams it. The stream
/// ends after `Completed` or after an error item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum LoginProgress {
    Pending {
        #[serde(serialize_with = "iso", rename = "expiresAt")]
        expires_at: SystemTime,
    },
    BrowserOpened {
        #[serde(serialize_with = "iso")]
        at: SystemTime,
    },
    Heartbeat {
        #[serde(serialize_with = "iso", rename = "serverTime")]
        server_time: SystemTime,
    },
    /// The stream dropped; the client re-attaches after `delay`.
    Reconnecting {
        attempt: u32,
        #[serde(serialize_with = "millis", rename = "delayMs")]
        delay: Duration,
        reason: String,
    },
    /// Terminal: the session is stored.
    Completed(SessionInfo),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub did: String,
    pub handle: String,
    pub session_id: String,
    #[serde(serialize_with = "iso_opt")]
    pub access_token_expires_at: Option<SystemTime>,
    pub server_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub can_publish: bool,
    pub can_subscribe: bool,
    pub can_publish_data: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelToken {
    pub token: String,
    pub livekit_url: String,
    pub room: String,
    pub identity: String,
    #[serde(serialize_with = "iso_opt")]
    pub expires_at: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogoutResult {
    /// Whether a session was stored.
    pub had_session: bool,
    /// Whether the server confirmed the revocation within the deadline.
    pub revoked: bool,
    /// Whether a login in progress was cancelled on the server (CancelLogin).
    pub cancelled_login: bool,
}

/// Counters of RPCs this client made, for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientStats {
    pub initiate_login_calls: u64,
    pub refresh_calls: u64,
    pub cancel_login_calls: u64,
}
