//! Safe unpacking of a droplet (gzip'd tar) into an instance directory.
//!
//! A droplet comes over the network, so nothing in it may write outside the instance dir:
//! absolute paths, `..` components, symlinks or hard links whose target leaves the dir, and
//! device/fifo entries are refused and the whole unpack fails (reference §4.2 step 7, plus the
//! path checks v1's `tar -xzf` left to GNU tar).

use flate2::read::GzDecoder;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use tar::{Archive, EntryType};

/// Why a droplet could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Reading the archive or writing a file failed.
    #[error("unpack droplet: {0}")]
    Io(#[from] std::io::Error),
    /// An entry's path is absolute or climbs out of the directory.
    #[error("droplet entry {0:?} escapes the instance directory")]
    PathEscape(PathBuf),
    /// A link entry points outside the directory.
    #[error("droplet link {path:?} -> {target:?} escapes the instance directory")]
    LinkEscape { path: PathBuf, target: PathBuf },
    /// A device, fifo or other special entry.
    #[error("droplet entry {0:?} has an unsupported type")]
    Unsupported(PathBuf),
}

/// Unpacks the tar.gz at `archive` into `dir` (created if missing).
pub fn unpack_file(archive: &Path, dir: &Path) -> Result<(), UnpackError> {
    unpack(File::open(archive)?, dir)
}

/// Unpacks a tar.gz stream into `dir` (created if missing), refusing any escape.
pub fn unpack<R: Read>(reader: R, dir: &Path) -> Result<(), UnpackError> {
    std::fs::create_dir_all(dir)?;
    let mut archive = Archive::new(GzDecoder::new(reader));
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let relative = checked_relative(&path)?;
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Directory | EntryType::Continuous => {}
            EntryType::Symlink | EntryType::Link => {
                let target = entry
                    .link_name()?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                check_link(&relative, &target, entry.header().entry_type())?;
            }
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            _ => return Err(UnpackError::Unsupported(path)),
        }
        if relative.as_os_str().is_empty() {
            continue;
        }
        // `unpack_in` also refuses to write through a symlink that leaves `dir`.
        if !entry.unpack_in(dir)? {
            return Err(UnpackError::PathEscape(path));
        }
    }
    Ok(())
}

/// The entry path with `.` components removed; an error if absolute or containing `..`.
fn checked_relative(path: &Path) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::PathEscape(path.to_owned()))
            }
        }
    }
    Ok(out)
}

/// A symlink target is relative to the link's own directory; a hard-link target to the root.
/// Either must stay inside the directory when resolved lexically.
fn check_link(link: &Path, target: &Path, kind: EntryType) -> Result<(), UnpackError> {
    let escape = || UnpackError::LinkEscape {
        path: link.to_owned(),
        target: target.to_owned(),
    };
    if target.is_absolute() {
        return Err(escape());
    }
    let mut depth: Vec<&std::ffi::OsStr> = Vec::new();
    if kind == EntryType::Symlink {
        if let Some(parent) = link.parent() {
            depth.extend(parent.components().map(|c| c.as_os_str()));
        }
    }
    for component in target.components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return Err(escape());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use tar::{Builder, Header};

    fn tgz(build: impl FnOnce(&mut Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
        let mut builder = Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        build(&mut builder);
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn file_header(size: usize) -> Header {
        let mut h = Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o755);
        h.set_entry_type(EntryType::Regular);
        h
    }

    /// Writes a raw path into the header, bypassing the builder's own `..` checks.
    fn raw_path_entry(b: &mut Builder<GzEncoder<Vec<u8>>>, path: &str, data: &[u8]) {
        let mut h = file_header(data.len());
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn link_entry(b: &mut Builder<GzEncoder<Vec<u8>>>, kind: EntryType, path: &str, to: &str) {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        b.append_link(&mut h, path, to).unwrap();
    }

    #[test]
    fn a_normal_droplet_unpacks_with_its_modes() {
        let data = tgz(|b| {
            b.append_data(&mut file_header(10), "startup", &b"#!/bin/sh\n"[..])
                .unwrap();
            b.append_data(&mut file_header(2), "app/app.py", &b"x\n"[..])
                .unwrap();
            link_entry(b, EntryType::Symlink, "app/link", "app.py");
        });
        let dir = tempfile::tempdir().unwrap();
        unpack(&data[..], dir.path()).unwrap();
        let startup = dir.path().join("startup");
        assert_eq!(std::fs::read(&startup).unwrap(), b"#!/bin/sh\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&startup).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(std::fs::read(dir.path().join("app/link")).unwrap(), b"x\n");
    }

    #[test]
    fn parent_dir_paths_are_refused() {
        let data = tgz(|b| raw_path_entry(b, "../evil", b"x"));
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inst");
        let err = unpack(&data[..], &inner).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape(_)), "{err}");
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn absolute_paths_are_refused() {
        let data = tgz(|b| raw_path_entry(b, "/tmp/cfsim-evil-abs", b"x"));
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&data[..], dir.path()).unwrap_err();
        assert!(matches!(err, UnpackError::PathEscape(_)), "{err}");
    }

    #[test]
    fn escaping_links_are_refused() {
        for (kind, target) in [
            (EntryType::Symlink, "/etc/passwd"),
            (EntryType::Symlink, "../../outside"),
            (EntryType::Link, "../outside"),
        ] {
            let data = tgz(|b| link_entry(b, kind, "app/link", target));
            let dir = tempfile::tempdir().unwrap();
            let err = unpack(&data[..], dir.path()).unwrap_err();
            assert!(matches!(err, UnpackError::LinkEscape { .. }), "{err}");
        }
    }

    #[test]
    fn link_resolution_is_lexical_from_the_link_dir() {
        assert!(check_link(Path::new("a/b/l"), Path::new("../x"), EntryType::Symlink).is_ok());
        assert!(check_link(Path::new("a/l"), Path::new("../../x"), EntryType::Symlink).is_err());
        assert!(check_link(Path::new("a/l"), Path::new("a/x"), EntryType::Link).is_ok());
    }
}
