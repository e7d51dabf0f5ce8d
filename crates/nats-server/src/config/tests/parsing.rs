//! Tests of the configuration syntax (`syntax.rs`): separators and terminators, comments,
//! strings, numbers and sizes, maps and arrays, Go durations, variables and syntax errors.
//! Most go through a key the broker implements, to check the value as `Options` receive it.

use std::path::Path;
use std::time::Duration;

use super::{error, opts, s, value};
use crate::config::syntax::{parse_go_duration, Loc, Node, Parser, Value};
use crate::config::ConfigError;

#[test]
fn key_value_separators() {
    assert_eq!(opts("port: 4001").port, 4001);
    assert_eq!(opts("port = 4002").port, 4002);
    assert_eq!(opts("port 4003").port, 4003);
    assert_eq!(opts("port:4004").port, 4004);
    assert_eq!(opts("port=4005").port, 4005);
    assert_eq!(
        opts("port\n  4006").port,
        4006,
        "nats-server skips newlines after a key"
    );
}

#[test]
fn terminators_and_json_style() {
    let o = opts("port: 4001; server_name: a, debug: true");
    assert_eq!(
        (o.port, o.server_name.as_deref(), o.debug),
        (4001, Some("a"), true)
    );
    let o = opts("{ \"port\": 4002, \"server_name\": \"json\" }");
    assert_eq!((o.port, o.server_name.as_deref()), (4002, Some("json")));
    let o = opts("{\n  \"port\": 4003,\n  'trace': true\n}\n");
    assert_eq!((o.port, o.trace), (4003, true));
}

#[test]
fn keys_are_case_insensitive() {
    let o = opts("PORT: 4001\nServer_Name: x\nDEBUG: On");
    assert_eq!(
        (o.port, o.server_name.as_deref(), o.debug),
        (4001, Some("x"), true)
    );
}

#[test]
fn comments() {
    let text = "# leading\n// slashes\nport: 4001 # trailing\nserver_name: a#b // trailing\n\
                authorization {\n  # inside a map\n  user: u // after a value\n}\n\
                http: \"a#b//c:8222\"\n";
    let o = opts(text);
    assert_eq!(o.port, 4001);
    assert_eq!(
        o.server_name.as_deref(),
        Some("a#b"),
        "# inside a bare string is kept"
    );
    assert_eq!(o.auth.user.as_deref(), Some("u"));
    assert_eq!(o.http_host, "a#b//c");
}

#[test]
fn strings() {
    assert_eq!(value(r#""dq \t\x41\"\\ end""#), s("dq \tA\"\\ end"));
    assert_eq!(value(r"'sq \t \x41'"), s(r"sq \t \x41"));
    assert_eq!(value("\"two\nlines\""), s("two\nlines"));
    assert_eq!(value("bare # not a comment"), s("bare"));
    assert_eq!(value("a:b=c{d"), s("a:b=c{d"));
    assert_eq!(value(r"ab\tc"), s("ab\tc"));
    assert_eq!(value("\"$HOME\""), s("$HOME"), "no variables in quotes");
    assert_eq!(value("\"true\""), s("true"));
    assert_eq!(value("(\nline 1\nline 2\n)"), s("\nline 1\nline 2"));
}

#[test]
fn bare_strings_end_at_terminators() {
    assert_eq!(value("abc  "), s("abc"));
    assert_eq!(value("abc # comment"), s("abc"));
    assert_eq!(value("abc // comment"), s("abc"));
    assert_eq!(value("abc//x"), s("abc//x"));
    let o = opts("server_name: a,port: 1;debug: true\nlog_file: b}\n");
    assert_eq!(
        (o.server_name.as_deref(), o.port, o.debug),
        (Some("a"), 1, true)
    );
    assert_eq!(o.log_file.as_deref(), Some("b"));
    assert_eq!(
        value("ab' # c"),
        s("ab"),
        "a quote ends a bare string, as in nats-server"
    );
}

#[test]
fn string_syntax_errors() {
    let e = error("port: 4222\nserver_name: \"a\\qb\"");
    assert_eq!(e.line(), Some(2));
    assert!(
        e.to_string().contains("Invalid escape character 'q'"),
        "{e}"
    );
    assert!(error(r#"k: "bad \xZZ""#).to_string().contains("'ZZ'"));
    let e = error("port: 1\nserver_name: \"unterminated\n\n");
    assert!(matches!(e, ConfigError::Syntax { line: 4, .. }), "{e:?}");
    assert!(matches!(error("k: 'open"), ConfigError::Syntax { .. }));
    assert!(error("k: abc def").to_string().contains("got 'd'"));
    assert!(error("k: \"a\" \"b\"").to_string().contains("got '\"'"));
}

#[test]
fn booleans() {
    for (text, expected) in [
        ("true", true),
        ("TRUE", true),
        ("yes", true),
        ("On", true),
        ("false", false),
        ("no", false),
        ("OFF", false),
    ] {
        assert_eq!(value(text), Value::Bool(expected), "{text}");
    }
    assert_eq!(value("noway"), s("noway"));
}

#[test]
fn numbers_and_sizes() {
    let cases = [
        ("4222", 4222),
        ("017", 17),
        ("-5", -5),
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("64KB", 64 * 1024),
        ("1Ki", 1024),
        ("1KiB", 1024),
        ("1m", 1_000_000),
        ("1MB", 1 << 20),
        ("1MiB", 1 << 20),
        ("1g", 1_000_000_000),
        ("1GB", 1 << 30),
        ("2t", 2_000_000_000_000),
        ("1tb", 1 << 40),
        ("1pb", 1 << 50),
        ("1e", 1_000_000_000_000_000_000),
        ("-5k", -5000),
    ];
    for (text, expected) in cases {
        assert_eq!(value(text), Value::Int(expected), "{text}");
    }
}

#[test]
fn digit_strings_floats_addresses_dates() {
    assert_eq!(value("5s"), s("5s"), "nats-server 2.9 reads 5s as a string");
    assert_eq!(value("2m30s"), s("2m30s"));
    assert_eq!(value("1kk"), s("1kk"));
    assert_eq!(value("123abc"), s("123abc"));
    assert_eq!(value("12:30"), s("12:30"));
    assert_eq!(value("1.5"), Value::Float(1.5));
    assert_eq!(value("-0.25"), Value::Float(-0.25));
    assert_eq!(value("127.0.0.1:4222"), s("127.0.0.1:4222"));
    assert_eq!(value("10.0.0.1"), s("10.0.0.1"));
    let date = "2020-01-02T03:04:05Z";
    assert_eq!(value(date), Value::Date(date.to_string()));
}

#[test]
fn number_syntax_errors() {
    assert!(error("k: 9223372036854775808")
        .to_string()
        .contains("out of the range"));
    assert!(error("k: 10eb").to_string().contains("out of the range"));
    assert!(error("k: 1kbb").to_string().contains("invalid size suffix"));
    assert!(error("k: 1.").to_string().contains("digit after the '.'"));
    assert!(error("k: .5").to_string().contains("start with a digit"));
    assert!(error("k: 1.5s").to_string().contains("Invalid number"));
    assert!(error("k: 1.2.3.4abc")
        .to_string()
        .contains("Invalid number"));
    assert!(error("k: 2020-01-02").to_string().contains("Zulu"));
    assert!(error("k: -x").to_string().contains("Expected a digit"));
    assert!(error("k: -5s").to_string().contains("Invalid number"));
}

#[test]
fn maps_with_and_without_separator() {
    for text in [
        "authorization { user: a }",
        "authorization: { user: a }",
        "authorization = { user = a }",
        "authorization\n{\n  user a\n}",
        "authorization {user: a;}",
    ] {
        assert_eq!(opts(text).auth.user.as_deref(), Some("a"), "{text}");
    }
    let Value::Map(entries) = value("{ a: 1, b { c: [x] }, d = 'y'; e: true }") else {
        panic!("not a map");
    };
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "d", "e"]);
    assert!(matches!(
        error("k { a: 1 b: 2 }"),
        ConfigError::Syntax { .. }
    ));
    assert!(matches!(error("k { a: 1\n"), ConfigError::Syntax { .. }));
}

#[test]
fn arrays() {
    let expected = Value::Array(vec![]);
    assert_eq!(value("[]"), expected);
    let items = |v: Value| match v {
        Value::Array(items) => items.into_iter().map(|n| n.value).collect::<Vec<_>>(),
        other => panic!("not an array: {other:?}"),
    };
    let abc = vec![s("a"), s("b"), s("c")];
    assert_eq!(items(value("[a, b, c]")), abc);
    assert_eq!(items(value("[\n  a\n  b # comment\n  c,\n]")), abc);
    assert_eq!(items(value("[a,b\n// comment\n c]")), abc);
    assert_eq!(
        items(value("[1, \"two\", {x: 3}, [4]]")).len(),
        4,
        "mixed arrays"
    );
    assert!(error("k: [, a]")
        .to_string()
        .contains("Unexpected array value terminator"));
    assert!(error("k: [a b]")
        .to_string()
        .contains("array value terminator"));
    assert!(error("k: [a,\n").to_string().contains("EOF in array"));
}

#[test]
fn go_durations() {
    let ok = [
        ("0", 0),
        ("1ns", 1),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("2ms", 2_000_000),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("1h2m3s", 3_723_000_000_000),
        ("+1s", 1_000_000_000),
    ];
    for (text, nanos) in ok {
        assert_eq!(
            parse_go_duration(text),
            Ok(Duration::from_nanos(nanos)),
            "{text}"
        );
    }
    assert!(parse_go_duration("1").unwrap_err().contains("missing unit"));
    assert!(parse_go_duration("1d")
        .unwrap_err()
        .contains("unknown unit \"d\""));
    for bad in ["", "s", ".s", "1..5s", "-"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn variables() {
    let o = opts(
        "NAME: vname\nTOKEN = \"s3cr3t\"\nserver_name: $NAME\nauthorization { token: $TOKEN }",
    );
    assert_eq!(o.server_name.as_deref(), Some("vname"));
    assert_eq!(o.auth.token.as_deref(), Some("s3cr3t"));
    let o = opts("authorization {\n  PASS: pw\n  user: u\n  password: $PASS\n}");
    assert_eq!(
        o.auth.password.as_deref(),
        Some("pw"),
        "block-scoped variables"
    );
    assert_eq!(
        opts("P: 4999\nport: $P").port,
        4999,
        "variables keep their type"
    );
    let o = opts("authorization { password: $2a$11$abc, user: u }");
    assert_eq!(
        o.auth.password.as_deref(),
        Some("$2a$11$abc"),
        "bcrypt hashes are literal"
    );
}

#[test]
fn environment_variables() {
    let o = opts("server_name: $CARGO_MANIFEST_DIR");
    assert_eq!(o.server_name.as_deref(), Some(env!("CARGO_MANIFEST_DIR")));
    let parser = Parser::new("", None, Path::new(""), 0);
    let loc = Loc {
        file: None,
        line: 3,
    };
    let node = parser.env_value("P", "4333", loc.clone()).unwrap();
    assert_eq!(
        node,
        Node {
            value: Value::Int(4333),
            loc: loc.clone()
        }
    );
    assert!(parser.env_value("P", "[", loc).is_err());
}

#[test]
fn unknown_variable_is_an_error() {
    let e = error("port: 1\nserver_name: $CFSIM_SURELY_UNSET_VARIABLE");
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e:?}");
    assert!(e.to_string().contains("can not be found"));
}

#[test]
fn syntax_error_lines() {
    let cases = [
        ("port: 1\nserver_name:\n", 2),
        ("port: 1\n\nk: [a\n", 4),
        ("a: 1\nb { c: 1\n  d: 2 e }\n", 3),
        ("a: 1\n= 5\n", 2),
        ("a: 1\nb: 1.2.3.x\n", 2),
    ];
    for (text, line) in cases {
        let e = error(text);
        assert!(matches!(e, ConfigError::Syntax { .. }), "{text:?}: {e:?}");
        assert_eq!(e.line(), Some(line), "{text:?}: {e}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
}
