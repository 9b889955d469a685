//! Typed errors. Every variant is `Clone`, so one outcome (a login that
//! failed, a shared refresh) can be handed to every caller waiting on it.
use std::time::Duration;

use prost::Message;

use crate::proto::rpc::{ErrorInfo, Status as RpcStatus};

/// The error domain of the server's `google.rpc.ErrorInfo` details.
pub const ERROR_DOMAIN: &str = "airlock.dev";

/// Why the client holds no usable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedOutReason {
    /// Nothing is stored: sign in first.
    NotSignedIn,
    /// The server saw no bearer token.
    TokenMissing,
    /// The server could not verify the token.
    TokenInvalid,
    /// The session was revoked (logout elsewhere, refresh-token reuse, revocation at the PDS).
    SessionRevoked,
    /// The session outlived its lifetime, or the refresh token expired.
    SessionExpired,
    /// A logout (here or in another process) happened while this call ran.
    SignedOutDuringCall,
}

impl SignedOutReason {
    /// From an `AuthErrorReason` name as the server sends it in ErrorInfo.
    pub fn from_server(reason: &str) -> Self {
        match reason {
            "TOKEN_MISSING" => Self::TokenMissing,
            "SESSION_REVOKED" => Self::SessionRevoked,
            "SESSION_EXPIRED" => Self::SessionExpired,
            _ => Self::TokenInvalid,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid server address: {0}")]
    InvalidServerUrl(String),
    /// A newer `start_login` of this client replaced this login (or this call).
    #[error("superseded by a newer login")]
    Superseded,
    /// The login (or the wait for it) was cancelled: logout, a cancellation token, or the client closed.
    #[error("login cancelled: {0}")]
    Cancelled(String),
    /// `await_login` of an id this client did not start (or has forgotten).
    #[error("unknown login: {0}")]
    UnknownLogin(String),
    #[error("the user refused the sign-in: {0}")]
    LoginDenied(String),
    #[error("the login expired: {0}")]
    LoginExpired(String),
    #[error("the login failed: {0}")]
    LoginFailed(String),
    #[error("signed out ({0:?})")]
    SignedOut(SignedOutReason),
    /// The server could not be reached, or did not answer in time.
    #[error("server unavailable: {0}")]
    Unavailable(String),
    #[error("rate limited: {message}")]
    RateLimited { message: String, retry_after: Option<Duration> },
    /// Any other failure the server reported.
    #[error("request failed ({code:?}): {message}")]
    Rpc { code: tonic::Code, message: String },
    #[error("session storage: {0}")]
    Storage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The ErrorInfo of a failed call, if the server attached one from its domain.
pub(crate) fn error_info(status: &tonic::Status) -> Option<ErrorInfo> {
    let details = status.details();
    if details.is_empty() {
        return None;
    }
    let decoded = RpcStatus::decode(details).ok()?;
    let any = decoded.details.iter().find(|d| d.type_url.ends_with("/google.rpc.ErrorInfo"))?;
    let info = ErrorInfo::decode(any.value.as_slice()).ok()?;
    (info.domain == ERROR_DOMAIN).then_some(info)
}

/// The UNAUTHENTICATED reason of a failed call (TOKEN_EXPIRED, SESSION_REVOKED, ...).
pub(crate) fn auth_reason(status: &tonic::Status) -> Option<String> {
    (status.code() == tonic::Code::Unauthenticated)
        .then(|| error_info(status).map(|i| i.reason).unwrap_or_else(|| "UNAUTHENTICATED".into()))
}

/// Failures worth retrying on a new stream: the server went away or the link dropped.
pub(crate) fn is_transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
    )
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_string();
        match status.code() {
            tonic::Code::Unavailable => Error::Unavailable(format!("cannot reach the server: {message}")),
            tonic::Code::DeadlineExceeded => Error::Unavailable("the server did not answer in time".into()),
            tonic::Code::ResourceExhausted => {
                let retry_after = error_info(&status)
                    .and_then(|i| i.metadata.get("retryAfterMs").and_then(|v| v.parse::<u64>().ok()))
                    .map(Duration::from_millis);
                Error::RateLimited { message, retry_after }
            }
            tonic::Code::Unauthenticated => Error::SignedOut(SignedOutReason::from_server(&auth_reason(&status).unwrap_or_default())),
            code => Error::Rpc { code, message },
        }
    }
}

impl From<tonic::transport::Error> for Error {
    fn from(error: tonic::transport::Error) -> Self {
        Error::Unavailable(error.to_string())
    }
}
