//! Where vmc keeps the target and the tokens: `config.json` in `$VMC_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/vmc`, else `~/.config/vmc` (vmc v1 used `~/.vmc_target` and
//! `~/.vmc_token`; one JSON file in the XDG directory is the modern equivalent). The file is
//! written with mode 0600 because it holds bearer tokens; one token is kept per target.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name inside the config directory.
pub const FILE_NAME: &str = "config.json";

/// A login saved for one target.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Login {
    pub email: String,
    pub token: String,
}

/// What is saved.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Saved {
    /// The current target (the CC's URL).
    pub target: Option<String>,
    /// Target URL → login.
    pub tokens: BTreeMap<String, Login>,
}

impl Saved {
    /// The current target's login, if any.
    pub fn login(&self) -> Option<&Login> {
        self.target.as_ref().and_then(|t| self.tokens.get(t))
    }
}

/// The config directory from the environment (`VMC_CONFIG_DIR`, `XDG_CONFIG_HOME`, `HOME`).
pub fn config_dir_from(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |key: &str| env(key).filter(|v| !v.is_empty());
    if let Some(dir) = set("VMC_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = set("XDG_CONFIG_HOME") {
        return Some(Path::new(&xdg).join("vmc"));
    }
    set("HOME").map(|home| Path::new(&home).join(".config").join("vmc"))
}

/// The config directory of this process.
pub fn config_dir() -> Result<PathBuf, Error> {
    config_dir_from(|k| std::env::var(k).ok()).ok_or_else(|| Error::Config {
        path: PathBuf::from("~/.config/vmc"),
        message: "set HOME, XDG_CONFIG_HOME or VMC_CONFIG_DIR".into(),
    })
}

/// The config file in a directory.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
}

impl ConfigStore {
    /// The store in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        ConfigStore {
            path: dir.join(FILE_NAME),
        }
    }

    /// The store of this process's config directory.
    pub fn default_location() -> Result<Self, Error> {
        Ok(Self::in_dir(&config_dir()?))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file; a missing file is an empty config.
    pub fn load(&self) -> Result<Saved, Error> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| self.error(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Writes the file (0600), creating the directory.
    pub fn save(&self, saved: &Saved) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
        }
        let text = serde_json::to_string_pretty(saved).map_err(|e| self.error(e))?;
        let tmp = self.path.with_extension("json.tmp");
        write_private(&tmp, text.as_bytes()).map_err(|e| self.error(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.error(e))
    }

    /// Loads, applies `change`, saves.
    pub fn update(&self, change: impl FnOnce(&mut Saved)) -> Result<Saved, Error> {
        let mut saved = self.load()?;
        change(&mut saved);
        self.save(&saved)?;
        Ok(saved)
    }

    fn error(&self, e: impl std::fmt::Display) -> Error {
        Error::Config {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn vmc_config_dir_wins_then_xdg_then_home() {
        let all = [
            ("VMC_CONFIG_DIR", "/v"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(config_dir_from(env(&all)), Some(PathBuf::from("/v")));
        assert_eq!(
            config_dir_from(env(&all[1..])),
            Some(PathBuf::from("/x/vmc"))
        );
        assert_eq!(
            config_dir_from(env(&all[2..])),
            Some(PathBuf::from("/h/.config/vmc"))
        );
        assert_eq!(config_dir_from(env(&[("XDG_CONFIG_HOME", "")])), None);
    }

    #[test]
    fn target_and_tokens_persist_per_target() {
        let dir = std::env::temp_dir().join(format!("vmc-config-test-{}", std::process::id()));
        let store = ConfigStore::in_dir(&dir);
        assert_eq!(store.load().unwrap(), Saved::default());
        store
            .update(|s| {
                s.target = Some("http://api.localhost:1".into());
                s.tokens.insert(
                    "http://api.localhost:1".into(),
                    Login {
                        email: "a@b".into(),
                        token: "t".into(),
                    },
                );
            })
            .unwrap();
        let saved = store.load().unwrap();
        assert_eq!(saved.login().unwrap().token, "t");
        store
            .update(|s| s.target = Some("http://other".into()))
            .unwrap();
        assert!(store.load().unwrap().login().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_a_config_error() {
        let dir = std::env::temp_dir().join(format!("vmc-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), "{not json").unwrap();
        let err = ConfigStore::in_dir(&dir).load().unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
