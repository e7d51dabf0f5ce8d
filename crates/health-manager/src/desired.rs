//! Desired state from the cloud controller's bulk API, as HM v2 read it (CF-V1-REFERENCE §5,
//! §6.7): v1's HM read the CC's database directly, which cfsim's components may not do (they
//! meet only on the wire).
//!
//! `GET {url}/bulk/apps?batch_size=N&bulk_token={"id":LAST}` with HTTP basic auth, paged until
//! a page has no results. The credentials come from the NATS request
//! `cloudcontroller.bulk.credentials`; they are cached, and fetched again after a 401 (the CC
//! may have restarted with a new password). One app is read with `batch_size=1` and
//! `bulk_token={"id":<id-1>}`, checking the returned id. Its User-Agent is the HM's connection
//! name, so the CC's flow hops name the health manager.

use cfsim_messages::{
    decode, encode, BulkApp, BulkAppsPage, BulkCredentials, BulkToken,
    CLOUDCONTROLLER_BULK_CREDENTIALS, EMPTY_BODY,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Why desired state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// `cloudcontroller.bulk.credentials` got no (timely) answer.
    #[error("cloudcontroller.bulk.credentials: {0}")]
    Credentials(String),
    /// The credentials reply did not decode.
    #[error("bad cloudcontroller.bulk.credentials reply: {0}")]
    BadCredentials(serde_json::Error),
    /// The HTTP call failed.
    #[error("GET /bulk/apps: {0}")]
    Http(#[from] reqwest::Error),
    /// The bulk API refused the credentials even after fetching them again.
    #[error("GET /bulk/apps: 401 even with fresh credentials")]
    Unauthorized,
    /// Any other status.
    #[error("GET /bulk/apps: HTTP {0}")]
    Status(u16),
    /// The page did not decode.
    #[error("bad /bulk/apps page: {0}")]
    BadPage(serde_json::Error),
    /// The page's `bulk_token` did not move forward.
    #[error("/bulk/apps paging stuck at id {0}")]
    Stuck(u64),
}

/// A client of the bulk API (cheap to clone; the credential cache is shared).
#[derive(Clone)]
pub struct BulkClient {
    http: reqwest::Client,
    nats: async_nats::Client,
    url: String,
    batch_size: u32,
    timeout: Duration,
    credentials: Arc<Mutex<Option<BulkCredentials>>>,
}

impl BulkClient {
    /// A client of the CC at `url` (e.g. `http://127.0.0.1:9022`), calling as `user_agent`
    /// (the HM's connection name, e.g. `health_manager-0`).
    pub fn new(
        nats: async_nats::Client,
        url: &str,
        batch_size: u32,
        timeout: Duration,
        user_agent: &str,
    ) -> Self {
        let http = cfsim_component::http_client::builder(user_agent)
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        BulkClient {
            http,
            nats,
            url: url.trim_end_matches('/').to_owned(),
            batch_size: batch_size.max(1),
            timeout,
            credentials: Arc::new(Mutex::new(None)),
        }
    }

    /// Every app, page by page.
    pub async fn all_apps(&self) -> Result<Vec<BulkApp>, BulkError> {
        let mut apps = Vec::new();
        let mut last = 0;
        loop {
            let page = self.page(last, self.batch_size).await?;
            if page.results.is_empty() {
                return Ok(apps);
            }
            if page.bulk_token.id <= last {
                return Err(BulkError::Stuck(last));
            }
            last = page.bulk_token.id;
            apps.extend(page.results.into_values());
        }
    }

    /// One app, or `None` when the CC no longer has it.
    pub async fn app(&self, id: u64) -> Result<Option<BulkApp>, BulkError> {
        let page = self.page(id.saturating_sub(1), 1).await?;
        Ok(page.results.into_values().find(|app| app.id == id))
    }

    /// One page after app id `after`; on a 401 the credentials are fetched again, once.
    async fn page(&self, after: u64, batch_size: u32) -> Result<BulkAppsPage, BulkError> {
        let credentials = self.credentials(false).await?;
        match self.get_page(&credentials, after, batch_size).await? {
            Some(page) => Ok(page),
            None => {
                tracing::info!("bulk API refused the credentials; fetching them again");
                let credentials = self.credentials(true).await?;
                let page = self.get_page(&credentials, after, batch_size).await?;
                page.ok_or(BulkError::Unauthorized)
            }
        }
    }

    /// `Ok(None)` on 401.
    async fn get_page(
        &self,
        credentials: &BulkCredentials,
        after: u64,
        batch_size: u32,
    ) -> Result<Option<BulkAppsPage>, BulkError> {
        let token = encode(&BulkToken { id: after }).map_err(BulkError::BadPage)?;
        let token = String::from_utf8_lossy(&token).into_owned();
        let response = self
            .http
            .get(format!("{}/bulk/apps", self.url))
            .query(&[
                ("batch_size", batch_size.to_string()),
                ("bulk_token", token),
            ])
            .basic_auth(&credentials.user, Some(&credentials.password))
            .send()
            .await?;
        match response.status().as_u16() {
            401 => Ok(None),
            200 => {
                let body = response.bytes().await?;
                decode(&body).map(Some).map_err(BulkError::BadPage)
            }
            other => Err(BulkError::Status(other)),
        }
    }

    /// The cached credentials, or fresh ones from `cloudcontroller.bulk.credentials`.
    async fn credentials(&self, refresh: bool) -> Result<BulkCredentials, BulkError> {
        let mut cached = self.credentials.lock().await;
        if let (false, Some(c)) = (refresh, cached.as_ref()) {
            return Ok(c.clone());
        }
        let fresh = self.request_credentials().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn request_credentials(&self) -> Result<BulkCredentials, BulkError> {
        let request = self
            .nats
            .request(CLOUDCONTROLLER_BULK_CREDENTIALS, EMPTY_BODY.to_vec().into());
        let reply = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| BulkError::Credentials("timed out".into()))?
            .map_err(|e| BulkError::Credentials(e.to_string()))?;
        decode(&reply.payload).map_err(BulkError::BadCredentials)
    }
}
