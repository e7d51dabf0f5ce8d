//! End-to-end tests of the push flow on a real `cfsim up` (broker, router, cloud controller,
//! two DEAs in one child process), driven through the vmc client library exactly as the
//! `vmc` CLI drives it: push the sample and reach it through the router by host name, scale
//! to 3 instances spread over both DEAs, restart the whole cluster on the same data dir and
//! find the app again, stop it (gorouter's 404), a corrupted droplet that never starts, and a
//! start that fits no DEA.

mod support;
mod up_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use up_support::{eventually, instance_id, instances_on_disk, sample_copy, sample_dir, Cluster};
use vmc::push::{self, Feedback, PushOptions};
use vmc::types::AppUpdate;

fn options(name: &str, path: std::path::PathBuf) -> PushOptions {
    PushOptions {
        name: name.to_owned(),
        path,
        url: None,
        instances: 1,
        mem: 64,
        runtime: None,
        framework: None,
        no_start: false,
        timeout: Duration::from_secs(30),
    }
}

/// Distinct instance ids answering `GET /` for `host`, polling until `want` are seen (bounded).
async fn collect_ids(
    cluster: &Cluster,
    client: &vmc::Client,
    host: &str,
    want: usize,
) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ids = BTreeSet::new();
    while ids.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {ids:?} answered for {host}"
        );
        let (status, body) = cluster.get(client, host, "/").await;
        if status == 200 {
            ids.insert(instance_id(&body).expect("instance id in the body"));
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    ids
}

async fn answers(
    cluster: &Cluster,
    client: &vmc::Client,
    host: &str,
    app: &str,
    bound: Duration,
) -> String {
    eventually(
        &format!("{host} answers 200 naming {app}"),
        bound,
        || async {
            let (status, body) = cluster.get(client, host, "/").await;
            (status == 200 && body.contains(app)).then_some(body)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_scale_restart_the_cluster_then_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), &[]);
    let client = cluster.admin_client().await;

    let url = push::push(&client, &options("hello", sample_dir()), Feedback::Quiet)
        .await
        .expect("push the sample");
    assert_eq!(url, "hello.localhost");
    let body = answers(
        &cluster,
        &client,
        "hello.localhost",
        "hello",
        Duration::from_secs(5),
    )
    .await;
    assert!(body.contains("instance index 0"), "{body}");

    let since = push::now_epoch();
    let scale = AppUpdate {
        instances: Some(3),
        ..Default::default()
    };
    client
        .update_app("hello", &scale)
        .await
        .expect("scale to 3");
    push::watch(
        &client,
        "hello",
        since,
        Duration::from_secs(30),
        Feedback::Quiet,
    )
    .await
    .expect("3 instances run");
    let ids = collect_ids(&cluster, &client, "hello.localhost", 3).await;
    let on_disk = instances_on_disk(dir.path(), "hello");
    let deas: BTreeSet<u32> = on_disk.iter().map(|(dea, _)| *dea).collect();
    assert_eq!(
        deas.len(),
        2,
        "instances spread over both DEAs: {on_disk:?}"
    );
    let disk_ids: BTreeSet<String> = on_disk.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        ids, disk_ids,
        "the instances answering are the ones the DEAs run"
    );
    let stats = client.stats("hello").await.expect("stats");
    assert_eq!(
        stats.values().filter(|s| s.state == "RUNNING").count(),
        3,
        "{stats:?}"
    );

    assert!(cluster.stop().success(), "clean exit on SIGTERM");
    let cluster = Cluster::start(dir.path(), &[]);
    let client = cluster.admin_client().await;
    answers(
        &cluster,
        &client,
        "hello.localhost",
        "hello",
        Duration::from_secs(30),
    )
    .await;
    let app = client
        .app("hello")
        .await
        .expect("the app survived the restart");
    assert_eq!((app.state.as_str(), app.instances), ("STARTED", 3));

    push::stop(&client, "hello", Feedback::Quiet)
        .await
        .expect("stop");
    // gorouter names the Host header as sent, port included.
    let expected = format!(
        "404 Not Found: Requested route ('hello.localhost:{}') does not exist.",
        cluster.router_port()
    );
    eventually(
        "the router forgets the stopped app",
        Duration::from_secs(30),
        || async {
            let (status, body) = cluster.get(&client, "hello.localhost", "/").await;
            (status == 404 && body.trim_end() == expected).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_droplet_never_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), &[]);
    let client = cluster.admin_client().await;
    let app_dir = sample_copy(&dir.path().join("src/broken"), "corrupted droplet test");
    let mut opts = options("broken", app_dir);
    opts.no_start = true;
    push::push(&client, &opts, Feedback::Quiet)
        .await
        .expect("upload without starting");

    let droplets: Vec<_> = std::fs::read_dir(dir.path().join("cc/blobs/droplets"))
        .expect("the CC's droplet directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
        .collect();
    assert_eq!(droplets.len(), 1, "{droplets:?}");
    let mut bytes = std::fs::read(&droplets[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&droplets[0], bytes).unwrap();

    let err = push::start(&client, "broken", Duration::from_secs(3), Feedback::Quiet)
        .await
        .expect_err("a corrupted droplet must not start");
    assert!(matches!(err, vmc::Error::StartFailed(_)), "{err}");
    let app = client.app("broken").await.unwrap();
    assert_eq!(app.running_instances, 0);
    let (status, _) = cluster.get(&client, "broken.localhost", "/").await;
    assert_eq!(status, 404);
    cluster.cfsim.wait_for_line("SHA1 mismatch");
    let instances = client.instances("broken").await.expect("instances");
    assert!(
        instances.instances.iter().all(|i| i.state != "RUNNING"),
        "{instances:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fits_no_dea_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--dea-memory", "512"]);
    let client = cluster.admin_client().await;
    let mut opts = options("huge", sample_dir());
    opts.mem = 1024;
    let err = push::push(&client, &opts, Feedback::Quiet)
        .await
        .expect_err("1024 MB fits no 512 MB DEA");
    assert_eq!(err.code(), Some(302), "{err}");
    let line = err.to_string();
    assert!(
        line.starts_with("Error 302: No resources available"),
        "{line}"
    );
    assert!(!line.contains('\n'), "one line: {line}");
    let app = client.app("huge").await.unwrap();
    assert_eq!(app.state, "STOPPED");
    assert!(instances_on_disk(dir.path(), "huge").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_controller_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--deas", "1"]);
    let client = cluster.admin_client().await;
    let err = client.app("nope").await.expect_err("no such app");
    assert_eq!(err.code(), Some(301));
    let line = err.to_string();
    assert!(
        line.starts_with("Error 301: App") && line.ends_with("not found"),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
    let anonymous = vmc::Client::new(&cluster.field("api_url"), None);
    let info = anonymous.info().await.expect("/info needs no token");
    assert!(info.user.is_none());
    assert!(anonymous.apps().await.is_err(), "/apps needs a token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_app_fails_the_push_with_its_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), &["--deas", "1"]);
    let client = cluster.admin_client().await;
    let app_dir = dir.path().join("src/crasher");
    std::fs::create_dir_all(&app_dir).unwrap();
    std::fs::write(
        app_dir.join("app.py"),
        "import sys\nprint('crash-marker: cannot start', file=sys.stderr)\nsys.exit(1)\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = push::push(&client, &options("crasher", app_dir), Feedback::Quiet)
        .await
        .expect_err("an app that exits at once must fail the push");
    let text = err.to_string();
    assert!(matches!(err, vmc::Error::StartFailed(_)), "{text}");
    assert!(text.contains("crashed"), "{text}");
    assert!(
        text.contains("crash-marker: cannot start"),
        "the stderr tail: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "detected by the crash, not the timeout"
    );
}
