//! One daemon per SQLite file ([`SqliteLock`]) and this process's name in leases.

use std::path::{Path, PathBuf};

use crate::settings::DaemonConfig;

/// This process's name in leases and runs: `host/pid/random`.
pub fn holder_id(cfg: &DaemonConfig) -> String {
    if let Some(i) = &cfg.instance {
        return i.clone();
    }
    let host = crate::jobs::hostname();
    format!(
        "{host}/{}/{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

/// An exclusive lock on `<database>.lock`, held for the daemon's life, so a
/// second daemon on the same SQLite file refuses to start.
#[derive(Debug)]
pub struct SqliteLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

/// The database file of a `sqlite://` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Why the SQLite lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another driftwatch daemon (pid {pid}) is serving {}\nSQLite allows one daemon per database file; stop it, or use PostgreSQL to run replicas", db.display())]
    Held { pid: String, db: PathBuf },
    #[error("cannot open lock file {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SqliteLock {
    pub fn acquire(db: &Path) -> Result<SqliteLock, LockError> {
        let path = PathBuf::from(format!("{}.lock", db.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Open {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                use std::io::Write;
                let _ = file.set_len(0);
                let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
                Ok(SqliteLock { _file: file, path })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path).unwrap_or_default();
                Err(LockError::Held {
                    pid: pid.trim().to_string(),
                    db: db.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => Err(LockError::Lock { path, source }),
        }
    }
}
