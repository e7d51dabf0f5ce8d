//! The stager: turns an upload (a zip plus resource-pool references) into a droplet, the
//! gzip'd tar a DEA runs: `startup` (see [`detect`]) and `app/` (the files). It runs inside the
//! upload request (v1's "old stager" staged inside the start request; see the differences in
//! the crate docs), on a blocking thread.
//!
//! Safety: every zip entry and resource `fn` must stay inside the app directory (no absolute
//! paths, no `..`); symbolic links are refused. The droplet is written deterministically
//! (fixed mtimes and modes), so the same bits give the same SHA-1.

pub mod detect;

use crate::blobs::{remove_any, Blobs};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Files in the pool larger than this are not kept (v1 kept files up to a configured size).
const MAX_POOLED_FILE: u64 = 16 << 20;

/// One entry of the upload's `resources` JSON (and of `POST /resources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// SHA-1 of the file.
    pub sha1: String,
    /// Size in bytes.
    pub size: u64,
    /// Path inside the app.
    #[serde(rename = "fn")]
    pub file_name: String,
}

/// The result of staging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// SHA-1 of the droplet tgz.
    pub sha1: String,
    /// Where the droplet is stored.
    pub path: PathBuf,
    /// Detected runtime.
    pub runtime: String,
    /// Detected framework.
    pub framework: String,
}

/// Why staging failed (answered as APP_STAGING_ERROR).
#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    /// The upload is not a zip.
    #[error("the application is not a valid zip file: {0}")]
    BadZip(#[from] zip::result::ZipError),
    /// An entry or resource would land outside the app directory.
    #[error("path escapes the application directory: {0:?}")]
    PathEscape(String),
    /// Symbolic links are not unpacked.
    #[error("symbolic links are not supported: {0:?}")]
    Symlink(String),
    /// A resource is not in the pool.
    #[error("resource {0} ({1}) is not in the resource pool")]
    MissingResource(String, String),
    /// No start command.
    #[error(transparent)]
    Detect(#[from] detect::DetectError),
    /// Disk trouble.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A relative path that stays inside its root, or `None`.
pub fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Stages an upload: unpack `zip` (if any) and the pooled `resources` into a scratch `app/`,
/// detect the start command, write the droplet, pool the files. The scratch dir is removed.
pub fn stage(
    blobs: &Blobs,
    zip: Option<&Path>,
    resources: &[ResourceRef],
) -> Result<Staged, StagingError> {
    let scratch = blobs.new_scratch();
    let result = stage_in(blobs, &scratch, zip, resources);
    let _ = remove_any(&scratch);
    result
}

fn stage_in(
    blobs: &Blobs,
    scratch: &Path,
    zip: Option<&Path>,
    resources: &[ResourceRef],
) -> Result<Staged, StagingError> {
    let app_dir = scratch.join("app");
    std::fs::create_dir_all(&app_dir)?;
    if let Some(zip) = zip {
        unzip(zip, &app_dir)?;
    }
    copy_resources(blobs, resources, &app_dir)?;
    let detected = detect::detect(&app_dir)?;
    let tgz = scratch.join("droplet.tgz");
    write_droplet(&tgz, &detect::startup_script(&detected), &app_dir)?;
    let sha1 = sha1_file(&tgz)?;
    let path = blobs.droplet(&sha1);
    std::fs::rename(&tgz, &path)?;
    pool_files(blobs, &app_dir)?;
    Ok(Staged {
        sha1,
        path,
        runtime: detected.runtime.to_owned(),
        framework: detected.framework.to_owned(),
    })
}

/// Unpacks `zip` into `dest`, refusing entries that escape it and symlinks.
fn unzip(zip: &Path, dest: &Path) -> Result<(), StagingError> {
    let mut archive = zip::ZipArchive::new(File::open(zip)?)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name().to_owned();
        let rel = safe_relative(&name).ok_or_else(|| StagingError::PathEscape(name.clone()))?;
        if entry.is_symlink() {
            return Err(StagingError::Symlink(name));
        }
        let target = dest.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = File::create(&target)?;
        io::copy(&mut entry, &mut out)?;
        if let Some(mode) = entry.unix_mode() {
            set_mode(&target, mode & 0o755)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o600))
}

/// Copies each pooled resource to its `fn` inside `dest`.
fn copy_resources(
    blobs: &Blobs,
    resources: &[ResourceRef],
    dest: &Path,
) -> Result<(), StagingError> {
    for r in resources {
        let rel = safe_relative(&r.file_name)
            .ok_or_else(|| StagingError::PathEscape(r.file_name.clone()))?;
        let missing = || StagingError::MissingResource(r.sha1.clone(), r.file_name.clone());
        let source = blobs
            .resource(&r.sha1)
            .filter(|p| p.is_file())
            .ok_or_else(missing)?;
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &target)?;
    }
    Ok(())
}

/// Writes the droplet: `startup` (0755) then `app/`, deterministic headers.
fn write_droplet(tgz: &Path, startup: &str, app_dir: &Path) -> io::Result<()> {
    let gz = GzEncoder::new(File::create(tgz)?, Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut header = tar::Header::new_gnu();
    header.set_size(startup.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(1_153_704_088);
    header.set_cksum();
    tar.append_data(&mut header, "startup", startup.as_bytes())?;
    tar.append_dir_all("app", app_dir)?;
    tar.into_inner()?.finish()?.sync_all()
}

/// Hex SHA-1 of a file.
pub fn sha1_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Adds every regular file under `dir` to the resource pool (by SHA-1).
fn pool_files(blobs: &Blobs, dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            pool_files(blobs, &path)?;
        } else if kind.is_file() && entry.metadata()?.len() <= MAX_POOLED_FILE {
            let Some(pooled) = blobs.resource(&sha1_file(&path)?) else {
                continue;
            };
            if !pooled.exists() {
                std::fs::copy(&path, &pooled)?;
            }
        }
    }
    Ok(())
}

/// The subset of `wanted` that the pool has (same SHA-1 and size): `POST /resources`.
pub fn known_resources(blobs: &Blobs, wanted: &[ResourceRef]) -> Vec<ResourceRef> {
    wanted
        .iter()
        .filter(|r| {
            blobs
                .resource(&r.sha1)
                .and_then(|p| std::fs::metadata(p).ok())
                .is_some_and(|m| m.is_file() && m.len() == r.size)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_relative_refuses_escapes() {
        assert_eq!(safe_relative("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(safe_relative("./a"), Some(PathBuf::from("a")));
        assert_eq!(safe_relative("../etc/passwd"), None);
        assert_eq!(safe_relative("a/../../x"), None);
        assert_eq!(safe_relative("/etc/passwd"), None);
        assert_eq!(safe_relative(""), None);
    }
}
