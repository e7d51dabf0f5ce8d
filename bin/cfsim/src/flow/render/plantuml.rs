//! PlantUML output: `@startuml … @enduml` with one `participant "<name>" as pN` per component,
//! `->` for publishes and requests, `-->` for replies, `loop N times … end` for folded
//! repetitions and `note over` for fan-out. Text is escaped for PlantUML's creole markup
//! (a `~` before a doubled `*`, `/`, `-`, `_` or `"`, and before `<` and `~`) and kept on one line.

use super::{Delivery, Diagram, Item, Message, Style};
use std::fmt::Write;

/// The diagram as PlantUML text.
pub fn render(diagram: &Diagram) -> String {
    let mut out = String::from("@startuml\n");
    for (index, name) in diagram.participants.iter().enumerate() {
        let name = escape(name).replace('"', "'");
        let _ = writeln!(out, "participant \"{name}\" as {}", id(index));
    }
    for item in &diagram.items {
        match item {
            Item::Message(message) => write_message(&mut out, message, ""),
            Item::Loop { times, body } => {
                let _ = writeln!(out, "loop {times} times");
                body.iter().for_each(|m| write_message(&mut out, m, "  "));
                out.push_str("end\n");
            }
        }
    }
    out.push_str("@enduml\n");
    out
}

fn write_message(out: &mut String, message: &Message, indent: &str) {
    let from = id(message.from);
    match &message.to {
        Delivery::Arrows(receivers) => {
            let arrow = match message.style {
                Style::Send => "->",
                Style::Reply => "-->",
            };
            let text = escape(&message.text());
            for to in receivers {
                let _ = writeln!(out, "{indent}{from} {arrow} {} : {text}", id(*to));
            }
        }
        Delivery::FanOut(names) => {
            let text = escape(&message.fan_out_text(names));
            let _ = writeln!(out, "{indent}note over {from} : {text}");
        }
    }
}

fn id(index: usize) -> String {
    format!("p{index}")
}

/// Text made safe for a PlantUML label: creole markers defused, one line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("~<"),
            '~' => out.push_str("~~"),
            '*' | '/' | '-' | '_' | '"' if chars.peek() == Some(&c) => {
                out.push('~');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::flow::render::sample::{event, push};
    use crate::flow::render::{render as render_events, Format};
    use serde_json::json;

    #[test]
    fn a_push_is_a_plantuml_sequence_diagram() {
        let text = render_events(&push(), Format::Plantuml, true);
        assert!(text.starts_with("@startuml\nparticipant \"cloud_controller-0\" as p0\n"));
        assert!(text.ends_with("end\n@enduml\n"));
        assert!(text.contains("p0 -> p1 : dea.discover {droplet=1, name=hello}\n"));
        assert!(text.contains("p2 --> p0 : dea.discover reply (5.0 ms)\n"));
        assert!(text.contains(
            "loop 5 times\n  p2 -> p3 : dea.heartbeat {droplet=1, index=0, state=RUNNING}\nend\n"
        ));
        assert!(!text.contains("_INBOX"));
    }

    #[test]
    fn creole_markup_and_quotes_are_defused() {
        let events = [event(
            0,
            "a__b//c",
            "x\"y",
            &["dea-0"],
            json!({"name":"<b>**"}),
        )];
        let text = render_events(&events, Format::Plantuml, false);
        assert!(text.contains("participant \"x'y\" as p0\n"), "{text}");
        assert!(
            text.contains("p0 -> p1 : a~__b~//c {name=~<b>~**}\n"),
            "{text}"
        );
    }
}
