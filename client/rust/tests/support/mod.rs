//! The real world for the crate's tests: `node test/support/conformance-fixture.ts`
//! (a sandbox PLC + PDS, Airlock servers as child processes, and a loopback
//! control API that plays the user through the PDS provider's JSON API).
//! One fixture per test binary; it exits when this process does (its stdin closes).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub struct Fixture {
    pub grpc: String,
    control: String,
    _child: Mutex<Child>,
}

pub struct Account {
    pub handle: String,
    pub did: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The shared fixture, started on first use (a PDS takes a few seconds).
pub fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let node = std::env::var("AIRLOCK_NODE").unwrap_or_else(|_| "node".into());
        let mut child = Command::new(node)
            .arg("test/support/conformance-fixture.ts")
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run node (Node >= 22.18 must be on PATH, or set AIRLOCK_NODE)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("fixture output");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("the fixture did not start (needs Node >= 22.18 on PATH, or AIRLOCK_NODE; see its stderr above): {line:?}")
        });
        Fixture {
            grpc: ready["grpc"].as_str().expect("grpc").to_string(),
            control: ready["control"].as_str().expect("control").to_string(),
            _child: Mutex::new(child),
        }
    })
}

impl Fixture {
    /// POSTs to the control API (plain HTTP/1.1 over loopback).
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let authority = self.control.trim_start_matches("http://").to_string();
        let body = body.to_string();
        let mut stream = tokio::net::TcpStream::connect(&authority).await.expect("fixture control");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
            .await
            .expect("fixture answered")
            .expect("read");
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let value: Value = serde_json::from_str(body).expect("JSON answer");
        assert!(head.starts_with("HTTP/1.1 200"), "fixture {path} failed: {value}");
        value
    }

    pub async fn account(&self) -> Account {
        let a = self.post("/account", json!({})).await;
        Account {
            handle: a["handle"].as_str().unwrap().into(),
            did: a["did"].as_str().unwrap().into(),
        }
    }

    /// The user opens the link, signs in at the PDS and approves; returns the callback page (status, body).
    pub async fn approve(&self, url: &str, account: &Account) -> (u16, String) {
        let page = self.post("/approve", json!({ "url": url, "handle": account.handle })).await;
        (page["status"].as_u64().unwrap() as u16, page["body"].as_str().unwrap().to_string())
    }

    /// The user signs in at the PDS and refuses consent; returns the callback page.
    pub async fn deny(&self, url: &str, account: &Account) -> (u16, String) {
        let page = self
            .post("/approve", json!({ "url": url, "handle": account.handle, "decision": "deny" }))
            .await;
        (page["status"].as_u64().unwrap() as u16, page["body"].as_str().unwrap().to_string())
    }

    /// The user opens the link in a browser tab and stops there; returns the tab.
    pub async fn open(&self, url: &str) -> String {
        self.post("/open", json!({ "url": url })).await["tab"].as_str().unwrap().to_string()
    }

    /// ...and later signs in and approves in that tab; returns the callback page.
    pub async fn decide(&self, tab: &str, account: &Account) -> (u16, String) {
        let page = self.post("/decide", json!({ "tab": tab, "handle": account.handle })).await;
        (page["status"].as_u64().unwrap() as u16, page["body"].as_str().unwrap().to_string())
    }

    /// A DID whose PDS accepts connections and never answers (a stuck PDS).
    pub async fn stuck_did(&self) -> String {
        self.post("/stuck-did", json!({})).await["did"].as_str().unwrap().to_string()
    }

    /// Another Airlock server on the same PDS: (id, grpc URL).
    pub async fn new_server(&self, env: Value) -> (String, String) {
        let s = self.post("/servers", json!({ "env": env })).await;
        (s["id"].as_str().unwrap().into(), s["grpc"].as_str().unwrap().into())
    }

    pub async fn stop_server(&self, id: &str, signal: &str) {
        self.post("/servers/stop", json!({ "id": id, "signal": signal })).await;
    }

    pub async fn start_server(&self, id: &str) {
        self.post("/servers/start", json!({ "id": id })).await;
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).unwrap();
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("airlock-rs-{name}-{hex}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The scenario ids of test/conformance/scenarios.json.
pub fn scenario_ids() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("test/conformance/scenarios.json")).expect("scenarios.json");
    let value: Value = serde_json::from_str(&text).expect("scenarios.json is JSON");
    value["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn session_file_sample() -> Value {
    let text = std::fs::read_to_string(repo_root().join("test/conformance/scenarios.json")).expect("scenarios.json");
    let value: Value = serde_json::from_str(&text).unwrap();
    value["sessionFileSample"].clone()
}

/// The example binary built by cargo for these tests.
pub fn airlock_rs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airlock-rs"))
}
