//! The blob directory under `data_dir/blobs`: droplets (`droplets/<sha1>.tgz`, content
//! addressed, so the `executableFile` path and the download URL both name the SHA-1), uploads
//! in flight (`uploads/`), the resource pool (`resources/<sha1>`, files vmc need not re-send)
//! and scratch space for staging (`tmp/`).

use std::io;
use std::path::{Path, PathBuf};

/// Paths inside the blob directory.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

impl Blobs {
    /// Creates the directory layout under `root`.
    pub fn open(root: PathBuf) -> io::Result<Blobs> {
        for sub in ["droplets", "uploads", "resources", "tmp"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        // Scratch left by a crash mid-staging is garbage.
        for sub in ["uploads", "tmp"] {
            for entry in std::fs::read_dir(root.join(sub))?.flatten() {
                let _ = remove_any(&entry.path());
            }
        }
        Ok(Blobs { root })
    }

    /// `droplets/<sha1>.tgz`.
    pub fn droplet(&self, sha1: &str) -> PathBuf {
        self.root.join("droplets").join(format!("{sha1}.tgz"))
    }

    /// A fresh path for an upload being received.
    pub fn new_upload(&self) -> PathBuf {
        self.root
            .join("uploads")
            .join(format!("{}.zip", uuid::Uuid::new_v4().simple()))
    }

    /// A fresh scratch directory path (not created).
    pub fn new_scratch(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// `resources/<sha1>` when `sha1` is a plausible SHA-1 (40 hex chars).
    pub fn resource(&self, sha1: &str) -> Option<PathBuf> {
        let valid = sha1.len() == 40 && sha1.chars().all(|c| c.is_ascii_hexdigit());
        valid.then(|| self.root.join("resources").join(sha1.to_ascii_lowercase()))
    }
}

/// Removes a file or a directory tree.
pub fn remove_any(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}
