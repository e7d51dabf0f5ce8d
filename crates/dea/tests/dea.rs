//! The DEA against a real broker, a real droplet download server and real app processes,
//! with a NATS client playing the cloud controller, the router and the health manager.

mod support;

use cfsim_messages::{
    dea_start, DeaAdvertise, DeaDiscover, DeaFindDroplet, DeaHeartbeat, DeaHello, DeaStop,
    DeaUpdate, DropletExited, Empty, ExitReason, FindDropletReply, InstanceState, Limits,
    RouterRegister, RouterStart,
};
use support::*;

fn discover(droplet: u64, runtime: &str, mem: u64) -> DeaDiscover {
    DeaDiscover {
        droplet,
        limits: Limits {
            mem,
            disk: 256,
            fds: 256,
        },
        name: "app".into(),
        runtime: runtime.into(),
        sha: "0".repeat(40),
        runtime_info: None,
        prod: None,
    }
}

fn find(droplet: u64) -> DeaFindDroplet {
    DeaFindDroplet {
        droplet,
        version: None,
        instances: None,
        instance_ids: None,
        indices: None,
        states: None,
        include_stats: None,
    }
}

fn stop_all(droplet: u64) -> DeaStop {
    DeaStop {
        droplet,
        version: None,
        instances: None,
        indices: None,
        states: None,
    }
}

#[tokio::test]
async fn discover_answers_with_hello_and_the_dea_holding_a_copy_answers_later() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    // Busy after one start: 10 ms (one record) + 100 ms × 128/256 = 60 ms; idle: 0 ms.
    let busy = dea(dea_config(&url, &tmp.path().join("a"), 256)).await;
    let idle = dea(dea_config(&url, &tmp.path().join("b"), 256)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(7, &sha, bytes);
    let mut start = start_message(7, "taint", &uri, &sha, 128);
    with_pid_file(&mut start, tmp.path(), false);
    let mut registers = subscribe(&cc, "router.register").await;
    publish(&cc, &dea_start(&busy.id), &start).await;
    next_matching::<RouterRegister>(&mut registers, "the busy DEA's instance", |r| {
        r.app == Some(7)
    })
    .await;

    let hellos: Vec<DeaHello> =
        request_many(&cc, "dea.discover", &discover(7, "python3", 128), 2).await;
    assert_eq!(
        hellos[0].id, idle.id,
        "the DEA without a copy answers first"
    );
    assert_eq!(hellos[1].id, busy.id);
    assert_eq!(hellos[0].ip, "127.0.0.1");
    assert_eq!(hellos[0].port, idle.file_server_addr.port());

    // A discover that fits nowhere (memory) or names a missing runtime gets no reply: the
    // fitting discover sent after them is the first thing answered.
    let inbox = cc.new_inbox();
    let mut replies = subscribe(&cc, &format!("{inbox}.*")).await;
    for (suffix, body) in [
        ("mem", discover(8, "python3", 4096)),
        ("runtime", discover(8, "cobol", 64)),
        ("ok", discover(8, "python3", 64)),
    ] {
        cc.publish_with_reply(
            "dea.discover",
            format!("{inbox}.{suffix}"),
            cfsim_messages::encode(&body).unwrap().into(),
        )
        .await
        .unwrap();
    }
    let first = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut replies))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.subject.as_str(), format!("{inbox}.ok"));
    busy.shutdown().await;
    idle.shutdown().await;
}

#[tokio::test]
async fn started_app_answers_then_heartbeat_register_stats_files_update_and_stop() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(42, &sha, bytes);
    let mut start = start_message(42, "hello", &uri, &sha, 128);
    let (pid_file, _) = with_pid_file(&mut start, tmp.path(), false);
    let mut heartbeats = subscribe(&cc, "dea.heartbeat").await;
    let mut registers = subscribe(&cc, "router.register").await;
    let mut unregisters = subscribe(&cc, "router.unregister").await;
    let mut exits = subscribe(&cc, "droplet.exited").await;
    let mut adverts = subscribe(&cc, "dea.advertise").await;
    publish(&cc, &dea_start(&dea.id), &start).await;

    // The reservation is advertised at once.
    let advert: DeaAdvertise =
        next_matching(&mut adverts, "advert after accept", |a: &DeaAdvertise| {
            a.id == dea.id && a.available_memory == 1024 - 128
        })
        .await;
    assert!(advert.runtimes.contains(&"python3".to_owned()));

    // RUNNING: one heartbeat for that instance, then router.register.
    let beat: DeaHeartbeat =
        next_matching(&mut heartbeats, "the RUNNING heartbeat", |_| true).await;
    assert_eq!(beat.dea.as_deref(), Some(dea.id.as_str()));
    assert_eq!(beat.droplets.len(), 1);
    assert_eq!(beat.droplets[0].state, InstanceState::Running);
    assert_eq!(beat.droplets[0].version, format!("{sha}-1"));
    let reg: RouterRegister = next_matching(&mut registers, "router.register", |_| true).await;
    assert_eq!(reg.dea.as_deref(), Some(dea.id.as_str()));
    assert_eq!(reg.app, Some(42));
    assert_eq!(reg.uris, vec!["hello.localhost".to_owned()]);
    assert_eq!(
        reg.private_instance_id.as_deref(),
        Some(beat.droplets[0].instance.as_str())
    );
    let tags = reg.tags.clone().unwrap();
    assert_eq!(tags["runtime"], "python3");
    assert_eq!(tags["framework"], "standalone");

    // The app answers on its port.
    let body = reqwest::get(format!("http://{}:{}/index.html", reg.host, reg.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello from cfsim\n");

    // find.droplet with stats: real memory of the process.
    let mut query = find(42);
    query.states = Some(vec![InstanceState::Running]);
    query.include_stats = Some(true);
    let found: FindDropletReply = request(&cc, "dea.find.droplet", &query).await;
    assert_eq!(found.state, InstanceState::Running);
    assert_eq!(found.index, 0);
    let stats = found.stats.clone().expect("stats of a RUNNING instance");
    assert_eq!(stats.port, Some(reg.port));
    assert_eq!(stats.mem_quota, 128 * 1024 * 1024);
    let usage = stats.usage.expect("usage");
    assert!(usage.mem > 0.0, "RSS of the app: {usage:?}");
    assert!(usage.disk > 0);
    let droplet: cfsim_messages::DropletStatusReply =
        request(&cc, "droplet.status", &Empty {}).await;
    assert_eq!(
        (droplet.name.as_str(), droplet.port),
        ("hello", Some(reg.port))
    );
    assert_eq!(droplet.uris, vec!["hello.localhost".to_owned()]);
    assert!(droplet.usage.is_some_and(|u| u.mem > 0.0));
    let status = dea_status(&cc).await;
    assert_eq!(status.reserved_memory, 128);
    assert_eq!(status.num_clients, 1);
    assert!(status.used_memory > 0.0);

    // The file server: basic auth, read-only files of the instance, no escape.
    let http = reqwest::Client::new();
    let [user, password] = found.credentials.clone();
    let log_url = format!("{}{}/logs/stdout.log", found.file_uri, found.staged);
    let log = http
        .get(&log_url)
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    assert!(log.text().await.unwrap().contains("starting on"));
    let anonymous = http.get(&log_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let listing = http
        .get(format!("{}{}/", found.file_uri, found.staged))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.contains("logs/") && listing.contains("startup"),
        "{listing}"
    );
    let escape = http
        .get(format!(
            "{}{}/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
            found.file_uri, found.staged
        ))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_ne!(escape.status(), 200);

    // healthmanager.start: a full heartbeat; router.start: registered again.
    publish(&cc, "healthmanager.start", &Empty {}).await;
    let beat: DeaHeartbeat = next_matching(&mut heartbeats, "full heartbeat", |_| true).await;
    assert_eq!(beat.droplets.len(), 1);
    publish(&cc, "router.start", &RouterStart::v1("r1")).await;
    let again: RouterRegister = next_matching(&mut registers, "re-register", |_| true).await;
    assert_eq!(again.port, reg.port);

    // dea.update: the new uri is registered, the dropped one unregistered.
    let mut update: DeaUpdate = start.clone();
    update.index = None;
    update.uris = vec!["hi.localhost".into()];
    publish(&cc, "dea.update", &update).await;
    let added: RouterRegister =
        next_matching(&mut registers, "register of the new uri", |_| true).await;
    assert_eq!(added.uris, vec!["hi.localhost".to_owned()]);
    let removed: RouterRegister =
        next_matching(&mut unregisters, "unregister of the old uri", |_| true).await;
    assert_eq!(removed.uris, vec!["hello.localhost".to_owned()]);

    // dea.stop: STOPPED, unregistered, the process is gone, the memory is free.
    let pid = read_pid(&pid_file).await;
    assert!(alive(pid));
    publish(&cc, "dea.stop", &stop_all(42)).await;
    let exit: DropletExited = next_matching(&mut exits, "droplet.exited", |_| true).await;
    assert_eq!(exit.reason, ExitReason::Stopped);
    assert_eq!(exit.crash_timestamp, None);
    assert_eq!(exit.instance, beat.droplets[0].instance);
    let gone: RouterRegister =
        next_matching(&mut unregisters, "unregister at stop", |_| true).await;
    assert_eq!(gone.uris, vec!["hi.localhost".to_owned()]);
    wait_until("the app process to be gone", || {
        std::future::ready(!alive(pid))
    })
    .await;
    let status = dea_status(&cc).await;
    assert_eq!(status.reserved_memory, 0);
    dea.shutdown().await;
}

#[tokio::test]
async fn killed_app_is_reported_crashed_and_kept_until_stopped() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(5, &sha, bytes);
    let mut start = start_message(5, "crashy", &uri, &sha, 64);
    let (pid_file, _) = with_pid_file(&mut start, tmp.path(), false);
    let mut registers = subscribe(&cc, "router.register").await;
    let mut unregisters = subscribe(&cc, "router.unregister").await;
    let mut exits = subscribe(&cc, "droplet.exited").await;
    publish(&cc, &dea_start(&dea.id), &start).await;
    next_matching::<RouterRegister>(&mut registers, "register", |_| true).await;
    let pid = read_pid(&pid_file).await;

    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit: DropletExited = next_matching(&mut exits, "crash report", |_| true).await;
    assert_eq!(exit.reason, ExitReason::Crashed);
    let now = cfsim_dea::instance::now_epoch();
    let crashed_at = exit.crash_timestamp.expect("crash_timestamp");
    assert!(crashed_at <= now && crashed_at + 60 > now);
    let gone: RouterRegister = next_matching(&mut unregisters, "unregister", |_| true).await;
    assert_eq!(gone.app, Some(5));

    // The record stays, CRASHED, and still counts for heartbeats; the memory is free.
    let mut query = find(5);
    query.states = Some(vec![InstanceState::Crashed]);
    let found: FindDropletReply = request(&cc, "dea.find.droplet", &query).await;
    assert_eq!(found.instance, exit.instance);
    assert_eq!(dea_status(&cc).await.reserved_memory, 0);

    // dea.stop turns it DELETED: the record disappears.
    publish(&cc, "dea.stop", &stop_all(5)).await;
    wait_until("the crashed record to be removed", || {
        std::future::ready(dea.instances().is_empty())
    })
    .await;
    dea.shutdown().await;
}

#[tokio::test]
async fn sha1_mismatch_crashes_and_never_starts() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let claimed = "0123456789abcdef0123456789abcdef01234567";
    let uri = droplets.add(9, claimed, bytes);
    let mut start = start_message(9, "corrupt", &uri, claimed, 64);
    let (pid_file, _) = with_pid_file(&mut start, tmp.path(), false);
    let mut exits = subscribe(&cc, "droplet.exited").await;
    publish(&cc, &dea_start(&dea.id), &start).await;
    let exit: DropletExited = next_matching(&mut exits, "crash report", |_| true).await;
    assert_eq!(exit.reason, ExitReason::Crashed);
    assert!(exit.crash_timestamp.is_some());
    let found: FindDropletReply = request(&cc, "dea.find.droplet", &find(9)).await;
    assert_eq!(found.state, InstanceState::Crashed);
    assert!(!pid_file.exists(), "the app never ran");
    let instance_dir = tmp.path().join("dea/instances").join(&found.staged);
    assert!(
        !instance_dir.join("startup").exists(),
        "nothing was unpacked"
    );
    let log = std::fs::read_to_string(instance_dir.join("logs/startup.log")).unwrap();
    assert!(log.contains("SHA1 mismatch"), "{log}");
    assert!(!tmp
        .path()
        .join(format!("dea/droplets/{claimed}.tgz"))
        .exists());
    dea.shutdown().await;
}

#[tokio::test]
async fn path_escaping_droplet_is_rejected() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = tarball(&[
        Entry::File("startup", 0o755, STARTUP.as_bytes()),
        Entry::RawPath("../../../escaped", b"owned\n"),
    ]);
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(11, &sha, bytes);
    let mut start = start_message(11, "evil", &uri, &sha, 64);
    let (pid_file, _) = with_pid_file(&mut start, tmp.path(), false);
    let mut exits = subscribe(&cc, "droplet.exited").await;
    publish(&cc, &dea_start(&dea.id), &start).await;
    let exit: DropletExited = next_matching(&mut exits, "crash report", |_| true).await;
    assert_eq!(exit.reason, ExitReason::Crashed);
    assert!(!pid_file.exists(), "the app never ran");
    assert!(!tmp.path().join("escaped").exists());
    assert!(!tmp.path().join("dea/escaped").exists());
    dea.shutdown().await;
}

#[tokio::test]
async fn start_that_does_not_fit_is_dropped_silently() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 256)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(3, &sha, bytes);
    let mut too_big = start_message(3, "big", &uri, &sha, 512);
    with_pid_file(&mut too_big, tmp.path(), false);
    let mut unknown_runtime = start_message(3, "big", &uri, &sha, 64);
    unknown_runtime.runtime = "cobol".into();
    let mut fits = start_message(3, "small", &uri, &sha, 128);
    fits.index = Some(1);
    with_pid_file(&mut fits, tmp.path(), false);
    let subject = dea_start(&dea.id);
    // The three arrive in order on the one start subscription: once the last is reserved,
    // the first two have been handled.
    publish(&cc, &subject, &too_big).await;
    publish(&cc, &subject, &unknown_runtime).await;
    publish(&cc, &subject, &fits).await;
    wait_until("the fitting start to be reserved", || async {
        dea_status(&cc).await.num_clients >= 1
    })
    .await;
    let status = dea_status(&cc).await;
    assert_eq!(status.reserved_memory, 128);
    assert_eq!(status.num_clients, 1);
    let all: FindDropletReply = request(&cc, "dea.find.droplet", &find(3)).await;
    assert_eq!(all.index, 1);
    dea.shutdown().await;
}

#[tokio::test]
async fn shutdown_reports_dea_shutdown_and_leaves_no_process() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(21, &sha, bytes);
    let mut registers = subscribe(&cc, "router.register").await;
    let mut unregisters = subscribe(&cc, "router.unregister").await;
    let mut exits = subscribe(&cc, "droplet.exited").await;
    let mut pids = Vec::new();
    for index in 0..2 {
        let mut start = start_message(21, "twice", &uri, &sha, 64);
        start.index = Some(index);
        let (pid, child) = with_pid_file(&mut start, tmp.path(), true);
        pids.push((pid, child));
        publish(&cc, &dea_start(&dea.id), &start).await;
    }
    for _ in 0..2 {
        next_matching::<RouterRegister>(&mut registers, "register", |_| true).await;
    }
    let mut processes = Vec::new();
    for (pid, child) in &pids {
        processes.push(read_pid(pid).await);
        processes.push(read_pid(child).await);
    }
    assert!(processes.iter().all(|p| alive(*p)));

    dea.shutdown().await;
    for _ in 0..2 {
        let exit: DropletExited = next_matching(&mut exits, "shutdown exit", |_| true).await;
        assert_eq!(exit.reason, ExitReason::DeaShutdown);
        next_matching::<RouterRegister>(&mut unregisters, "unregister", |_| true).await;
    }
    for pid in processes {
        wait_until("every child process to be gone", || {
            std::future::ready(!alive(pid))
        })
        .await;
    }
}

#[tokio::test]
async fn dropping_the_handle_kills_the_children() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 1024)).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let bytes = app_droplet();
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(31, &sha, bytes);
    let mut start = start_message(31, "dropped", &uri, &sha, 64);
    let (pid_file, child_file) = with_pid_file(&mut start, tmp.path(), true);
    let mut registers = subscribe(&cc, "router.register").await;
    publish(&cc, &dea_start(&dea.id), &start).await;
    next_matching::<RouterRegister>(&mut registers, "register", |_| true).await;
    let pid = read_pid(&pid_file).await;
    let child = read_pid(&child_file).await;
    drop(dea);
    wait_until("the app to be killed", || std::future::ready(!alive(pid))).await;
    wait_until("its child to be killed", || {
        std::future::ready(!alive(child))
    })
    .await;
}

#[tokio::test]
async fn locate_makes_an_idle_dea_advertise_and_status_answers() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let dea = dea(dea_config(&url, &tmp.path().join("dea"), 2048)).await;
    let cc = nats(&url).await;
    let mut adverts = subscribe(&cc, "dea.advertise").await;
    publish(&cc, "dea.locate", &Empty {}).await;
    let advert: DeaAdvertise =
        next_matching(&mut adverts, "advert on locate", |a: &DeaAdvertise| {
            a.id == dea.id
        })
        .await;
    assert_eq!(advert.available_memory, 2048);
    let status = dea_status(&cc).await;
    assert_eq!(status.id, dea.id);
    assert_eq!(status.max_memory, 2048);
    assert_eq!(status.reserved_memory, 0);
    assert_eq!(status.state, None);
    dea.shutdown().await;
}

#[tokio::test]
async fn timers_advertise_heartbeat_and_reap_crashed_instances() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = dea_config(&url, &tmp.path().join("dea"), 512);
    config.intervals.advertise = 0.05;
    config.intervals.heartbeat = 0.05;
    config.intervals.crashes_reaper = 0.05;
    config.intervals.crash_lifetime = 0.5;
    let cc = nats(&url).await;
    let mut adverts = subscribe(&cc, "dea.advertise").await;
    let mut heartbeats = subscribe(&cc, "dea.heartbeat").await;
    let dea = dea(config).await;
    // Periodic adverts without any dea.locate.
    for _ in 0..3 {
        next_matching::<DeaAdvertise>(&mut adverts, "periodic advert", |a| a.id == dea.id).await;
    }
    // A crashed instance is in every heartbeat until the reaper removes it.
    let droplets = DropletServer::start().await;
    let claimed = "89abcdef0123456789abcdef0123456789abcdef";
    let uri = droplets.add(13, claimed, app_droplet());
    publish(
        &cc,
        &dea_start(&dea.id),
        &start_message(13, "reaped", &uri, claimed, 64),
    )
    .await;
    let beat: DeaHeartbeat = next_matching(
        &mut heartbeats,
        "heartbeat with the crash",
        |b: &DeaHeartbeat| b.droplets.iter().any(|d| d.state == InstanceState::Crashed),
    )
    .await;
    assert_eq!(beat.droplets[0].droplet, 13);
    wait_until("the crashed record to be reaped", || {
        std::future::ready(dea.instances().is_empty())
    })
    .await;
    dea.shutdown().await;
}

#[tokio::test]
async fn app_that_never_opens_its_port_crashes_and_is_killed() {
    let (_broker, url) = broker().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = dea_config(&url, &tmp.path().join("dea"), 512);
    config.readiness_timeout = 0.3;
    let dea = dea(config).await;
    let cc = nats(&url).await;
    let droplets = DropletServer::start().await;
    let startup = "#!/bin/sh\necho $$ > \"$PID_FILE\"\nexec %VCAP_LOCAL_RUNTIME% -c 'sleep 300'\n";
    let bytes = tarball(&[Entry::File("startup", 0o755, startup.as_bytes())]);
    let sha = sha1_hex(&bytes);
    let uri = droplets.add(17, &sha, bytes);
    let mut start = start_message(17, "deaf", &uri, &sha, 64);
    start.runtime = "sh".into();
    let (pid_file, _) = with_pid_file(&mut start, tmp.path(), false);
    let mut exits = subscribe(&cc, "droplet.exited").await;
    publish(&cc, &dea_start(&dea.id), &start).await;
    let exit: DropletExited = next_matching(&mut exits, "crash report", |_| true).await;
    assert_eq!(exit.reason, ExitReason::Crashed);
    let pid = read_pid(&pid_file).await;
    wait_until("the deaf app to be killed", || {
        std::future::ready(!alive(pid))
    })
    .await;
    let found: FindDropletReply = request(&cc, "dea.find.droplet", &find(17)).await;
    assert_eq!(found.state, InstanceState::Crashed);
    dea.shutdown().await;
}
