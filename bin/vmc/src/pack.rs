//! Packs an app directory into the zip `vmc push` uploads, as vmc v1 did: the whole tree,
//! `.git` skipped, only regular files and directories (sockets, fifos and dangling links are
//! left out), unix permissions kept so scripts stay executable, and `.__empty__` added when
//! nothing is left so the archive is never empty. Entries are sorted, so the same tree always
//! gives the same bytes.

use crate::error::Error;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Directory names never uploaded.
pub const SKIPPED_DIRS: &[&str] = &[".git"];

/// The marker file of an otherwise empty upload.
pub const EMPTY_MARKER: &str = ".__empty__";

/// A packed app.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The zip archive.
    pub zip: Vec<u8>,
    /// The files it contains (relative paths, `/`-separated).
    pub files: Vec<String>,
}

/// Packs the directory `root`.
pub fn pack_dir(root: &Path) -> Result<Packed, Error> {
    let fail = |message: String| Error::Pack {
        path: root.to_owned(),
        message,
    };
    if !root.is_dir() {
        return Err(fail("not a directory".into()));
    }
    let mut files = Vec::new();
    collect(root, &mut files).map_err(|e| fail(e.to_string()))?;
    files.sort();
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let mut names = Vec::new();
    for path in &files {
        let name = relative_name(root, path);
        add_file(&mut writer, path, &name).map_err(|e| fail(format!("{name}: {e}")))?;
        names.push(name);
    }
    if names.is_empty() {
        writer
            .start_file(EMPTY_MARKER, SimpleFileOptions::default())
            .map_err(|e| fail(e.to_string()))?;
        names.push(EMPTY_MARKER.to_owned());
    }
    let zip = writer
        .finish()
        .map_err(|e| fail(e.to_string()))?
        .into_inner();
    Ok(Packed { zip, files: names })
}

/// Regular files under `dir` (following links to files, never into skipped directories).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let name = entry.file_name();
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                collect(&path, out)?;
            }
        } else if std::fs::metadata(&path)
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            out.push(path);
        }
    }
    Ok(())
}

fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn add_file(
    writer: &mut ZipWriter<Cursor<Vec<u8>>>,
    path: &Path,
    name: &str,
) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(file_mode(path));
    writer
        .start_file(name, options)
        .map_err(std::io::Error::other)?;
    writer.write_all(&bytes)
}

#[cfg(unix)]
fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> u32 {
    0o644
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vmc-pack-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(zip: &[u8]) -> Vec<(String, String, Option<u32>)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                let mut text = String::new();
                f.read_to_string(&mut text).unwrap();
                (f.name().to_owned(), text, f.unix_mode())
            })
            .collect()
    }

    #[test]
    fn packs_the_tree_without_git_and_keeps_modes() {
        let dir = temp_dir("tree");
        std::fs::write(dir.join("app.py"), "print(1)").unwrap();
        std::fs::create_dir_all(dir.join("lib/sub")).unwrap();
        std::fs::write(dir.join("lib/sub/x.txt"), "x").unwrap();
        std::fs::create_dir_all(dir.join(".git/objects")).unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(dir.join("run.sh"), "#!/bin/sh").unwrap();
            std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let packed = pack_dir(&dir).unwrap();
        let found = entries(&packed.zip);
        let names: Vec<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
        assert!(names.contains(&"app.py") && names.contains(&"lib/sub/x.txt"));
        assert!(!names.iter().any(|n| n.starts_with(".git")), "{names:?}");
        assert_eq!(
            found.iter().find(|e| e.0 == "app.py").unwrap().1,
            "print(1)"
        );
        #[cfg(unix)]
        {
            let mode = found.iter().find(|e| e.0 == "run.sh").unwrap().2.unwrap();
            assert_eq!(mode & 0o777, 0o755);
        }
        assert_eq!(pack_dir(&dir).unwrap().zip, packed.zip, "deterministic");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_tree_gets_the_marker() {
        let dir = temp_dir("empty");
        let packed = pack_dir(&dir).unwrap();
        assert_eq!(packed.files, vec![EMPTY_MARKER.to_owned()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let err = pack_dir(Path::new("/nonexistent/app")).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
