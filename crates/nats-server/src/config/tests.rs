//! Unit tests of the configuration reader, with the helpers they share.
//!
//! The tests are split like the code: `parsing.rs` covers the syntax (`syntax.rs`),
//! `keys.rs` the mapping of keys onto `Options` (`apply.rs`); this file covers the public
//! entry points end to end: files and `include`s, error reporting, all-or-nothing application
//! and whole example configurations.

mod keys;
mod parsing;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apply::apply_entries;
use super::syntax::{parse_text, Value};
use super::{apply, apply_file, apply_file_with_warnings, ConfigError};
use crate::options::Options;

/// Applies `text` to default options; returns them with the warnings.
fn load(text: &str) -> Result<(Options, Vec<String>), ConfigError> {
    let entries = parse_text(text, None, Path::new(""), 0)?;
    let mut opts = Options::default();
    let warnings = apply_entries(&mut opts, &entries)?;
    Ok((opts, warnings))
}

fn opts(text: &str) -> Options {
    load(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).0
}

fn warnings(text: &str) -> Vec<String> {
    load(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).1
}

fn error(text: &str) -> ConfigError {
    match load(text) {
        Ok(_) => panic!("{text:?} should be rejected"),
        Err(e) => e,
    }
}

/// The value of `k` in `k = <text>`.
fn value(text: &str) -> Value {
    let entries = parse_text(&format!("k = {text}"), None, Path::new(""), 0)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    entries[0].node.value.clone()
}

fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

/// A fresh directory for include tests.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cfsim-conf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn include_relative_to_the_including_file() {
    let dir = temp_dir("include");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/name.conf"), "server_name: included\n").unwrap();
    std::fs::write(
        dir.join("sub/auth.conf"),
        "include 'users.conf'\ntoken: t\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/users.conf"), "timeout: 7\n").unwrap();
    let main = "port: 4111\ninclude sub/name.conf\ndebug: true; include \"sub/name.conf\"\n\
                authorization {\n  include sub/auth.conf\n}\n";
    std::fs::write(dir.join("main.conf"), main).unwrap();
    let mut o = Options::default();
    apply_file(&mut o, &dir.join("main.conf")).unwrap();
    assert_eq!(
        (o.port, o.server_name.as_deref(), o.debug),
        (4111, Some("included"), true)
    );
    assert_eq!(o.auth.token.as_deref(), Some("t"));
    assert_eq!(
        o.auth_timeout,
        Duration::from_secs(7),
        "nested include, relative to sub/"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_errors_name_the_file() {
    let dir = temp_dir("include-errors");
    std::fs::write(dir.join("bad.conf"), "# comment\nport: 1\nbogus: 2\n").unwrap();
    std::fs::write(dir.join("main.conf"), "port: 2\ninclude bad.conf\n").unwrap();
    std::fs::write(dir.join("missing.conf"), "port: 2\n\ninclude nope.conf\n").unwrap();
    std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
    let mut o = Options::default();
    let e = apply_file(&mut o, &dir.join("main.conf")).unwrap_err();
    let expected = format!(
        "{}: unknown field \"bogus\"",
        dir.join("bad.conf:3").display()
    );
    assert_eq!(e.to_string(), expected);
    assert_eq!(e.line(), Some(3));
    let e = apply_file(&mut o, &dir.join("missing.conf")).unwrap_err();
    assert_eq!(e.line(), Some(3));
    assert!(e.to_string().contains("include: cannot read"), "{e}");
    assert!(e
        .to_string()
        .starts_with(&dir.join("missing.conf:3").display().to_string()));
    let e = apply_file(&mut o, &dir.join("loop.conf")).unwrap_err();
    assert!(e.to_string().contains("nested too deeply"), "{e}");
    assert_eq!(
        o.port,
        Options::default().port,
        "failed files change nothing"
    );
    assert!(matches!(error("include \"\n"), ConfigError::Syntax { .. }));
    assert!(error("include [a]")
        .to_string()
        .contains("start of an array"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn apply_file_reports_io_and_located_errors() {
    let dir = temp_dir("apply-file");
    let missing = dir.join("missing.conf");
    let e = apply_file(&mut Options::default(), &missing).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Io { path, .. } if *path == missing),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some());
    let path = dir.join("x.conf");
    std::fs::write(&path, "port: 1\nport: \"x\"\n").unwrap();
    let e = apply_file(&mut Options::default(), &path).unwrap_err();
    let expected = format!(
        "{}:2: port: expected an integer, got string \"x\"",
        path.display()
    );
    assert_eq!(e.to_string(), expected);
    std::fs::write(&path, "port: 4333\ncluster { port: 6222 }\n").unwrap();
    let mut o = Options::default();
    let warnings = apply_file_with_warnings(&mut o, &path).unwrap();
    assert_eq!(o.port, 4333);
    let expected = format!(
        "{}:2: \"cluster\" ignored: not supported by the bundled broker",
        path.display()
    );
    assert_eq!(warnings, [expected]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn apply_is_all_or_nothing() {
    let mut o = Options::ephemeral();
    let before = format!("{o:?}");
    assert!(apply(&mut o, "port: 4999\nserver_name: x\nbogus: 1").is_err());
    assert_eq!(format!("{o:?}"), before);
    apply(&mut o, "port: 4999\nserver_name: x").unwrap();
    assert_eq!((o.port, o.server_name.as_deref()), (4999, Some("x")));
    assert_eq!(o.host, "127.0.0.1", "keys not in the file keep their value");
}

/// The 3-node clustering example of NATS-REFERENCE §6, one node's file.
#[test]
fn clustering_example() {
    let text = "port: 4222\n\ncluster {\n  name: prod\n  listen: 0.0.0.0:6222\n  \
                routes: [nats://n1:6222, nats://n2:6222, nats://n3:6222]\n}\n";
    let (o, w) = load(text).unwrap();
    assert_eq!(o.port, 4222);
    assert_eq!(
        w,
        ["line 3: \"cluster\" ignored: not supported by the bundled broker"]
    );
}

/// A full configuration in the style of the nats-server documentation.
#[test]
fn realistic_full_config() {
    let text = r#"
# Client port of 4222 on all interfaces
listen: 0.0.0.0:4242

# HTTP monitoring port
http: "127.0.0.1:8222"
server_name: "dev-nats"

# Limits
max_connections: 1000
max_control_line: 2KB
max_payload: 2MB
max_pending: 32MB
ping_interval: "1m"
ping_max: 3
write_deadline: "2s"

debug:   false
trace:   false
logtime: true
log_file: "/tmp/nats-server.log"
pid_file: "/tmp/nats-server.pid"

authorization {
  ADMIN_PASS: "pAss"
  users = [
    {user: admin,  password: $ADMIN_PASS}
    {user: client, password: "c1ient", permissions: {publish: "req.>", subscribe: "_INBOX.>"}}
  ]
  timeout: 2.5
}

tls {
  cert_file: "./certs/server.pem"
  key_file:  "./certs/server-key.pem"
  timeout:   2
}

jetstream {
  store_dir: "/tmp/js"
  max_mem: 1G
  max_file: 10G
}

cluster {
  name: "dev"
  listen: 0.0.0.0:6222
  authorization { user: route, password: r0ute, timeout: 0.5 }
  routes = [
    nats-route://route:r0ute@127.0.0.1:6223
  ]
}
"#;
    let (o, w) = load(text).unwrap();
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4242));
    assert_eq!(
        (o.http_host.as_str(), o.http_port),
        ("127.0.0.1", Some(8222))
    );
    assert_eq!(o.server_name.as_deref(), Some("dev-nats"));
    assert_eq!(o.max_connections, 1000);
    assert_eq!(o.max_control_line, 2048);
    assert_eq!(o.max_payload, 2 << 20);
    assert_eq!(o.max_pending, 32 << 20);
    assert_eq!(o.ping_interval, Duration::from_secs(60));
    assert_eq!(o.ping_max, 3);
    assert_eq!(o.write_deadline, Duration::from_secs(2));
    assert!(!o.debug && !o.trace);
    assert_eq!(o.log_file.as_deref(), Some("/tmp/nats-server.log"));
    assert_eq!(o.pid_file.as_deref(), Some("/tmp/nats-server.pid"));
    let users: Vec<(&str, &str)> = o
        .auth
        .users
        .iter()
        .map(|u| (u.user.as_str(), u.password.as_str()))
        .collect();
    assert_eq!(users, [("admin", "pAss"), ("client", "c1ient")]);
    assert_eq!(o.auth_timeout, Duration::from_millis(2500));
    let ignored: Vec<&str> = w.iter().filter_map(|w| w.split('"').nth(1)).collect();
    assert_eq!(
        ignored,
        [
            "logtime",
            "authorization.users.permissions",
            "tls",
            "jetstream",
            "cluster"
        ]
    );
}

#[test]
fn error_display() {
    let e = ConfigError::Syntax {
        line: 4,
        message: "boom".into(),
    };
    assert_eq!(e.to_string(), "line 4: boom");
    let e = ConfigError::InFile {
        path: PathBuf::from("a.conf"),
        source: Box::new(ConfigError::BadValue {
            line: 2,
            key: "port".into(),
            message: "bad".into(),
        }),
    };
    assert_eq!(e.to_string(), "a.conf:2: port: bad");
    let nested = ConfigError::InFile {
        path: PathBuf::from("outer.conf"),
        source: Box::new(e),
    };
    assert_eq!(
        nested.to_string(),
        "a.conf:2: port: bad",
        "the innermost file is named"
    );
}
