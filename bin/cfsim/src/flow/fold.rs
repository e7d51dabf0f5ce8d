//! Folding periodic traffic: heartbeats, advertisements, `router.start` and the registrations
//! it triggers repeat for as long as a recording runs, interleaved with one another and with
//! the messages worth reading, and bury them. Folding draws each such stream once.
//!
//! The unit is an *exchange*: a message with every reply to it (and the replies to those), so
//! a reply always goes with its request. Two exchanges are equal when they draw the same:
//! same sender, receivers, style and label for each message (the label carries the payload
//! summary, so a heartbeat whose instances changed differs); times and the order of the
//! replies do not matter. Equal exchanges seen at least [`MIN_REPEATS`] times form a stream.
//! A stream is broken where its *channel* (the first message's sender and subject) sends
//! something that is not itself periodic, a heartbeat about an instance that just crashed say,
//! so that a stream resuming after a change shows again after it.
//!
//! Each unbroken run is cut where the stream paused (a gap over 1½ × the typical one); each
//! piece of at least [`MIN_REPEATS`] occurrences that keeps a rhythm (see [`rhythm`]; a
//! back-off does not) is drawn once, where it first happened, as a [`Periodic`] item with its count and typical interval; its replies move up
//! next to their request and the later occurrences are dropped. Everything else stays in
//! order. Periodic items that end up next to each other with the same count and about the
//! same interval (two DEAs started together, `router.start` and the registrations it
//! triggers) share one loop.

use crate::flow::render::{Delivery, Item, Message, Periodic, Style};
use cfsim_nats_server::tap::FlowEvent;
use std::collections::HashMap;

/// Equal exchanges must occur at least this many times to be folded.
pub const MIN_REPEATS: usize = 3;

/// How one message is drawn, whatever its time: sender, receivers, style, label.
type Pattern<'a> = (usize, &'a Delivery, Style, &'a str);
/// What makes exchanges equal: the first message's pattern, then its replies' sorted.
type Key<'a> = Vec<Pattern<'a>>;

/// For each event, the earlier event it replies to (its subject is that event's reply
/// subject), as `build` pairs them: the two lists line up with the diagram's messages.
pub fn answers(events: &[FlowEvent]) -> Vec<Option<usize>> {
    let mut inboxes: HashMap<&str, usize> = HashMap::new();
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let request = inboxes.get(event.subject.as_str()).copied();
            if let Some(inbox) = &event.reply {
                inboxes.insert(inbox, index);
            }
            request
        })
        .collect()
}

/// The messages as items, periodic streams folded; `answers[i]` is the message that message
/// `i` replies to.
pub fn fold(messages: &[Message], answers: &[Option<usize>]) -> Vec<Item> {
    let (exchanges, owner) = exchanges(answers, messages.len());
    let keys: Vec<Key> = exchanges.iter().map(|e| key(messages, e)).collect();
    let mut head = vec![None; exchanges.len()];
    let mut dropped = vec![false; exchanges.len()];
    for run in runs(&keys) {
        let times: Vec<u64> = run
            .iter()
            .map(|&e| messages[exchanges[e][0]].at_ns)
            .collect();
        for (piece, times) in pieces(&run, &times) {
            let Some(every_ns) = rhythm(&times).filter(|_| piece.len() >= MIN_REPEATS) else {
                continue; // not periodic: a back-off, say, whose growing gaps are the story
            };
            head[piece[0]] = Some((piece.len(), every_ns));
            piece[1..].iter().for_each(|&e| dropped[e] = true);
        }
    }
    let mut items = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let exchange = owner[index];
        if dropped[exchange] {
            continue;
        }
        match head[exchange] {
            None => items.push(Item::Message(message.clone())),
            Some((times, every_ns)) if exchanges[exchange][0] == index => {
                let body = exchanges[exchange]
                    .iter()
                    .map(|&m| messages[m].clone())
                    .collect();
                let periodic = Periodic {
                    times,
                    every_ns,
                    body,
                };
                push_periodic(&mut items, periodic);
            }
            Some(_) => {} // a reply, already drawn with its request
        }
    }
    items
}

/// The exchanges (message indices, the first message first) in order of their first
/// message, and the exchange each message belongs to.
fn exchanges(answers: &[Option<usize>], len: usize) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut exchanges: Vec<Vec<usize>> = Vec::new();
    let mut owner = Vec::with_capacity(len);
    for index in 0..len {
        let request = answers.get(index).copied().flatten();
        let exchange = match request.filter(|&r| r < index) {
            Some(request) => owner[request],
            None => {
                exchanges.push(Vec::new());
                exchanges.len() - 1
            }
        };
        exchanges[exchange].push(index);
        owner.push(exchange);
    }
    (exchanges, owner)
}

fn key<'a>(messages: &'a [Message], exchange: &[usize]) -> Key<'a> {
    let pattern = |m: &'a Message| (m.from, &m.to, m.style, m.label.as_str());
    let mut key: Key = exchange.iter().map(|&m| pattern(&messages[m])).collect();
    key[1..].sort_unstable();
    key
}

/// The channel of an exchange: its first message's sender and subject (the label without
/// its ` {summary}`).
fn channel<'a>(key: &Key<'a>) -> (usize, &'a str) {
    let (from, _, _, label) = key[0];
    (
        from,
        label.split_once(" {").map_or(label, |(subject, _)| subject),
    )
}

/// The runs of equal exchanges that fold (exchange indices, in order).
fn runs(keys: &[Key]) -> Vec<Vec<usize>> {
    let mut counts: HashMap<&Key, usize> = HashMap::new();
    keys.iter().for_each(|k| *counts.entry(k).or_default() += 1);
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut open: HashMap<&Key, usize> = HashMap::new();
    for (exchange, key) in keys.iter().enumerate() {
        if counts[key] < MIN_REPEATS {
            let changed = channel(key);
            open.retain(|k, _| channel(k) != changed);
        } else if let Some(&run) = open.get(key) {
            runs[run].push(exchange);
        } else {
            open.insert(key, runs.len());
            runs.push(vec![exchange]);
        }
    }
    runs.retain(|run| run.len() >= MIN_REPEATS);
    runs
}

/// The typical time between occurrences: the median gap (the upper one of an even count),
/// ignoring gaps under a tenth of the mean gap (copies sent in one burst, such as a
/// `router.register` per instance of an app).
fn typical_gap(times: &[u64]) -> u64 {
    let gaps = spaced_gaps(times);
    gaps.get(gaps.len() / 2).copied().unwrap_or(0)
}

/// A run cut where a gap is over one and a half times the typical one (the stream paused:
/// its instance crashed, say), each piece with its times; each piece folds on its own.
fn pieces<'r>(run: &'r [usize], times: &[u64]) -> Vec<(&'r [usize], Vec<u64>)> {
    let typical = typical_gap(times);
    let mut cuts = vec![0];
    for i in 1..times.len() {
        let gap = times[i].saturating_sub(times[i - 1]);
        if typical > 0 && gap.saturating_mul(2) > typical.saturating_mul(3) {
            cuts.push(i);
        }
    }
    cuts.push(times.len());
    cuts.windows(2)
        .map(|w| (&run[w[0]..w[1]], times[w[0]..w[1]].to_vec()))
        .collect()
}

/// The typical gap when the occurrences keep a rhythm: no gap (bursts aside) over one and a
/// half times the median one (the lower of an even count). Timer jitter passes, and so do extra copies between ticks (a
/// DEA advertises on its timer and after every start and stop); a back-off, each gap twice the
/// one before, does not, so a flapping app's restarts are drawn one by one.
fn rhythm(times: &[u64]) -> Option<u64> {
    let gaps = spaced_gaps(times);
    let longest = *gaps.last()?;
    let lower_median = gaps[(gaps.len() - 1) / 2];
    (longest.saturating_mul(2) <= lower_median.saturating_mul(3)).then(|| typical_gap(times))
}

/// The gaps between occurrences, sorted, without those under a tenth of the mean.
fn spaced_gaps(times: &[u64]) -> Vec<u64> {
    let mut gaps: Vec<u64> = times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    let mean = gaps.iter().sum::<u64>() / gaps.len().max(1) as u64;
    gaps.retain(|&gap| gap.saturating_mul(10) >= mean);
    gaps.sort_unstable();
    gaps
}

/// Appends `periodic`, into the loop just before it when the two go together: the same
/// count, an interval within a fifth of each other, and a first occurrence within a tenth of
/// the interval (sent together, as `router.start` and the registrations it triggers, or two
/// DEAs started at once; two unrelated timers that happen to share a period stay apart).
fn push_periodic(items: &mut Vec<Item>, periodic: Periodic) {
    if let Some(Item::Periodic(last)) = items.last_mut() {
        let (a, b) = (last.every_ns, periodic.every_ns);
        let first = |p: &Periodic| p.body.first().map_or(0, |m| m.at_ns);
        let together = first(last).abs_diff(first(&periodic)).saturating_mul(10) <= a.max(b);
        if last.times == periodic.times && a.abs_diff(b).saturating_mul(5) <= a.max(b) && together {
            last.body.extend(periodic.body);
            return;
        }
    }
    items.push(Item::Periodic(periodic));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::render::sample::{event, push, request};
    use crate::flow::render::Diagram;
    use serde_json::json;

    /// Each item as text: `label` for a message, `label, label (x3 every 10000 ms)` for a loop.
    fn outline(events: &[FlowEvent]) -> Vec<String> {
        let diagram = Diagram::from_events(events, true);
        let names = &diagram.participants;
        let text = |m: &Message| format!("{}: {}", names[m.from], m.label);
        diagram
            .items
            .iter()
            .map(|item| match item {
                Item::Message(m) => text(m),
                Item::Periodic(p) => format!(
                    "{} (x{} every {} ms)",
                    p.body.iter().map(text).collect::<Vec<_>>().join(" | "),
                    p.times,
                    p.every_ns / 1_000_000
                ),
            })
            .collect()
    }

    fn heartbeat(ms: u64, dea: &str, state: &str) -> FlowEvent {
        let droplets = json!([{"droplet": 1, "index": 0, "state": state, "version": "v1"}]);
        let body = json!({"droplets": droplets, "dea": dea});
        event(ms, "dea.heartbeat", dea, &["health_manager-0"], body)
    }

    fn by_time(mut events: Vec<FlowEvent>) -> Vec<FlowEvent> {
        events.sort_by_key(|e| e.ts_ns);
        events
    }

    #[test]
    fn interleaved_heartbeats_fold_per_stream_and_one_offs_stay_in_order() {
        let mut events: Vec<_> = (0..6)
            .map(|n| heartbeat(n * 5_000, "dea-0", "RUNNING"))
            .collect();
        events.extend((0..3).map(|n| heartbeat(1_000 + n * 10_000, "dea-1", "RUNNING")));
        let start = json!({"droplet": 2, "index": 0});
        events.push(event(
            500,
            "dea.1-bb.start",
            "cloud_controller-0",
            &["dea-1"],
            start,
        ));
        let exited = json!({"droplet": 3, "reason": "STOPPED"});
        events.push(event(
            12_500,
            "droplet.exited",
            "dea-0",
            &["health_manager-0"],
            exited,
        ));
        let hb = "dea.heartbeat {droplet=1, index=0, state=RUNNING}";
        assert_eq!(
            outline(&by_time(events)),
            [
                format!("dea-0: {hb} (x6 every 5000 ms)"),
                "cloud_controller-0: dea.1-bb.start {droplet=2, index=0}".to_string(),
                format!("dea-1: {hb} (x3 every 10000 ms)"),
                "dea-0: droplet.exited {droplet=3, reason=STOPPED}".to_string(),
            ]
        );
    }

    #[test]
    fn a_changed_payload_stays_visible_and_breaks_the_stream() {
        let events: Vec<_> = (0..7)
            .map(|n| {
                heartbeat(
                    n * 10_000,
                    "dea-0",
                    if n == 3 { "CRASHED" } else { "RUNNING" },
                )
            })
            .collect();
        let hb = "dea-0: dea.heartbeat {droplet=1, index=0";
        assert_eq!(
            outline(&events),
            [
                format!("{hb}, state=RUNNING}} (x3 every 10000 ms)"),
                format!("{hb}, state=CRASHED}}"),
                format!("{hb}, state=RUNNING}} (x3 every 10000 ms)"),
            ]
        );
    }

    /// A `vcap.component.discover` round every 10 s answered by the router and a DEA, in
    /// either order; in round `other`, another DEA answers.
    fn discover_rounds(rounds: u64, other: Option<u64>) -> Vec<FlowEvent> {
        let mut events = Vec::new();
        for n in 0..rounds {
            let (t, inbox) = (n * 10_000, format!("_INBOX.{n}"));
            let dea = if Some(n) == other { "dea-1" } else { "dea-0" };
            let targets = ["router-0", dea];
            let ask = request(
                t,
                "vcap.component.discover",
                &inbox,
                "dashboard",
                &targets,
                json!(""),
            );
            let router = json!({"type": "Router", "index": 0});
            let router = event(t + 2, &inbox, "router-0", &["dashboard"], router);
            let dea = event(
                t + 3,
                &inbox,
                dea,
                &["dashboard"],
                json!({"type": "DEA", "index": 0}),
            );
            events.push(ask);
            events.extend(if n % 2 == 0 {
                [router, dea]
            } else {
                [dea, router]
            });
        }
        events
    }

    #[test]
    fn a_periodic_request_folds_with_its_replies() {
        let mut events = discover_rounds(4, None);
        // A one-off between the first request and its last reply: the replies join the loop.
        events.insert(
            2,
            event(
                2,
                "droplet.updated",
                "cloud_controller-0",
                &["health_manager-0"],
                json!({}),
            ),
        );
        let items = Diagram::from_events(&events, true).items;
        assert_eq!(items.len(), 2, "{items:#?}");
        let Item::Periodic(periodic) = &items[0] else {
            panic!("{items:#?}")
        };
        assert_eq!((periodic.times, periodic.every_ns), (4, 10_000_000_000));
        let labels: Vec<&str> = periodic.body.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "vcap.component.discover",
                "vcap.component.discover reply {index=0}",
                "vcap.component.discover reply {index=0}",
            ]
        );
        assert!(matches!(&items[1], Item::Message(m) if m.label == "droplet.updated"));
    }

    #[test]
    fn a_reply_that_changed_keeps_its_request() {
        let items = Diagram::from_events(&discover_rounds(7, Some(3)), true).items;
        let shape: Vec<String> = items
            .iter()
            .map(|item| match item {
                Item::Message(m) => format!("{:?}", m.style),
                Item::Periodic(p) => format!("x{}", p.times),
            })
            .collect();
        // Round 3 differs (another DEA answered): it is drawn whole, the router's unchanged
        // reply with it, and it breaks the stream in two.
        assert_eq!(shape, ["x3", "Send", "Reply", "Reply", "x3"]);
    }

    #[test]
    fn streams_with_one_rhythm_share_a_loop() {
        let mut events = Vec::new();
        for n in 0..3 {
            let t = n * 30_000;
            let start = json!({"id":"r","version":0.98});
            let to = ["dea-0", "cloud_controller-0"];
            events.push(event(t, "router.start", "router-0", &to, start));
            let api = json!({"uris":["api.localhost"]});
            events.push(event(
                t + 1,
                "router.register",
                "cloud_controller-0",
                &["router-0"],
                api,
            ));
            let app = json!({"uris":["a.localhost"]});
            // Two instances of one app: two identical registrations per round.
            events.push(event(
                t + 2,
                "router.register",
                "dea-0",
                &["router-0"],
                app.clone(),
            ));
            events.push(event(t + 3, "router.register", "dea-0", &["router-0"], app));
        }
        assert_eq!(
            outline(&events),
            [
                "router-0: router.start | cloud_controller-0: router.register {uris=[api.localhost]} (x3 every 30000 ms)",
                "dea-0: router.register {uris=[a.localhost]} (x6 every 29999 ms)",
            ]
        );
        let two_deas: Vec<_> = (0..4)
            .flat_map(|n| {
                [
                    heartbeat(n * 10_000, "dea-0", "RUNNING"),
                    heartbeat(n * 10_000 + 3, "dea-1", "RUNNING"),
                ]
            })
            .collect();
        let hb = "dea.heartbeat {droplet=1, index=0, state=RUNNING}";
        assert_eq!(
            outline(&two_deas),
            [format!("dea-0: {hb} | dea-1: {hb} (x4 every 10000 ms)")]
        );
        // The same period, half a period apart: two timers, two loops.
        let apart: Vec<_> = (0..4)
            .flat_map(|n| {
                [
                    heartbeat(n * 10_000, "dea-0", "RUNNING"),
                    heartbeat(n * 10_000 + 5_000, "dea-1", "RUNNING"),
                ]
            })
            .collect();
        assert_eq!(
            outline(&apart),
            [
                format!("dea-0: {hb} (x4 every 10000 ms)"),
                format!("dea-1: {hb} (x4 every 10000 ms)"),
            ]
        );
    }

    #[test]
    fn the_push_keeps_its_first_heartbeat_where_it_was() {
        let diagram = Diagram::from_events(&push(), true);
        assert_eq!(diagram.items.len(), 10);
        let Item::Periodic(periodic) = &diagram.items[6] else {
            panic!("{:#?}", diagram.items)
        };
        assert_eq!((periodic.times, periodic.every_ns), (6, 10_000_000_000));
        assert_eq!(periodic.body[0].at_ns, 300_000_000);
    }

    #[test]
    fn no_fold_keeps_every_message() {
        let diagram = Diagram::from_events(&push(), false);
        assert_eq!(diagram.items.len(), push().len());
        assert!(diagram.items.iter().all(|i| matches!(i, Item::Message(_))));
    }

    #[test]
    fn messages_that_differ_are_not_folded() {
        let events: Vec<_> = (0..4)
            .map(|i| {
                let body = json!({"index": i});
                event(i, "dea.1-bb.start", "cloud_controller-0", &["dea-1"], body)
            })
            .collect();
        assert_eq!(Diagram::from_events(&events, true).items.len(), 4);
    }

    #[test]
    fn the_typical_gap_is_the_median_without_bursts() {
        assert_eq!(typical_gap(&[0, 10, 20, 35, 45]), 10);
        assert_eq!(typical_gap(&[0, 1, 30_000, 30_001, 60_000, 60_001]), 29_999);
        assert_eq!(typical_gap(&[0, 10, 20, 30, 130, 140]), 10);
    }

    #[test]
    fn a_rhythm_allows_jitter_and_bursts_but_not_a_back_off() {
        assert_eq!(rhythm(&[0, 100, 200, 300]), Some(100));
        assert_eq!(rhythm(&[0, 90, 210, 300]), Some(90));
        assert_eq!(
            rhythm(&[0, 1, 30_000, 30_001, 60_000, 60_001]),
            Some(29_999)
        );
        assert_eq!(rhythm(&[0, 100, 300, 700, 1500]), None);
    }

    #[test]
    fn restarts_with_a_back_off_are_drawn_one_by_one() {
        let start = json!({"op": "START", "droplet": 7, "indices": [0]});
        let events: Vec<_> = [0u64, 1_000, 3_000, 7_000]
            .iter()
            .map(|&ms| {
                let to = &["cloud_controller-0"];
                event(
                    ms,
                    "cloudcontrollers.hm.requests",
                    "health_manager-0",
                    to,
                    start.clone(),
                )
            })
            .collect();
        let items = Diagram::from_events(&events, true).items;
        assert_eq!(items.len(), 4, "{items:?}");
        assert!(items.iter().all(|i| matches!(i, Item::Message(_))));
    }

    #[test]
    fn a_stream_that_pauses_folds_before_and_after_the_pause() {
        let beat = |ms: u64| heartbeat(ms, "dea-0", "RUNNING");
        let mut events: Vec<_> = [0u64, 1_000, 2_000, 3_000].map(beat).to_vec();
        events.extend([9_000u64, 10_000, 11_000].map(beat));
        let items = Diagram::from_events(&events, true).items;
        let loops: Vec<_> = items
            .iter()
            .map(|i| match i {
                Item::Periodic(p) => (p.times, p.every_ns / 1_000_000),
                Item::Message(_) => (1, 0),
            })
            .collect();
        assert_eq!(loops, vec![(4, 1_000), (3, 1_000)]);
    }
}
