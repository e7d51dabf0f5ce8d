//! Sequence diagrams of a flow recording: the shared model every output format draws, and the
//! entry point that turns recorded [`FlowEvent`]s into Mermaid, PlantUML or SVG text.
//!
//! The model is deliberately small so that each renderer is a plain walk over it:
//! participants (components, in order of first appearance) and items (one message per
//! recorded event, or a folded `loop N times` block of repeated messages, see
//! [`crate::flow::fold`]). A message is drawn as one arrow per receiver, or as a note over
//! its sender when it fanned out to more than [`FAN_OUT_LIMIT`] receivers. Building the model
//! (names, request/reply pairing, labels) lives in `build` and `label`.

mod build;
mod label;
pub mod mermaid;
pub mod plantuml;
#[cfg(test)]
pub(crate) mod sample;
pub mod svg;

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
    /// Messages and folded loops, time going down.
    pub items: Vec<Item>,
}

/// One entry of the diagram.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A single message.
    Message(Message),
    /// `body` happened `times` times in a row (drawn once, inside a loop block).
    Loop { times: usize, body: Vec<Message> },
}

/// How an arrow is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A publish or a request: a solid arrow.
    Send,
    /// A reply to a request: a dashed arrow.
    Reply,
}

/// Where a message went.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// The same message pattern (sender, receivers, style, label), whatever its time.
    pub fn same_pattern(&self, other: &Message) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.style == other.style
            && self.label == other.label
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
    /// The diagram of a recording, with periodic repetitions folded into loops when `fold`.
    pub fn from_events(events: &[FlowEvent], fold: bool) -> Diagram {
        let (participants, messages) = build::messages(events);
        let items = if fold {
            fold::fold(messages)
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
