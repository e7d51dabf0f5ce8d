//! The app process: runtime lookup, `bind_local_runtime`, a free port, the launch of
//! `./startup -p <port>` in its own process group with stdout/stderr captured under `logs/`,
//! readiness by TCP connect, and killing the whole group (reference §4.2 steps 8-12).
//!
//! The process group is what makes "no orphan survives" hold: `startup` may fork (a shell
//! that does not `exec`, an app with workers), and killing `-pgid` reaches all of them.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The literal the stager writes into `startup` for the runtime's executable.
pub const LOCAL_RUNTIME_MARKER: &str = "%VCAP_LOCAL_RUNTIME%";

/// Why an instance could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The droplet has no `startup` script.
    #[error("droplet has no startup script")]
    NoStartup,
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> LaunchError {
    move |source| LaunchError::Io { what, source }
}

/// Resolves each configured runtime to an executable path; runtimes not found are dropped.
pub fn resolve_runtimes(configured: &BTreeMap<String, String>) -> BTreeMap<String, PathBuf> {
    configured
        .iter()
        .filter_map(|(name, exe)| match find_executable(exe) {
            Some(path) => Some((name.clone(), path)),
            None => {
                tracing::warn!(runtime = %name, executable = %exe, "runtime not found; not offered");
                None
            }
        })
        .collect()
}

/// An absolute path as is (if it exists), else the first match on `PATH`.
fn find_executable(exe: &str) -> Option<PathBuf> {
    let path = Path::new(exe);
    if path.is_absolute() || exe.contains('/') {
        return path.is_file().then(|| path.to_owned());
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .map(|dir| dir.join(exe))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `bind_local_runtime`: replaces the marker in `<dir>/startup` with the executable, then
/// makes the script read+execute only (0500), as v1 did.
pub fn bind_local_runtime(dir: &Path, executable: &Path) -> Result<(), LaunchError> {
    use std::os::unix::fs::PermissionsExt;
    let startup = dir.join("startup");
    if !startup.is_file() {
        return Err(LaunchError::NoStartup);
    }
    std::fs::set_permissions(&startup, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod startup"))?;
    let text = std::fs::read_to_string(&startup).map_err(io("read startup"))?;
    let bound = text.replace(LOCAL_RUNTIME_MARKER, &executable.display().to_string());
    std::fs::write(&startup, bound).map_err(io("write startup"))?;
    std::fs::set_permissions(&startup, std::fs::Permissions::from_mode(0o500))
        .map_err(io("chmod startup"))
}

/// A port nobody listens on now (bind to 0, read it, release it).
pub fn free_port(host: &str) -> Result<u16, LaunchError> {
    let listener = TcpListener::bind((host, 0)).map_err(io("grab a port"))?;
    Ok(listener.local_addr().map_err(io("grab a port"))?.port())
}

/// Launches `./startup -p <port>` in `dir`, in a new process group, with exactly `env` (plus
/// `PATH`), stdout/stderr appended to `logs/stdout.log` / `logs/stderr.log`, at most `fds`
/// open files (v1's `ulimit -n`), and SIGKILL as its parent-death signal so the app does not
/// outlive a DEA that is killed outright.
pub fn launch(
    dir: &Path,
    port: u16,
    env: &[(String, String)],
    fds: u64,
) -> Result<Child, LaunchError> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(io("create logs/"))?;
    let stdout = log_file(&logs.join("stdout.log"))?;
    let stderr = log_file(&logs.join("stderr.log"))?;
    let mut command = Command::new("./startup");
    command
        .arg("-p")
        .arg(port.to_string())
        .current_dir(dir)
        .env_clear()
        .envs(std::env::var_os("PATH").map(|p| (std::ffi::OsString::from("PATH"), p)))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    let fds = fds as libc::rlim_t;
    // SAFETY: the closure runs in the forked child before exec and only makes two
    // async-signal-safe system calls (prctl, setrlimit) on values computed before the fork.
    unsafe {
        command.pre_exec(move || child_limits(fds));
    }
    command.spawn().map_err(io("spawn startup"))
}

/// In the child between fork and exec: die with the DEA, cap open files (soft limit).
fn child_limits(fds: libc::rlim_t) -> std::io::Result<()> {
    // SAFETY: plain system calls with scalar arguments and a pointer to a local struct.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if fds > 0 && libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = fds.min(limit.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

fn log_file(path: &Path) -> Result<std::fs::File, LaunchError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io("open log file"))
}

/// Sends SIGKILL to every process of the group. Returns whether any process received it.
pub fn kill_group(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names the process
    // group `pgid`, which the DEA created for this instance (pgid > 1 checked above).
    unsafe { libc::kill(-pgid, libc::SIGKILL) == 0 }
}

/// Polls a TCP connect to `addr` every `poll` until it succeeds (true) or `timeout` passes.
pub async fn wait_for_port(addr: SocketAddr, poll: Duration, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_millis(250),
            tokio::net::TcpStream::connect(addr),
        );
        if let Ok(Ok(_)) = attempt.await {
            return true;
        }
        if tokio::time::Instant::now() + poll > deadline {
            return false;
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_resolve_on_path_and_missing_ones_are_dropped() {
        let mut configured = BTreeMap::new();
        configured.insert("sh".to_owned(), "sh".to_owned());
        configured.insert("abs".to_owned(), "/bin/sh".to_owned());
        configured.insert("nope".to_owned(), "cfsim-no-such-runtime".to_owned());
        let resolved = resolve_runtimes(&configured);
        assert!(resolved["sh"].is_absolute());
        assert_eq!(resolved["abs"], PathBuf::from("/bin/sh"));
        assert!(!resolved.contains_key("nope"));
    }

    #[test]
    fn bind_local_runtime_replaces_the_marker() {
        let dir = tempfile::tempdir().unwrap();
        let startup = dir.path().join("startup");
        std::fs::write(&startup, "cd app\nexec %VCAP_LOCAL_RUNTIME% app.py $@\n").unwrap();
        bind_local_runtime(dir.path(), Path::new("/usr/bin/python3")).unwrap();
        let text = std::fs::read_to_string(&startup).unwrap();
        assert_eq!(text, "cd app\nexec /usr/bin/python3 app.py $@\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&startup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o500);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            bind_local_runtime(empty.path(), Path::new("/bin/sh")),
            Err(LaunchError::NoStartup)
        ));
    }

    #[tokio::test]
    async fn readiness_gives_up_after_the_timeout() {
        let port = free_port("127.0.0.1").unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let ok = wait_for_port(addr, Duration::from_millis(10), Duration::from_millis(50)).await;
        assert!(!ok);
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let ok = wait_for_port(addr, Duration::from_millis(10), Duration::from_millis(50)).await;
        assert!(ok);
        drop(listener);
    }
}
