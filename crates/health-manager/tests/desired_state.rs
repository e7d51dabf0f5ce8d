//! How the health manager learns desired state and announces itself, against a real broker
//! and a fake cloud controller: bulk-API paging, credentials fetched over NATS and fetched
//! again after a 401, `healthmanager.start` and `vcap.component.announce` at start, `/varz`.

mod support;

use cfsim_messages::{
    decode, encode, ComponentAnnounce, DropletUpdated, HmHealthQuery, HmHealthRequest,
    HEALTHMANAGER_HEALTH, HEALTHMANAGER_START, VCAP_COMPONENT_ANNOUNCE,
};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use support::*;

#[tokio::test]
async fn a_full_scan_pages_through_the_bulk_api() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let mut cc = fake_cc(&client, vec![app(1, 1), app(2, 1), app(5, 1)]).await;
    let mut config = config(&nats_url(&broker), &cc.url);
    config.bulk_api.batch_size = 2;
    let hm = health_manager(config).await;
    let name = hm.identity.connection_name();
    let pages: Vec<(u64, Vec<u64>)> = [
        cc.next_served().await,
        cc.next_served().await,
        cc.next_served().await,
    ]
    .into_iter()
    .map(|s| {
        assert_eq!((s.status, s.batch_size), (200, 2));
        assert_eq!(
            s.user_agent.as_deref(),
            Some(name.as_str()),
            "named after the HM"
        );
        (s.after, s.ids)
    })
    .collect();
    assert_eq!(pages, vec![(0, vec![1, 2]), (2, vec![5]), (5, vec![])]);
    let query = |droplet| HmHealthQuery {
        droplet,
        version: VERSION.into(),
    };
    let health = HmHealthRequest {
        droplets: vec![query(1), query(2), query(5)],
    };
    let replies = ask(&client, HEALTHMANAGER_HEALTH, &health, 3).await;
    let mut known: Vec<u64> = replies
        .iter()
        .map(|r| r["droplet"].as_u64().unwrap())
        .collect();
    known.sort_unstable();
    assert_eq!(known, vec![1, 2, 5], "every page was applied");
    hm.shutdown().await;
}

#[tokio::test]
async fn credentials_come_over_nats_and_a_401_fetches_them_again() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let mut cc = fake_cc(&client, vec![app(1, 1)]).await;
    let mut config = config(&nats_url(&broker), &cc.url);
    config.database_scan = 100_000.0; // only the first scan
    config.droplet_lost = 100_000.0; // and no analysis (no staleness re-reads)
    let hm = health_manager(config).await;
    assert_eq!(cc.state.credential_requests.load(Ordering::SeqCst), 1);
    assert_eq!(cc.next_served().await.status, 200);
    assert_eq!(cc.next_served().await.status, 200, "the empty last page");

    cc.state.rotate_password("after-a-cc-restart");
    cc.state.set_app(app(2, 3));
    let updated = DropletUpdated {
        droplet: 2,
        cc_partition: None,
    };
    client
        .publish("droplet.updated", encode(&updated).unwrap().into())
        .await
        .unwrap();
    let refused = cc.next_served().await;
    assert_eq!(
        (refused.status, refused.after, refused.batch_size),
        (401, 1, 1)
    );
    let read = cc.next_served().await;
    assert_eq!((read.status, read.after, read.ids), (200, 1, vec![2]));
    assert_eq!(cc.state.credential_requests.load(Ordering::SeqCst), 2);
    let health = HmHealthRequest {
        droplets: vec![HmHealthQuery {
            droplet: 2,
            version: VERSION.into(),
        }],
    };
    let replies = ask(&client, HEALTHMANAGER_HEALTH, &health, 1).await;
    assert_eq!(replies[0]["droplet"], 2, "the re-read app is known");
    hm.shutdown().await;
}

#[tokio::test]
async fn a_failed_scan_is_retried_well_before_the_next_database_scan() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let mut cc = fake_cc(&client, vec![app(1, 1)]).await;
    cc.state.failures.store(2, Ordering::SeqCst);
    let mut config = config(&nats_url(&broker), &cc.url);
    config.database_scan = 100_000.0; // 1000 s: only a retry can load the apps in time
    let hm = health_manager(config).await;
    let statuses: Vec<u16> = [
        cc.next_served().await,
        cc.next_served().await,
        cc.next_served().await,
    ]
    .iter()
    .map(|s| s.status)
    .collect();
    assert_eq!(statuses, vec![500, 500, 200]);
    assert_eq!(hm.metrics.varz()["bulk_errors"], 2);
    hm.shutdown().await;
}

#[tokio::test]
async fn it_asks_deas_for_heartbeats_announces_itself_and_serves_varz() {
    let broker = broker().await;
    let client = async_nats::connect(broker.client_addr.to_string())
        .await
        .unwrap();
    let mut starts = client.subscribe(HEALTHMANAGER_START).await.unwrap();
    let mut announces = client.subscribe(VCAP_COMPONENT_ANNOUNCE).await.unwrap();
    client.flush().await.unwrap();
    let cc = fake_cc(&client, vec![app(1, 2)]).await;
    let hm = health_manager(config(&nats_url(&broker), &cc.url)).await;

    let start = tokio::time::timeout(WAIT, starts.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        start.payload.is_empty(),
        "healthmanager.start has an empty body"
    );
    let announce = tokio::time::timeout(WAIT, announces.next())
        .await
        .unwrap()
        .unwrap();
    let announce: ComponentAnnounce = decode(&announce.payload).unwrap();
    assert_eq!(announce.component_type, "HealthManager");
    assert_eq!(hm.identity.connection_name(), "health_manager-0");

    let varz: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/varz", hm.status_addr))
        .basic_auth(&hm.credentials.user, Some(&hm.credentials.password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(varz["type"], "HealthManager");
    assert_eq!(varz["total_apps"], 1);
    assert_eq!(varz["total_instances"], 2);
    assert_eq!(varz["time_scale"], SCALE);
    assert_eq!(varz["timers"]["database_scan"]["configured"], 60.0);
    for key in [
        "start_requests_sent",
        "stop_requests_sent",
        "queue_length",
        "running_instances",
        "down_instances",
        "flapping_instances",
        "crashed_instances",
    ] {
        assert!(varz[key].is_u64(), "{key} in /varz");
    }
    hm.shutdown().await;
}
