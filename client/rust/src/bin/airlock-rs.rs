//! `airlock-rs`: a small command-line app on the crate, written the way a
//! Tauri app would wrap it. Each `cmd_*` function below has the shape of a
//! `#[tauri::command]`: an async fn over the managed state and plain
//! arguments, returning `Result<T, String>` with a serialisable `T`. In a
//! Tauri app they would be registered with `tauri::generate_handler!` and
//! the state with `.manage(AppState::new(..))`.
//!
//!   airlock-rs [--server URL] [--store FILE] login <handle>
//!   airlock-rs [--store FILE] whoami
//!   airlock-rs [--store FILE] token <channel>
//!   airlock-rs [--store FILE] logout
//!
//! The session file defaults to the TS client's (~/.config/airlock/session.json
//! on Linux), with an OS keychain copy as best effort; `--store` picks a file
//! and no keychain. Results are printed as JSON.
use std::process::ExitCode;

use airlock_client::{
    AirlockClient, ChannelToken, FileStore, LoginProgress, LogoutResult, SessionInfo, SessionStore, StartedLogin, WhoAmI,
};
use serde::Serialize;

/// What a Tauri app keeps in its managed state: one client, cloned into every command.
struct AppState {
    client: AirlockClient,
}

// ---- the commands (the seed's start_login / await_login / get_session / logout, done right) ----

/// Starts a login and returns the URL to open. Superseding an earlier login,
/// and cancelling it on the server, is the client's job: a second click is safe.
async fn cmd_start_login(state: &AppState, server: String, identifier: String) -> Result<StartedLogin, String> {
    state.client.start_login(&server, &identifier).await.map_err(|e| e.to_string())
}

/// Waits for the login without holding any lock a retry needs; progress goes
/// to `on_progress` (in Tauri: `window.emit("login-progress", p)`).
async fn cmd_await_login(state: &AppState, login_id: String, on_progress: impl Fn(&LoginProgress)) -> Result<SessionInfo, String> {
    let mut events = state.client.await_login(&login_id).map_err(|e| e.to_string())?;
    while let Some(item) = events.next_event().await {
        match item.map_err(|e| e.to_string())? {
            LoginProgress::Completed(session) => return Ok(session),
            progress => on_progress(&progress),
        }
    }
    Err("the login stream ended without an outcome".into())
}

/// The one authoritative "am I signed in?" (server URL and tokens are one record).
async fn cmd_get_session(state: &AppState) -> Result<Option<SessionInfo>, String> {
    state.client.get_session().await.map_err(|e| e.to_string())
}

/// Cancels a login in progress, revokes on the server within a deadline, clears the stored state.
async fn cmd_logout(state: &AppState) -> Result<LogoutResult, String> {
    state.client.logout().await.map_err(|e| e.to_string())
}

async fn cmd_whoami(state: &AppState) -> Result<WhoAmI, String> {
    state.client.who_am_i().await.map_err(|e| e.to_string())
}

async fn cmd_channel_token(state: &AppState, channel: String) -> Result<ChannelToken, String> {
    state.client.get_channel_token(&channel).await.map_err(|e| e.to_string())
}

// ---- the command line ----

fn usage() -> ExitCode {
    eprintln!("usage: airlock-rs [--server URL] [--store FILE] <login <handle> | whoami | token <channel> | status | logout>");
    ExitCode::from(2)
}

fn print<T: Serialize>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut server = std::env::var("AIRLOCK_SERVER").ok();
    let mut store_path = None;
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--server" => server = args.next(),
            "--store" => store_path = args.next(),
            "-h" | "--help" => return usage(),
            _ => rest.push(arg),
        }
    }
    let file = store_path
        .clone()
        .map(std::path::PathBuf::from)
        .or_else(airlock_client::storage::default_session_file);
    let store: Box<dyn FnOnce() -> Result<AirlockClient, String>> = match store_path {
        Some(path) => Box::new(move || Ok(AirlockClient::new(FileStore::new(path)))),
        None => Box::new(|| airlock_client::default_store().map(AirlockClient::new).map_err(|e| e.to_string())),
    };
    let state = match store() {
        Ok(client) => AppState { client },
        Err(e) => {
            eprintln!("airlock-rs: {e}");
            return ExitCode::from(1);
        }
    };
    let result: Result<(), String> = match rest.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["login", identifier] => {
            let Some(server) = server.or_else(|| stored_server(file)) else {
                eprintln!("airlock-rs: no server: pass --server URL or set AIRLOCK_SERVER");
                return ExitCode::from(2);
            };
            match cmd_start_login(&state, server, identifier.to_string()).await {
                Ok(started) => {
                    // A Tauri app opens this with the opener plugin; a terminal prints it.
                    println!("Open this link to sign in:\n{}", started.authorize_url);
                    // On stderr with the progress: stdout stays the link, then the session's JSON.
                    if !started.confirmation_code.is_empty() {
                        eprintln!(
                            "Your code: {} (if the browser asks, continue only if it shows this code)",
                            started.confirmation_code
                        );
                    }
                    cmd_await_login(&state, started.login_id, |p| {
                        eprintln!("login: {}", serde_json::to_string(p).unwrap_or_default())
                    })
                    .await
                    .map(|session| print(&session))
                }
                Err(e) => Err(e),
            }
        }
        ["whoami"] => cmd_whoami(&state).await.map(|w| print(&w)),
        ["token", channel] => cmd_channel_token(&state, channel.to_string()).await.map(|t| print(&t)),
        ["status"] => cmd_get_session(&state).await.map(|s| print(&s)),
        ["logout"] => cmd_logout(&state).await.map(|r| print(&r)),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock-rs: {e}");
            ExitCode::from(1)
        }
    }
}

/// `login` without --server: the server of the latest login (kept in the session file).
fn stored_server(file: Option<std::path::PathBuf>) -> Option<String> {
    FileStore::new(file?).load().ok().flatten().and_then(|s| s.login_server_url)
}
