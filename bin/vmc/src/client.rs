//! The typed client of the cloud controller's v1 REST API (CF-V1-REFERENCE §8). The token
//! goes raw in `Authorization` (no scheme), as v1 did; a CC error body becomes
//! [`Error::Cloud`]. Redirects are not followed (`POST /apps` answers 302 with a JSON body),
//! and `*.localhost` names resolve to loopback ([`crate::resolver`]). Services are vmc v1's
//! legacy calls: the catalogue (`GET /info/services`), the user's instances (`/services`),
//! and binding by rewriting the app's `services` list with `PUT /apps/:name`.

use crate::error::Error;
use crate::resolver::LocalhostResolver;
use crate::types::{
    App, AppStats, AppUpdate, CloudError, Crashes, Info, Instances, NewApp, NewService,
    ProvisionedService, ServiceCatalogue, Token,
};
use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Size of the chunks an upload is streamed in (the progress granularity).
pub const UPLOAD_CHUNK: usize = 64 * 1024;

/// A client for one target.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    target: String,
    token: Option<String>,
}

/// vmc's User-Agent: `vmc/<version>` (the flow tools name vmc by its product token).
pub const USER_AGENT: &str = concat!("vmc/", env!("CARGO_PKG_VERSION"));

/// The HTTP client vmc uses everywhere: `*.localhost` on loopback, no redirects, bounded
/// connect time, [`USER_AGENT`].
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .dns_resolver(Arc::new(LocalhostResolver))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("build the HTTP client")
}

/// `api.localhost:8081` → `http://api.localhost:8081`; no trailing slash.
pub fn normalize_target(target: &str) -> String {
    let target = target.trim().trim_end_matches('/');
    if target.starts_with("http://") || target.starts_with("https://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    }
}

impl Client {
    /// A client of `target` (the CC's URL), with a token or not.
    pub fn new(target: &str, token: Option<String>) -> Client {
        Client {
            http: http_client(),
            target: normalize_target(target),
            token,
        }
    }

    /// The target URL.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The token, if logged in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Uses `token` from now on.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The underlying HTTP client (resolves `*.localhost`), to reach apps through the router.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Info, Error> {
        self.json(Method::GET, "/info").await
    }

    /// `POST /users {email, password}`.
    pub async fn create_user(&self, email: &str, password: &str) -> Result<(), Error> {
        let body = serde_json::json!({ "email": email, "password": password });
        self.send(self.request(Method::POST, "/users").json(&body))
            .await
            .map(drop)
    }

    /// `POST /users/:email/tokens {password}` → the token (also kept by this client).
    pub async fn login(&mut self, email: &str, password: &str) -> Result<String, Error> {
        let path = format!("/users/{email}/tokens");
        let body = serde_json::json!({ "password": password });
        let reply = self
            .send(self.request(Method::POST, &path).json(&body))
            .await?;
        let token: Token = decode(reply, &path).await?;
        self.token = Some(token.token.clone());
        Ok(token.token)
    }

    /// `GET /apps`.
    pub async fn apps(&self) -> Result<Vec<App>, Error> {
        self.json(Method::GET, "/apps").await
    }

    /// `GET /apps/:name`.
    pub async fn app(&self, name: &str) -> Result<App, Error> {
        self.json(Method::GET, &format!("/apps/{name}")).await
    }

    /// `POST /apps` (the CC answers 302 with a JSON body).
    pub async fn create_app(&self, app: &NewApp) -> Result<(), Error> {
        self.send(self.request(Method::POST, "/apps").json(app))
            .await
            .map(drop)
    }

    /// `PUT /apps/:name` with the fields that change.
    pub async fn update_app(&self, name: &str, update: &AppUpdate) -> Result<(), Error> {
        let path = format!("/apps/{name}");
        self.send(self.request(Method::PUT, &path).json(update))
            .await
            .map(drop)
    }

    /// `DELETE /apps/:name`.
    pub async fn delete_app(&self, name: &str) -> Result<(), Error> {
        let path = format!("/apps/{name}");
        self.send(self.request(Method::DELETE, &path))
            .await
            .map(drop)
    }

    /// Uploads the zipped bits as vmc did: `POST /apps/:name/application`, multipart
    /// `_method=put`, `resources=[]` (no resource matching) and `application=<zip>`.
    /// `progress(sent, total)` is called as the body is streamed.
    pub async fn upload(
        &self,
        name: &str,
        zip: Vec<u8>,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<(), Error> {
        let total = zip.len() as u64;
        let body = progress_body(Bytes::from(zip), progress);
        let part = Part::stream_with_length(body, total)
            .file_name("application.zip")
            .mime_str("application/zip")
            .expect("a valid mime type");
        let form = Form::new()
            .text("_method", "put")
            .text("resources", "[]")
            .part("application", part);
        let path = format!("/apps/{name}/application");
        self.send(self.request(Method::POST, &path).multipart(form))
            .await
            .map(drop)
    }

    /// `GET /apps/:name/instances`.
    pub async fn instances(&self, name: &str) -> Result<Instances, Error> {
        self.json(Method::GET, &format!("/apps/{name}/instances"))
            .await
    }

    /// `GET /apps/:name/stats`.
    pub async fn stats(&self, name: &str) -> Result<AppStats, Error> {
        self.json(Method::GET, &format!("/apps/{name}/stats")).await
    }

    /// `GET /apps/:name/crashes`.
    pub async fn crashes(&self, name: &str) -> Result<Crashes, Error> {
        self.json(Method::GET, &format!("/apps/{name}/crashes"))
            .await
    }

    /// `GET /apps/:name/instances/:instance/files/*path` as text (a file's content or a
    /// directory listing).
    pub async fn files(&self, name: &str, instance: &str, path: &str) -> Result<String, Error> {
        let path = match path.trim_start_matches('/') {
            "" => format!("/apps/{name}/instances/{instance}/files"),
            rest => format!("/apps/{name}/instances/{instance}/files/{rest}"),
        };
        let reply = self.send(self.request(Method::GET, &path)).await?;
        let url = reply.url().to_string();
        reply
            .text()
            .await
            .map_err(|source| Error::Http { url, source })
    }

    /// `GET /info/services`: the offerings to choose from.
    pub async fn services_info(&self) -> Result<ServiceCatalogue, Error> {
        self.json(Method::GET, "/info/services").await
    }

    /// `GET /services`: the user's provisioned services.
    pub async fn services(&self) -> Result<Vec<ProvisionedService>, Error> {
        self.json(Method::GET, "/services").await
    }

    /// `GET /services/:name`.
    pub async fn service(&self, name: &str) -> Result<ProvisionedService, Error> {
        self.json(Method::GET, &format!("/services/{name}")).await
    }

    /// Provisions an instance of `vendor` (e.g. `mysql`) called `name`: picks the offering
    /// from the catalogue, as vmc did, then `POST /services`.
    pub async fn create_service(&self, vendor: &str, name: &str) -> Result<(), Error> {
        let catalogue = self.services_info().await?;
        let new = service_choice(&catalogue, vendor, name).ok_or_else(|| {
            Error::Usage(format!("Service [{vendor}] is not a valid service choice"))
        })?;
        self.send(self.request(Method::POST, "/services").json(&new))
            .await
            .map(drop)
    }

    /// `DELETE /services/:name`.
    pub async fn delete_service(&self, name: &str) -> Result<(), Error> {
        let path = format!("/services/{name}");
        self.send(self.request(Method::DELETE, &path))
            .await
            .map(drop)
    }

    /// Binds service `name` to `app`: its `services` list plus `name`, with `PUT /apps/:app`.
    pub async fn bind_service(&self, name: &str, app: &str) -> Result<(), Error> {
        let current = self.app(app).await?;
        let mut services = current.services;
        if !services.iter().any(|s| s == name) {
            services.push(name.to_owned());
        }
        self.set_services(app, services).await
    }

    /// Unbinds service `name` from `app`: its `services` list without `name`.
    pub async fn unbind_service(&self, name: &str, app: &str) -> Result<(), Error> {
        let current = self.app(app).await?;
        if !current.services.iter().any(|s| s == name) {
            return Err(Error::Usage(format!(
                "Service [{name}] is not bound to [{app}]"
            )));
        }
        let services = current.services.into_iter().filter(|s| s != name).collect();
        self.set_services(app, services).await
    }

    async fn set_services(&self, app: &str, services: Vec<String>) -> Result<(), Error> {
        let update = AppUpdate {
            services: Some(services),
            ..Default::default()
        };
        self.update_app(app, &update).await
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{path}", self.target))
            .timeout(Duration::from_secs(60));
        match &self.token {
            Some(token) => builder.header(reqwest::header::AUTHORIZATION, token),
            None => builder,
        }
    }

    async fn json<T: DeserializeOwned>(&self, method: Method, path: &str) -> Result<T, Error> {
        let reply = self.send(self.request(method, path)).await?;
        decode(reply, path).await
    }

    /// Sends; 2xx and 302 are success, anything else becomes an error.
    async fn send(&self, builder: RequestBuilder) -> Result<Response, Error> {
        let request = builder.build().map_err(|source| Error::Http {
            url: self.target.clone(),
            source,
        })?;
        let url = request.url().to_string();
        let reply = self
            .http
            .execute(request)
            .await
            .map_err(|source| Error::Http {
                url: url.clone(),
                source,
            })?;
        let status = reply.status();
        if status.is_success() || status == StatusCode::FOUND {
            return Ok(reply);
        }
        let body = reply.text().await.unwrap_or_default();
        Err(error_from(status, url, &body))
    }
}

/// The `POST /services` body for an instance of `vendor` called `name`: the first offering
/// of that vendor in the catalogue (lowest version), plan `free` (vmc's `create_service`).
pub fn service_choice(
    catalogue: &ServiceCatalogue,
    vendor: &str,
    name: &str,
) -> Option<NewService> {
    catalogue.values().find_map(|vendors| {
        let (version, offering) = vendors.get(vendor)?.iter().next()?;
        Some(NewService {
            name: name.to_owned(),
            service_type: offering.service_type.clone(),
            vendor: vendor.to_owned(),
            version: version.clone(),
            tier: "free".to_owned(),
        })
    })
}

/// A CC error body becomes [`Error::Cloud`], anything else [`Error::Unexpected`].
pub fn error_from(status: StatusCode, url: String, body: &str) -> Error {
    match serde_json::from_str::<CloudError>(body) {
        Ok(e) => Error::Cloud {
            code: e.code,
            description: e.description,
            status: status.as_u16(),
        },
        Err(_) => Error::Unexpected {
            status: status.as_u16(),
            url,
            body: body.chars().take(200).collect(),
        },
    }
}

async fn decode<T: DeserializeOwned>(reply: Response, path: &str) -> Result<T, Error> {
    let url = reply.url().to_string();
    let bytes = reply.bytes().await.map_err(|source| Error::Http {
        url: url.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
        url: format!("{url} ({path})"),
        source,
    })
}

/// A request body that streams `bytes` in [`UPLOAD_CHUNK`]s and reports progress.
fn progress_body(
    bytes: Bytes,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> reqwest::Body {
    let total = bytes.len() as u64;
    let chunks: Vec<Bytes> = (0..bytes.len())
        .step_by(UPLOAD_CHUNK)
        .map(|start| bytes.slice(start..(start + UPLOAD_CHUNK).min(bytes.len())))
        .collect();
    let mut sent = 0u64;
    let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
        sent += chunk.len() as u64;
        progress(sent, total);
        Ok::<Bytes, std::io::Error>(chunk)
    }));
    reqwest::Body::wrap_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_user_agent_starts_with_vmc() {
        assert!(USER_AGENT.starts_with("vmc/"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                headers["user-agent"].to_str().unwrap().to_owned()
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let sent = http_client()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(sent, USER_AGENT);
    }

    #[test]
    fn targets_are_normalized() {
        assert_eq!(
            normalize_target("api.localhost:8081/"),
            "http://api.localhost:8081"
        );
        assert_eq!(normalize_target("https://x"), "https://x");
    }

    #[test]
    fn a_service_is_chosen_from_the_catalogue_by_vendor() {
        let catalogue: ServiceCatalogue = serde_json::from_str(
            r#"{"database":{"mysql":{"5.1":{"vendor":"mysql","version":"5.1","type":"database"}}},
                "key-value":{"redis":{"2.2":{"vendor":"redis","version":"2.2","type":"key-value"}}}}"#,
        )
        .unwrap();
        let new = service_choice(&catalogue, "mysql", "db").unwrap();
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            serde_json::json!({"name": "db", "type": "database", "vendor": "mysql",
                "version": "5.1", "tier": "free"})
        );
        assert_eq!(
            service_choice(&catalogue, "redis", "r").unwrap().version,
            "2.2"
        );
        assert!(service_choice(&catalogue, "mongodb", "m").is_none());
    }

    #[test]
    fn error_bodies_become_cloud_errors() {
        let e = error_from(
            StatusCode::NOT_FOUND,
            "u".into(),
            r#"{"code":301,"description":"App not found"}"#,
        );
        assert_eq!(e.to_string(), "Error 301: App not found");
        let e = error_from(StatusCode::BAD_GATEWAY, "u".into(), "nope");
        assert!(matches!(e, Error::Unexpected { status: 502, .. }));
    }
}
