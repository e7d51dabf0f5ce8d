//! Runtime detection: which runtime and framework an uploaded app needs and the command that
//! starts it, from the files at the root of the app (first match wins):
//!
//! 1. `Procfile` with a `web:` line → runtime `sh`, framework `standalone`, that command;
//! 2. `package.json` → runtime `node`, framework `node`, `scripts.start` or else `main`
//!    (npm's default `index.js` when it exists);
//! 3. `app.py` → runtime `python3`, framework `standalone`;
//! 4. `wsgi.py` → runtime `python3`, framework `wsgi`, served by python's `wsgiref` (the module
//!    must define `application`).
//!
//! The start command is written into the droplet's `startup` with the literal
//! `%VCAP_LOCAL_RUNTIME%` that the DEA replaces by the runtime's executable.

use std::path::Path;

/// What the stager found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// `python3`, `node` or `sh`.
    pub runtime: &'static str,
    /// `standalone`, `wsgi` or `node`.
    pub framework: &'static str,
    /// The shell command `startup` execs (from inside `app/`).
    pub command: String,
}

/// Why no start command could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectError {
    /// None of the known files is there.
    #[error("no start command found: expected a Procfile with a 'web:' line, a package.json, an app.py or a wsgi.py at the root of the application")]
    NothingFound,
    /// `Procfile` exists but has no `web:` line.
    #[error("the Procfile has no 'web:' line")]
    NoWebProcess,
    /// `package.json` is not valid JSON.
    #[error("package.json is not valid JSON: {0}")]
    BadPackageJson(String),
    /// `package.json` has neither `scripts.start` nor `main` (and there is no index.js).
    #[error("package.json has no scripts.start and no main (and there is no index.js)")]
    NoNodeEntry,
}

const WSGI_SERVER: &str = "import os, sys; sys.path.insert(0, os.getcwd()); \
from wsgiref.simple_server import make_server; from wsgi import application; \
make_server(\"0.0.0.0\", int(os.environ[\"PORT\"]), application).serve_forever()";

/// Detects the runtime of the app unpacked in `app_dir`.
pub fn detect(app_dir: &Path) -> Result<Detected, DetectError> {
    if let Ok(procfile) = std::fs::read_to_string(app_dir.join("Procfile")) {
        return procfile_web(&procfile).map(|cmd| Detected {
            runtime: "sh",
            framework: "standalone",
            command: format!("%VCAP_LOCAL_RUNTIME% -c {}", sh_quote(&cmd)),
        });
    }
    if let Ok(text) = std::fs::read_to_string(app_dir.join("package.json")) {
        let has_index = app_dir.join("index.js").is_file();
        return node_command(&text, has_index).map(|command| Detected {
            runtime: "node",
            framework: "node",
            command,
        });
    }
    if app_dir.join("app.py").is_file() {
        return Ok(Detected {
            runtime: "python3",
            framework: "standalone",
            command: "%VCAP_LOCAL_RUNTIME% app.py".to_owned(),
        });
    }
    if app_dir.join("wsgi.py").is_file() {
        return Ok(Detected {
            runtime: "python3",
            framework: "wsgi",
            command: format!("%VCAP_LOCAL_RUNTIME% -c {}", sh_quote(WSGI_SERVER)),
        });
    }
    Err(DetectError::NothingFound)
}

/// The command of the Procfile's `web:` line.
fn procfile_web(procfile: &str) -> Result<String, DetectError> {
    procfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("web:"))
        .map(|cmd| cmd.trim().to_owned())
        .find(|cmd| !cmd.is_empty())
        .ok_or(DetectError::NoWebProcess)
}

/// The start command for a node app: `scripts.start` (a leading `node` becomes the runtime),
/// else `main`, else `index.js`.
fn node_command(package_json: &str, has_index: bool) -> Result<String, DetectError> {
    let doc: serde_json::Value = serde_json::from_str(package_json)
        .map_err(|e| DetectError::BadPackageJson(e.to_string()))?;
    if let Some(start) = doc["scripts"]["start"].as_str().map(str::trim) {
        if let Some(rest) = start.strip_prefix("node ") {
            return Ok(format!("%VCAP_LOCAL_RUNTIME% {}", rest.trim()));
        }
        if !start.is_empty() {
            return Ok(format!("/bin/sh -c {}", sh_quote(start)));
        }
    }
    let main = doc["main"]
        .as_str()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    match main {
        Some(main) => Ok(format!("%VCAP_LOCAL_RUNTIME% {}", sh_quote(main))),
        None if has_index => Ok("%VCAP_LOCAL_RUNTIME% index.js".to_owned()),
        None => Err(DetectError::NoNodeEntry),
    }
}

/// Single-quotes `s` for /bin/sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The droplet's `startup` script: take the port from `-p <port>` (as the DEA runs it) or the
/// environment, `cd app`, exec the command.
pub fn startup_script(d: &Detected) -> String {
    let python = if d.runtime == "python3" {
        "export PYTHONUNBUFFERED=1\n"
    } else {
        ""
    };
    format!(
        "#!/bin/sh\n\
         # Generated by the cfsim stager: runtime {runtime}, framework {framework}.\n\
         # The DEA replaces %VCAP_LOCAL_RUNTIME% with the runtime's executable and runs ./startup -p <port>.\n\
         if [ \"$1\" = \"-p\" ] && [ -n \"$2\" ]; then PORT=\"$2\"; fi\n\
         : \"${{PORT:=$VCAP_APP_PORT}}\"\n\
         : \"${{VCAP_APP_PORT:=$PORT}}\"\n\
         export PORT VCAP_APP_PORT\n\
         {python}cd app || exit 1\n\
         exec {command}\n",
        runtime = d.runtime,
        framework = d.framework,
        command = d.command,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        dir
    }

    #[test]
    fn app_py_is_standalone_python() {
        let d = detect(dir_with(&[("app.py", "print(1)")]).path()).unwrap();
        assert_eq!((d.runtime, d.framework), ("python3", "standalone"));
        assert_eq!(d.command, "%VCAP_LOCAL_RUNTIME% app.py");
    }

    #[test]
    fn wsgi_py_is_served_by_wsgiref() {
        let d = detect(dir_with(&[("wsgi.py", "def application(e, s): pass")]).path()).unwrap();
        assert_eq!((d.runtime, d.framework), ("python3", "wsgi"));
        assert!(d.command.contains("from wsgi import application"));
        assert!(d.command.starts_with("%VCAP_LOCAL_RUNTIME% -c '"));
    }

    #[test]
    fn package_json_uses_start_then_main_then_index() {
        let start = r#"{"scripts":{"start":"node server.js --x"}}"#;
        let d = detect(dir_with(&[("package.json", start)]).path()).unwrap();
        assert_eq!((d.runtime, d.framework), ("node", "node"));
        assert_eq!(d.command, "%VCAP_LOCAL_RUNTIME% server.js --x");
        let d = detect(dir_with(&[("package.json", r#"{"main":"lib/a.js"}"#)]).path()).unwrap();
        assert_eq!(d.command, "%VCAP_LOCAL_RUNTIME% 'lib/a.js'");
        let d = detect(dir_with(&[("package.json", "{}"), ("index.js", "")]).path()).unwrap();
        assert_eq!(d.command, "%VCAP_LOCAL_RUNTIME% index.js");
        let err = detect(dir_with(&[("package.json", "{}")]).path()).unwrap_err();
        assert_eq!(err, DetectError::NoNodeEntry);
        let err = detect(dir_with(&[("package.json", "{")]).path()).unwrap_err();
        assert!(matches!(err, DetectError::BadPackageJson(_)));
    }

    #[test]
    fn procfile_web_line_wins_and_runs_under_sh() {
        let files = [
            ("Procfile", "worker: x\nweb: ./serve --port $PORT\n"),
            ("app.py", ""),
        ];
        let d = detect(dir_with(&files).path()).unwrap();
        assert_eq!((d.runtime, d.framework), ("sh", "standalone"));
        assert_eq!(d.command, "%VCAP_LOCAL_RUNTIME% -c './serve --port $PORT'");
        let err = detect(dir_with(&[("Procfile", "worker: x\n")]).path()).unwrap_err();
        assert_eq!(err, DetectError::NoWebProcess);
    }

    #[test]
    fn nothing_known_is_a_clear_error() {
        let err = detect(dir_with(&[("README", "hi")]).path()).unwrap_err();
        assert!(err.to_string().contains("Procfile"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn startup_script_takes_the_port_and_execs_from_app() {
        let d = detect(dir_with(&[("app.py", "")]).path()).unwrap();
        let s = startup_script(&d);
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains("cd app"));
        assert!(s.contains("exec %VCAP_LOCAL_RUNTIME% app.py\n"));
        assert!(s.contains("PYTHONUNBUFFERED"));
    }
}
