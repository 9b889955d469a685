//! The Airlock client: logins, the stored session and authenticated calls.
//!
//! Locks, and what each one guards:
//! - `login_mutex` (tokio): held by `start_login` through the state check, the
//!   InitiateLogin RPC and the state update. Never taken by `await_login`.
//! - `logins` (std, never held across an await): the current attempt, the
//!   `start_login` calls in progress, and how recent attempts ended.
//! - `store_mutex` (tokio) and then the store's cross-process lock: every
//!   read-modify-write of the stored state, and a refresh's RPC.
//! - `refresh_mutex` (tokio): one refresh at a time in this process (single flight).
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result, SignedOutReason, auth_reason, is_transient};
use crate::events::LoginEvents;
use crate::proto::auth::auth_service_client::AuthServiceClient;
use crate::proto::auth::{self as pb, await_login_response::Event};
use crate::proto::channels::channels_service_client::ChannelsServiceClient;
use crate::proto::channels::{GetChannelTokenRequest, ListChannelsRequest};
use crate::server_url::{ServerAddress, parse_server_url};
use crate::storage::{SessionStore, StorageError, StoreLock, StoredSession, StoredState, format_time, from_timestamp};
use crate::types::{self, ClientStats, LoginProgress, LogoutResult, SessionInfo, StartedLogin, WhoAmI};

/// Tunables; the defaults match the TS client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Deadline of each unary call.
    pub call_timeout: Duration,
    /// How long `logout` waits for the server (CancelLogin and Logout) before clearing locally anyway.
    pub logout_timeout: Duration,
    /// Refresh when the access token expires within this (capped at half its lifetime).
    pub refresh_skew: Duration,
    /// Backoff between re-attaches of a dropped login stream.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Re-attach a login stream that delivered nothing (not even a heartbeat) for this long.
    pub stream_idle_timeout: Duration,
    /// What the user would call this app on this device, shown by ListSessions
    /// (printable, at most 64 characters by default). None: the server shows the user-agent.
    pub client_label: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(10),
            logout_timeout: Duration::from_secs(3),
            refresh_skew: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(2),
            stream_idle_timeout: Duration::from_secs(45),
            client_label: None,
        }
    }
}

/// The client. Cheap to clone; clones share everything (put one in Tauri's managed state).
#[derive(Clone)]
pub struct AirlockClient {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn SessionStore>,
    options: ClientOptions,
    login_mutex: Mutex<()>,
    store_mutex: Mutex<()>,
    refresh_mutex: Mutex<()>,
    logins: StdMutex<Logins>,
    channels: StdMutex<HashMap<String, Channel>>,
    /// Bumped by logout: a refresh started before may not write, and its RPC is abandoned.
    epoch: watch::Sender<u64>,
    closed: CancellationToken,
    initiate_calls: AtomicU64,
    refresh_calls: AtomicU64,
    cancel_calls: AtomicU64,
}

/// How a login (or a start_login call) ended; set once, then its token is cancelled.
struct Ending {
    token: CancellationToken,
    reason: StdMutex<Option<Error>>,
}

impl Ending {
    fn new() -> Self {
        Self {
            token: CancellationToken::new(),
            reason: StdMutex::new(None),
        }
    }

    fn end(&self, reason: Error) {
        lock(&self.reason).get_or_insert(reason);
        self.token.cancel();
    }

    fn reason(&self) -> Error {
        lock(&self.reason)
            .clone()
            .unwrap_or_else(|| Error::Cancelled("the login ended".into()))
    }
}

pub(crate) struct Attempt {
    login_id: String,
    server_url: String,
    verifier: String,
    expires_at: SystemTime,
    ending: Arc<Ending>,
    /// Storing the session, shared by every awaiter of this attempt.
    completion: OnceCell<Result<SessionInfo>>,
}

#[derive(Clone)]
enum Outcome {
    Completed,
    Failed(Error),
}

#[derive(Default)]
struct Logins {
    next_start: u64,
    starting: BTreeMap<u64, Arc<Ending>>,
    current: Option<Arc<Attempt>>,
    ended: VecDeque<(String, Outcome)>,
}

const MAX_REMEMBERED_LOGINS: usize = 32;

fn lock<T>(mutex: &StdMutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a start_login call from the in-progress set however it ends.
struct Untrack<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Drop for Untrack<'_> {
    fn drop(&mut self) {
        lock(&self.inner.logins).starting.remove(&self.id);
    }
}

enum StreamEnd {
    Completed(Option<pb::Session>),
    Failed(Error),
    /// The stream dropped for a reason worth re-attaching after.
    Dropped(String),
    Fatal(Error),
    ReceiverGone,
}

impl AirlockClient {
    pub fn new(store: impl SessionStore) -> Self {
        Self::with_options(store, ClientOptions::default())
    }

    pub fn with_options(store: impl SessionStore, options: ClientOptions) -> Self {
        Self::from_shared_store(Arc::new(store), options)
    }

    pub fn from_shared_store(store: Arc<dyn SessionStore>, options: ClientOptions) -> Self {
        let (epoch, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                store,
                options,
                login_mutex: Mutex::new(()),
                store_mutex: Mutex::new(()),
                refresh_mutex: Mutex::new(()),
                logins: StdMutex::new(Logins::default()),
                channels: StdMutex::new(HashMap::new()),
                epoch,
                closed: CancellationToken::new(),
                initiate_calls: AtomicU64::new(0),
                refresh_calls: AtomicU64::new(0),
                cancel_calls: AtomicU64::new(0),
            }),
        }
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            initiate_login_calls: self.inner.initiate_calls.load(Ordering::Relaxed),
            refresh_calls: self.inner.refresh_calls.load(Ordering::Relaxed),
            cancel_login_calls: self.inner.cancel_calls.load(Ordering::Relaxed),
        }
    }

    /// The login `await_login` can currently follow, if any.
    pub fn current_login(&self) -> Option<(String, SystemTime, String)> {
        lock(&self.inner.logins)
            .current
            .as_ref()
            .map(|a| (a.login_id.clone(), a.expires_at, a.server_url.clone()))
    }

    // ---- login ---------------------------------------------------------------

    /// Starts a login at `server` for a handle, DID or PDS URL, superseding
    /// any earlier one of this client. A newer call ends this one at once:
    /// it returns [`Error::Superseded`], without an RPC if it had not made one
    /// yet, and with its RPC dropped if it had.
    pub async fn start_login(&self, server: &str, identifier: &str) -> Result<StartedLogin> {
        let address = parse_server_url(server)?;
        let inner = &*self.inner;
        if inner.closed.is_cancelled() {
            return Err(Error::Cancelled("the client is closed".into()));
        }
        // Registered before waiting for the mutex: a newer call or a logout ends this one even while it waits.
        let ending = Arc::new(Ending::new());
        let id = {
            let mut logins = lock(&inner.logins);
            for older in logins.starting.values() {
                older.end(Error::Superseded);
            }
            logins.next_start += 1;
            let id = logins.next_start;
            logins.starting.insert(id, ending.clone());
            id
        };
        let _untrack = Untrack { inner, id };

        let _guard = tokio::select! {
            biased;
            _ = ending.token.cancelled() => return Err(ending.reason()),
            guard = inner.login_mutex.lock() => guard,
        };
        if ending.token.is_cancelled() {
            return Err(ending.reason());
        }
        // 1. State check and supersede, under the same lock as the RPC and the update.
        let previous = lock(&inner.logins).current.take();
        // Cancelled on the server beside the new RPC (in a task of its own, so
        // it is sent even if this call is superseded in turn).
        let cancelling = previous.map(|previous| {
            self.end_attempt(&previous, Error::Superseded);
            let client = self.clone();
            tokio::spawn(async move { client.cancel_login(&previous).await })
        });
        // 2. Persist the server before the browser opens, so it survives a crash mid-login.
        // Not after a logout that ended this call meanwhile: logout's clear stays a clear.
        let url = address.url.clone();
        let ended = ending.clone();
        self.update_state(move |state| {
            if ended.token.is_cancelled() {
                return false;
            }
            state.login_server_url = Some(url);
            true
        })
        .await?;
        // 3. The RPC, still under the login mutex, abandoned at once if this call is ended.
        let (verifier, challenge) = new_verifier();
        let mut auth = AuthServiceClient::new(self.channel(&address)?);
        let request = self.request(pb::InitiateLoginRequest {
            identifier: identifier.to_string(),
            login_verifier_challenge: challenge,
            client_label: self.inner.options.client_label.clone(),
        });
        inner.initiate_calls.fetch_add(1, Ordering::Relaxed);
        let response = tokio::select! {
            biased;
            _ = ending.token.cancelled() => return Err(ending.reason()),
            r = self.unary(auth.initiate_login(request)) => r?,
        };
        if let Some(cancelling) = cancelling {
            // Bounded by logout_timeout; when this returns, the old login's tab says "cancelled".
            let _ = cancelling.await;
        }
        let expires_at = from_timestamp(response.expires_at.as_ref(), SystemTime::now() + Duration::from_secs(600));
        let attempt = Arc::new(Attempt {
            login_id: response.login_id.clone(),
            server_url: address.url.clone(),
            verifier,
            expires_at,
            ending: ending.clone(),
            completion: OnceCell::new(),
        });
        // 4. The state update, unless this call was ended meanwhile.
        {
            let mut logins = lock(&inner.logins);
            if !ending.token.is_cancelled() {
                logins.current = Some(attempt.clone());
                return Ok(StartedLogin {
                    login_id: response.login_id,
                    authorize_url: response.authorize_url,
                    expires_at,
                    server_url: address.url,
                    confirmation_code: response.confirmation_code,
                });
            }
        }
        let reason = ending.reason();
        self.settle(&attempt, Outcome::Failed(reason.clone()));
        self.spawn_cancel_login(attempt);
        Err(reason)
    }

    /// Follows a login started by this client. Never takes the login mutex.
    /// The stream yields progress, then exactly one terminal item
    /// (`Ok(LoginProgress::Completed)` once the session is stored, or an
    /// error), then ends. It re-attaches after transient failures until the
    /// login expires. Dropping the stream stops following (the login stays
    /// current and can be awaited again).
    pub fn await_login(&self, login_id: &str) -> Result<LoginEvents> {
        self.await_login_with(login_id, CancellationToken::new())
    }

    /// [`Self::await_login`], stopped with [`Error::Cancelled`] when `cancel` fires.
    pub fn await_login_with(&self, login_id: &str, cancel: CancellationToken) -> Result<LoginEvents> {
        let attempt = {
            let logins = lock(&self.inner.logins);
            match &logins.current {
                Some(current) if current.login_id == login_id => current.clone(),
                _ => match logins.ended.iter().rev().find(|(id, _)| id == login_id).map(|(_, o)| o.clone()) {
                    Some(Outcome::Failed(error)) => return Err(error),
                    Some(Outcome::Completed) => {
                        drop(logins);
                        return Ok(self.completed_events());
                    }
                    None => {
                        return Err(Error::UnknownLogin(
                            "no login with this id is in progress in this client; call start_login first".into(),
                        ));
                    }
                },
            }
        };
        if attempt.ending.token.is_cancelled() {
            return Err(attempt.ending.reason());
        }
        let (tx, rx) = mpsc::channel(32);
        let stop = CancellationToken::new();
        let client = self.clone();
        let task_stop = stop.clone();
        tokio::spawn(async move {
            if let Some(last) = client.follow(&attempt, &cancel, &task_stop, &tx).await {
                let _ = tx.send(last.map(LoginProgress::Completed)).await;
            }
        });
        Ok(LoginEvents::new(rx, stop.drop_guard()))
    }

    /// start_login, then `open(url)` (e.g. the system browser), then await_login to the end.
    pub async fn login(&self, server: &str, identifier: &str, open: impl FnOnce(&StartedLogin)) -> Result<SessionInfo> {
        let started = self.start_login(server, identifier).await?;
        open(&started);
        self.await_login(&started.login_id)?.session().await
    }

    fn completed_events(&self) -> LoginEvents {
        let (tx, rx) = mpsc::channel(1);
        let client = self.clone();
        tokio::spawn(async move {
            let outcome = match client.get_session().await {
                Ok(Some(session)) => Ok(LoginProgress::Completed(session)),
                Ok(None) => Err(Error::SignedOut(SignedOutReason::NotSignedIn)),
                Err(e) => Err(e),
            };
            let _ = tx.send(outcome).await;
        });
        LoginEvents::new(rx, CancellationToken::new().drop_guard())
    }

    /// Drives one await_login stream. `None` when its receiver went away.
    async fn follow(
        &self,
        attempt: &Arc<Attempt>,
        cancel: &CancellationToken,
        stop: &CancellationToken,
        tx: &mpsc::Sender<Result<LoginProgress>>,
    ) -> Option<Result<SessionInfo>> {
        let mut failures = 0u32;
        loop {
            if SystemTime::now() >= attempt.expires_at {
                let error = Error::LoginExpired("the login expired before the user finished signing in; start a new login".into());
                self.settle(attempt, Outcome::Failed(error.clone()));
                return Some(Err(error));
            }
            let end = tokio::select! {
                biased;
                _ = stop.cancelled() => return None,
                _ = attempt.ending.token.cancelled() => return Some(Err(attempt.ending.reason())),
                _ = cancel.cancelled() => return Some(Err(Error::Cancelled("login wait was cancelled".into()))),
                end = self.one_stream(attempt, tx, &mut failures) => end,
            };
            match end {
                StreamEnd::ReceiverGone => return None,
                StreamEnd::Completed(session) => {
                    let Some(session) = session else {
                        return Some(Err(Error::LoginFailed("the server completed the login without a session".into())));
                    };
                    let completion = attempt.completion.get_or_init(|| self.store_completed(attempt, session)).await;
                    return Some(completion.clone());
                }
                StreamEnd::Failed(error) => {
                    if !matches!(error, Error::Cancelled(_)) || !attempt.ending.token.is_cancelled() {
                        self.settle(attempt, Outcome::Failed(error.clone()));
                    }
                    // Cancelled on the server by this client: report why it was ended here.
                    if attempt.ending.token.is_cancelled() {
                        return Some(Err(attempt.ending.reason()));
                    }
                    return Some(Err(error));
                }
                StreamEnd::Fatal(error) => {
                    if matches!(error, Error::LoginExpired(_)) {
                        self.settle(attempt, Outcome::Failed(error.clone()));
                    }
                    return Some(Err(error));
                }
                StreamEnd::Dropped(reason) => {
                    failures += 1;
                    let delay = self.backoff(failures);
                    if tx
                        .send(Ok(LoginProgress::Reconnecting {
                            attempt: failures,
                            delay,
                            reason,
                        }))
                        .await
                        .is_err()
                    {
                        return None;
                    }
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => return None,
                        _ = attempt.ending.token.cancelled() => return Some(Err(attempt.ending.reason())),
                        _ = cancel.cancelled() => return Some(Err(Error::Cancelled("login wait was cancelled".into()))),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    async fn one_stream(&self, attempt: &Attempt, tx: &mpsc::Sender<Result<LoginProgress>>, failures: &mut u32) -> StreamEnd {
        let channel = match self.channel_for(&attempt.server_url) {
            Ok(c) => c,
            Err(e) => return StreamEnd::Fatal(e),
        };
        let mut auth = AuthServiceClient::new(channel);
        let request = pb::AwaitLoginRequest {
            login_id: attempt.login_id.clone(),
            login_verifier: attempt.verifier.clone(),
        };
        let opened = tokio::time::timeout(self.inner.options.call_timeout, auth.await_login(request)).await;
        let mut stream = match opened {
            Err(_) => return StreamEnd::Dropped("the server did not answer in time".into()),
            Ok(Err(status)) => return classify(status),
            Ok(Ok(response)) => response.into_inner(),
        };
        loop {
            let message = match tokio::time::timeout(self.inner.options.stream_idle_timeout, stream.message()).await {
                Err(_) => return StreamEnd::Dropped("the login stream went silent".into()),
                Ok(Err(status)) => return classify(status),
                Ok(Ok(None)) => return StreamEnd::Dropped("the login stream ended without an outcome".into()),
                Ok(Ok(Some(message))) => message,
            };
            *failures = 0;
            let now = SystemTime::now();
            let progress = match message.event {
                Some(Event::Pending(p)) => LoginProgress::Pending {
                    expires_at: from_timestamp(p.expires_at.as_ref(), attempt.expires_at),
                },
                Some(Event::Heartbeat(h)) => LoginProgress::Heartbeat {
                    server_time: from_timestamp(h.server_time.as_ref(), now),
                },
                Some(Event::BrowserOpened(b)) => LoginProgress::BrowserOpened {
                    at: from_timestamp(b.opened_at.as_ref(), now),
                },
                Some(Event::Completed(c)) => return StreamEnd::Completed(c.session),
                Some(Event::Failed(f)) => return StreamEnd::Failed(failure_error(&f)),
                None => continue,
            };
            if tx.send(Ok(progress)).await.is_err() {
                return StreamEnd::ReceiverGone;
            }
        }
    }

    /// Stores the session of a completed login, unless the attempt ended meanwhile.
    async fn store_completed(&self, attempt: &Arc<Attempt>, session: pb::Session) -> Result<SessionInfo> {
        let stored = to_stored_session(&attempt.server_url, &session);
        let _store = self.inner.store_mutex.lock().await;
        let _lock = self.store_lock().await?;
        if attempt.ending.token.is_cancelled() {
            // Superseded or signed out after the user finished: nobody will use this session.
            self.spawn_revoke(stored);
            return Err(attempt.ending.reason());
        }
        let previous = self.load_lenient().await.and_then(|s| s.session);
        let state = StoredState {
            login_server_url: Some(attempt.server_url.clone()),
            session: Some(stored.clone()),
            ..StoredState::empty()
        };
        self.blocking(move |store| store.save(&state)).await?;
        if let Some(previous) = previous.filter(|p| p.session_id != stored.session_id) {
            self.spawn_revoke(previous);
        }
        self.settle(attempt, Outcome::Completed);
        Ok(SessionInfo::from(&stored))
    }

    fn end_attempt(&self, attempt: &Arc<Attempt>, reason: Error) {
        attempt.ending.end(reason.clone());
        self.settle(attempt, Outcome::Failed(reason));
    }

    fn settle(&self, attempt: &Arc<Attempt>, outcome: Outcome) {
        let mut logins = lock(&self.inner.logins);
        if logins.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, attempt)) {
            logins.current = None;
        }
        logins.ended.retain(|(id, _)| id != &attempt.login_id);
        logins.ended.push_back((attempt.login_id.clone(), outcome));
        while logins.ended.len() > MAX_REMEMBERED_LOGINS {
            logins.ended.pop_front();
        }
    }

    async fn cancel_login(&self, attempt: &Attempt) -> bool {
        let Ok(channel) = self.channel_for(&attempt.server_url) else {
            return false;
        };
        self.inner.cancel_calls.fetch_add(1, Ordering::Relaxed);
        let mut auth = AuthServiceClient::new(channel);
        let request = pb::CancelLoginRequest {
            login_id: attempt.login_id.clone(),
            login_verifier: attempt.verifier.clone(),
        };
        matches!(
            tokio::time::timeout(self.inner.options.logout_timeout, auth.cancel_login(request)).await,
            Ok(Ok(response)) if response.get_ref().cancelled
        )
    }

    fn spawn_cancel_login(&self, attempt: Arc<Attempt>) {
        let client = self.clone();
        tokio::spawn(async move { client.cancel_login(&attempt).await });
    }

    // ---- session -------------------------------------------------------------

    /// The single authoritative "am I signed in?". A session exists only as
    /// one stored record holding the server URL and both tokens; anything
    /// less, or a session whose refresh token has expired, is no session.
    /// Always read from the store, so a logout by another process shows at once.
    pub async fn get_session(&self) -> Result<Option<SessionInfo>> {
        let Some(session) = self.load().await?.and_then(|s| s.session) else {
            return Ok(None);
        };
        if session.refresh_expires() <= SystemTime::now() {
            self.forget(&session, "SESSION_EXPIRED").await;
            return Ok(None);
        }
        Ok(Some(SessionInfo::from(&session)))
    }

    /// Signs out: ends every login of this client (CancelLogin on the server
    /// for one in progress), revokes the session on the server within
    /// `logout_timeout`, then removes the stored record (server URL and tokens
    /// together). Nothing old can be awaited again. The local sign-out
    /// happens even when the server is unreachable.
    pub async fn logout(&self) -> Result<LogoutResult> {
        self.inner.epoch.send_modify(|e| *e += 1);
        let signed_out = Error::Cancelled("signed out".into());
        let (current, starting) = {
            let mut logins = lock(&self.inner.logins);
            (logins.current.take(), logins.starting.values().cloned().collect::<Vec<_>>())
        };
        for start in starting {
            start.end(signed_out.clone());
        }
        if let Some(current) = &current {
            self.end_attempt(current, signed_out);
        }
        let cancel = async {
            match &current {
                Some(attempt) => self.cancel_login(attempt).await,
                None => false,
            }
        };
        let (cancelled_login, cleared) = tokio::join!(cancel, self.revoke_and_clear());
        let (had_session, revoked) = cleared?;
        Ok(LogoutResult {
            had_session,
            revoked,
            cancelled_login,
        })
    }

    /// Ends every login and stops following them. The stored session is kept.
    pub fn close(&self) {
        self.inner.closed.cancel();
        let closed = Error::Cancelled("the client is closed".into());
        let (current, starting) = {
            let mut logins = lock(&self.inner.logins);
            (logins.current.take(), logins.starting.values().cloned().collect::<Vec<_>>())
        };
        for start in starting {
            start.end(closed.clone());
        }
        if let Some(current) = current {
            self.end_attempt(&current, closed);
        }
    }

    async fn revoke_and_clear(&self) -> Result<(bool, bool)> {
        let _store = self.inner.store_mutex.lock().await;
        let _lock = self.store_lock().await?;
        let session = self.load_lenient().await.and_then(|s| s.session);
        let revoked = match &session {
            Some(session) => self.revoke(session).await,
            None => false,
        };
        self.blocking(|store| store.clear()).await?;
        Ok((session.is_some(), revoked))
    }

    /// Logout RPC by refresh token (works even when the access token has expired). Never fails.
    async fn revoke(&self, session: &StoredSession) -> bool {
        let Ok(channel) = self.channel_for(&session.server_url) else {
            return false;
        };
        let mut auth = AuthServiceClient::new(channel);
        let request = pb::LogoutRequest {
            refresh_token: session.refresh_token.clone(),
        };
        matches!(
            tokio::time::timeout(self.inner.options.logout_timeout, auth.logout(request)).await,
            Ok(Ok(_))
        )
    }

    fn spawn_revoke(&self, session: StoredSession) {
        let client = self.clone();
        tokio::spawn(async move { client.revoke(&session).await });
    }

    /// The server said this session is unusable: drop it locally (if it is
    /// still the stored one) and return the error to report. The server URL
    /// is kept as the place to sign in again.
    async fn forget(&self, session: &StoredSession, reason: &str) -> Error {
        let _store = self.inner.store_mutex.lock().await;
        match self.store_lock().await {
            Ok(_lock) => self.forget_locked(session, reason).await,
            Err(e) => e,
        }
    }

    async fn forget_locked(&self, session: &StoredSession, reason: &str) -> Error {
        let reason = SignedOutReason::from_server(reason);
        let state = self.load_lenient().await;
        if state.and_then(|s| s.session).is_some_and(|s| s.session_id == session.session_id) {
            let cleared = StoredState {
                login_server_url: Some(session.server_url.clone()),
                ..StoredState::empty()
            };
            if let Err(e) = self.blocking(move |store| store.save(&cleared)).await {
                return e;
            }
        }
        // An access token the server cannot read says nothing about the refresh token: revoke it too.
        if matches!(reason, SignedOutReason::TokenInvalid | SignedOutReason::TokenMissing) {
            self.spawn_revoke(session.clone());
        }
        Error::SignedOut(reason)
    }

    // ---- authenticated calls -------------------------------------------------

    pub async fn who_am_i(&self) -> Result<WhoAmI> {
        self.authed(|channel, token, server_url| async move {
            let mut auth = AuthServiceClient::new(channel);
            let r = auth.who_am_i(bearer(pb::WhoAmIRequest {}, &token)?).await?.into_inner();
            Ok(WhoAmI {
                did: r.did,
                handle: r.handle,
                session_id: r.session_id,
                access_token_expires_at: r
                    .access_token_expires_at
                    .as_ref()
                    .map(|t| from_timestamp(Some(t), SystemTime::UNIX_EPOCH)),
                server_url,
            })
        })
        .await
    }

    pub async fn list_channels(&self) -> Result<Vec<types::Channel>> {
        self.authed(|channel, token, _| async move {
            let mut channels = ChannelsServiceClient::new(channel);
            let r = channels.list_channels(bearer(ListChannelsRequest {}, &token)?).await?.into_inner();
            Ok(r.channels
                .into_iter()
                .map(|c| types::Channel {
                    id: c.id,
                    name: c.name,
                    can_publish: c.can_publish,
                    can_subscribe: c.can_subscribe,
                    can_publish_data: c.can_publish_data,
                })
                .collect())
        })
        .await
    }

    pub async fn get_channel_token(&self, channel_id: &str) -> Result<types::ChannelToken> {
        let channel_id = channel_id.to_string();
        self.authed(|channel, token, _| {
            let channel_id = channel_id.clone();
            async move {
                let mut channels = ChannelsServiceClient::new(channel);
                let r = channels
                    .get_channel_token(bearer(GetChannelTokenRequest { channel_id }, &token)?)
                    .await?
                    .into_inner();
                Ok(types::ChannelToken {
                    token: r.token,
                    livekit_url: r.livekit_url,
                    room: r.room,
                    identity: r.identity,
                    expires_at: r.expires_at.as_ref().map(|t| from_timestamp(Some(t), SystemTime::UNIX_EPOCH)),
                })
            }
        })
        .await
    }

    /// Runs an authenticated call with a fresh enough access token: a
    /// proactive refresh shortly before expiry, and one refresh-and-retry on
    /// TOKEN_EXPIRED. Refreshes are single flight.
    async fn authed<T, F, Fut>(&self, run: F) -> Result<T>
    where
        F: Fn(Channel, String, String) -> Fut,
        Fut: Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let mut session = self.require_session().await?;
        if self.needs_refresh(&session) {
            match self.refresh(&session).await {
                Ok(fresh) => session = fresh,
                // Refreshing early is an optimisation: while the token is still valid, an unreachable server is not fatal.
                Err(Error::Unavailable(_)) if session.access_expires() > SystemTime::now() => {}
                Err(e) => return Err(e),
            }
        }
        match self.run_authed(&run, &session).await {
            Ok(value) => return Ok(value),
            Err(status) => match auth_reason(&status) {
                None => return Err(status.into()),
                Some(reason) if reason != "TOKEN_EXPIRED" => return Err(self.forget(&session, &reason).await),
                Some(_) => {}
            },
        }
        // TOKEN_EXPIRED: refresh once (shared with every concurrent caller) and retry once.
        let session = self.refresh(&session).await?;
        match self.run_authed(&run, &session).await {
            Ok(value) => Ok(value),
            Err(status) => match auth_reason(&status) {
                None => Err(status.into()),
                Some(reason) if reason == "TOKEN_EXPIRED" => Err(Error::Rpc {
                    code: tonic::Code::Unauthenticated,
                    message: "the server rejected a just-refreshed access token as expired (check the clocks)".into(),
                }),
                Some(reason) => Err(self.forget(&session, &reason).await),
            },
        }
    }

    async fn run_authed<T, F, Fut>(&self, run: &F, session: &StoredSession) -> std::result::Result<T, tonic::Status>
    where
        F: Fn(Channel, String, String) -> Fut,
        Fut: Future<Output = std::result::Result<T, tonic::Status>>,
    {
        let channel = self
            .channel_for(&session.server_url)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        match tokio::time::timeout(
            self.inner.options.call_timeout,
            run(channel, session.access_token.clone(), session.server_url.clone()),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(tonic::Status::deadline_exceeded("the server did not answer in time")),
        }
    }

    async fn require_session(&self) -> Result<StoredSession> {
        let session = self
            .load()
            .await?
            .and_then(|s| s.session)
            .ok_or(Error::SignedOut(SignedOutReason::NotSignedIn))?;
        if session.refresh_expires() <= SystemTime::now() {
            return Err(self.forget(&session, "SESSION_EXPIRED").await);
        }
        Ok(session)
    }

    fn needs_refresh(&self, session: &StoredSession) -> bool {
        let expires = session.access_expires();
        let lifetime = expires.duration_since(session.access_received()).unwrap_or_default();
        let skew = self.inner.options.refresh_skew.min(lifetime / 2);
        SystemTime::now() + skew >= expires
    }

    /// `current` replaces `stale` when someone (another caller, another process)
    /// already refreshed or signed in anew, and it is still fresh.
    fn replacement(&self, current: &StoredSession, stale: &StoredSession) -> bool {
        (current.session_id != stale.session_id || current.refresh_token != stale.refresh_token) && !self.needs_refresh(current)
    }

    /// Single flight: one refresh at a time in this process (the mutex) and
    /// across processes (the store lock, held through the RPC). Whoever comes
    /// second re-reads and uses the rotated token instead of refreshing again,
    /// which would count as reuse and revoke the session.
    async fn refresh(&self, stale: &StoredSession) -> Result<StoredSession> {
        let mut epoch = self.inner.epoch.subscribe();
        let started_epoch = *epoch.borrow_and_update();
        let _single = self.inner.refresh_mutex.lock().await;
        if let Some(current) = self.load_lenient().await.and_then(|s| s.session)
            && self.replacement(&current, stale)
        {
            return Ok(current);
        }
        let _store = self.inner.store_mutex.lock().await;
        let _lock = self.store_lock().await?;
        let state = self.load().await?.unwrap_or_else(StoredState::empty);
        let Some(current) = state.session.clone() else {
            return Err(Error::SignedOut(SignedOutReason::SignedOutDuringCall));
        };
        if self.replacement(&current, stale) {
            return Ok(current);
        }
        if *epoch.borrow() != started_epoch {
            return Err(Error::SignedOut(SignedOutReason::SignedOutDuringCall));
        }
        let mut auth = AuthServiceClient::new(self.channel_for(&current.server_url)?);
        self.inner.refresh_calls.fetch_add(1, Ordering::Relaxed);
        let request = self.request(pb::RefreshSessionRequest {
            refresh_token: current.refresh_token.clone(),
        });
        let response = tokio::select! {
            // A logout abandons the refresh at once instead of waiting for it.
            _ = epoch.changed() => return Err(Error::SignedOut(SignedOutReason::SignedOutDuringCall)),
            r = tokio::time::timeout(self.inner.options.call_timeout, auth.refresh_session(request)) => r,
        };
        let session = match response {
            Err(_) => return Err(Error::Unavailable("the server did not answer in time".into())),
            Ok(Err(status)) => match auth_reason(&status) {
                Some(reason) => return Err(self.forget_locked(&current, &reason).await),
                None => return Err(status.into()),
            },
            Ok(Ok(response)) => response.into_inner().session,
        };
        let Some(session) = session.filter(|s| !s.access_token.is_empty() && !s.refresh_token.is_empty()) else {
            return Err(Error::Rpc {
                code: tonic::Code::Internal,
                message: "RefreshSession returned no session".into(),
            });
        };
        let next = to_stored_session(&current.server_url, &session);
        if *epoch.borrow() != started_epoch {
            self.spawn_revoke(next);
            return Err(Error::SignedOut(SignedOutReason::SignedOutDuringCall));
        }
        let saved = StoredState {
            session: Some(next.clone()),
            ..state
        };
        self.blocking(move |store| store.save(&saved)).await?;
        Ok(next)
    }

    // ---- plumbing --------------------------------------------------------------

    fn backoff(&self, attempt: u32) -> Duration {
        let o = &self.inner.options;
        let ceiling = o
            .backoff_initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(o.backoff_max);
        let mut byte = [0u8; 1];
        let _ = getrandom::fill(&mut byte);
        // "Equal jitter": half fixed, half random.
        ceiling / 2 + ceiling / 2 * u32::from(byte[0]) / 255
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.inner.options.call_timeout);
        request
    }

    async fn unary<T>(&self, call: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>) -> Result<T> {
        match tokio::time::timeout(self.inner.options.call_timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status.into()),
            Err(_) => Err(Error::Unavailable("the server did not answer in time".into())),
        }
    }

    fn channel_for(&self, server_url: &str) -> Result<Channel> {
        self.channel(&parse_server_url(server_url)?)
    }

    /// One lazily connected channel per server, shared by every call.
    fn channel(&self, address: &ServerAddress) -> Result<Channel> {
        let mut channels = lock(&self.inner.channels);
        if let Some(channel) = channels.get(&address.url) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(address.url.clone())
            .map_err(|e| Error::InvalidServerUrl(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true);
        let endpoint = tls(endpoint, address)?;
        let channel = endpoint.connect_lazy();
        channels.insert(address.url.clone(), channel.clone());
        Ok(channel)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn SessionStore) -> std::result::Result<T, StorageError> + Send + 'static,
    ) -> Result<T> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || op(&*store))
            .await
            .map_err(|e| Error::Storage(format!("the storage task failed: {e}")))?
            .map_err(Error::from)
    }

    async fn store_lock(&self) -> Result<StoreLock> {
        self.blocking(|store| store.lock()).await
    }

    async fn load(&self) -> Result<Option<StoredState>> {
        self.blocking(|store| store.load()).await
    }

    /// An unreadable store counts as empty (used where a fresh write follows).
    async fn load_lenient(&self) -> Option<StoredState> {
        self.load().await.ok().flatten()
    }

    /// Read-modify-write under both locks; `change` returns whether to save.
    async fn update_state(&self, change: impl FnOnce(&mut StoredState) -> bool + Send + 'static) -> Result<()> {
        let _store = self.inner.store_mutex.lock().await;
        let _lock = self.store_lock().await?;
        self.blocking(move |store| {
            let mut state = store.load().ok().flatten().unwrap_or_else(StoredState::empty);
            if change(&mut state) { store.save(&state) } else { Ok(()) }
        })
        .await
    }
}

#[cfg(feature = "tls")]
fn tls(endpoint: Endpoint, address: &ServerAddress) -> Result<Endpoint> {
    if !address.tls {
        return Ok(endpoint);
    }
    endpoint
        .tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
        .map_err(|e| Error::InvalidServerUrl(e.to_string()))
}

#[cfg(not(feature = "tls"))]
fn tls(endpoint: Endpoint, address: &ServerAddress) -> Result<Endpoint> {
    if address.tls {
        return Err(Error::InvalidServerUrl(format!(
            "{} needs TLS: build airlock-client with the \"tls\" feature",
            address.url
        )));
    }
    Ok(endpoint)
}

fn classify(status: tonic::Status) -> StreamEnd {
    match status.code() {
        // The login is gone (expired and swept) or was never this client's.
        tonic::Code::NotFound => StreamEnd::Fatal(Error::LoginExpired(
            "the server no longer knows this login (it expired); start a new login".into(),
        )),
        _ if is_transient(&status) => StreamEnd::Dropped(format!("{:?}: {}", status.code(), status.message())),
        _ => StreamEnd::Fatal(status.into()),
    }
}

fn failure_error(failed: &pb::LoginFailed) -> Error {
    let message = if failed.message.is_empty() {
        "the login failed".to_string()
    } else {
        failed.message.clone()
    };
    match pb::LoginFailureReason::try_from(failed.reason) {
        Ok(pb::LoginFailureReason::AccessDenied) => Error::LoginDenied(message),
        Ok(pb::LoginFailureReason::Expired) => Error::LoginExpired(message),
        Ok(pb::LoginFailureReason::Cancelled) => Error::Cancelled(message),
        _ => Error::LoginFailed(message),
    }
}

fn bearer<T>(message: T, token: &str) -> std::result::Result<tonic::Request<T>, tonic::Status> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| tonic::Status::invalid_argument("the stored access token is not a valid header value"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

fn to_stored_session(server_url: &str, session: &pb::Session) -> StoredSession {
    let now = SystemTime::now();
    StoredSession {
        server_url: server_url.to_string(),
        access_token: session.access_token.clone(),
        access_token_expires_at: format_time(from_timestamp(session.access_token_expires_at.as_ref(), now)),
        access_token_received_at: format_time(now),
        refresh_token: session.refresh_token.clone(),
        refresh_token_expires_at: format_time(from_timestamp(session.refresh_token_expires_at.as_ref(), now)),
        did: session.did.clone(),
        handle: session.handle.clone(),
        pds_url: session.pds_url.clone(),
        session_id: session.session_id.clone(),
    }
}

/// A fresh login verifier (32 random bytes, base64url) and its S256 challenge.
fn new_verifier() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
