//! Sequence diagrams of a flow recording: the shared model every output format draws, and the
//! entry point that turns recorded [`FlowEvent`]s into Mermaid, PlantUML or SVG text.
//!
//! The model is deliberately small so that each renderer is a plain walk over it:
//! participants (components, in order of first appearance) and items (one message per
//! recorded event, or a periodic stream drawn once inside a `loop every ~10 s (x6)` block, see
//! [`crate::flow::fold`]). A message is drawn as one arrow per receiver, or as a note over
//! its sender when it fanned out to more than [`FAN_OUT_LIMIT`] receivers. Building the model
//! (names, request/reply pairing, labels) lives in `build` and `label`; the walk the two text
//! formats share lives in `walk`.

mod build;
mod label;
pub mod mermaid;
pub mod plantuml;
#[cfg(test)]
pub(crate) mod sample;
pub mod svg;
mod walk;

use crate::flow::fold;
use cfsim_nats_server::tap::FlowEvent;

/// A message delivered to more receivers than this is drawn as one note, not one arrow each.
pub const FAN_OUT_LIMIT: usize = 5;

/// The output formats of `cfsim flow render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A Mermaid `sequenceDiagram` (renders on GitHub, in mermaid.live).
    Mermaid,
    /// A PlantUML sequence diagram (`@startuml` … `@enduml`).
    Plantuml,
    /// A self-contained SVG image.
    Svg,
}

/// A whole diagram: who takes part, and what happened in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagram {
    /// Display names, in order of first appearance; items refer to them by index.
    pub participants: Vec<String>,
    /// Messages and periodic streams, time going down.
    pub items: Vec<Item>,
}

/// One entry of the diagram.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A single message.
    Message(Message),
    /// Periodic traffic drawn once, where it first happened, inside a loop block.
    Periodic(Periodic),
}

/// Messages that recurred: `body` (one message, or a request with its replies, or several
/// streams with the same rhythm) was seen `times` times, typically every `every_ns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    /// How many times the stream occurred, the drawn occurrence included.
    pub times: usize,
    /// The typical time between two occurrences (the median gap).
    pub every_ns: u64,
    /// The first occurrence's messages.
    pub body: Vec<Message>,
}

impl Periodic {
    /// The loop's caption: `every ~10 s (x6)`.
    pub fn caption(&self) -> String {
        format!("every ~{} (x{})", interval(self.every_ns), self.times)
    }
}

/// An interval for people, rounded: `250 ms`, `2.5 s`, `10 s`, `3 min`.
fn interval(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 10.0 && (s * 10.0).round() % 10.0 != 0.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

/// How an arrow is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Style {
    /// A publish or a request: a solid arrow.
    Send,
    /// A reply to a request: a dashed arrow.
    Reply,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Delivery {
    /// One arrow to each of these participants.
    Arrows(Vec<usize>),
    /// Too many receivers for arrows: a note over the sender naming them.
    FanOut(Vec<String>),
}

/// One recorded message, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Nanoseconds since the first event of the recording.
    pub at_ns: u64,
    /// The sender (participant index).
    pub from: usize,
    /// The receivers.
    pub to: Delivery,
    /// Solid or dashed.
    pub style: Style,
    /// The subject (or `<request> reply`) and a short payload summary.
    pub label: String,
    /// For a reply: the time since its request, e.g. `12 ms`.
    pub latency: Option<String>,
}

impl Message {
    /// The full text of the arrow: the label, then the latency in parentheses.
    pub fn text(&self) -> String {
        match &self.latency {
            Some(latency) => format!("{} ({latency})", self.label),
            None => self.label.clone(),
        }
    }

    /// The note text for a fan-out delivery.
    pub fn fan_out_text(&self, receivers: &[String]) -> String {
        const NAMED: usize = 3;
        let mut names = receivers[..receivers.len().min(NAMED)].join(", ");
        if receivers.len() > NAMED {
            names.push_str(", …");
        }
        format!("{} → {} receivers ({names})", self.text(), receivers.len())
    }
}

impl Diagram {
    /// The diagram of a recording, with periodic streams folded into loops when `fold`.
    pub fn from_events(events: &[FlowEvent], fold: bool) -> Diagram {
        let (participants, messages) = build::messages(events);
        let items = if fold {
            fold::fold(&messages, &fold::answers(events))
        } else {
            messages.into_iter().map(Item::Message).collect()
        };
        Diagram {
            participants,
            items,
        }
    }
}

/// Draw a recording in `format`.
pub fn render(events: &[FlowEvent], format: Format, fold: bool) -> String {
    let diagram = Diagram::from_events(events, fold);
    match format {
        Format::Mermaid => mermaid::render(&diagram),
        Format::Plantuml => plantuml::render(&diagram),
        Format::Svg => svg::render(&diagram),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_round_the_interval() {
        let caption = |every_ns, times| {
            Periodic {
                times,
                every_ns,
                body: Vec::new(),
            }
            .caption()
        };
        assert_eq!(caption(250_000_000, 3), "every ~250 ms (x3)");
        assert_eq!(caption(2_500_000_000, 4), "every ~2.5 s (x4)");
        assert_eq!(caption(5_010_000_000, 12), "every ~5 s (x12)");
        assert_eq!(caption(10_000_000_000, 6), "every ~10 s (x6)");
        assert_eq!(caption(180_000_000_000, 3), "every ~3 min (x3)");
    }
}
