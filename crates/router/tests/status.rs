//! The component side: `vcap.component.announce` and `vcap.component.discover`, the status
//! server (`/health`, `/healthz` open; `/varz`, `/routes` behind basic auth), the /varz
//! counters, and the access log.

mod support;

use cfsim_messages::{
    decode, ComponentAnnounce, ComponentDiscoverReply, VCAP_COMPONENT_ANNOUNCE,
    VCAP_COMPONENT_DISCOVER,
};
use support::*;

#[tokio::test]
async fn announces_itself_and_answers_discover() {
    let broker = broker().await;
    let monitor = nats(&broker.url()).await;
    let mut announces = subscribe(&monitor, VCAP_COMPONENT_ANNOUNCE).await;
    let mut c = config(&broker.url());
    c.common.index = Some(0);
    let router = router(c).await;
    let announce: ComponentAnnounce = decode(&next_message(&mut announces).await.payload).unwrap();
    assert_eq!(announce.component_type, "Router");
    assert_eq!(announce.index, Some(0));
    assert!(announce.uuid.starts_with("0-"));
    assert_eq!(
        announce.host,
        format!("127.0.0.1:{}", router.status_addr.port())
    );
    assert_eq!(announce.credentials, router.credentials.pair());

    let reply = monitor
        .request(VCAP_COMPONENT_DISCOVER, "".into())
        .await
        .unwrap();
    let discover: ComponentDiscoverReply = decode(&reply.payload).unwrap();
    assert_eq!(discover.announce, announce);
    assert!(discover.uptime.ends_with('s'));
}

#[tokio::test]
async fn status_endpoints_and_their_auth() {
    let broker = broker().await;
    let router = router(config(&broker.url())).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("v").await;
    register(&dea, &registration("varz.vcap.me", b.port()), None).await;
    wait_backends(&router, "varz.vcap.me", 1).await;
    for _ in 0..3 {
        assert_eq!(
            get(router.proxy_addr, "varz.vcap.me", "/", &[])
                .await
                .status,
            200
        );
    }
    assert_eq!(
        get(router.proxy_addr, "none.vcap.me", "/", &[])
            .await
            .status,
        404
    );

    let status = router.status_addr;
    let auth = router.credentials.header_value();
    let health = get(status, "localhost", "/health", &[]).await;
    assert_eq!(
        (health.status.as_u16(), health.body.as_str()),
        (200, "ok\n")
    );
    assert_eq!(get(status, "localhost", "/healthz", &[]).await.body, "ok\n");
    assert_eq!(get(status, "localhost", "/varz", &[]).await.status, 401);
    assert_eq!(get(status, "localhost", "/routes", &[]).await.status, 401);
    let wrong = get(
        status,
        "localhost",
        "/routes",
        &[("authorization", "Basic eDp5")],
    )
    .await;
    assert_eq!(wrong.status, 401);

    let routes = get(status, "localhost", "/routes", &[("authorization", &auth)])
        .await
        .json();
    let entry = &routes["varz.vcap.me"][0];
    assert_eq!(entry["address"], format!("127.0.0.1:{}", b.port()));
    assert_eq!(entry["tags"]["component"], "test");
    assert_eq!(
        entry["private_instance_id"],
        format!("instance-{}", b.port())
    );
    assert!(entry["ttl"].as_i64().unwrap() > 500);

    let varz = get(status, "localhost", "/varz", &[("authorization", &auth)])
        .await
        .json();
    assert_eq!(varz["type"], "Router");
    assert_eq!(varz["requests"], 4);
    assert_eq!(varz["responses_2xx"], 3);
    assert_eq!(varz["responses_4xx"], 1);
    assert_eq!(varz["urls"], 1);
    assert_eq!(varz["droplets"], 1);
    assert_eq!(varz["apps"]["42"]["requests"], 3);
    assert_eq!(varz["tags"]["component"]["test"]["requests"], 3);
    assert!(varz["latency"]["99"].as_f64().unwrap() > 0.0);
    for key in [
        "uuid",
        "host",
        "start",
        "uptime",
        "mem",
        "cpu",
        "num_cores",
        "bad_gateways",
    ] {
        assert!(varz.get(key).is_some(), "varz lacks {key}");
    }
}

#[tokio::test]
async fn every_request_gets_an_access_log_line() {
    let broker = broker().await;
    let dir = std::env::temp_dir().join(format!("cfsim-router-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("access.log");
    let _ = std::fs::remove_file(&path);
    let mut c = config(&broker.url());
    c.access_log = Some(path.display().to_string());
    let router = router(c).await;
    let dea = nats(&broker.url()).await;
    let b = TestBackend::start("log").await;
    register(&dea, &registration("log.vcap.me", b.port()), Some(0)).await;
    wait_backends(&router, "log.vcap.me", 1).await;
    let reply = get(
        router.proxy_addr,
        "log.vcap.me",
        "/hello?x=1",
        &[("user-agent", "tester")],
    )
    .await;
    let id = reply.json()["headers"]["x-vcap-request-id"]
        .as_str()
        .unwrap()
        .to_owned();
    get(router.proxy_addr, "missing.vcap.me", "/", &[]).await;
    wait_until("two access lines", || {
        let lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .count();
        async move { lines >= 2 }
    })
    .await;
    let text = std::fs::read_to_string(&path).unwrap();
    let ok = text.lines().find(|l| l.starts_with("log.vcap.me")).unwrap();
    assert!(ok.contains("\"GET /hello?x=1 HTTP/1.1\" 200 0 "), "{ok}");
    assert!(ok.contains("\"tester\""), "{ok}");
    assert!(ok.contains(&format!("\"127.0.0.1:{}\"", b.port())), "{ok}");
    assert!(ok.contains(&format!("vcap_request_id:\"{id}\"")), "{ok}");
    assert!(
        ok.contains("response_time:") && ok.contains("gorouter_time:"),
        "{ok}"
    );
    assert!(ok.contains("app_id:\"42\" app_index:\"0\""), "{ok}");
    let missing = text
        .lines()
        .find(|l| l.starts_with("missing.vcap.me"))
        .unwrap();
    assert!(missing.contains("\" 404 "), "{missing}");
    assert!(
        missing.contains("x_cf_routererror:\"unknown_route\""),
        "{missing}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
