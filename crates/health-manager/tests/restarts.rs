//! The health manager against a real broker and a fake cloud controller: a test client plays
//! the DEAs (heartbeats, exits) and the test asserts the exact `cloudcontrollers.hm.requests`
//! the HM publishes, and its answers to `healthmanager.status` / `healthmanager.health`.

mod support;

use cfsim_messages::{
    encode, DropletExited, DropletUpdated, ExitReason, HmHealthQuery, HmHealthRequest, HmRequest,
    HmStartRequest, HmStatusRequest, HmStopRequest, InstanceState, HEALTHMANAGER_HEALTH,
    HEALTHMANAGER_STATUS,
};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

async fn exit(client: &async_nats::Client, instance: &str, reason: ExitReason) {
    let msg = DropletExited {
        droplet: 1,
        version: VERSION.into(),
        instance: instance.into(),
        index: 0,
        reason,
        crash_timestamp: (reason == ExitReason::Crashed).then(epoch),
        cc_partition: None,
    };
    client
        .publish("droplet.exited", encode(&msg).unwrap().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
}

fn start(last_updated: u64, flapping: Option<bool>) -> HmRequest {
    HmRequest::Start(HmStartRequest {
        droplet: 1,
        last_updated,
        version: VERSION.into(),
        indices: vec![0],
        flapping,
    })
}

#[tokio::test]
async fn a_crash_restarts_at_once_and_a_second_one_is_flapping_with_back_off() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let the_app = app(1, 1);
    let cc = fake_cc(&client, vec![the_app.clone()]).await;
    let mut config = config(&nats_url(&broker), &cc.url);
    config.droplet_lost = 10_000.0; // no periodic analysis during this test
    let hm = health_manager(config).await;
    let mut requests = hm_requests(&client).await;

    heartbeat(&client, vec![entry(1, 0, "a", InstanceState::Running)]).await;
    let health = HmHealthRequest {
        droplets: vec![HmHealthQuery {
            droplet: 1,
            version: VERSION.into(),
        }],
    };
    let replies = ask(&client, HEALTHMANAGER_HEALTH, &health, 1).await;
    assert_eq!(
        replies,
        vec![json!({"droplet":1,"version":VERSION,"healthy":1})]
    );

    exit(&client, "a", ExitReason::Crashed).await;
    assert_eq!(
        next_request(&mut requests).await,
        start(the_app.updated_at, None)
    );

    heartbeat(&client, vec![entry(1, 0, "b", InstanceState::Running)]).await;
    let crashed_at = Instant::now();
    exit(&client, "b", ExitReason::Crashed).await;
    let status = HmStatusRequest {
        droplet: 1,
        version: Some(VERSION.into()),
        state: InstanceState::Flapping,
    };
    let flapping = ask(&client, HEALTHMANAGER_STATUS, &status, 1).await;
    assert_eq!(flapping[0]["indices"][0]["index"], 0);
    let crashes = HmStatusRequest {
        droplet: 1,
        version: None,
        state: InstanceState::Crashed,
    };
    let crashed = ask(&client, HEALTHMANAGER_STATUS, &crashes, 1).await;
    let ids: Vec<&str> = crashed[0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["instance"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"a") && ids.contains(&"b"), "{ids:?}");

    assert_eq!(
        next_request(&mut requests).await,
        start(the_app.updated_at, Some(true))
    );
    let min_delay = Duration::from_secs_f64(60.0 * SCALE);
    assert!(
        crashed_at.elapsed() >= min_delay,
        "the flapping restart waited min_restart_delay, not {:?}",
        crashed_at.elapsed()
    );
    let replies = ask(&client, HEALTHMANAGER_HEALTH, &health, 1).await;
    assert_eq!(replies[0]["healthy"], 0, "the index is FLAPPING");
    let varz = hm.metrics.varz();
    assert_eq!(varz["start_requests_sent"], 2);
    assert_eq!(varz["flapping_instances"], 1);
    hm.shutdown().await;
}

#[tokio::test]
async fn a_silent_instance_is_restarted_after_droplet_lost() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let the_app = app(1, 1);
    let cc = fake_cc(&client, vec![the_app.clone()]).await;
    let hm = health_manager(config(&nats_url(&broker), &cc.url)).await;
    let mut requests = hm_requests(&client).await;
    let last_heartbeat = Instant::now();
    heartbeat(&client, vec![entry(1, 0, "quiet", InstanceState::Running)]).await;
    assert_eq!(
        next_request(&mut requests).await,
        start(the_app.updated_at, None)
    );
    let droplet_lost = Duration::from_secs_f64(30.0 * SCALE);
    assert!(
        last_heartbeat.elapsed() >= droplet_lost,
        "START only after droplet_lost, not after {:?}",
        last_heartbeat.elapsed()
    );
    hm.shutdown().await;
}

#[tokio::test]
async fn a_scale_down_stops_the_extra_instance() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let cc = fake_cc(&client, vec![app(1, 2)]).await;
    let hm = health_manager(config(&nats_url(&broker), &cc.url)).await;
    let mut requests = hm_requests(&client).await;
    let _dea = FakeDea::start(
        &client,
        vec![
            entry(1, 0, "i0", InstanceState::Running),
            entry(1, 1, "i1", InstanceState::Running),
        ],
    );
    let mut scaled = app(1, 1);
    scaled.updated_at -= 100; // changed, and already stable
    cc.state.set_app(scaled.clone());
    let updated = DropletUpdated {
        droplet: 1,
        cc_partition: None,
    };
    client
        .publish("droplet.updated", encode(&updated).unwrap().into())
        .await
        .unwrap();
    let stop = HmRequest::Stop(HmStopRequest {
        droplet: 1,
        last_updated: scaled.updated_at,
        instances: vec!["i1".into()],
    });
    assert_eq!(next_request(&mut requests).await, stop);
    hm.shutdown().await;
}

#[tokio::test]
async fn an_unknown_app_is_stopped_with_last_updated_zero_after_two_scans() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let cc = fake_cc(&client, vec![]).await;
    let started = Instant::now();
    let hm = health_manager(config(&nats_url(&broker), &cc.url)).await;
    let mut requests = hm_requests(&client).await;
    let _dea = FakeDea::start(&client, vec![entry(7, 0, "ghost", InstanceState::Running)]);
    let stop = HmRequest::Stop(HmStopRequest {
        droplet: 7,
        last_updated: 0,
        instances: vec!["ghost".into()],
    });
    assert_eq!(next_request(&mut requests).await, stop);
    let threshold = Duration::from_secs_f64(2.0 * 60.0 * SCALE);
    assert!(
        started.elapsed() >= threshold,
        "HM uptime must exceed 2 x database_scan"
    );
    hm.shutdown().await;
}
