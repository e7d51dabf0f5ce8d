//! SVG output, drawn by hand so that `cfsim flow render --format svg` needs no external tool:
//! a box per participant at the top, a dashed lifeline below each, one row per arrow with the
//! label above the line (solid for publishes and requests, dashed for replies, a small hook for
//! a message to oneself), a framed `loop every ~10 s (x6)` block around a periodic stream, notes for
//! fan-out, and the time since the start of the recording in the left margin. Time goes down.
//! Every piece of text is XML-escaped; the output is a self-contained, well-formed document.

use super::{Delivery, Diagram, Item, Message, Periodic, Style};
use std::fmt::Write;

/// Left margin, where the times are written.
const TIME_COLUMN: f64 = 80.0;
/// Top margin.
const TOP: f64 = 16.0;
/// Height of a participant box.
const HEAD: f64 = 32.0;
/// Height of one arrow row.
const ROW: f64 = 30.0;
/// Extra height of an arrow to oneself.
const HOOK: f64 = 12.0;
/// Approximate width of one character at the font size used.
const CHAR: f64 = 6.7;
/// Font size of all text.
const FONT: &str = "font-family=\"monospace\" font-size=\"11\"";

/// Column geometry, from the number of participants and the longest label.
struct Layout {
    column: f64,
    participants: usize,
}

impl Layout {
    fn new(diagram: &Diagram) -> Layout {
        let longest = longest_text(diagram) as f64;
        Layout {
            column: (longest * CHAR + 30.0).clamp(150.0, 360.0),
            participants: diagram.participants.len(),
        }
    }

    /// The x of participant `index`'s lifeline.
    fn x(&self, index: usize) -> f64 {
        TIME_COLUMN + self.column * (index as f64 + 0.5)
    }

    fn width(&self) -> f64 {
        TIME_COLUMN + self.column * self.participants.max(1) as f64 + 10.0
    }
}

/// The drawing so far: the body elements and the current row's y.
struct Canvas {
    layout: Layout,
    body: String,
    y: f64,
}

/// The diagram as a standalone SVG document.
pub fn render(diagram: &Diagram) -> String {
    let mut canvas = Canvas {
        layout: Layout::new(diagram),
        body: String::new(),
        y: TOP + HEAD + ROW * 0.8,
    };
    for item in &diagram.items {
        canvas.item(item);
    }
    canvas.finish(&diagram.participants)
}

impl Canvas {
    fn item(&mut self, item: &Item) {
        match item {
            Item::Message(message) => self.message(message),
            Item::Periodic(periodic) => self.loop_block(periodic),
        }
    }

    /// A periodic stream: its first occurrence framed, the caption in the frame's tab.
    fn loop_block(&mut self, periodic: &Periodic) {
        let top = self.y - ROW * 0.7;
        self.y += ROW * 0.6;
        periodic.body.iter().for_each(|m| self.message(m));
        let height = self.y - ROW * 0.6 - top;
        let (left, width) = (TIME_COLUMN - 6.0, self.layout.width() - TIME_COLUMN);
        let caption = format!("loop {}", periodic.caption());
        let tab = caption.chars().count() as f64 * CHAR + 16.0;
        let _ = write!(
            self.body,
            "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" fill=\"none\" stroke=\"#666\"/>\n\
             <path d=\"M{left:.1},{:.1} h{tab:.1} l-8,8 v8 h{:.1} z\" fill=\"#eee\" stroke=\"#666\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-weight=\"bold\">{}</text>\n",
            top,
            8.0 - tab,
            left + 4.0,
            top + 12.0,
            escape(&caption),
        );
        self.y += ROW * 0.2;
    }

    fn message(&mut self, message: &Message) {
        self.time(message.at_ns);
        match &message.to {
            Delivery::Arrows(receivers) => {
                for &to in receivers {
                    self.arrow(message, to);
                }
            }
            Delivery::FanOut(names) => self.note(message.from, &message.fan_out_text(names)),
        }
    }

    fn time(&mut self, at_ns: u64) {
        let _ = writeln!(
            self.body,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} fill=\"#888\" text-anchor=\"end\">{}</text>",
            TIME_COLUMN - 12.0,
            self.y,
            offset(at_ns),
        );
    }

    fn arrow(&mut self, message: &Message, to: usize) {
        let (x1, x2, y) = (self.layout.x(message.from), self.layout.x(to), self.y);
        let dash = match message.style {
            Style::Send => "",
            Style::Reply => " stroke-dasharray=\"5,3\"",
        };
        let text = escape(&message.text());
        let line = if message.from == to {
            format!("<path d=\"M{x1:.1},{y:.1} h30 v{HOOK} h-28\" fill=\"none\"")
        } else {
            format!("<line x1=\"{x1:.1}\" y1=\"{y:.1}\" x2=\"{x2:.1}\" y2=\"{y:.1}\"")
        };
        let (tx, anchor) = match message.from == to {
            true => (x1 + 34.0, "start"),
            false => ((x1 + x2) / 2.0, "middle"),
        };
        let _ = write!(
            self.body,
            "{line} stroke=\"#222\"{dash} marker-end=\"url(#head)\"/>\n\
             <text x=\"{tx:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"{anchor}\">{text}</text>\n",
            y - 5.0,
        );
        self.y += ROW + if message.from == to { HOOK } else { 0.0 };
    }

    fn note(&mut self, over: usize, text: &str) {
        let width = text.chars().count() as f64 * CHAR + 16.0;
        let (x, y) = (self.layout.x(over) - width / 2.0, self.y - 14.0);
        let _ = write!(
            self.body,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"20\" fill=\"#ffd\" stroke=\"#aa8\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} text-anchor=\"middle\">{}</text>\n",
            self.layout.x(over),
            self.y,
            escape(text),
        );
        self.y += ROW;
    }

    /// The document: header, participant boxes and lifelines behind the body.
    fn finish(self, participants: &[String]) -> String {
        let (width, height) = (self.layout.width(), self.y + 10.0);
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\n\
             <title>cfsim flow</title>\n\
             <defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#222\"/></marker></defs>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        for (index, name) in participants.iter().enumerate() {
            out.push_str(&self.participant(index, name, height));
        }
        out.push_str(&self.body);
        out.push_str("</svg>\n");
        out
    }

    fn participant(&self, index: usize, name: &str, height: f64) -> String {
        let x = self.layout.x(index);
        let box_width = self.layout.column - 20.0;
        format!(
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{height:.1}\" stroke=\"#bbb\" stroke-dasharray=\"4,4\"/>\n\
             <rect x=\"{:.1}\" y=\"{TOP:.1}\" width=\"{box_width:.1}\" height=\"{HEAD:.1}\" rx=\"4\" fill=\"#eef\" stroke=\"#446\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\" {FONT} font-weight=\"bold\" text-anchor=\"middle\">{}</text>\n",
            TOP + HEAD,
            x - box_width / 2.0,
            TOP + HEAD / 2.0 + 4.0,
            escape(name),
        )
    }
}

/// The longest arrow text, in characters (fan-out notes are drawn wider than a column).
fn longest_text(diagram: &Diagram) -> usize {
    let message_len = |m: &Message| m.text().chars().count();
    diagram
        .items
        .iter()
        .flat_map(|item| match item {
            Item::Message(m) => vec![message_len(m)],
            Item::Periodic(periodic) => periodic.body.iter().map(message_len).collect(),
        })
        .chain(diagram.participants.iter().map(|p| p.chars().count()))
        .max()
        .unwrap_or(0)
}

/// `+0 ms`, `+300 ms`, `+10.304 s`.
fn offset(at_ns: u64) -> String {
    let ms = at_ns as f64 / 1e6;
    if ms < 1000.0 {
        format!("+{ms:.0} ms")
    } else {
        format!("+{:.3} s", ms / 1000.0)
    }
}

/// Text made safe inside an XML element or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
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
    fn a_push_draws_every_participant_and_arrow() {
        let text = render_events(&push(), Format::Svg, true);
        assert!(text.starts_with("<?xml") && text.ends_with("</svg>\n"));
        for name in [
            "cloud_controller-0",
            "dea-0",
            "dea-1",
            "health_manager-0",
            "router-0",
        ] {
            assert!(text.contains(&format!(">{name}</text>")), "{name}");
        }
        // 11 arrows (discover fans out to 2), the heartbeat's one inside its loop frame.
        assert_eq!(text.matches("marker-end=").count(), 11);
        assert_eq!(text.matches("stroke-dasharray=\"5,3\"").count(), 3);
        assert!(text.contains(">loop every ~10 s (x6)</text>"));
        assert_eq!(text.matches(">dea.heartbeat {droplet=1").count(), 1);
        assert!(text.contains(">dea.discover reply (5.0 ms)</text>"));
        assert!(!text.contains("_INBOX"));
    }

    #[test]
    fn time_goes_down() {
        let text = render_events(&push(), Format::Svg, false);
        let ys: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with("<line") && l.contains("marker-end"))
            .map(|l| {
                l.split("y1=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
    }

    #[test]
    fn text_is_xml_escaped() {
        let events = [event(
            0,
            "a<b>&c",
            "x\"y'",
            &["x\"y'"],
            json!({"name":"<&>"}),
        )];
        let text = render_events(&events, Format::Svg, false);
        assert!(text.contains(">x&quot;y&apos;</text>"));
        assert!(text.contains(">a&lt;b&gt;&amp;c {name=&lt;&amp;&gt;}</text>"));
        assert!(
            text.contains("<path d=\"M"),
            "a message to oneself is a hook"
        );
    }
}
