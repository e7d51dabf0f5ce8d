//! The cluster time scale on the DEA: its protocol timers (here the 10 s heartbeat) run at
//! the configured value times the scale, and `/varz` shows both values.

mod support;

use cfsim_component::time_scale::TimeScale;
use cfsim_messages::{dea_start, DeaHeartbeat, InstanceState};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn heartbeats_arrive_at_the_scaled_interval_and_varz_shows_the_timers() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = dea_config(&url, &tmp.path().join("dea"), 512);
    config.intervals.heartbeat = 10.0; // v1's value; × 0.02 = 200 ms
    config.common.time_scale = TimeScale::new(0.02).unwrap();
    let cc = nats(&url).await;
    let mut heartbeats = subscribe(&cc, "dea.heartbeat").await;
    let dea = dea(config).await;
    // Heartbeats need an instance record: a crashed one (its droplet fails the SHA-1 check).
    let droplets = DropletServer::start().await;
    let claimed = "89abcdef0123456789abcdef0123456789abcdef";
    let uri = droplets.add(13, claimed, app_droplet());
    publish(
        &cc,
        &dea_start(&dea.id),
        &start_message(13, "beating", &uri, claimed, 64),
    )
    .await;
    let crashed = |b: &DeaHeartbeat| b.droplets.iter().any(|d| d.state == InstanceState::Crashed);
    next_matching(&mut heartbeats, "a first periodic heartbeat", crashed).await;
    let began = tokio::time::Instant::now();
    for _ in 0..3 {
        next_matching(&mut heartbeats, "a periodic heartbeat", crashed).await;
    }
    let three = began.elapsed();
    assert!(
        three >= Duration::from_millis(400) && three < Duration::from_secs(5),
        "three scaled 200 ms periods took {three:?} (unscaled: 30 s)"
    );

    let varz: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/varz", dea.status_addr))
        .header("Authorization", dea.status_credentials.header_value())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(varz["time_scale"], 0.02);
    assert_eq!(varz["timers"]["heartbeat"]["configured"], 10.0);
    assert_eq!(varz["timers"]["heartbeat"]["effective"], 0.2);
    assert_eq!(varz["timers"]["evacuation_delay"]["effective"], 0.6);
    dea.shutdown().await;
}
