//! The NATS side against a real broker: register, refresh, unregister, prune, pruning
//! suspended while NATS is down, router.start after connect and reconnect, router.greet, and
//! a restarted router getting its routes back from backends answering router.start.

mod support;

use cfsim_messages::{decode, RouterStart, ROUTER_GREET, ROUTER_START};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn register_routes_requests_and_unregister_removes_the_route() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let backend = TestBackend::start("b1").await;
    let reg = registration("Hello.VCAP.me", backend.port());
    register(&dea, &reg, None).await;
    wait_backends(&router, "hello.vcap.me", 1).await;

    let reply = get(router.proxy_addr, "HELLO.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["backend"], "b1");

    unregister(&dea, &reg).await;
    wait_until("route removed", || {
        let gone = router.table.lookup("hello.vcap.me", "/").is_none();
        async move { gone }
    })
    .await;
    let reply = get(router.proxy_addr, "hello.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        "404 Not Found: Requested route ('hello.vcap.me') does not exist.\n"
    );
    assert_eq!(reply.header("x-cf-routererror"), Some("unknown_route"));
}

#[tokio::test]
async fn repeated_register_only_refreshes_and_path_routes_work() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let (root, api) = (
        TestBackend::start("root").await,
        TestBackend::start("api").await,
    );
    for _ in 0..3 {
        register(&dea, &registration("app.vcap.me", root.port()), None).await;
    }
    register(&dea, &registration("app.vcap.me/api", api.port()), None).await;
    wait_backends(&router, "app.vcap.me", 1).await;
    wait_until("path route", || {
        let found = router
            .table
            .lookup("app.vcap.me", "/api/x")
            .is_some_and(|p| p.backends().iter().any(|b| b.spec.port == api.port()));
        async move { found }
    })
    .await;
    assert_eq!(
        router
            .table
            .lookup("app.vcap.me", "/")
            .unwrap()
            .backends()
            .len(),
        1
    );
    assert_eq!(
        get(router.proxy_addr, "app.vcap.me", "/api/v1", &[])
            .await
            .json()["backend"],
        "api"
    );
    assert_eq!(
        get(router.proxy_addr, "app.vcap.me", "/other", &[])
            .await
            .json()["backend"],
        "root"
    );
}

#[tokio::test]
async fn stale_backends_are_pruned_and_refreshed_ones_kept() {
    let broker = broker().await;
    let mut c = config(&broker.url());
    c.droplet_stale_threshold = 0.5;
    c.prune_stale_droplets_interval = 0.05;
    let router = router(c).await;
    let dea = nats(&broker.url()).await;
    let (kept, stale) = (
        TestBackend::start("kept").await,
        TestBackend::start("stale").await,
    );
    register(&dea, &registration("p.vcap.me", kept.port()), None).await;
    register(&dea, &registration("p.vcap.me", stale.port()), None).await;
    wait_backends(&router, "p.vcap.me", 2).await;

    // The "kept" backend heartbeats its registration like a DEA; the other falls silent.
    let heartbeat = {
        let (dea, reg) = (dea.clone(), registration("p.vcap.me", kept.port()));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                register(&dea, &reg, None).await;
            }
        })
    };
    wait_backends(&router, "p.vcap.me", 1).await;
    let left = router.table.lookup("p.vcap.me", "/").unwrap().backends();
    assert_eq!(left[0].spec.port, kept.port());
    heartbeat.abort();

    // Once the last backend is pruned the host is known but has no endpoint: 503.
    wait_backends(&router, "p.vcap.me", 0).await;
    let reply = get(router.proxy_addr, "p.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        "503 Service Unavailable: Requested route ('p.vcap.me') has no available endpoints.\n"
    );
    assert_eq!(reply.header("x-cf-routererror"), Some("no_endpoints"));
    assert!(router.table.pruned_total() >= 2);
}

#[tokio::test]
async fn pruning_is_suspended_while_nats_is_down_and_router_start_follows_reconnect() {
    let broker = broker().await;
    let port = broker.client_addr.port();
    let mut c = config(&broker.url());
    c.droplet_stale_threshold = 0.3;
    c.prune_stale_droplets_interval = 0.05;
    let router = router(c).await;
    let dea = nats(&broker.url()).await;
    let backend = TestBackend::start("b").await;
    register(&dea, &registration("down.vcap.me", backend.port()), None).await;
    wait_backends(&router, "down.vcap.me", 1).await;

    broker.shutdown().await;
    let watch = router.nats().watch.clone();
    wait_until("router sees NATS down", || {
        let down = !watch.is_connected();
        async move { down }
    })
    .await;
    // Wait for enough suspended sweeps to span more than the stale threshold.
    let start = router.table.suspended_sweeps();
    wait_until("suspended sweeps", || {
        let n = router.table.suspended_sweeps();
        async move { n >= start + 12 }
    })
    .await;
    assert_eq!(
        router
            .table
            .lookup("down.vcap.me", "/")
            .unwrap()
            .backends()
            .len(),
        1
    );
    assert_eq!(
        get(router.proxy_addr, "down.vcap.me", "/", &[])
            .await
            .status,
        200
    );

    let connects_before = router.nats().watch.state().connects;
    let _broker = broker_on(port).await;
    wait_until("router reconnected", || {
        let s = router.nats().watch.state();
        async move { s.connected && s.connects > connects_before }
    })
    .await;
}

#[tokio::test]
async fn router_fails_over_to_the_next_server_and_publishes_router_start_there() {
    let (a, b) = (broker().await, broker().await);
    let (on_a, on_b) = (nats(&a.url()).await, nats(&b.url()).await);
    let (starts_a, starts_b) = (
        subscribe(&on_a, ROUTER_START).await,
        subscribe(&on_b, ROUTER_START).await,
    );
    let mut c = config(&a.url());
    c.common.nats = vec![a.url(), b.url()];
    let router = router(c).await;
    let a_first = router.nats().client.server_info().port == a.client_addr.port();
    let (first, other_broker, other_client, mut other_starts) = if a_first {
        (a, b, on_b, starts_b)
    } else {
        (b, a, on_a, starts_a)
    };
    first.shutdown().await;
    let msg = next_message(&mut other_starts).await;
    let start: RouterStart = decode(&msg.payload).unwrap();
    assert_eq!(start.id, router.router_id);
    // Registrations now arrive through the other server.
    let backend = TestBackend::start("b").await;
    register(
        &other_client,
        &registration("fail.vcap.me", backend.port()),
        None,
    )
    .await;
    wait_backends(&router, "fail.vcap.me", 1).await;
    drop(other_broker);
}

#[tokio::test]
async fn router_start_is_published_on_connect_and_periodically_with_every_field() {
    let broker = broker().await;
    let listener = nats(&broker.url()).await;
    let mut starts = subscribe(&listener, ROUTER_START).await;
    let mut c = config(&broker.url());
    c.publish_start_message_interval = 0.1;
    c.common.local_host = "10.1.2.3".into();
    let router = router(c).await;
    for _ in 0..3 {
        let msg = next_message(&mut starts).await;
        let start: RouterStart = decode(&msg.payload).unwrap();
        assert_eq!(start.id, router.router_id);
        assert_eq!(start.hosts, Some(vec!["10.1.2.3".to_owned()]));
        assert_eq!(start.minimum_register_interval_in_seconds, Some(5));
        assert_eq!(start.prune_threshold_in_seconds, Some(600));
        assert!(start.version.is_some());
    }
    let reply = listener.request(ROUTER_GREET, "".into()).await.unwrap();
    let greet: RouterStart = decode(&reply.payload).unwrap();
    assert_eq!(greet.id, router.router_id);
    assert_eq!(greet.prune_threshold_in_seconds, Some(600));
}

#[tokio::test]
async fn restarted_router_gets_routes_back_from_backends_answering_router_start() {
    let broker = broker().await;
    let backend = TestBackend::start("dea-app").await;
    // A DEA: registers at start and again on every router.start.
    let dea = nats(&broker.url()).await;
    let mut starts = subscribe(&dea, ROUTER_START).await;
    let reg = registration("again.vcap.me", backend.port());
    let dea_task = {
        let (dea, reg) = (dea.clone(), reg.clone());
        tokio::spawn(async move {
            while let Some(_start) = futures::StreamExt::next(&mut starts).await {
                register(&dea, &reg, None).await;
            }
        })
    };
    let first = router(config(&broker.url())).await;
    wait_backends(&first, "again.vcap.me", 1).await;
    let first_id = first.router_id.clone();
    first.shutdown().await;

    let second = router(config(&broker.url())).await;
    assert_ne!(second.router_id, first_id);
    wait_backends(&second, "again.vcap.me", 1).await;
    let reply = get(second.proxy_addr, "again.vcap.me", "/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["backend"], "dea-app");
    dea_task.abort();
}
