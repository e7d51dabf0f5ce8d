//! Folding: periodic traffic (`dea.heartbeat`, `dea.advertise`, `router.start` and the
//! `router.register` answers it triggers) repeats the same few messages for as long as a
//! recording runs and buries the interesting part of a diagram. Consecutive repetitions of the
//! same block of messages (same sender, receivers, style and label; times may differ) collapse
//! into one `loop N times` item drawn once. Which block is folded is decided greedily from the
//! top: at each position, the block (up to [`MAX_BLOCK`] messages) repeated the most messages'
//! worth wins, the shorter block on a tie.

use crate::flow::render::{Item, Message};

/// The longest block of messages that is looked for as a repeating unit.
pub const MAX_BLOCK: usize = 8;
/// A block must occur at least this many times in a row to be folded.
pub const MIN_REPEATS: usize = 2;

/// The messages as items, consecutive repetitions folded into loops.
pub fn fold(messages: Vec<Message>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut at = 0;
    while at < messages.len() {
        match best_block(&messages, at) {
            Some((len, times)) => {
                let body = messages[at..at + len].to_vec();
                items.push(Item::Loop { times, body });
                at += len * times;
            }
            None => {
                items.push(Item::Message(messages[at].clone()));
                at += 1;
            }
        }
    }
    items
}

/// The (block length, repetitions) covering the most messages from `at`, if any repeats.
fn best_block(messages: &[Message], at: usize) -> Option<(usize, usize)> {
    (1..=MAX_BLOCK)
        .map(|len| (len, repeats(messages, at, len)))
        .filter(|&(_, times)| times >= MIN_REPEATS)
        .max_by(|a, b| (a.0 * a.1).cmp(&(b.0 * b.1)).then(b.0.cmp(&a.0)))
}

/// How many times the block `messages[at..at + len]` occurs in a row from `at`.
fn repeats(messages: &[Message], at: usize, len: usize) -> usize {
    let Some(block) = messages.get(at..at + len) else {
        return 0;
    };
    messages[at..]
        .chunks_exact(len)
        .take_while(|chunk| same_block(chunk, block))
        .count()
}

fn same_block(a: &[Message], b: &[Message]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.same_pattern(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::render::sample::{event, push};
    use crate::flow::render::Diagram;
    use serde_json::json;

    fn loops(items: &[Item]) -> Vec<(usize, Vec<String>)> {
        items
            .iter()
            .filter_map(|item| match item {
                Item::Loop { times, body } => {
                    Some((*times, body.iter().map(|m| m.label.clone()).collect()))
                }
                Item::Message(_) => None,
            })
            .collect()
    }

    #[test]
    fn five_heartbeats_fold_into_one_loop() {
        let diagram = Diagram::from_events(&push(), true);
        let heartbeat = "dea.heartbeat {droplet=1, index=0, state=RUNNING}".to_string();
        assert_eq!(loops(&diagram.items), vec![(5, vec![heartbeat])]);
        // The ten messages before the heartbeats stay as they were.
        assert_eq!(diagram.items.len(), 11);
    }

    #[test]
    fn no_fold_keeps_every_message() {
        let diagram = Diagram::from_events(&push(), false);
        assert_eq!(diagram.items.len(), push().len());
        assert!(loops(&diagram.items).is_empty());
    }

    #[test]
    fn router_start_and_its_answers_fold_as_one_block() {
        let mut events = Vec::new();
        for n in 0..3 {
            let t = n * 30_000;
            let start = json!({"id":"r","version":0.98});
            events.push(event(
                t,
                "router.start",
                "router-0",
                &["dea-0", "cloud_controller-0"],
                start,
            ));
            events.push(event(
                t + 1,
                "router.register",
                "dea-0",
                &["router-0"],
                json!({"uris":["a.localhost"]}),
            ));
            events.push(event(
                t + 2,
                "router.register",
                "cloud_controller-0",
                &["router-0"],
                json!({"uris":["api.localhost"]}),
            ));
        }
        let diagram = Diagram::from_events(&events, true);
        assert_eq!(diagram.items.len(), 1);
        let (times, body) = &loops(&diagram.items)[0];
        assert_eq!((*times, body.len()), (3, 3));
    }

    #[test]
    fn messages_that_differ_are_not_folded() {
        let events: Vec<_> = (0..4)
            .map(|i| {
                event(
                    i,
                    "dea.1-bb.start",
                    "cloud_controller-0",
                    &["dea-1"],
                    json!({"index": i}),
                )
            })
            .collect();
        let diagram = Diagram::from_events(&events, true);
        assert!(loops(&diagram.items).is_empty());
    }
}
