//! The durable store: one JSON file, readable by the user only. A save
//! writes a temporary file and renames it over the old one, so a crash
//! leaves the old or the new state, never a torn file. A lock file beside
//! it (`<file>.flock`, an advisory `flock` through fs4) serialises
//! read-modify-writes and refreshes across processes of this crate; the
//! `<file>.lock` directory (the protocol of the TS client's proper-lockfile:
//! an atomic mkdir, the holder refreshes its mtime, one older than 10 s is
//! stale and taken over) serialises them against the TS client too.
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use super::{SessionStore, StorageError, StoreLock, StoredState, parse_stored_state};

/// The TS client's default (env-paths "airlock"): `~/.config/airlock/session.json`
/// on Linux (`$XDG_CONFIG_HOME` respected), `~/Library/Preferences/airlock` on
/// macOS, `%APPDATA%\airlock\Config` on Windows.
pub fn default_session_file() -> Option<PathBuf> {
    let base = directories::BaseDirs::new()?;
    let dir = if cfg!(target_os = "macos") {
        base.home_dir().join("Library/Preferences/airlock")
    } else if cfg!(windows) {
        base.config_dir().join("airlock").join("Config")
    } else {
        base.config_dir().join("airlock")
    };
    Some(dir.join("session.json"))
}

pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file at [`default_session_file`].
    pub fn at_default_path() -> Result<Self, StorageError> {
        default_session_file()
            .map(Self::new)
            .ok_or_else(|| StorageError("no home directory to keep the session file in".into()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".flock");
        self.path.with_file_name(name)
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(self.dir())
    }
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn sync_dir(dir: &Path) {
    // Makes the rename itself durable; not supported everywhere (best effort).
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

impl SessionStore for FileStore {
    fn load(&self) -> Result<Option<StoredState>, StorageError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError(format!("cannot read the session file {}: {e}", self.path.display()))),
        };
        if serde_json::from_str::<serde_json::Value>(&text).is_err() {
            return Err(StorageError(format!(
                "the session file {} is not valid JSON; sign out to reset it",
                self.path.display()
            )));
        }
        parse_stored_state(&text).map(Some).ok_or_else(|| {
            StorageError(format!(
                "the session file {} has an unknown format; sign out to reset it",
                self.path.display()
            ))
        })
    }

    fn save(&self, state: &StoredState) -> Result<(), StorageError> {
        let fail = |e: &dyn std::fmt::Display| StorageError(format!("cannot write the session file {}: {e}", self.path.display()));
        self.ensure_dir().map_err(|e| fail(&e))?;
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).map_err(|e| fail(&e))?;
        let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let mut temp_name = self.path.file_name().unwrap_or_default().to_os_string();
        temp_name.push(format!(".{hex}.tmp"));
        let temp = self.path.with_file_name(temp_name);
        let text = serde_json::to_string_pretty(state).map_err(|e| fail(&e))? + "\n";
        let written = (|| -> std::io::Result<()> {
            // create_new: never follow or reuse an existing file; 0600 from creation.
            let mut file = private_options().write(true).create_new(true).open(&temp)?;
            #[cfg(unix)]
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, &self.path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(fail(&e));
        }
        sync_dir(self.dir());
        Ok(())
    }

    fn clear(&self) -> Result<(), StorageError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {
                sync_dir(self.dir());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError(format!("cannot remove the session file {}: {e}", self.path.display()))),
        }
    }

    fn lock(&self) -> Result<StoreLock, StorageError> {
        let fail = |e: std::io::Error| StorageError(format!("cannot lock the session file {}: {e}", self.path.display()));
        self.ensure_dir().map_err(fail)?;
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.lock_path())
            .map_err(fail)?;
        FileExt::lock_exclusive(&file).map_err(fail)?;
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let dir = DirLock::acquire(self.path.with_file_name(name)).map_err(fail)?;
        Ok(StoreLock {
            _dir: Some(dir),
            _file: Some(file),
        })
    }
}

/// A lock older than this is taken as left by a crashed process (proper-lockfile's `stale`).
const DIR_LOCK_STALE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long to wait for a lock another process holds before giving up.
const DIR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The `<file>.lock` directory lock shared with the TS client (proper-lockfile).
pub(crate) struct DirLock {
    path: PathBuf,
    stop: Option<std::sync::mpsc::Sender<()>>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

impl DirLock {
    fn acquire(path: PathBuf) -> std::io::Result<Self> {
        let started = std::time::Instant::now();
        loop {
            match fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .map(|modified| modified.elapsed().unwrap_or_default() > DIR_LOCK_STALE)
                        .unwrap_or(false);
                    if stale {
                        let _ = fs::remove_dir(&path);
                        continue;
                    }
                    if started.elapsed() > DIR_LOCK_WAIT {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("{} is held by another process", path.display()),
                        ));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
        // Keep the lock fresh while held, as proper-lockfile does (every stale / 2).
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let touched = path.clone();
        let keeper = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(DIR_LOCK_STALE / 2) {
                if let Ok(dir) = File::open(&touched) {
                    let _ = dir.set_modified(std::time::SystemTime::now());
                }
            }
        });
        Ok(Self {
            path,
            stop: Some(stop),
            keeper: Some(keeper),
        })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("airlock-dirlock-{}-{:?}", std::process::id(), std::thread::current().id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join("session.json")
    }

    #[test]
    fn holds_the_ts_clients_lock_directory_and_takes_over_a_stale_one() {
        let file = temp_file();
        let lock_dir = file.with_file_name("session.json.lock");
        let store = FileStore::new(&file);
        {
            let _held = store.lock().unwrap();
            assert!(lock_dir.is_dir(), "the proper-lockfile directory is held");
        }
        assert!(!lock_dir.exists(), "released on drop");
        // Left by a crashed process 60 s ago: stale, taken over.
        fs::create_dir(&lock_dir).unwrap();
        File::open(&lock_dir)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
            .unwrap();
        drop(store.lock().unwrap());
        assert!(!lock_dir.exists());
        fs::remove_dir_all(file.parent().unwrap()).unwrap();
    }
}
