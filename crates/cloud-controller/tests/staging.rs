//! Upload and staging: a zip per runtime is detected, the droplet downloads from
//! `/staged_droplets/:id/:sha1` with the recorded SHA-1 and holds `startup` + `app/`;
//! failures are APP_STAGING_ERROR; the resource pool answers `POST /resources`.

mod support;

use flate2::read::GzDecoder;
use serde_json::json;
use sha1::{Digest, Sha1};
use std::io::Read;
use support::*;

async fn droplet_of(
    api: &Api,
    cc: &cfsim_cloud_controller::CloudControllerHandle,
    name: &str,
) -> (String, Vec<u8>) {
    let app = cc
        .controller
        .store
        .apps(None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == name)
        .unwrap();
    let sha = app.staged_sha1.clone().expect("staged");
    let anon = Api {
        token: None,
        ..api.clone()
    };
    let resp = anon
        .req(
            reqwest::Method::GET,
            &format!("/staged_droplets/{}/{sha}", app.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    (sha, resp.bytes().await.unwrap().to_vec())
}

fn entries(tgz: &[u8]) -> Vec<(String, String, u32)> {
    let mut archive = tar::Archive::new(GzDecoder::new(tgz));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mode = e.header().mode().unwrap();
            let mut body = String::new();
            let _ = e.read_to_string(&mut body);
            (path, body, mode)
        })
        .collect()
}

/// (app name, files, runtime, framework, a line of `startup`).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn each_runtime_is_detected_and_its_droplet_downloads() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let api = Api::admin(&cc).await;
    let cases: [Case; 4] = [
        (
            "py",
            &[("app.py", "print(1)\n")],
            "python3",
            "standalone",
            "exec %VCAP_LOCAL_RUNTIME% app.py",
        ),
        (
            "wsgi",
            &[("wsgi.py", "def application(e, s): pass\n")],
            "python3",
            "wsgi",
            "from wsgi import application",
        ),
        (
            "nodeapp",
            &[
                ("package.json", r#"{"scripts":{"start":"node server.js"}}"#),
                ("server.js", ""),
            ],
            "node",
            "node",
            "exec %VCAP_LOCAL_RUNTIME% server.js",
        ),
        (
            "shapp",
            &[("Procfile", "web: ./run.sh\n"), ("run.sh", "#!/bin/sh\n")],
            "sh",
            "standalone",
            "exec %VCAP_LOCAL_RUNTIME% -c './run.sh'",
        ),
    ];
    for (name, files, runtime, framework, command) in cases {
        api.create_app(name).await;
        let (status, body) = api.upload(name, zip_of(files)).await;
        assert_eq!(status, 200, "{name}: {body}");
        let (_, app) = api.get(&format!("/apps/{name}")).await;
        assert_eq!(
            app["staging"],
            json!({"model": framework, "stack": runtime}),
            "{name}"
        );
        let (sha, tgz) = droplet_of(&api, &cc, name).await;
        assert_eq!(
            hex::encode(Sha1::digest(&tgz)),
            sha,
            "{name}: the droplet's SHA-1"
        );
        assert_eq!(app["version"], format!("{sha}-0"));
        let entries = entries(&tgz);
        let startup = entries
            .iter()
            .find(|(p, _, _)| p == "startup")
            .expect("startup");
        assert!(startup.1.contains(command), "{name}: {}", startup.1);
        assert!(startup.1.contains("cd app"));
        assert_eq!(startup.2 & 0o111, 0o111, "startup is executable");
        for (file, _) in files {
            assert!(
                entries.iter().any(|(p, _, _)| p == &format!("app/{file}")),
                "{name}: app/{file}"
            );
        }
    }
    // A wrong SHA-1 or id is a 404, without any auth.
    let anon = Api {
        token: None,
        ..api.clone()
    };
    assert_eq!(anon.get("/staged_droplets/1/0000").await.0, 404);
    assert_eq!(anon.get("/staged_droplets/999/0000").await.0, 404);
    cc.shutdown().await;
}

#[tokio::test]
async fn staging_failures_are_app_staging_errors() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let api = Api::admin(&cc).await;
    api.create_app("bad").await;
    let (status, err) = api
        .upload("bad", zip_of(&[("README", "nothing to run")]))
        .await;
    assert_eq!((status, err["code"].as_u64()), (500, Some(310)), "{err}");
    assert!(
        err["description"].as_str().unwrap().contains("Procfile"),
        "{err}"
    );
    let (status, err) = api.upload("bad", b"not a zip".to_vec()).await;
    assert_eq!((status, err["code"].as_u64()), (500, Some(310)));
    let (status, err) = api
        .upload("bad", zip_of(&[("../escape.py", "x"), ("app.py", "")]))
        .await;
    assert_eq!((status, err["code"].as_u64()), (500, Some(310)));
    assert!(
        err["description"].as_str().unwrap().contains("escapes"),
        "{err}"
    );
    assert!(!dir.path().join("blobs/escape.py").exists());
    assert_eq!(
        api.get("/apps/bad").await.1["version"],
        serde_json::Value::Null
    );
    cc.shutdown().await;
}

#[tokio::test]
async fn resource_pool_answers_known_files_and_fills_uploads() {
    let b = broker().await;
    let dir = tempfile::tempdir().unwrap();
    let cc = cc(config(&nats_url(&b), dir.path())).await;
    let api = Api::admin(&cc).await;
    let lib = "x = 42\n".repeat(100);
    api.create_app("one").await;
    let (status, _) = api
        .upload(
            "one",
            zip_of(&[("app.py", "import lib\n"), ("lib.py", &lib)]),
        )
        .await;
    assert_eq!(status, 200);
    let lib_sha = hex::encode(Sha1::digest(lib.as_bytes()));
    let unknown = "a".repeat(40);
    let wanted = json!([{"sha1": lib_sha, "size": lib.len(), "fn": "lib.py"}, {"sha1": unknown, "size": 1, "fn": "z"}]);
    let (status, known) = api.post("/resources", wanted).await;
    assert_eq!(status, 200);
    assert_eq!(
        known,
        json!([{"sha1": lib_sha, "size": lib.len(), "fn": "lib.py"}])
    );
    // A second app sends only app.py and references lib.py from the pool.
    api.create_app("two").await;
    let form = reqwest::multipart::Form::new()
        .text("_method", "put")
        .text(
            "resources",
            json!([{"sha1": lib_sha, "size": lib.len(), "fn": "pkg/lib.py"}]).to_string(),
        )
        .part(
            "application",
            reqwest::multipart::Part::bytes(zip_of(&[("app.py", "")])).file_name("a.zip"),
        );
    let resp = api
        .req(reqwest::Method::PUT, "/apps/two/application")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, tgz) = droplet_of(&api, &cc, "two").await;
    let entries = entries(&tgz);
    let pooled = entries
        .iter()
        .find(|(p, _, _)| p == "app/pkg/lib.py")
        .expect("pooled file in the droplet");
    assert_eq!(pooled.1, lib);
    cc.shutdown().await;
}
