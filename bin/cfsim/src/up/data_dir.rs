//! The data directory of `cfsim up`: its default location (`$XDG_DATA_HOME/cfsim`, else
//! `~/.local/share/cfsim`), the per-component sub-directories, and the admin password,
//! generated once and kept in `admin_password` (mode 0600) so a restart keeps the login.

use cfsim_component::identity::secure_uuid;
use std::path::{Path, PathBuf};

/// The admin's email (the CC creates the account at start).
pub const ADMIN_EMAIL: &str = "admin@localhost";

/// The file holding the admin password.
pub const ADMIN_PASSWORD_FILE: &str = "admin_password";

/// The default data directory from the environment (`XDG_DATA_HOME`, then `HOME`).
pub fn default_dir_from(env: impl Fn(&str) -> Option<String>) -> PathBuf {
    let set = |key: &str| env(key).filter(|v| !v.is_empty());
    if let Some(xdg) = set("XDG_DATA_HOME") {
        return Path::new(&xdg).join("cfsim");
    }
    match set("HOME") {
        Some(home) => Path::new(&home).join(".local/share/cfsim"),
        None => std::env::temp_dir().join("cfsim"),
    }
}

/// The default data directory of this process.
pub fn default_dir() -> PathBuf {
    default_dir_from(|k| std::env::var(k).ok())
}

/// The admin password stored in `dir`, created (random, 0600) the first time.
pub fn admin_password(dir: &Path) -> std::io::Result<String> {
    let path = dir.join(ADMIN_PASSWORD_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let password = secure_uuid()[..20].to_owned();
    write_private(&path, password.as_bytes())?;
    Ok(password)
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dir_follows_xdg_then_home() {
        let xdg = |k: &str| (k == "XDG_DATA_HOME").then(|| "/x".to_owned());
        assert_eq!(default_dir_from(xdg), PathBuf::from("/x/cfsim"));
        let home = |k: &str| (k == "HOME").then(|| "/h".to_owned());
        assert_eq!(
            default_dir_from(home),
            PathBuf::from("/h/.local/share/cfsim")
        );
    }

    #[test]
    fn admin_password_is_generated_once() {
        let dir = std::env::temp_dir().join(format!("cfsim-up-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = admin_password(&dir).unwrap();
        assert_eq!(first.len(), 20);
        assert_eq!(admin_password(&dir).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.join(ADMIN_PASSWORD_FILE)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
