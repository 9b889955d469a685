//! The durable store: one JSON file, readable by the user only. A save
//! writes a temporary file and renames it over the old one, so a crash
//! leaves the old or the new state, never a torn file. A lock file beside
//! it (`<file>.flock`, an advisory `flock` through fs4) serialises
//! read-modify-writes and refreshes across processes.
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
        Ok(StoreLock { _file: Some(file) })
    }
}
