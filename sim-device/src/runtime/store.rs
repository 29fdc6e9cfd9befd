//! Persisted Wi-Fi credentials under `--state-dir`: the simulator's NVS.
//!
//! One small JSON file, replaced atomically: write a temporary file, fsync it, rename it over the old one,
//! fsync the directory. A process killed at any instant leaves either the old or the new credentials, never
//! a mix; a leftover temporary file is ignored. The passphrase is stored as a real device stores it (NVS is
//! not encrypted by default), so the file is created mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Credentials;

const FILE: &str = "credentials.json";
const TEMP: &str = "credentials.json.tmp";

/// The credential store of one simulated device.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    ssid_hex: String,
    passphrase_hex: String,
}

/// A store operation failed; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(String);

impl CredentialStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create state dir {}: {e}", dir.display())))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Where the credentials live.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// The stored credentials, `None` when the device was never provisioned (or was reset).
    pub fn load(&self) -> Result<Option<Credentials>, StoreError> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError(format!("cannot read {}: {e}", path.display()))),
        };
        let corrupt = |why: String| {
            StoreError(format!(
                "{} is corrupt ({why}); start with --reset-provisioning to erase it",
                path.display()
            ))
        };
        let disk: OnDisk = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if disk.version != 1 {
            return Err(corrupt(format!("unknown version {}", disk.version)));
        }
        let ssid = hex::decode(&disk.ssid_hex).map_err(|e| corrupt(format!("ssid: {e}")))?;
        let passphrase =
            hex::decode(&disk.passphrase_hex).map_err(|e| corrupt(format!("passphrase: {e}")))?;
        Ok(Some(Credentials { ssid, passphrase }))
    }

    /// Replace the stored credentials atomically.
    pub fn save(&self, creds: &Credentials) -> Result<(), StoreError> {
        let disk = OnDisk {
            version: 1,
            ssid_hex: hex::encode(&creds.ssid),
            passphrase_hex: hex::encode(&creds.passphrase),
        };
        let body = serde_json::to_vec_pretty(&disk).map_err(|e| StoreError(e.to_string()))?;
        let temp = self.dir.join(TEMP);
        let fail =
            |what: &str, e: std::io::Error| StoreError(format!("{what} {}: {e}", temp.display()));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| fail("cannot create", e))?;
        f.write_all(&body).map_err(|e| fail("cannot write", e))?;
        f.sync_all().map_err(|e| fail("cannot fsync", e))?;
        drop(f);
        fs::rename(&temp, self.path()).map_err(|e| fail("cannot rename", e))?;
        self.sync_dir()
    }

    /// Forget the credentials (factory reset).
    pub fn erase(&self) -> Result<(), StoreError> {
        match fs::remove_file(self.path()) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError(format!(
                "cannot remove {}: {e}",
                self.path().display()
            ))),
        }
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError(format!("cannot fsync {}: {e}", self.dir.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("provlab-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn save_load_erase() {
        let dir = temp_dir("cycle");
        let store = CredentialStore::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), None);
        let creds = Credentials {
            ssid: b"caf\xc3\xa9 \x00net".to_vec(),
            passphrase: b"pass phrase".to_vec(),
        };
        store.save(&creds).unwrap();
        assert_eq!(store.load().unwrap(), Some(creds));
        // A stale temporary file from an interrupted write does not matter.
        fs::write(dir.join(TEMP), b"{ half").unwrap();
        assert!(store.load().unwrap().is_some());
        store.erase().unwrap();
        assert_eq!(store.load().unwrap(), None);
        store.erase().unwrap();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_an_error_that_says_what_to_do() {
        let dir = temp_dir("corrupt");
        let store = CredentialStore::open(&dir).unwrap();
        fs::write(store.path(), b"{\"version\":1,").unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("--reset-provisioning"), "{err}");
        fs::remove_dir_all(dir).unwrap();
    }
}
