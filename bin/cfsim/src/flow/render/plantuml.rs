//! PlantUML output: `@startuml … @enduml` with one `participant "<name>" as pN` per component,
//! `->` for publishes and requests, `-->` for replies, `loop every ~10 s (x6) … end` around a
//! periodic stream and `note over` for fan-out. Text is escaped for PlantUML's creole markup
//! (a `~` before a doubled `*`, `/`, `-`, `_` or `"`, and before `<`; a `~` itself as
//! `<U+007E>`, which loop headers decode too) and kept on one line.

use super::walk::{self, Dialect};
use super::{Diagram, Style};

/// The diagram as PlantUML text.
pub fn render(diagram: &Diagram) -> String {
    walk::render::<Plantuml>(diagram)
}

struct Plantuml;

impl Dialect for Plantuml {
    const HEADER: &'static str = "@startuml\n";
    const FOOTER: &'static str = "@enduml\n";
    const INDENT: &'static str = "";
    const NESTED: &'static str = "  ";

    fn escape(text: &str) -> String {
        escape(text)
    }

    fn participant(id: &str, name: &str) -> String {
        format!("participant \"{}\" as {id}", escape(name).replace('"', "'"))
    }

    fn arrow(from: &str, style: Style, to: &str, text: &str) -> String {
        let arrow = match style {
            Style::Send => "->",
            Style::Reply => "-->",
        };
        format!("{from} {arrow} {to} : {text}")
    }

    fn note(over: &str, text: &str) -> String {
        format!("note over {over} : {text}")
    }

    fn loop_start(caption: &str) -> String {
        format!("loop {caption}")
    }
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
            '~' => out.push_str("<U+007E>"),
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
        assert!(text.ends_with(" (3.0 ms)\n@enduml\n"), "{text}");
        assert!(text.contains("p0 -> p1 : dea.discover {droplet=1, name=hello}\n"));
        assert!(text.contains("p2 --> p0 : dea.discover reply (5.0 ms)\n"));
        assert!(text.contains(
            "loop every <U+007E>10 s (x6)\n  p2 -> p3 : dea.heartbeat {droplet=1, index=0, state=RUNNING}\nend\n"
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
            json!({"name":"<b>**~"}),
        )];
        let text = render_events(&events, Format::Plantuml, false);
        assert!(text.contains("participant \"x'y\" as p0\n"), "{text}");
        assert!(
            text.contains("p0 -> p1 : a~__b~//c {name=~<b>~**<U+007E>}\n"),
            "{text}"
        );
    }
}
