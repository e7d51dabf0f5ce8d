//! The gateway's calls to the cloud controller (\[SVC12\] `asynchronous_service_gateway.rb`,
//! reference §7.4): the offering "heartbeat" (`POST /services/v1/offerings`, at start and then
//! every `heartbeat_interval`), the deactivation at shutdown (same path, `active:false`), and
//! the handle list (`GET /services/v1/offerings/:label/handles`) loaded at start, retried
//! every `handle_fetch_interval` until it succeeds; until then the API answers 503.
//!
//! Every call carries `Content-Type: application/json` and `X-VCAP-Service-Token`, and the
//! gateway's connection name as User-Agent. The exact
//! contract is in the crate documentation.

use crate::provisioner::Provisioner;
use cfsim_messages::{HandleList, ServiceOffering, SERVICE_TOKEN_HEADER};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long one call to the CC may take.
const CC_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the CC failed.
#[derive(Debug, thiserror::Error)]
pub enum CcError {
    /// The token is not a valid header value.
    #[error("the token is not a valid header value")]
    BadToken,
    /// The request failed (connect, timeout, body).
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The CC answered something else than 200.
    #[error("status {0}")]
    Status(u16),
}

/// A client of the CC's service endpoints for one offering.
#[derive(Debug, Clone)]
pub struct CcClient {
    http: reqwest::Client,
    offerings_url: String,
    handles_url: String,
}

impl CcClient {
    /// A client for `cc_url`, sending `token`, for offering `label`, as `user_agent` (the
    /// gateway's connection name).
    pub fn new(
        cc_url: &str,
        token: &str,
        label: &str,
        user_agent: &str,
    ) -> Result<CcClient, CcError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let token = HeaderValue::from_str(token).map_err(|_| CcError::BadToken)?;
        headers.insert(SERVICE_TOKEN_HEADER, token);
        let http = cfsim_component::http_client::builder(user_agent)
            .default_headers(headers)
            .timeout(CC_REQUEST_TIMEOUT)
            .build()?;
        let base = cc_url.trim_end_matches('/');
        Ok(CcClient {
            http,
            offerings_url: format!("{base}/services/v1/offerings"),
            handles_url: format!("{base}/services/v1/offerings/{label}/handles"),
        })
    }

    /// `POST /services/v1/offerings` with `offering`.
    pub async fn post_offering(&self, offering: &ServiceOffering) -> Result<(), CcError> {
        let body = cfsim_messages::encode(offering).expect("offering encodes");
        let response = self
            .http
            .post(&self.offerings_url)
            .body(body)
            .send()
            .await?;
        ok_status(response.status())
    }

    /// `GET /services/v1/offerings/:label/handles`.
    pub async fn fetch_handles(&self) -> Result<HandleList, CcError> {
        let response = self.http.get(&self.handles_url).send().await?;
        ok_status(response.status())?;
        Ok(response.json().await?)
    }
}

fn ok_status(status: reqwest::StatusCode) -> Result<(), CcError> {
    if status == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(CcError::Status(status.as_u16()))
    }
}

/// The gateway's side of the CC: registers the offering, loads the handle list (retrying
/// every `fetch_every` until it succeeds, then sets `loaded`), then re-sends the offering every
/// `heartbeat_every` until the task is aborted. The first registration goes first so the CC
/// knows the label when it is asked for its handles (it answers 404 for an unknown label).
pub async fn run(
    cc: CcClient,
    offering: ServiceOffering,
    provisioner: Arc<Provisioner>,
    fetch_every: Duration,
    heartbeat_every: Duration,
    loaded: watch::Sender<bool>,
) {
    post(&cc, &offering).await;
    load_handles(&cc, &provisioner, fetch_every, &loaded).await;
    let start = tokio::time::Instant::now() + heartbeat_every;
    let mut ticks = tokio::time::interval_at(start, heartbeat_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        post(&cc, &offering).await;
    }
}

/// One offering heartbeat; a failure is logged and the next one tries again.
async fn post(cc: &CcClient, offering: &ServiceOffering) {
    match cc.post_offering(offering).await {
        Ok(()) => tracing::debug!(label = %offering.label, "offering registered with the CC"),
        Err(e) => tracing::warn!(error = %e, "offering heartbeat to the CC failed"),
    }
}

/// Loads the handle list into the provisioner, retrying every `every` until it succeeds,
/// then sets `loaded`.
async fn load_handles(
    cc: &CcClient,
    provisioner: &Provisioner,
    every: Duration,
    loaded: &watch::Sender<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match cc.fetch_handles().await {
            Ok(list) => {
                tracing::info!(handles = list.handles.len(), "handles loaded from the CC");
                provisioner.handles.lock().unwrap().load(list.handles);
                let _ = loaded.send(true);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "loading handles from the CC failed, retrying"),
        }
    }
}

/// Sends the deactivation `{label, url, active:false}` once.
pub async fn deactivate(cc: &CcClient, label: &str, url: &str) {
    let offering = deactivation(label, url);
    match cc.post_offering(&offering).await {
        Ok(()) => tracing::info!(%label, "offering deactivated at the CC"),
        Err(e) => tracing::warn!(error = %e, "deactivation at the CC failed"),
    }
}

/// The deactivation body.
pub fn deactivation(label: &str, url: &str) -> ServiceOffering {
    ServiceOffering {
        label: label.to_owned(),
        url: url.to_owned(),
        description: None,
        info_url: None,
        plans: None,
        cf_plan_id: None,
        tags: None,
        active: Some(false),
        plan_options: None,
        binding_options: None,
        acls: None,
        timeout: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deactivation_is_label_url_and_active_false() {
        let body = serde_json::to_value(deactivation("mysql-5.1", "http://h:1")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"label": "mysql-5.1", "url": "http://h:1", "active": false})
        );
    }

    #[test]
    fn urls_follow_the_cc_base() {
        let cc = CcClient::new("http://cc:9022/", "t", "mysql-5.1", "gw-0").unwrap();
        assert_eq!(cc.offerings_url, "http://cc:9022/services/v1/offerings");
        assert_eq!(
            cc.handles_url,
            "http://cc:9022/services/v1/offerings/mysql-5.1/handles"
        );
        assert!(matches!(
            CcClient::new("http://cc", "bad\ntoken", "l", "gw-0"),
            Err(CcError::BadToken)
        ));
    }
}
