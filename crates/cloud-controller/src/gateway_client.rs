//! The CC's client of a service gateway's HTTP API (reference §7.3; v1
//! `ServiceGatewayClient`): provision, unprovision, bind and unbind, each a JSON request to
//! the offering's `url` with `Content-Type: application/json` and the offering's token in
//! `X-VCAP-Service-Token`, bounded by the offering's `timeout`. Any answer but a 200 with the
//! expected body is a [`GatewayCallError`], which the REST API reports as v1's
//! SERVICE_GATEWAY_ERROR (503 / HTTP 502).

use crate::error::CloudError;
use crate::store::services::Offering;
use cfsim_messages::{
    encode, GatewayBindRequest, GatewayBindResponse, GatewayError, GatewayProvisionRequest,
    GatewayProvisionResponse, GatewayUnbindRequest, SERVICE_TOKEN_HEADER,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// How long a gateway call may take when the offering names no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayCallError {
    /// The request could not be sent, timed out, or its answer could not be read.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The gateway answered a status other than 200; `error` is its body when it was one.
    #[error("status {status}{}", error.as_ref().map(|e| format!(": {} (code {})", e.description, e.code)).unwrap_or_default())]
    Status {
        /// The HTTP status.
        status: u16,
        /// The gateway's `{code, description}`.
        error: Option<GatewayError>,
    },
    /// A 200 whose body is not the expected reply.
    #[error("bad reply: {0}")]
    Decode(#[from] serde_json::Error),
}

impl From<GatewayCallError> for CloudError {
    fn from(e: GatewayCallError) -> Self {
        tracing::warn!(error = %e, "service gateway call failed");
        CloudError::gateway(e)
    }
}

/// Where one offering's gateway is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Gateway {
    base: String,
    token: String,
    timeout: Duration,
}

impl Gateway {
    /// The gateway of `offering`.
    pub fn of(offering: &Offering) -> Gateway {
        Gateway {
            base: offering.url.trim_end_matches('/').to_owned(),
            token: offering.token.clone(),
            timeout: offering
                .timeout
                .filter(|t| *t > 0)
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
        }
    }
}

/// The HTTP client shared by every gateway call.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
}

impl GatewayClient {
    /// Calls through `http` (the CC's client, its User-Agent the CC's connection name).
    pub fn new(http: reqwest::Client) -> GatewayClient {
        GatewayClient { http }
    }

    /// `POST /gateway/v1/configurations`.
    pub async fn provision(
        &self,
        gw: &Gateway,
        request: &GatewayProvisionRequest,
    ) -> Result<GatewayProvisionResponse, GatewayCallError> {
        let path = "/gateway/v1/configurations";
        self.call(gw, Method::POST, path, Some(request)).await
    }

    /// `DELETE /gateway/v1/configurations/:service_id`.
    pub async fn unprovision(
        &self,
        gw: &Gateway,
        service_id: &str,
    ) -> Result<(), GatewayCallError> {
        let path = format!("/gateway/v1/configurations/{service_id}");
        let _: serde_json::Value = self.call(gw, Method::DELETE, &path, None::<&()>).await?;
        Ok(())
    }

    /// `POST /gateway/v1/configurations/:service_id/handles`.
    pub async fn bind(
        &self,
        gw: &Gateway,
        request: &GatewayBindRequest,
    ) -> Result<GatewayBindResponse, GatewayCallError> {
        let path = format!("/gateway/v1/configurations/{}/handles", request.service_id);
        self.call(gw, Method::POST, &path, Some(request)).await
    }

    /// `DELETE /gateway/v1/configurations/:service_id/handles/:handle_id`.
    pub async fn unbind(
        &self,
        gw: &Gateway,
        request: &GatewayUnbindRequest,
    ) -> Result<(), GatewayCallError> {
        let path = format!(
            "/gateway/v1/configurations/{}/handles/{}",
            request.service_id, request.handle_id
        );
        let _: serde_json::Value = self.call(gw, Method::DELETE, &path, Some(request)).await?;
        Ok(())
    }

    /// One call: JSON body (if any), both headers, the timeout; 200 + decodable body or an
    /// error.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        gw: &Gateway,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, GatewayCallError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", gw.base))
            .header(CONTENT_TYPE, "application/json")
            .header(SERVICE_TOKEN_HEADER, &gw.token)
            .timeout(gw.timeout);
        if let Some(body) = body {
            request = request.body(encode(body)?);
        }
        tracing::debug!(%method, url = %format!("{}{path}", gw.base), "gateway call");
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status != StatusCode::OK {
            let error = serde_json::from_slice(&bytes).ok();
            return Err(GatewayCallError::Status {
                status: status.as_u16(),
                error,
            });
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}
