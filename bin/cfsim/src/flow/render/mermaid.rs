//! Mermaid output: a `sequenceDiagram` with one `participant pN as <name>` per component
//! (plain `pN` ids, so any connection name is safe), `->>` for publishes and requests, `-->>`
//! for replies, `loop N times … end` for folded repetitions and `Note over` for fan-out.
//! Text is escaped with Mermaid's entity codes (`#59;` for `;`, `#35;` for `#`, `#lt;` `#gt;`).

use super::{Delivery, Diagram, Item, Message, Style};
use std::fmt::Write;

/// The diagram as Mermaid text.
pub fn render(diagram: &Diagram) -> String {
    let mut out = String::from("sequenceDiagram\n");
    for (index, name) in diagram.participants.iter().enumerate() {
        let _ = writeln!(out, "    participant {} as {}", id(index), escape(name));
    }
    for item in &diagram.items {
        match item {
            Item::Message(message) => write_message(&mut out, message, "    "),
            Item::Loop { times, body } => {
                let _ = writeln!(out, "    loop {times} times");
                body.iter()
                    .for_each(|m| write_message(&mut out, m, "        "));
                out.push_str("    end\n");
            }
        }
    }
    out
}

fn write_message(out: &mut String, message: &Message, indent: &str) {
    let from = id(message.from);
    match &message.to {
        Delivery::Arrows(receivers) => {
            let arrow = match message.style {
                Style::Send => "->>",
                Style::Reply => "-->>",
            };
            let text = escape(&message.text());
            for to in receivers {
                let _ = writeln!(out, "{indent}{from}{arrow}{}: {text}", id(*to));
            }
        }
        Delivery::FanOut(names) => {
            let text = escape(&message.fan_out_text(names));
            let _ = writeln!(out, "{indent}Note over {from}: {text}");
        }
    }
}

fn id(index: usize) -> String {
    format!("p{index}")
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
    fn five_heartbeats_are_one_loop() {
        let text = mermaid(&push(), true);
        let expected = "    loop 5 times\n        p2->>p3: dea.heartbeat {droplet=1, index=0, state=RUNNING}\n    end\n";
        assert!(text.ends_with(expected), "{text}");
        assert_eq!(text.matches("dea.heartbeat").count(), 2);
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
