//! The walk the two text formats share: header, one line per participant, one line per arrow
//! or fan-out note, periodic streams between a loop line and `end`, footer. A [`Dialect`]
//! (Mermaid, PlantUML) only says how each of those lines is spelled and how text is escaped.

use super::{Delivery, Diagram, Item, Message, Style};

/// How one text format spells the pieces of a sequence diagram.
pub trait Dialect {
    /// The first line(s), e.g. `sequenceDiagram\n`.
    const HEADER: &'static str;
    /// The last line(s), if any.
    const FOOTER: &'static str;
    /// The indentation of top-level lines.
    const INDENT: &'static str;
    /// What a loop adds to the indentation of the lines inside it.
    const NESTED: &'static str;

    /// Text made safe for a message, note or loop caption, on one line.
    fn escape(text: &str) -> String;
    /// The participant line (`name` is raw).
    fn participant(id: &str, name: &str) -> String;
    /// An arrow line (`text` is escaped).
    fn arrow(from: &str, style: Style, to: &str, text: &str) -> String;
    /// A note over one participant (`text` is escaped).
    fn note(over: &str, text: &str) -> String;
    /// The line opening a loop (`caption` is escaped); both formats close it with `end`.
    fn loop_start(caption: &str) -> String;
}

/// The diagram as text in dialect `D`.
pub fn render<D: Dialect>(diagram: &Diagram) -> String {
    let mut out = String::from(D::HEADER);
    for (index, name) in diagram.participants.iter().enumerate() {
        line(&mut out, D::INDENT, &D::participant(&id(index), name));
    }
    for item in &diagram.items {
        match item {
            Item::Message(message) => write_message::<D>(&mut out, message, D::INDENT),
            Item::Periodic(periodic) => {
                line(
                    &mut out,
                    D::INDENT,
                    &D::loop_start(&D::escape(&periodic.caption())),
                );
                let nested = format!("{}{}", D::INDENT, D::NESTED);
                for message in &periodic.body {
                    write_message::<D>(&mut out, message, &nested);
                }
                line(&mut out, D::INDENT, "end");
            }
        }
    }
    out.push_str(D::FOOTER);
    out
}

fn write_message<D: Dialect>(out: &mut String, message: &Message, indent: &str) {
    let from = id(message.from);
    match &message.to {
        Delivery::Arrows(receivers) => {
            let text = D::escape(&message.text());
            for &to in receivers {
                line(out, indent, &D::arrow(&from, message.style, &id(to), &text));
            }
        }
        Delivery::FanOut(names) => {
            line(
                out,
                indent,
                &D::note(&from, &D::escape(&message.fan_out_text(names))),
            );
        }
    }
}

fn line(out: &mut String, indent: &str, text: &str) {
    out.push_str(indent);
    out.push_str(text);
    out.push('\n');
}

/// A participant's id in the text: `p0`, `p1`… (any connection name is safe as a label).
fn id(index: usize) -> String {
    format!("p{index}")
}
