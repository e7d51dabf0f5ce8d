//! End-to-end test of `cfsim health-manager` as its own process: the real binary runs the
//! bundled broker and a health manager (a generated config with an ephemeral status port and
//! `--nats` pointing at the broker, no cloud controller). The test checks that it asks the
//! DEAs for heartbeats (`healthmanager.start`), answers `vcap.component.discover` as a
//! HealthManager, and exits cleanly on SIGTERM.

mod support;

use cfsim_messages::{
    decode, ComponentDiscoverReply, HEALTHMANAGER_START, VCAP_COMPONENT_DISCOVER,
};
use futures::StreamExt;
use std::time::Duration;
use support::Cfsim;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn health_manager_runs_alone_against_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Cfsim::start(&["nats-server", "-a", "127.0.0.1", "-p", "-1"]);
    let nats_addr = broker.client_addr();
    let client = async_nats::connect(nats_addr.as_str()).await.unwrap();
    let mut starts = client.subscribe(HEALTHMANAGER_START).await.unwrap();
    client.flush().await.unwrap();

    let config = dir.path().join("health_manager.toml");
    std::fs::write(
        &config,
        "index = 0\ndatabase_scan = 60\n[bulk_api]\nurl = \"http://127.0.0.1:9\"\n\
         [status]\nport = 0\n",
    )
    .unwrap();
    let mut hm = Cfsim::start(&[
        "health-manager",
        "--config",
        config.to_str().unwrap(),
        "--nats",
        &format!("nats://{nats_addr}"),
        "--time-scale",
        "0.1",
    ]);
    hm.wait_for_line("health manager ready");

    let start = tokio::time::timeout(WAIT, starts.next())
        .await
        .expect("healthmanager.start in time")
        .unwrap();
    assert!(start.payload.is_empty());

    let reply = tokio::time::timeout(WAIT, client.request(VCAP_COMPONENT_DISCOVER, "".into()))
        .await
        .expect("discover answered in time")
        .expect("discover reply");
    let reply: ComponentDiscoverReply = decode(&reply.payload).unwrap();
    assert_eq!(reply.announce.component_type, "HealthManager");
    assert!(reply.announce.uuid.starts_with("0-"));

    let status = hm.terminate();
    assert!(
        status.success(),
        "cfsim health-manager exits cleanly: {status:?}"
    );
    drop(client);
    broker.terminate();
}
