//! The essential order of a scenario: a list of steps, each a description and a test on one
//! flow event, that must match events of the recording in this order (other events may come
//! between them). A step can look at the events the earlier steps matched, so "the first reply
//! to the `dea.discover` of step 2" is a step. When the order does not hold, the panic says
//! which steps matched (and when) and which one never came, with the recording's events.

use cfsim_nats_server::tap::FlowEvent;

type Test = Box<dyn Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync>;

/// One step of an essential order.
pub struct Step {
    /// What the step is, for the failure message and docs/FLOWS.md.
    pub what: String,
    tests: Vec<Test>,
    /// Where the search for this step's event starts (see [`Step::after`]).
    anchor: Anchor,
}

/// Where a step's search starts.
#[derive(Clone, Copy)]
enum Anchor {
    /// After the previous step's event (the default).
    Previous,
    /// After the event of this earlier step.
    Step(usize),
    /// At the first event of the window.
    Start,
}

impl Step {
    /// A step on any event `test` accepts; it sees the events the earlier steps matched.
    pub fn new(
        what: impl Into<String>,
        test: impl Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync + 'static,
    ) -> Step {
        Step {
            what: what.into(),
            tests: vec![Box::new(test)],
            anchor: Anchor::Previous,
        }
    }

    /// A message on a subject matching the NATS `pattern` (`*` one token, `>` the rest).
    pub fn subject(pattern: &str) -> Step {
        let owned = pattern.to_owned();
        Step::new(format!("`{pattern}`"), move |ev, _| {
            subject_matches(&owned, &ev.subject)
        })
    }

    /// An HTTP request `METHOD path` (the query is ignored; a path ending in `*` is a prefix).
    pub fn http(method: &str, path: &str) -> Step {
        let (method, path) = (method.to_owned(), path.to_owned());
        Step::new(format!("HTTP `{method} {path}`"), move |ev, _| {
            http_matches(&ev.subject, &method, &path)
        })
    }

    /// A reply to the request step `step` matched (its subject is that request's reply).
    pub fn reply_to(step: usize, what: &str) -> Step {
        Step::new(format!("reply to {what}"), move |ev, matched| {
            matched
                .get(step)
                .and_then(|req| req.reply.as_deref())
                .is_some_and(|inbox| inbox == ev.subject)
        })
    }

    /// ... sent by a connection whose name starts with `name`.
    pub fn from(self, name: &str) -> Step {
        let owned = name.to_owned();
        self.and(format!("from `{name}`"), move |ev, _| {
            ev.sender.name.starts_with(&owned)
        })
    }

    /// ... received by a connection whose name starts with `name`.
    pub fn to(self, name: &str) -> Step {
        let owned = name.to_owned();
        self.and(format!("to `{name}`"), move |ev, _| {
            ev.receivers.iter().any(|r| r.name.starts_with(&owned))
        })
    }

    /// ... whose payload `test` accepts (`what` says how, for the docs).
    pub fn payload(
        self,
        what: &str,
        test: impl Fn(&serde_json::Value) -> bool + Send + Sync + 'static,
    ) -> Step {
        self.and(what.to_owned(), move |ev, _| test(&ev.payload))
    }

    /// ... searched after the event of the earlier step `step` instead of after the previous
    /// step's: the start of a chain that runs beside the steps in between (concurrent work
    /// whose order against them is not guaranteed). The steps that follow it continue its
    /// chain.
    pub fn after(mut self, step: usize) -> Step {
        self.anchor = Anchor::Step(step);
        self
    }

    /// ... searched from the first event of the window: like [`Step::after`], the start of a
    /// chain independent of every step before it.
    pub fn anywhere(mut self) -> Step {
        self.anchor = Anchor::Start;
        self
    }

    /// ... and `test` holds too.
    pub fn and(
        mut self,
        what: String,
        test: impl Fn(&FlowEvent, &[FlowEvent]) -> bool + Send + Sync + 'static,
    ) -> Step {
        self.what = format!("{} {what}", self.what);
        self.tests.push(Box::new(test));
        self
    }

    fn accepts(&self, ev: &FlowEvent, matched: &[FlowEvent]) -> bool {
        self.tests.iter().all(|test| test(ev, matched))
    }
}

/// vmc's `method path`: the request as vmc sends it (to `api.<domain>`, so through the
/// router) and as it reaches the cloud controller.
pub fn vmc_call(method: &str, path: &str) -> [Step; 2] {
    [
        Step::http(method, path).from("vmc"),
        Step::http(method, path).to("cloud_controller"),
    ]
}

/// The events matching `steps` in order (each the first acceptable one after the previous
/// step's event, or after its [`Step::after`] anchor's), or a report of where the order broke.
pub fn find_in_order(events: &[FlowEvent], steps: &[Step]) -> Result<Vec<FlowEvent>, String> {
    let mut matched: Vec<FlowEvent> = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
    let mut at = 0;
    for (index, step) in steps.iter().enumerate() {
        match step.anchor {
            Anchor::Previous => {}
            Anchor::Step(anchor) => {
                assert!(anchor < index, "step {index} anchored on step {anchor}");
                at = positions[anchor] + 1;
            }
            Anchor::Start => at = 0,
        }
        let found = events[at..]
            .iter()
            .position(|ev| step.accepts(ev, &matched));
        match found {
            Some(offset) => {
                matched.push(events[at + offset].clone());
                positions.push(at + offset);
                at += offset + 1;
            }
            None => return Err(report(events, steps, &matched, index)),
        }
    }
    Ok(matched)
}

fn report(events: &[FlowEvent], steps: &[Step], matched: &[FlowEvent], missing: usize) -> String {
    let start = events.first().map_or(0, |e| e.ts_ns);
    let mut text = String::from("the essential order does not hold:\n");
    for (step, ev) in steps.iter().zip(matched) {
        text += &format!("  ok   {} at +{}\n", step.what, millis(ev.ts_ns - start));
    }
    text += &format!("  MISSING {}\n", steps[missing].what);
    text += "events of the recording:\n";
    for ev in events {
        text += &format!("  {}\n", describe(ev, start));
    }
    text
}

/// One line per event: `+12.3 ms sender -> receivers subject`.
pub fn describe(ev: &FlowEvent, start_ns: u64) -> String {
    let receivers: Vec<&str> = ev.receivers.iter().map(|r| r.name.as_str()).collect();
    format!(
        "+{} {} -> [{}] {}",
        millis(ev.ts_ns.saturating_sub(start_ns)),
        ev.sender.name,
        receivers.join(","),
        ev.subject
    )
}

fn millis(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Whether a `router.register`/`unregister` payload names `uri`.
pub fn has_uri(payload: &serde_json::Value, uri: &str) -> bool {
    payload["uris"]
        .as_array()
        .is_some_and(|uris| uris.iter().any(|u| u == uri))
}

/// NATS subject matching: `*` is one token, `>` the rest.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for want in pattern.split('.') {
        match (want, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (want, Some(token)) if want == token => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

fn http_matches(subject: &str, method: &str, path: &str) -> bool {
    let Some((got_method, target)) = subject.split_once(' ') else {
        return false;
    };
    let got_path = target.split('?').next().unwrap_or(target);
    got_method == method
        && match path.strip_suffix('*') {
            Some(prefix) => got_path.starts_with(prefix),
            None => got_path == path,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches("dea.*.start", "dea.0-abc.start"));
        assert!(!subject_matches("dea.*.start", "dea.start"));
        assert!(subject_matches("router.>", "router.register"));
        assert!(!subject_matches("router.register", "router.registers"));
    }

    fn event(subject: &str) -> FlowEvent {
        FlowEvent {
            ts_ns: 0,
            subject: subject.into(),
            reply: None,
            size: 0,
            payload: serde_json::Value::Null,
            truncated: false,
            sender: cfsim_nats_server::tap::Peer {
                name: String::new(),
                cid: 0,
            },
            receivers: Vec::new(),
            inferred: false,
        }
    }

    #[test]
    fn a_step_after_an_anchor_starts_a_chain_beside_the_others() {
        let events: Vec<FlowEvent> = ["a", "c", "b", "d"].into_iter().map(event).collect();
        let linear = [Step::subject("a"), Step::subject("b"), Step::subject("c")];
        assert!(find_in_order(&events, &linear).is_err());
        let chains = [
            Step::subject("a"),
            Step::subject("b"),
            Step::subject("c").after(0),
            Step::subject("d").after(1),
            Step::subject("c").anywhere(),
        ];
        let matched = find_in_order(&events, &chains).expect("both chains hold");
        let subjects: Vec<&str> = matched.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(subjects, ["a", "b", "c", "d", "c"]);
    }

    #[test]
    fn http_requests_match_by_method_and_path() {
        assert!(http_matches("POST /apps", "POST", "/apps"));
        assert!(http_matches("GET /apps/x?y=1", "GET", "/apps/x"));
        assert!(http_matches("PUT /apps/x/application", "PUT", "/apps/*"));
        assert!(!http_matches("dea.discover", "POST", "/apps"));
    }
}
