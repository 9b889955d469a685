//! Rust client of Airlock: sign a user in with their ATProto (Bluesky)
//! identity over gRPC and get LiveKit channel tokens. Made for Tauri and
//! other native backends; the same semantics as the TS client in `client/`.
//!
//! ```no_run
//! # async fn demo() -> airlock_client::Result<()> {
//! use airlock_client::{AirlockClient, storage::FileStore};
//! let client = AirlockClient::new(FileStore::at_default_path()?);
//! let started = client.start_login("http://127.0.0.1:50051", "alice.bsky.social").await?;
//! println!("open {}", started.authorize_url);
//! let session = client.await_login(&started.login_id)?.session().await?;
//! println!("signed in as {}", session.did);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client;
mod error;
mod events;
mod server_url;
pub mod storage;
mod types;

/// The generated contract (tonic-prost-build, from the repository's proto/).
pub mod proto {
    pub mod auth {
        tonic::include_proto!("airlock.auth.v1");
    }
    pub mod channels {
        tonic::include_proto!("airlock.channels.v1");
    }
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

pub use client::{AirlockClient, ClientOptions};
pub use error::{Error, Result, SignedOutReason};
pub use events::LoginEvents;
pub use server_url::{ServerAddress, parse_server_url};
pub use storage::{FileStore, LayeredStore, MemoryStore, SessionStore};
pub use tokio_util::sync::CancellationToken;
pub use types::{Channel, ChannelToken, ClientStats, LoginProgress, LogoutResult, SessionInfo, StartedLogin, WhoAmI};

/// The default store of a desktop app: the session file in the platform
/// config directory (shared with the TS client and its CLI), with an OS
/// keychain copy layered on top as best effort.
pub fn default_store() -> Result<LayeredStore<FileStore>> {
    let file = FileStore::at_default_path()?;
    Ok(LayeredStore::new(file, storage::KeyringSecret::new("airlock", "session")))
}
