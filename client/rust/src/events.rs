//! The stream `await_login` returns.
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::DropGuard;

use crate::error::{Error, Result};
use crate::types::{LoginProgress, SessionInfo};

/// Progress of one login: events, then one terminal item, then the end.
/// Dropping it stops following the login (nothing is cancelled on the server).
pub struct LoginEvents {
    rx: mpsc::Receiver<Result<LoginProgress>>,
    _stop: DropGuard,
}

impl LoginEvents {
    pub(crate) fn new(rx: mpsc::Receiver<Result<LoginProgress>>, stop: DropGuard) -> Self {
        Self { rx, _stop: stop }
    }

    /// The next item, without needing a `StreamExt`.
    pub async fn next_event(&mut self) -> Option<Result<LoginProgress>> {
        self.rx.recv().await
    }

    /// Drains the stream to its terminal item: the stored session, or why not.
    pub async fn session(mut self) -> Result<SessionInfo> {
        while let Some(item) = self.rx.recv().await {
            if let LoginProgress::Completed(session) = item? {
                return Ok(session);
            }
        }
        Err(Error::Cancelled("the login stream ended without an outcome".into()))
    }
}

impl Stream for LoginEvents {
    type Item = Result<LoginProgress>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
