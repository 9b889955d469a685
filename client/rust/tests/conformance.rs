//! The client conformance scenarios of test/conformance/scenarios.json,
//! against a real Airlock server and a sandbox PDS (tests/support). Sign-ins
//! are completed through the PDS provider's JSON API. The TS client runs
//! the same scenarios in test/conformance/conformance.test.ts.
mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_client::proto::auth::RefreshSessionRequest;
use airlock_client::proto::auth::auth_service_client::AuthServiceClient;
use airlock_client::storage::{SecretStore, StoredState};
use airlock_client::{AirlockClient, Error, FileStore, LayeredStore, LoginProgress, SessionInfo, SessionStore, SignedOutReason};
use serde_json::json;
use support::{Account, TempDir, airlock_rs, fixture, scenario_ids, session_file_sample};
use tokio::task::JoinSet;

/// Every scenario of the shared file has a test here (named after its id).
const IMPLEMENTED: &[&str] = &[
    "start-login-race",
    "start-login-burst",
    "await-does-not-block-retry",
    "superseded-login-finished-in-old-tab",
    "logout-leaves-no-usable-client",
    "keychain-empty-is-a-miss",
    "keychain-failing-is-a-miss",
    "keychain-stale-copy-ignored",
    "session-file-shared-format",
    "reattach-across-server-restart",
    "single-flight-refresh",
    "logout-from-another-process",
];

#[test]
fn every_shared_scenario_has_a_rust_test() {
    let shared: BTreeSet<String> = scenario_ids().into_iter().collect();
    let here: BTreeSet<String> = IMPLEMENTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(shared, here, "test/conformance/scenarios.json and this file disagree");
}

fn file_client(dir: &TempDir) -> AirlockClient {
    AirlockClient::new(FileStore::new(dir.file("session.json")))
}

/// A real sign-in: start_login, the user approves at the PDS, await_login.
async fn sign_in(client: &AirlockClient, server: &str) -> (Account, SessionInfo) {
    let f = fixture();
    let account = f.account().await;
    let started = client.start_login(server, &account.handle).await.expect("start_login");
    let (status, _) = f.approve(&started.authorize_url, &account).await;
    assert_eq!(status, 200);
    let session = client
        .await_login(&started.login_id)
        .expect("await_login")
        .session()
        .await
        .expect("session");
    assert_eq!(session.did, account.did);
    (account, session)
}

/// Follows a login in a task, recording every item; returns the terminal outcome.
type Seen = Arc<Mutex<Vec<LoginProgress>>>;

fn follow(client: &AirlockClient, login_id: &str) -> (Seen, tokio::task::JoinHandle<Result<SessionInfo, Error>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut events = client.await_login(login_id).expect("await_login");
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Some(item) = events.next_event().await {
            match item? {
                LoginProgress::Completed(session) => return Ok(session),
                progress => record.lock().unwrap().push(progress),
            }
        }
        Err(Error::Cancelled("stream ended".into()))
    });
    (seen, task)
}

async fn until(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn has(seen: &Seen, want: fn(&LoginProgress) -> bool) -> bool {
    seen.lock().unwrap().iter().any(want)
}

/// RefreshSession with a raw generated client: is this refresh token still alive?
async fn refresh_token_works(server: &str, refresh_token: &str) -> bool {
    let mut auth = AuthServiceClient::connect(server.to_string()).await.expect("connect");
    auth.refresh_session(RefreshSessionRequest {
        refresh_token: refresh_token.into(),
    })
    .await
    .is_ok()
}

fn stored(dir: &TempDir) -> Option<StoredState> {
    FileStore::new(dir.file("session.json")).load().expect("readable session file")
}

// ---- seed 003 review cases ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_login_race() {
    let f = fixture();
    let dir = TempDir::new("race");
    let client = file_client(&dir);
    let account = f.account().await;
    let (a, b) = (client.clone(), client.clone());
    let (h1, h2) = (account.handle.clone(), account.handle.clone());
    let first = tokio::spawn(async move { a.start_login(&fixture().grpc, &h1).await });
    let second = tokio::spawn(async move { b.start_login(&fixture().grpc, &h2).await });
    let results = [first.await.unwrap(), second.await.unwrap()];

    let (current_id, _, _) = client.current_login().expect("one login is current");
    let mut winners = 0;
    for result in &results {
        match result {
            Ok(started) if started.login_id == current_id => winners += 1,
            // Finished before the other call started: then it was superseded afterwards.
            Ok(started) => assert!(matches!(client.await_login(&started.login_id), Err(Error::Superseded))),
            Err(e) => assert!(matches!(e, Error::Superseded), "unexpected {e:?}"),
        }
    }
    assert_eq!(winners, 1);
    assert!(client.stats().initiate_login_calls <= 2, "{:?}", client.stats());

    let winner = results.iter().flatten().find(|s| s.login_id == current_id).unwrap();
    let (status, _) = f.approve(&winner.authorize_url, &account).await;
    assert_eq!(status, 200);
    let session = client.await_login(&current_id).unwrap().session().await.unwrap();
    assert_eq!(stored(&dir).unwrap().session.unwrap().session_id, session.session_id);
}

#[tokio::test(flavor = "current_thread")]
async fn start_login_burst() {
    let f = fixture();
    let client = AirlockClient::new(airlock_client::MemoryStore::default());
    let account = f.account().await;
    let mut calls = JoinSet::new();
    for i in 0..20 {
        let (client, handle) = (client.clone(), account.handle.clone());
        calls.spawn(async move { (i, client.start_login(&fixture().grpc, &handle).await) });
    }
    let mut results = calls.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    let (last, rest) = results.split_last().unwrap();
    let started = last.1.as_ref().expect("the last caller's login starts");
    assert_eq!(client.current_login().unwrap().0, started.login_id);
    for (i, result) in rest {
        assert!(matches!(result, Err(Error::Superseded)), "call {i}: {result:?}");
    }
    assert!(client.stats().initiate_login_calls <= 2, "{:?}", client.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_does_not_block_retry() {
    let f = fixture();
    let dir = TempDir::new("retry");
    let client = file_client(&dir);
    let account = f.account().await;
    let a = client.start_login(&f.grpc, &account.handle).await.unwrap();
    let (seen, a_outcome) = follow(&client, &a.login_id);
    until("A's pending event", Duration::from_secs(10), || {
        has(&seen, |p| matches!(p, LoginProgress::Pending { .. }))
    })
    .await;

    let retry = Instant::now();
    let b = client.start_login(&f.grpc, &account.handle).await.unwrap();
    assert!(
        retry.elapsed() < Duration::from_secs(3),
        "start_login B waited {:?}",
        retry.elapsed()
    );
    let a_result = tokio::time::timeout(Duration::from_secs(3), a_outcome)
        .await
        .expect("A's stream ends at once")
        .unwrap();
    assert!(matches!(a_result, Err(Error::Superseded)), "{a_result:?}");

    let (status, _) = f.approve(&b.authorize_url, &account).await;
    assert_eq!(status, 200);
    let session = client.await_login(&b.login_id).unwrap().session().await.unwrap();
    assert_eq!(client.get_session().await.unwrap().unwrap().session_id, session.session_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_login_finished_in_old_tab() {
    let f = fixture();
    let dir = TempDir::new("oldtab");
    let client = file_client(&dir);
    let account = f.account().await;
    let a = client.start_login(&f.grpc, &account.handle).await.unwrap();
    // The user already has A's tab open when the app starts B...
    let tab = f.open(&a.authorize_url).await;
    let b = client.start_login(&f.grpc, &account.handle).await.unwrap();
    // ...and finishes A there afterwards.
    let (status, page) = f.decide(&tab, &account).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("cancelled in the app"), "{page}");
    assert!(!page.contains("Signed in as"));
    // A tab opened only now shows the same at the link.
    let (status, page) = f.approve(&a.authorize_url, &account).await;
    assert_eq!(status, 410);
    assert!(page.contains("cancelled in the app"), "{page}");
    assert!(matches!(client.await_login(&a.login_id), Err(Error::Superseded)));
    assert!(stored(&dir).and_then(|s| s.session).is_none(), "no session for A");
    // B is still good.
    assert_eq!(client.current_login().unwrap().0, b.login_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_leaves_no_usable_client() {
    let f = fixture();
    let dir = TempDir::new("logout");
    let client = file_client(&dir);
    let (account, _) = sign_in(&client, &f.grpc).await;
    let old = stored(&dir).unwrap().session.unwrap();

    let pending = client.start_login(&f.grpc, &account.handle).await.unwrap();
    let (seen, outcome) = follow(&client, &pending.login_id);
    until("the pending event", Duration::from_secs(10), || {
        has(&seen, |p| matches!(p, LoginProgress::Pending { .. }))
    })
    .await;

    let result = client.logout().await.unwrap();
    assert!(result.had_session && result.revoked && result.cancelled_login, "{result:?}");
    let ended = tokio::time::timeout(Duration::from_secs(3), outcome)
        .await
        .expect("the stream ends at once")
        .unwrap();
    assert!(matches!(ended, Err(Error::Cancelled(_))), "{ended:?}");
    assert!(matches!(client.await_login(&pending.login_id), Err(Error::Cancelled(_))));
    assert_eq!(client.get_session().await.unwrap(), None);
    assert!(matches!(
        client.who_am_i().await,
        Err(Error::SignedOut(SignedOutReason::NotSignedIn))
    ));
    assert!(
        !refresh_token_works(&f.grpc, &old.refresh_token).await,
        "the old refresh token is revoked"
    );
    assert!(stored(&dir).is_none(), "server URL and tokens removed together");

    let (status, page) = f.approve(&pending.authorize_url, &account).await;
    assert_eq!(status, 410);
    assert!(page.contains("cancelled in the app"));
    assert_eq!(client.get_session().await.unwrap(), None);
}

// ---- seed 000 storage cases ---------------------------------------------------
// No working OS keychain can run on this machine (no Secret Service; the
// kernel keyring refuses writes), so a keychain that works, or one that
// fails in a chosen way, cannot be caused for real here: these scenarios use
// stand-ins for a bridge that stores nothing, fails, or holds an old copy.
// `real_keyring_layered_behind_the_file` runs the real `keyring` crate.

/// A keychain bridge that silently does nothing: writes "succeed", reads find nothing.
struct SilentKeychain;
impl SecretStore for SilentKeychain {
    fn get(&self) -> Result<Option<String>, String> {
        Ok(None)
    }
    fn set(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn delete(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A keychain that fails every call.
struct BrokenKeychain;
impl SecretStore for BrokenKeychain {
    fn get(&self) -> Result<Option<String>, String> {
        Err("org.freedesktop.DBus.Error.ServiceUnknown".into())
    }
    fn set(&self, _: &str) -> Result<(), String> {
        Err("org.freedesktop.DBus.Error.ServiceUnknown".into())
    }
    fn delete(&self) -> Result<(), String> {
        Err("org.freedesktop.DBus.Error.ServiceUnknown".into())
    }
}

/// A keychain holding an old copy it can neither replace nor delete.
struct StuckKeychain(String);
impl SecretStore for StuckKeychain {
    fn get(&self) -> Result<Option<String>, String> {
        Ok(Some(self.0.clone()))
    }
    fn set(&self, _: &str) -> Result<(), String> {
        Err("locked".into())
    }
    fn delete(&self) -> Result<(), String> {
        Err("locked".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keychain_empty_is_a_miss() {
    let f = fixture();
    let dir = TempDir::new("silent");
    let path = dir.file("session.json");
    let client = AirlockClient::new(LayeredStore::new(FileStore::new(&path), SilentKeychain));
    let (account, session) = sign_in(&client, &f.grpc).await;
    assert_eq!(stored(&dir).unwrap().session.unwrap().session_id, session.session_id);
    // A reload: a new client on the same stores.
    let reloaded = AirlockClient::new(LayeredStore::new(FileStore::new(&path), SilentKeychain));
    assert_eq!(reloaded.get_session().await.unwrap().unwrap().session_id, session.session_id);
    assert_eq!(reloaded.who_am_i().await.unwrap().did, account.did);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keychain_failing_is_a_miss() {
    let f = fixture();
    let dir = TempDir::new("broken");
    let path = dir.file("session.json");
    let client = AirlockClient::new(LayeredStore::new(FileStore::new(&path), BrokenKeychain));
    let (account, session) = sign_in(&client, &f.grpc).await;
    let reloaded = AirlockClient::new(LayeredStore::new(FileStore::new(&path), BrokenKeychain));
    assert_eq!(reloaded.get_session().await.unwrap().unwrap().session_id, session.session_id);
    assert_eq!(reloaded.who_am_i().await.unwrap().did, account.did);
    let result = reloaded.logout().await.unwrap();
    assert!(result.had_session && result.revoked);
    assert!(!path.exists(), "the file is cleared although the keychain delete failed");
    assert_eq!(reloaded.get_session().await.unwrap(), None);
}

/// The real `keyring` crate behind the file, whatever the OS keychain does here. On this
/// machine the kernel keyring refuses writes ("No matching entry found") and reads find
/// nothing: the seed's silent bridge, for real. The invariants hold either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_keyring_layered_behind_the_file() {
    let f = fixture();
    let dir = TempDir::new("keyring");
    let path = dir.file("session.json");
    let account_name = format!("test-{}", dir.0.file_name().unwrap().to_string_lossy());
    let store = || {
        LayeredStore::new(
            FileStore::new(&path),
            airlock_client::storage::KeyringSecret::new("airlock-test", account_name.clone()),
        )
    };
    let client = AirlockClient::new(store());
    let (account, session) = sign_in(&client, &f.grpc).await;
    let reloaded = AirlockClient::new(store());
    assert_eq!(reloaded.get_session().await.unwrap().unwrap().session_id, session.session_id);
    assert_eq!(reloaded.who_am_i().await.unwrap().did, account.did);
    assert!(reloaded.logout().await.unwrap().had_session);
    assert!(!path.exists());
    assert_eq!(AirlockClient::new(store()).get_session().await.unwrap(), None);
    let _ = airlock_client::storage::KeyringSecret::new("airlock-test", account_name).delete();
}

#[test]
fn keychain_stale_copy_ignored() {
    let dir = TempDir::new("stale");
    let path = dir.file("session.json");
    let sample: StoredState = serde_json::from_value(session_file_sample()).unwrap();
    let mut old = sample.clone();
    old.session.as_mut().unwrap().refresh_token = "an-older-rotated-refresh-token".into();
    let misses = Arc::new(Mutex::new(Vec::new()));
    let record = misses.clone();
    let layered = LayeredStore::new(FileStore::new(&path), StuckKeychain(serde_json::to_string(&old).unwrap()))
        .on_secure_miss(move |op, why| record.lock().unwrap().push((op, why)));
    layered.save(&sample).unwrap();
    let loaded = layered.load().unwrap().unwrap();
    assert_eq!(
        loaded.session.unwrap().refresh_token,
        sample.session.as_ref().unwrap().refresh_token
    );
    // Same generation, different content (a writer that kept the generation): still stale.
    let mut same_generation = old.clone();
    same_generation.generation = FileStore::new(&path).load().unwrap().unwrap().generation;
    let layered2 = LayeredStore::new(
        FileStore::new(&path),
        StuckKeychain(serde_json::to_string(&same_generation).unwrap()),
    );
    assert_eq!(
        layered2.load().unwrap().unwrap().session.unwrap().refresh_token,
        sample.session.as_ref().unwrap().refresh_token
    );

    layered.clear().unwrap();
    assert_eq!(
        layered.load().unwrap(),
        None,
        "a keychain copy that outlived the clear cannot resurrect a session"
    );
    assert!(!misses.lock().unwrap().is_empty());
}

#[test]
fn session_file_shared_format() {
    let dir = TempDir::new("format");
    let path = dir.file("session.json");
    let sample = session_file_sample();
    // As the TS client writes it: JSON.stringify(state, null, 2) + "\n".
    std::fs::write(&path, serde_json::to_string_pretty(&sample).unwrap() + "\n").unwrap();
    let store = FileStore::new(&path);
    let state = store.load().unwrap().expect("the TS client's file parses");
    assert_eq!(serde_json::to_value(&state).unwrap(), sample);
    store.save(&state).unwrap();
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written, sample, "every field reads back unchanged");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A file that is not a session is an error, never an empty session.
    std::fs::write(&path, "{\"version\": 2}").unwrap();
    assert!(store.load().is_err());
}

// ---- the server going away, refreshes and other processes ------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattach_across_server_restart() {
    let f = fixture();
    let (id, server) = f.new_server(json!({})).await;
    let client = AirlockClient::with_options(
        airlock_client::MemoryStore::default(),
        airlock_client::ClientOptions {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(400),
            ..Default::default()
        },
    );
    let account = f.account().await;
    let started = client.start_login(&server, &account.handle).await.unwrap();
    let (seen, outcome) = follow(&client, &started.login_id);
    until("the pending event", Duration::from_secs(10), || {
        has(&seen, |p| matches!(p, LoginProgress::Pending { .. }))
    })
    .await;

    f.stop_server(&id, "SIGTERM").await;
    until("reconnecting while the server is down", Duration::from_secs(20), || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|p| matches!(p, LoginProgress::Reconnecting { .. }))
            .count()
            >= 2
    })
    .await;
    f.start_server(&id).await;
    let (status, _) = f.approve(&started.authorize_url, &account).await;
    assert_eq!(status, 200);
    let session = tokio::time::timeout(Duration::from_secs(30), outcome)
        .await
        .expect("completes")
        .unwrap()
        .unwrap();
    assert_eq!(session.did, account.did);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_refresh() {
    let f = fixture();
    let (_, server) = f
        .new_server(json!({ "AIRLOCK_ACCESS_TOKEN_TTL": "4s", "AIRLOCK_CLOCK_TOLERANCE": "0s" }))
        .await;
    let dir = TempDir::new("refresh");
    let client = file_client(&dir);
    let (account, _) = sign_in(&client, &server).await;

    // Past half the 4 s lifetime: every call below needs a refresh.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let before = client.stats().refresh_calls;
    let mut calls = JoinSet::new();
    for _ in 0..8 {
        let client = client.clone();
        calls.spawn(async move { client.who_am_i().await });
    }
    for result in calls.join_all().await {
        assert_eq!(result.expect("every call succeeds").did, account.did);
    }
    assert_eq!(client.stats().refresh_calls - before, 1, "one RefreshSession for 8 calls");

    // Two processes on one session file refresh at once: neither may be signed out.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let mut other = tokio::process::Command::from(airlock_rs());
        let other = other.arg("--store").arg(dir.file("session.json")).arg("whoami").output();
        let (other, here) = tokio::join!(other, client.who_am_i());
        let other = other.unwrap();
        assert!(
            other.status.success(),
            "the other process: {}",
            String::from_utf8_lossy(&other.stderr)
        );
        assert_eq!(here.expect("this process").did, account.did);
    }
    assert_eq!(client.who_am_i().await.unwrap().did, account.did);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_another_process() {
    let f = fixture();
    let dir = TempDir::new("other");
    let client = file_client(&dir);
    sign_in(&client, &f.grpc).await;
    let old = stored(&dir).unwrap().session.unwrap();

    let other = tokio::process::Command::from(airlock_rs())
        .arg("--store")
        .arg(dir.file("session.json"))
        .arg("logout")
        .output()
        .await
        .unwrap();
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stderr));
    let result: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(result["hadSession"], true);
    assert_eq!(result["revoked"], true);

    assert_eq!(client.get_session().await.unwrap(), None);
    assert!(matches!(
        client.who_am_i().await,
        Err(Error::SignedOut(SignedOutReason::NotSignedIn))
    ));
    assert!(!refresh_token_works(&f.grpc, &old.refresh_token).await);
}

// ---- more of the login semantics ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_start_login_cancels_one_stuck_on_a_slow_pds_at_once() {
    let f = fixture();
    let client = AirlockClient::new(airlock_client::MemoryStore::default());
    let stuck = f.stuck_did().await;
    let account = f.account().await;
    let first = {
        let client = client.clone();
        tokio::spawn(async move { client.start_login(&fixture().grpc, &stuck).await })
    };
    // Let the first call reach its InitiateLogin RPC (the server now waits on the stuck PDS).
    until("the first InitiateLogin", Duration::from_secs(5), || {
        client.stats().initiate_login_calls == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let retry = Instant::now();
    let second = client.start_login(&f.grpc, &account.handle).await.expect("the retry starts");
    let first = first.await.unwrap();
    assert!(matches!(first, Err(Error::Superseded)), "{first:?}");
    assert!(
        retry.elapsed() < Duration::from_secs(3),
        "the retry waited {:?} behind the stuck call",
        retry.elapsed()
    );
    println!("retry behind a stuck PDS took {:?}", retry.elapsed());
    assert_eq!(client.current_login().unwrap().0, second.login_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_login_stops_on_a_cancellation_token_or_a_drop_and_the_login_stays_current() {
    let f = fixture();
    let client = AirlockClient::new(airlock_client::MemoryStore::default());
    let account = f.account().await;
    let started = client.start_login(&f.grpc, &account.handle).await.unwrap();

    let cancel = airlock_client::CancellationToken::new();
    let mut events = client.await_login_with(&started.login_id, cancel.clone()).unwrap();
    assert!(matches!(events.next_event().await, Some(Ok(LoginProgress::Pending { .. }))));
    cancel.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(2), events.next_event())
        .await
        .expect("ends at once");
    assert!(matches!(ended, Some(Err(Error::Cancelled(_)))), "{ended:?}");
    assert!(events.next_event().await.is_none());

    let mut dropped = client.await_login(&started.login_id).unwrap();
    assert!(matches!(dropped.next_event().await, Some(Ok(LoginProgress::Pending { .. }))));
    drop(dropped);

    // Neither ended the login: it is still current and completes.
    assert_eq!(client.current_login().unwrap().0, started.login_id);
    let (status, _) = f.approve(&started.authorize_url, &account).await;
    assert_eq!(status, 200);
    let session = client.await_login(&started.login_id).unwrap().session().await.unwrap();
    assert_eq!(session.did, account.did);
    // A completed login awaited again yields the stored session.
    assert_eq!(
        client.await_login(&started.login_id).unwrap().session().await.unwrap().session_id,
        session.session_id
    );
}

#[tokio::test(flavor = "current_thread")]
async fn logout_while_start_login_runs_cancels_that_start_and_leaves_no_state() {
    let f = fixture();
    let dir = TempDir::new("early-logout");
    let client = file_client(&dir);
    let account = f.account().await;
    let (started, logout) = tokio::join!(client.start_login(&f.grpc, &account.handle), async {
        tokio::task::yield_now().await;
        client.logout().await
    });
    assert!(matches!(started, Err(Error::Cancelled(_))), "{started:?}");
    assert!(!logout.unwrap().had_session);
    assert!(client.current_login().is_none());
    assert!(stored(&dir).is_none(), "the store stays empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_expired_login_ends_the_stream_with_a_typed_error() {
    let f = fixture();
    let client = AirlockClient::new(airlock_client::MemoryStore::default());
    let account = f.account().await;
    let started = client.start_login(&f.grpc, &account.handle).await.unwrap();
    let (status, _) = f.deny(&started.authorize_url, &account).await;
    assert_eq!(status, 403);
    let denied = client.await_login(&started.login_id).unwrap().session().await;
    assert!(matches!(denied, Err(Error::LoginDenied(_))), "{denied:?}");
    assert!(matches!(client.await_login(&started.login_id), Err(Error::LoginDenied(_))));

    let (_, short) = f.new_server(json!({ "AIRLOCK_LOGIN_TTL": "2s" })).await;
    let started = client.start_login(&short, &account.handle).await.unwrap();
    let expired = tokio::time::timeout(Duration::from_secs(10), client.await_login(&started.login_id).unwrap().session())
        .await
        .unwrap();
    assert!(matches!(expired, Err(Error::LoginExpired(_))), "{expired:?}");
    assert_eq!(client.get_session().await.unwrap(), None);
}

// ---- the example binary --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_binary_signs_in_against_the_sandbox() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let f = fixture();
    let dir = TempDir::new("example");
    let file = dir.file("session.json");
    let account = f.account().await;
    let mut login = tokio::process::Command::from(airlock_rs());
    login
        .args(["--server", &f.grpc, "--store"])
        .arg(&file)
        .args(["login", &account.handle]);
    let mut child = login.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("http") {
            url = Some(line);
            break;
        }
    }
    let (status, _) = f.approve(&url.expect("the login link"), &account).await;
    assert_eq!(status, 200);
    let mut rest = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push_str(&line);
    }
    assert!(child.wait().await.unwrap().success());
    let session: serde_json::Value = serde_json::from_str(&rest).unwrap();
    assert_eq!(session["did"], account.did.as_str());

    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::from(airlock_rs());
        command.arg("--store").arg(&file).args(args);
        command.output()
    };
    let whoami = run(&["whoami"]).await.unwrap();
    assert!(whoami.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&whoami.stdout).unwrap()["did"],
        account.did.as_str()
    );
    let token = run(&["token", "lobby"]).await.unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    assert!(
        !serde_json::from_slice::<serde_json::Value>(&token.stdout).unwrap()["token"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let logout = run(&["logout"]).await.unwrap();
    assert!(logout.status.success());
    let whoami = run(&["whoami"]).await.unwrap();
    assert!(!whoami.status.success(), "signed out");
}
