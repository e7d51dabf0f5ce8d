//! The two JSON documents of the handshake: the server's INFO and the client's CONNECT.
//!
//! Field names and their order follow nats-server (`server.go` `Info`, `client.go`
//! `ClientOpts`), because clients parse INFO and users compare it with nats-server's.

use serde::{Deserialize, Serialize};

/// The INFO a client gets on accept. Fields in nats-server's serialisation order.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    pub max_payload: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// cfsim only: the subject of the flow tap (`$CFSIM.flow`); clients ignore unknown fields,
    /// and flow tools read it to tell the bundled broker from another NATS server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_tap: Option<String>,
}

impl Info {
    /// The wire form, `INFO {json} \r\n` (nats-server puts a space before the CRLF).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = b"INFO ".to_vec();
        serde_json::to_writer(&mut line, self).expect("INFO serialises");
        line.extend_from_slice(b" \r\n");
        line
    }
}

/// What a client says in CONNECT. Omitted `verbose`, `pedantic` and `echo` default to true,
/// as in nats-server (the JSON is read over defaults that set them).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Connect {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub auth_token: Option<String>,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub account: Option<serde_json::Value>,
    pub new_account: Option<serde_json::Value>,
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            user: None,
            pass: None,
            auth_token: None,
            name: None,
            lang: None,
            version: None,
            account: None,
            new_account: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_flags_default_to_true() {
        let c: Connect = serde_json::from_str("{}").unwrap();
        assert!(c.verbose && c.pedantic && c.echo);
        let c: Connect = serde_json::from_str(r#"{"verbose":false}"#).unwrap();
        assert!(!c.verbose && c.pedantic);
    }

    #[test]
    fn async_nats_connect_with_nulls_is_accepted() {
        let json = r#"{"verbose":false,"pedantic":false,"jwt":null,"nkey":null,"sig":null,"name":null,"echo":true,"lang":"rust","version":"0.51.0","protocol":1,"tls_required":false,"user":null,"pass":null,"auth_token":null,"headers":true,"no_responders":true}"#;
        let c: Connect = serde_json::from_str(json).unwrap();
        assert!(c.headers && c.no_responders && !c.verbose);
        assert_eq!(c.protocol, 1);
    }

    #[test]
    fn info_line_has_a_space_before_crlf() {
        let info = Info {
            server_id: "N1".into(),
            server_name: "N1".into(),
            version: "2.10.0".into(),
            proto: 1,
            go: "rust".into(),
            host: "127.0.0.1".into(),
            port: 4222,
            headers: true,
            auth_required: false,
            max_payload: 1048576,
            client_id: Some(3),
            client_ip: Some("127.0.0.1".into()),
            flow_tap: None,
        };
        let line = String::from_utf8(info.to_line()).unwrap();
        assert!(line.starts_with(
            r#"INFO {"server_id":"N1","server_name":"N1","version":"2.10.0","proto":1"#
        ));
        assert!(line.ends_with("} \r\n"));
        assert!(!line.contains("auth_required"));
    }
}
