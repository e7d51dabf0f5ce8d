//! `cfsim flow render` end to end: the real binary draws the recording in
//! tests/fixtures/flows/push.jsonl (a push, then a minute of steady state reduced to the
//! heartbeats and `router.start` rounds) as Mermaid, PlantUML and SVG (checked well-formed by a tiny
//! XML checker below), with and without folding, and refuses a file that is not a recording;
//! tests/fixtures/flows/interleaved.jsonl (a minute of two DEAs' interleaved periodic traffic
//! around a `vmc stats` and a `vmc stop`) folds into one loop per stream.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/flows/push.jsonl")
}

fn cfsim_flow_render(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_cfsim"))
        .args(["flow", "render"])
        .args(args)
        .output()
        .expect("run cfsim");
    output
}

fn render(format: &str, extra: &[&str]) -> String {
    render_fixture("push.jsonl", format, extra)
}

/// Asserts that `needles` occur in `haystack` in this order.
fn assert_in_order(haystack: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match haystack[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("{needle:?} missing (or out of order) in\n{haystack}"),
        }
    }
}

#[test]
fn mermaid_names_the_components_and_subjects_in_order() {
    let text = render("mermaid", &[]);
    assert_in_order(
        &text,
        &[
            "sequenceDiagram\n",
            "participant p0 as dea-0\n",
            "participant p1 as cloud_controller-0\n",
            "participant p2 as dea-1\n",
            "participant p3 as health_manager-0\n",
            "participant p4 as router-0\n",
            "p1->>p0: dea.discover {droplet=1, name=hello}\n",
            "p2-->>p1: dea.discover reply (3.4 ms)\n",
            "p1->>p2: dea.1-9be2.start {droplet=1, name=hello, index=0}\n",
            "p1->>p3: droplet.updated {droplet=1}\n",
            "p0-->>p1: dea.discover reply (51 ms)\n",
            "p2->>p3: dea.heartbeat {droplet=1, index=0, state=STARTING}\n",
            // Steady state: each periodic stream drawn once, where it started.
            "loop every ~10 s (x9)\n",
            "p2->>p3: dea.heartbeat {droplet=1, index=0, state=RUNNING}\n",
            "end\n",
            "loop every ~30 s (x3)\n",
            "p2->>p4: router.register {uris=[hello.localhost]}\n",
            "end\n",
            "p1->>p3: healthmanager.health {droplet=1}\n",
            "p3-->>p1: healthmanager.health reply {droplet=1, healthy=1} (1.2 ms)\n",
            // Two `router.start` rounds are too few to be a stream.
            "p4->>p0: router.start\n",
            "p1->>p4: router.register {uris=[api.localhost]}\n",
            "p4->>p0: router.start\n",
            "p1->>p4: router.register {uris=[api.localhost]}\n",
        ],
    );
    assert!(text.ends_with("p1->>p4: router.register {uris=[api.localhost]}\n"));
    assert!(!text.contains("_INBOX"), "inboxes are never shown raw");
}

#[test]
fn no_fold_keeps_every_heartbeat() {
    let folded = render("mermaid", &[]);
    let unfolded = render("mermaid", &["--no-fold"]);
    assert!(!unfolded.contains("loop "));
    assert_eq!(folded.matches("dea.heartbeat").count(), 2);
    assert_eq!(unfolded.matches("dea.heartbeat").count(), 10);
    assert_eq!(unfolded.matches("router.start").count(), 6);
}

#[test]
fn plantuml_is_a_sequence_diagram() {
    let text = render("plantuml", &[]);
    assert_in_order(
        &text,
        &[
            "@startuml\n",
            "participant \"dea-0\" as p0\n",
            "p1 -> p0 : dea.discover {droplet=1, name=hello}\n",
            "p2 --> p1 : dea.discover reply (3.4 ms)\n",
            "loop every <U+007E>10 s (x9)\n",
            "  p2 -> p3 : dea.heartbeat {droplet=1, index=0, state=RUNNING}\n",
            "end\n",
            "loop every <U+007E>30 s (x3)\n",
            "end\n",
            "p4 -> p0 : router.start\n",
            "@enduml\n",
        ],
    );
}

#[test]
fn svg_is_well_formed_and_written_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("push.svg");
    let printed = render("svg", &["--output", out.to_str().unwrap()]);
    assert!(printed.is_empty(), "--output writes nothing to stdout");
    let svg = std::fs::read_to_string(&out).unwrap();
    check_well_formed(&svg);
    assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    for text in [
        "cloud_controller-0",
        "router-0",
        "loop every ~10 s (x9)",
        "loop every ~30 s (x3)",
        "dea.discover reply (3.4 ms)",
    ] {
        assert!(svg.contains(&format!(">{text}</text>")), "{text} missing");
    }
    assert!(!svg.contains("_INBOX"));
}

#[test]
fn a_file_that_is_not_a_recording_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let first = std::fs::read_to_string(fixture()).unwrap();
    let first = first.lines().next().unwrap();
    std::fs::write(&bad, format!("{first}\n\n{{\"not\":\"an event\"}}\n")).unwrap();
    let output = cfsim_flow_render(&[bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.jsonl:3: not a flow event"), "{stderr}");
}

// -- a tiny XML well-formedness checker ---------------------------------------------------------

/// Panics unless `xml` is one root element with balanced, properly nested tags, quoted
/// attributes and only the predefined entities or character references.
fn check_well_formed(xml: &str) {
    let mut open: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt], open.is_empty());
        rest = &rest[lt..];
        let end = tag_end(rest);
        let tag = &rest[..=end];
        rest = &rest[end + 1..];
        if tag.starts_with("<?") || tag.starts_with("<!--") {
            continue;
        }
        if let Some(name) = tag.strip_prefix("</") {
            let name = name.trim_end_matches('>').trim();
            assert_eq!(open.pop().as_deref(), Some(name), "mismatched </{name}>");
            continue;
        }
        let name: String = tag[1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/' && *c != '>')
            .collect();
        assert!(!name.is_empty(), "empty tag name in {tag}");
        if open.is_empty() {
            roots += 1;
        }
        if !tag.ends_with("/>") {
            open.push(name);
        }
    }
    check_text(rest, true);
    assert!(open.is_empty(), "unclosed elements: {open:?}");
    assert_eq!(roots, 1, "exactly one root element");
}

/// The index of the `>` closing the tag at the start of `s`, skipping quoted attribute values.
fn tag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '<') => panic!("'<' inside a tag: {}", &s[..i]),
            (None, '>') => return i,
            _ => {}
        }
    }
    panic!("unterminated tag: {s}");
}

/// Text between tags: entities only as `&name;` of the predefined five or `&#…;`.
fn check_text(text: &str, outside_root: bool) {
    if outside_root {
        assert!(
            text.trim().is_empty(),
            "text outside the root element: {text:?}"
        );
    }
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity)
            || entity.starts_with("&#");
        assert!(known && entity.ends_with(';'), "bad entity {entity:?}");
    }
}

// -- interleaved periodic streams -------------------------------------------------------------

fn render_interleaved(extra: &[&str]) -> String {
    let fixture = fixture().with_file_name("interleaved.jsonl");
    let mut args = vec![fixture.to_str().unwrap(), "--format", "mermaid"];
    args.extend_from_slice(extra);
    let output = cfsim_flow_render(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn mermaid_folds_interleaved_periodic_streams() {
    let text = render_interleaved(&[]);
    assert_in_order(
        &text,
        &[
            "participant p0 as dea-0\n",
            "participant p1 as cloud_controller-0\n",
            "participant p2 as dea-1\n",
            "participant p3 as health_manager-0\n",
            "participant p4 as router-0\n",
            "    loop every ~5 s (x7)\n        p0->>p1: dea.advertise {available_memory=4032}\n    end\n",
            "    loop every ~5 s (x12)\n        p2->>p1: dea.advertise {available_memory=4032}\n    end\n",
            "    loop every ~10 s (x3)\n        p0->>p3: dea.heartbeat {droplet=2, index=0, state=RUNNING}\n    end\n",
            "    loop every ~10 s (x6)\n        p2->>p3: dea.heartbeat {droplet=1, index=0, state=RUNNING}\n    end\n",
            // router.start and the registrations it triggers keep one rhythm: one loop.
            "    loop every ~20 s (x3)\n        p4->>p0: router.start\n",
            "        p2->>p4: router.register {uris=[hello.localhost]}\n",
            "        p1->>p4: router.register {uris=[api.localhost]}\n    end\n",
            // The one-offs stay, in order; dea-0's app is registered twice before it stops.
            "    p0->>p4: router.register {uris=[other.localhost]}\n",
            "    p1->>p0: dea.find.droplet {droplet=1, indices=[0]}\n",
            "    p2-->>p1: dea.find.droplet reply {droplet=1, index=0, state=RUNNING} (2.1 ms)\n",
            "    p0->>p4: router.register {uris=[other.localhost]}\n",
            "    p1->>p0: dea.stop {droplet=2}\n",
            "    p0->>p4: router.unregister {uris=[other.localhost]}\n",
            "    p0->>p3: droplet.exited {droplet=2, index=0, reason=STOPPED}\n",
            // What dea-0 sends once its app is gone is a new stream.
            "    loop every ~10 s (x3)\n        p0->>p3: dea.heartbeat {droplets=0}\n    end\n",
            "    loop every ~5 s (x5)\n        p0->>p1: dea.advertise {available_memory=4096}\n    end\n",
        ],
    );
    assert_eq!(text.matches("loop ").count(), 7);
    assert_eq!(text.matches("->>").count(), 20);
}

#[test]
fn no_fold_keeps_every_interleaved_message() {
    let text = render_interleaved(&["--no-fold"]);
    assert!(!text.contains("loop "));
    // 52 events; router.start, dea.find.droplet and dea.stop fan out to more than one.
    assert_eq!(text.matches("dea.advertise").count(), 24);
    assert_eq!(text.matches("dea.heartbeat").count(), 12);
    assert_eq!(text.matches("->>").count(), 52 + 3 * 2 + 1 + 1);
}

// -- HTTP exchanges -------------------------------------------------------------------------------
// tests/fixtures/flows/push-with-http.jsonl: a push with the HTTP exchanges the components report
// (vmc → CC, a DEA fetching its droplet, a request through the router to the app), written as
// the hops arrived: a little after the tap's events of the same moment.

/// `cfsim flow render tests/fixtures/flows/<name> --format <format> <extra>`'s output.
fn render_fixture(name: &str, format: &str, extra: &[&str]) -> String {
    let fixture = fixture().with_file_name(name);
    let mut args = vec![fixture.to_str().unwrap(), "--format", format];
    args.extend_from_slice(extra);
    let output = cfsim_flow_render(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cfsim flow render failed: {stderr}"
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn http_exchanges_are_drawn_in_time_order_from_vmc_on() {
    const HTTP: &str = "push-with-http.jsonl";
    let recording = std::fs::read_to_string(fixture().with_file_name(HTTP)).unwrap();
    assert!(
        recording.starts_with(r#"{"ts_ns":1754000001000500000,"subject":"dea.advertise""#),
        "the recording starts with a tap event newer than the first hop"
    );
    let text = render_fixture(HTTP, "mermaid", &["--no-fold"]);
    assert_in_order(
        &text,
        &[
            "participant p0 as vmc\n",
            "participant p1 as cloud_controller-0\n",
            "participant p7 as 127.0.0.1:40123\n",
            "p0->>p1: POST /apps\n",
            "p1-->>p0: 302 Found (9.8 ms)\n",
            "p0->>p1: PUT /apps/hello\n",
            "p1->>p2: dea.discover {droplet=1, name=hello}\n",
            "p1->>p3: dea.1-9be2.start {droplet=1, name=hello, index=0}\n",
            "p1-->>p0: 200 OK (5.0 ms)\n",
            "p3->>p1: GET /staged_droplets/1/5b7c0f\n",
            "p1-->>p3: 200 OK (5.5 ms)\n",
            "p3->>p5: router.register {uris=[hello.localhost]}\n",
            "p6->>p5: GET / {host=hello.localhost}\n",
            "p5->>p7: GET /\n",
            "p7-->>p5: 200 OK (2.8 ms)\n",
            "p5-->>p6: 200 OK (3.4 ms)\n",
        ],
    );
    assert!(!text.contains("HTTP "), "reply tokens are never shown");
    let folded = render_fixture(HTTP, "mermaid", &[]);
    assert_in_order(
        &folded,
        &["participant p0 as vmc\n", "p0->>p1: POST /apps\n"],
    );
    let svg = render_fixture(HTTP, "svg", &[]);
    check_well_formed(&svg);
    assert!(
        svg.contains(">POST /apps</text>"),
        "the SVG labels the request"
    );
}
