//! `vcap.component.announce` and `vcap.component.discover`: how monitoring finds a component.
//!
//! At start the component publishes [`ComponentAnnounce`] once (type, index, uuid, the
//! `ip:port` of its status server, the basic-auth credentials, start time), and answers every
//! `vcap.component.discover` request with the same fields plus `uptime`
//! ([`ComponentDiscoverReply`]). The discover subscription survives reconnects (async-nats
//! re-subscribes), so a restarted broker still finds every component.

use crate::identity::Identity;
use crate::status::Credentials;
use crate::timefmt;
use async_nats::Client;
use cfsim_messages::{
    encode, ComponentAnnounce, ComponentDiscoverReply, VCAP_COMPONENT_ANNOUNCE,
    VCAP_COMPONENT_DISCOVER,
};
use futures::StreamExt;
use tokio::task::JoinHandle;

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The discover subscription could not be made.
    #[error("subscribe to vcap.component.discover: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// The announcement could not be published.
    #[error("publish vcap.component.announce: {0}")]
    Publish(#[from] async_nats::PublishError),
    /// The status server could not bind its listener.
    #[error("bind the status server: {0}")]
    Status(#[from] std::io::Error),
}

/// A component's status server, started and announced: `/varz` and `/healthz` listening,
/// `vcap.component.announce` published and `vcap.component.discover` answered.
pub struct Announced {
    /// The running status server.
    pub status: crate::status::StatusServer,
    /// The credentials it accepts (and the announcement carries).
    pub credentials: Credentials,
    /// The task answering `vcap.component.discover`.
    pub discover: JoinHandle<()>,
}

/// Starts the status server of `identity` on `config` with its `/varz` source, then
/// [`register`]s it: the two steps every component takes, in the order VCAP took them.
pub async fn start_announced(
    client: &Client,
    identity: &Identity,
    config: &crate::config::StatusConfig,
    varz: crate::varz::VarzSource,
    options: crate::status::StatusOptions,
) -> Result<Announced, AnnounceError> {
    let credentials = Credentials::from_config(config);
    let status = crate::status::StatusServer::start(
        config,
        credentials.clone(),
        identity.clone(),
        varz,
        options,
    )
    .await?;
    let discover = register(client, identity.clone(), status.addr.port(), &credentials).await?;
    Ok(Announced {
        status,
        credentials,
        discover,
    })
}

/// The announcement for this identity, status server port and credentials.
pub fn announcement(
    identity: &Identity,
    status_port: u16,
    credentials: &Credentials,
) -> ComponentAnnounce {
    ComponentAnnounce {
        component_type: identity.component_type.clone(),
        index: identity.index,
        uuid: identity.uuid.clone(),
        host: format!("{}:{}", identity.host, status_port),
        credentials: credentials.pair(),
        start: timefmt::ruby_time(identity.start),
    }
}

/// Subscribes to `vcap.component.discover` (answering with uptime), then publishes
/// `vcap.component.announce`. The returned task answers discovers until aborted.
pub async fn register(
    client: &Client,
    identity: Identity,
    status_port: u16,
    credentials: &Credentials,
) -> Result<JoinHandle<()>, AnnounceError> {
    let announce = announcement(&identity, status_port, credentials);
    let mut discover = client.subscribe(VCAP_COMPONENT_DISCOVER).await?;
    let body = encode(&announce).expect("announce encodes");
    client.publish(VCAP_COMPONENT_ANNOUNCE, body.into()).await?;
    let client = client.clone();
    Ok(tokio::spawn(async move {
        while let Some(request) = discover.next().await {
            let Some(reply_to) = request.reply else {
                continue;
            };
            let reply = ComponentDiscoverReply {
                announce: announce.clone(),
                uptime: timefmt::uptime(identity.uptime()),
            };
            let body = encode(&reply).expect("discover reply encodes");
            if let Err(e) = client.publish(reply_to, body.into()).await {
                tracing::warn!(error = %e, "vcap.component.discover reply failed");
            }
        }
    }))
}
