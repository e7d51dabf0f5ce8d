//! The HTTP clients components use to call each other (the DEA fetching droplets, the health
//! manager reading the bulk API, the cloud controller calling gateways and DEA file servers,
//! the gateway calling the CC): reqwest clients whose User-Agent is the caller's connection
//! name (`dea-0`, `health_manager-0`, `cloud_controller-0`).
//!
//! The server side names its client by that User-Agent when it reports an HTTP hop (see
//! [`crate::http_hops::client_name`]), so a flow diagram shows which component called, not a
//! library name.

/// A client builder with the User-Agent set to `connection_name`; add timeouts and default
/// headers as needed.
pub fn builder(connection_name: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder().user_agent(connection_name)
}

/// A client with the User-Agent set to `connection_name` and reqwest's defaults otherwise.
///
/// Panics only where `reqwest::Client::new` would (no TLS backend is configured, so building
/// cannot fail in practice).
pub fn client(connection_name: &str) -> reqwest::Client {
    builder(connection_name)
        .build()
        .expect("an HTTP client without TLS builds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use axum::routing::get;

    #[tokio::test]
    async fn the_user_agent_is_the_connection_name() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            axum::Router::new().route(
                "/",
                get(|headers: HeaderMap| async move {
                    headers["user-agent"].to_str().unwrap().to_owned()
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let body = client("dea-0")
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "dea-0");
    }
}
