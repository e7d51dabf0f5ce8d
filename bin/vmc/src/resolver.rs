//! Name resolution for the client: `localhost` and every `*.localhost` name go to
//! 127.0.0.1 without asking DNS (RFC 6761 reserves them for loopback, but not every system
//! resolver knows the wildcard), so `api.localhost` and `hello.localhost` reach the router
//! on any machine. Other names go to the system resolver.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Maps `*.localhost` to 127.0.0.1 and delegates the rest to the system resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalhostResolver;

/// Whether `host` is `localhost` or a name under it (case-insensitive, trailing dot allowed).
pub fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

impl Resolve for LocalhostResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if is_localhost(&host) {
                let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
                let addrs: Addrs = Box::new(std::iter::once(loopback));
                return Ok(addrs);
            }
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    async fn resolve(host: &str) -> Vec<SocketAddr> {
        LocalhostResolver
            .resolve(Name::from_str(host).unwrap())
            .await
            .unwrap()
            .collect()
    }

    #[test]
    fn recognises_localhost_names() {
        assert!(is_localhost("localhost"));
        assert!(is_localhost("api.localhost"));
        assert!(is_localhost("Hello.App.LOCALHOST."));
        assert!(!is_localhost("localhost.example.com"));
        assert!(!is_localhost("notlocalhost"));
    }

    #[tokio::test]
    async fn any_localhost_name_is_loopback() {
        let addrs = resolve("hello.localhost").await;
        assert_eq!(addrs, vec!["127.0.0.1:0".parse().unwrap()]);
    }

    #[tokio::test]
    async fn ip_literals_and_other_names_are_delegated() {
        let addrs = resolve("127.0.0.2").await;
        assert_eq!(addrs[0].ip().to_string(), "127.0.0.2");
    }

    #[tokio::test]
    async fn client_reaches_a_localhost_name_on_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                headers["host"].to_str().unwrap().to_owned()
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(LocalhostResolver))
            .build()
            .unwrap();
        let body = client
            .get(format!("http://myapp.localhost:{port}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, format!("myapp.localhost:{port}"));
    }
}
