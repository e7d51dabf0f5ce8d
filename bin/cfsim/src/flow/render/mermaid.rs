//! Mermaid output: a `sequenceDiagram` with one `participant pN as <name>` per component
//! (plain `pN` ids, so any connection name is safe), `->>` for publishes and requests, `-->>`
//! for replies, `loop every ~10 s (x6) … end` around a periodic stream and `Note over` for
//! fan-out.
//! Text is escaped with Mermaid's entity codes (`#59;` for `;`, `#35;` for `#`, `#lt;` `#gt;`).

use super::walk::{self, Dialect};
use super::{Diagram, Style};

/// The diagram as Mermaid text.
pub fn render(diagram: &Diagram) -> String {
    walk::render::<Mermaid>(diagram)
}

struct Mermaid;

impl Dialect for Mermaid {
    const HEADER: &'static str = "sequenceDiagram\n";
    const FOOTER: &'static str = "";
    const INDENT: &'static str = "    ";
    const NESTED: &'static str = "    ";

    fn escape(text: &str) -> String {
        escape(text)
    }

    fn participant(id: &str, name: &str) -> String {
        format!("participant {id} as {}", escape(name))
    }

    fn arrow(from: &str, style: Style, to: &str, text: &str) -> String {
        let arrow = match style {
            Style::Send => "->>",
            Style::Reply => "-->>",
        };
        format!("{from}{arrow}{to}: {text}")
    }

    fn note(over: &str, text: &str) -> String {
        format!("Note over {over}: {text}")
    }

    fn loop_start(caption: &str) -> String {
        format!("loop {caption}")
    }
}

/// Text made safe for a Mermaid message, note or participant label (one line).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::flow::render::sample::{event, push, request, PUSH_SUBJECTS};
    use crate::flow::render::{render as render_events, Format};
    use serde_json::json;

    fn mermaid(events: &[cfsim_nats_server::tap::FlowEvent], fold: bool) -> String {
        render_events(events, Format::Mermaid, fold)
    }

    /// Positions of `needles` in `haystack`, each searched after the previous one.
    fn in_order(haystack: &str, needles: &[&str]) {
        let mut from = 0;
        for needle in needles {
            let found = haystack[from..].find(needle);
            assert!(
                found.is_some(),
                "{needle:?} missing after byte {from} in\n{haystack}"
            );
            from += found.unwrap() + needle.len();
        }
    }

    #[test]
    fn a_push_names_the_components_and_subjects_in_order() {
        let text = mermaid(&push(), false);
        assert!(text.starts_with("sequenceDiagram\n"));
        in_order(
            &text,
            &[
                "participant p0 as cloud_controller-0",
                "participant p1 as dea-0",
                "participant p2 as dea-1",
                "participant p3 as health_manager-0",
                "participant p4 as router-0",
            ],
        );
        let arrows: Vec<&str> = text.lines().filter(|l| l.contains(">>")).collect();
        let subjects: Vec<String> = PUSH_SUBJECTS.iter().map(|s| format!(": {s}")).collect();
        let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
        in_order(&arrows.join("\n"), &subjects);
        assert!(text.contains("    p0->>p1: dea.discover {droplet=1, name=hello}\n"));
        assert!(text.contains("    p0->>p2: dea.discover {droplet=1, name=hello}\n"));
        assert!(text.contains("    p2->>p4: router.register {uris=[hello.localhost]}\n"));
    }

    #[test]
    fn replies_are_dashed_and_carry_the_request_subject_and_latency() {
        let text = mermaid(&push(), false);
        assert!(
            text.contains("    p2-->>p0: dea.discover reply (5.0 ms)\n"),
            "{text}"
        );
        assert!(
            text.contains("    p1-->>p0: dea.discover reply (12 ms)\n"),
            "{text}"
        );
        assert!(
            text.contains("p3-->>p0: healthmanager.health reply {droplet=1, healthy=1} (3.0 ms)")
        );
        assert!(!text.contains("_INBOX"));
    }

    #[test]
    fn heartbeats_are_one_loop_where_the_first_was() {
        let text = mermaid(&push(), true);
        let expected = "    p2->>p0: dea.advertise {available_memory=4032}\n    \
            loop every ~10 s (x6)\n        \
            p2->>p3: dea.heartbeat {droplet=1, index=0, state=RUNNING}\n    \
            end\n    \
            p2->>p4: router.register {uris=[hello.localhost]}\n";
        assert!(text.contains(expected), "{text}");
        assert_eq!(text.matches("dea.heartbeat").count(), 1);
    }

    #[test]
    fn a_periodic_request_and_its_replies_share_one_loop() {
        let mut events = Vec::new();
        for n in 0..3 {
            let (t, inbox) = (n * 5_000, format!("_INBOX.{n}"));
            let health = json!({"droplets":[{"droplet":1}]});
            let hm = "health_manager-0";
            events.push(request(
                t,
                "healthmanager.health",
                &inbox,
                "cloud_controller-0",
                &[hm],
                health,
            ));
            let answer = json!({"droplet":1,"healthy":1});
            events.push(event(t + 2, &inbox, hm, &["cloud_controller-0"], answer));
        }
        let text = mermaid(&events, true);
        let expected = "    loop every ~5 s (x3)\n        \
            p0->>p1: healthmanager.health {droplet=1}\n        \
            p1-->>p0: healthmanager.health reply {droplet=1, healthy=1} (2.0 ms)\n    \
            end\n";
        assert!(text.ends_with(expected), "{text}");
    }

    #[test]
    fn special_characters_are_escaped() {
        let events = [event(
            0,
            "odd;subject#1",
            "we<ird>;",
            &["dea-0"],
            json!({"state":"a;b"}),
        )];
        let text = mermaid(&events, true);
        assert!(
            text.contains("participant p0 as we#lt;ird#gt;#59;\n"),
            "{text}"
        );
        assert!(
            text.contains("p0->>p1: odd#59;subject#35;1 {state=a#59;b}\n"),
            "{text}"
        );
    }

    #[test]
    fn nobody_and_fan_out_are_drawn() {
        let many = ["dea-0", "dea-1", "dea-2", "dea-3", "dea-4", "dea-5"];
        let events = [
            event(0, "dea.locate", "cloud_controller-0", &many, json!("")),
            request(1, "dea.status", "_INBOX.x", "", &[], json!("")),
        ];
        let text = mermaid(&events, false);
        let note = "Note over p0: dea.locate → 6 receivers (dea-0, dea-1, dea-2, …)";
        assert!(text.contains(note), "{text}");
        assert!(
            text.contains("participant p1 as client\n")
                && text.contains("participant p2 as (nobody)\n")
        );
        assert!(text.contains("p1->>p2: dea.status\n"), "{text}");
    }
}
