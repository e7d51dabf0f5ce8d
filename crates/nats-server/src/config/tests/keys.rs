//! Tests of the mapping of keys onto `Options` (`apply.rs`): each implemented key with its
//! aliases, defaults and range checks, `authorization` and its `users`, and the handling of
//! unknown and unsupported keys.

use std::time::Duration;

use super::{error, load, opts, warnings};
use crate::config::ConfigError;
use crate::options::{Options, DEFAULT_PORT};

#[test]
fn listen() {
    let o = opts("listen: 127.0.0.1:4333");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    let o = opts("listen: \"localhost:4334\"");
    assert_eq!((o.host.as_str(), o.port), ("localhost", 4334));
    let o = opts("listen: localhost:-1");
    assert_eq!((o.host.as_str(), o.port), ("localhost", 0));
    let o = opts("host: 10.1.1.1\nlisten: 4335");
    assert_eq!(
        (o.host.as_str(), o.port),
        ("0.0.0.0", 4335),
        "a bare port resets the host"
    );
    let o = opts("listen: \":4336\"");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4336));
    let o = opts("listen: \"[::1]:4337\"");
    assert_eq!((o.host.as_str(), o.port), ("::1", 4337));
    let e = error("port: 1\nlisten: \"localhost\"");
    assert_eq!(e.line(), Some(2));
    assert!(
        e.to_string().contains("could not parse address string"),
        "{e}"
    );
    assert!(error("listen: \"h:x\"")
        .to_string()
        .contains("could not parse port"));
    assert!(error("listen: \"a:b:1\"")
        .to_string()
        .contains("could not parse address"));
    assert!(error("listen: \"h:70000\"")
        .to_string()
        .contains("out of range"));
    assert!(error("listen: true")
        .to_string()
        .contains("expected port or host:port"));
}

#[test]
fn port_and_host() {
    assert_eq!(opts("port: -1").port, 0, "-1 means a random port");
    assert_eq!(opts("port: 0").port, DEFAULT_PORT);
    assert_eq!(opts("port: 65535").port, 65535);
    assert!(error("port: 70000").to_string().contains("out of range"));
    assert!(error("port: -2").to_string().contains("out of range"));
    assert!(error("port: \"4222\"")
        .to_string()
        .contains("expected an integer"));
    assert_eq!(opts("host: 127.0.0.1").host, "127.0.0.1");
    assert_eq!(opts("net: \"::1\"").host, "::1");
    assert!(error("host: 5").to_string().contains("expected a string"));
}

#[test]
fn monitoring() {
    let o = opts("http: \"127.0.0.1:8222\"");
    assert_eq!(
        (o.http_host.as_str(), o.http_port),
        ("127.0.0.1", Some(8222))
    );
    let o = opts("http: localhost:8222");
    assert_eq!(
        (o.http_host.as_str(), o.http_port),
        ("localhost", Some(8222))
    );
    assert_eq!(opts("http_port: 8223").http_port, Some(8223));
    assert_eq!(opts("monitor_port: 8224").http_port, Some(8224));
    assert_eq!(
        opts("http_port: -1").http_port,
        Some(0),
        "-1 means a random port"
    );
    assert_eq!(
        opts("http_port: 0").http_port,
        None,
        "0 means no monitoring"
    );
    assert_eq!(opts("http: 8225").http_port, Some(8225));
    assert!(error("http_port: 65536")
        .to_string()
        .contains("out of range"));
}

#[test]
fn monitor_host_follows_client_host() {
    let o = opts("listen: 127.0.0.1:-1\nhttp: 8222");
    assert_eq!(
        o.http_host, "127.0.0.1",
        "as nats-server: the monitor binds the client host"
    );
    let o = opts("host: 127.0.0.2\nhttp_port: 8222");
    assert_eq!(o.http_host, "127.0.0.2");
    let o = opts("host: 127.0.0.2\nhttp: \"127.0.0.3:8222\"");
    assert_eq!(o.http_host, "127.0.0.3");
    let o = opts("host: 127.0.0.2\nhttp_host: 127.0.0.4\nhttp_port: 8222");
    assert_eq!(o.http_host, "127.0.0.4");
    assert_eq!(opts("port: 1").http_host, Options::default().http_host);
}

#[test]
fn names_and_files() {
    let o = opts("server_name: \"n 1\"\nlog_file: /tmp/n.log\npid_file: '/tmp/n.pid'");
    assert_eq!(o.server_name.as_deref(), Some("n 1"));
    assert_eq!(o.log_file.as_deref(), Some("/tmp/n.log"));
    assert_eq!(o.pid_file.as_deref(), Some("/tmp/n.pid"));
    let o = opts("logfile: a.log\npidfile: a.pid");
    assert_eq!(
        (o.log_file.as_deref(), o.pid_file.as_deref()),
        (Some("a.log"), Some("a.pid"))
    );
    assert_eq!(opts("server_name: \"\"").server_name, None);
}

#[test]
fn debug_and_trace() {
    let o = opts("debug: true\ntrace: yes");
    assert!(o.debug && o.trace);
    let o = opts("debug: off\ntrace: false");
    assert!(!o.debug && !o.trace);
    assert!(opts("trace_verbose: true").trace);
    assert!(error("debug: 1").to_string().contains("expected a boolean"));
    assert!(error("debug: \"true\"")
        .to_string()
        .contains("expected a boolean"));
}

#[test]
fn limits() {
    let o =
        opts("max_payload: 2MB\nmax_control_line: 8KB\nmax_pending: 128MB\nmax_connections: 100");
    assert_eq!(o.max_payload, 2 << 20);
    assert_eq!(o.max_control_line, 8 << 10);
    assert_eq!(o.max_pending, 128 << 20);
    assert_eq!(o.max_connections, 100);
    assert_eq!(opts("max_conn: 7").max_connections, 7);
    assert_eq!(opts("max_connections: -1").max_connections, usize::MAX);
    let d = Options::default();
    let o = opts("max_payload: 0\nmax_control_line: 0\nmax_pending: 0\nmax_connections: 0");
    assert_eq!(
        (
            o.max_payload,
            o.max_control_line,
            o.max_pending,
            o.max_connections
        ),
        (
            d.max_payload,
            d.max_control_line,
            d.max_pending,
            d.max_connections
        ),
        "0 means the default"
    );
    assert!(error("max_payload: -1").to_string().contains("negative"));
    assert!(error("max_control_line: 3GB")
        .to_string()
        .contains("too big"));
    assert!(error("max_payload: 1.5")
        .to_string()
        .contains("expected an integer"));
}

#[test]
fn max_payload_is_bounded_by_max_pending() {
    let e = error("port: 1\nmax_payload: 100MB");
    assert!(matches!(&e, ConfigError::BadValue { line: 2, .. }), "{e:?}");
    assert!(
        e.to_string().contains(
            "line 2: max_payload: value 104857600 cannot be higher than max_pending (67108864)"
        ),
        "{e}"
    );
    assert_eq!(
        opts("max_payload: 100MB\nmax_pending: 200MB").max_payload,
        100 << 20
    );
    assert!(matches!(
        error("max_pending: 1\nport: 2"),
        ConfigError::BadValue { line: 1, .. }
    ));
    let w = warnings("max_payload: 9MB");
    assert!(w.iter().any(|w| w.contains("over 8.00 MB")), "{w:?}");
    assert!(warnings("max_payload: 8MB").is_empty());
}

#[test]
fn durations() {
    assert_eq!(
        opts("ping_interval: \"2s\"").ping_interval,
        Duration::from_secs(2)
    );
    assert_eq!(
        opts("ping_interval: \"1m\"").ping_interval,
        Duration::from_secs(60)
    );
    assert_eq!(
        opts("ping_interval: 500ms").ping_interval,
        Duration::from_millis(500)
    );
    assert_eq!(
        opts("ping_interval: 2m30s").ping_interval,
        Duration::from_secs(150)
    );
    assert_eq!(
        opts("write_deadline: \"1.5s\"").write_deadline,
        Duration::from_millis(1500)
    );
    assert_eq!(
        opts("write_deadline: 5s").write_deadline,
        Duration::from_secs(5)
    );
    let d = Options::default();
    assert_eq!(opts("ping_interval: \"0s\"").ping_interval, d.ping_interval);
    assert!(error("ping_interval: \"abc\"")
        .to_string()
        .contains("invalid duration"));
    assert!(error("ping_interval: \"-1s\"")
        .to_string()
        .contains("negative"));
    assert!(error("write_deadline: 1.5")
        .to_string()
        .contains("expected a duration"));
}

#[test]
fn integer_durations_are_seconds_with_a_warning() {
    let (o, w) = load("ping_interval: 5\nwrite_deadline: 3").unwrap();
    assert_eq!(o.ping_interval, Duration::from_secs(5));
    assert_eq!(o.write_deadline, Duration::from_secs(3));
    assert_eq!(w.len(), 2);
    assert!(w[0].starts_with("line 1: ping_interval should be converted to a duration"));
    // As in nats-server, a bare 2m is the size 2,000,000, hence that many seconds.
    let (o, w) = load("ping_interval: 2m").unwrap();
    assert_eq!(o.ping_interval, Duration::from_secs(2_000_000));
    assert_eq!(w.len(), 1);
    assert!(error("ping_interval: -5").to_string().contains("negative"));
}

#[test]
fn ping_max() {
    assert_eq!(opts("ping_max: 5").ping_max, 5);
    assert_eq!(opts("ping_max: 0").ping_max, Options::default().ping_max);
    assert!(error("ping_max: -1").to_string().contains("negative"));
    assert!(error("ping_max: 5000000000")
        .to_string()
        .contains("too big"));
}

#[test]
fn authorization_single_user() {
    let o = opts("authorization {\n  user: alice\n  password: \"s3cr#t\"\n  timeout: 3\n}");
    assert_eq!(o.auth.user.as_deref(), Some("alice"));
    assert_eq!(o.auth.password.as_deref(), Some("s3cr#t"));
    assert_eq!(o.auth_timeout, Duration::from_secs(3));
    assert!(o.auth.required());
    let o = opts("authorization: { username = bob; pass = pw; timeout: 0.5 }");
    assert_eq!(
        (o.auth.user.as_deref(), o.auth.password.as_deref()),
        (Some("bob"), Some("pw"))
    );
    assert_eq!(o.auth_timeout, Duration::from_millis(500));
    let o = opts("authorization { token: \"t0k\" }");
    assert_eq!(o.auth.token.as_deref(), Some("t0k"));
    assert_eq!(o.auth_timeout, Options::default().auth_timeout);
    assert_eq!(
        opts("authorization { timeout: \"4s\" }").auth_timeout,
        Duration::from_secs(4)
    );
    assert!(error("authorization { timeout: -1 }")
        .to_string()
        .contains("invalid timeout"));
    assert!(!opts("authorization {}").auth.required());
}

#[test]
fn authorization_users_list() {
    let text = "authorization {\n  users = [\n    {user: alice, password: pw1}\n    \
                {user: \"bob\", pass: 'pw2'},\n    { username = carol }\n  ]\n  timeout: 1\n}";
    let o = opts(text);
    let users: Vec<(&str, &str)> = o
        .auth
        .users
        .iter()
        .map(|u| (u.user.as_str(), u.password.as_str()))
        .collect();
    assert_eq!(users, [("alice", "pw1"), ("bob", "pw2"), ("carol", "")]);
    assert!(o.auth.required());
    assert!(!opts("authorization { users: [] }").auth.required());
}

#[test]
fn authorization_errors() {
    let cases = [
        (
            "authorization { user: a, password: b, token: t }",
            "Cannot have a user/pass and token",
        ),
        (
            "authorization { user: a, users: [{user: b, password: c}] }",
            "single user/pass and a users",
        ),
        (
            "authorization { token: t, users: [] }",
            "token and a users array",
        ),
        (
            "authorization { users: [{user: b, password: c}, {user: b}] }",
            "Duplicate user \"b\"",
        ),
        (
            "authorization { users: [{password: c}] }",
            "requires a user",
        ),
        ("authorization { users: [alice] }", "expected a user entry"),
        (
            "authorization { users: {user: a} }",
            "expected an array of users",
        ),
        (
            "authorization { users: [{nkey: UABC}] }",
            "nkey users are not supported",
        ),
        ("authorization: 5", "expected a map"),
    ];
    for (text, message) in cases {
        let e = error(text);
        assert!(e.to_string().contains(message), "{text}: {e}");
    }
    let e = error("port: 1\nauthorization {\n  user: a\n  foo: 1\n}");
    assert!(
        matches!(&e, ConfigError::UnknownField { line: 4, key } if key == "foo"),
        "{e:?}"
    );
    let e = error("authorization {\n users: [\n  {user: b, password: c, zzz: 1}\n ]\n}");
    assert!(
        matches!(&e, ConfigError::UnknownField { line: 3, key } if key == "zzz"),
        "{e:?}"
    );
}

#[test]
fn authorization_warnings() {
    let text =
        "authorization {\n  users: [{user: a, password: b, permissions: {publish: \"x\"}}]\n  \
                default_permissions: { subscribe: \">\" }\n}";
    let (o, w) = load(text).unwrap();
    assert_eq!(o.auth.users.len(), 1);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("\"authorization.users.permissions\" ignored"),
        "{w:?}"
    );
    assert!(w[1].starts_with("line 3: \"authorization.default_permissions\" ignored"));
    let w = warnings("authorization { user: a, password: \"$2a$11$abcdefghijklmnopqrstuv\" }");
    assert!(w[0].contains("bcrypt"), "{w:?}");
    let w = warnings("authorization { password: p }");
    assert!(w[0].contains("password without a user"), "{w:?}");
}

#[test]
fn authorization_replaces_previous_auth() {
    let o = opts("authorization { user: a, password: b }\nauthorization { token: t }");
    assert_eq!(o.auth.user, None);
    assert_eq!(o.auth.token.as_deref(), Some("t"));
}

#[test]
fn unknown_fields_are_errors_with_line() {
    let e = error("port: 4222\n\nfoo: bar\n");
    assert!(
        matches!(&e, ConfigError::UnknownField { line: 3, key } if key == "foo"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "line 3: unknown field \"foo\"");
    assert!(matches!(
        error("max_pending_size: 1"),
        ConfigError::UnknownField { .. }
    ));
    assert!(matches!(
        error("include: x.conf"),
        ConfigError::UnknownField { .. }
    ));
}

#[test]
fn unsupported_keys_are_warned_and_ignored() {
    let text = "port: 4222\ncluster { name: c, listen: 0.0.0.0:6222 }\njetstream: enabled\n\
                tls { cert_file: a.pem, key_file: a.key }\naccounts { A: { users: [{user: x}] } }\n\
                leafnodes { port: 7422 }\ngateway { name: g }\nwebsocket { port: 8080 }\n\
                mqtt { port: 1883 }\nsystem_account: SYS\nlogtime: false\nsyslog: true\n";
    let (o, w) = load(text).unwrap();
    assert_eq!(o.port, 4222);
    assert_eq!(w.len(), 11, "{w:?}");
    assert_eq!(
        w[0],
        "line 2: \"cluster\" ignored: not supported by the bundled broker"
    );
    assert!(w
        .iter()
        .all(|w| w.contains("not supported by the bundled broker")));
}
