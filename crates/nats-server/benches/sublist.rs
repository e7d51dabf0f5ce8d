//! Sublist micro-benchmarks on the workload of nats-server's `server/sublist_test.go`
//! benchmarks: 8 tokens combined to depth 5 (37,448 literal subscriptions) plus 3 wildcards.
//! Prints ns/op next to nats-server's published figures (nats-io/nats-server#710, 2018,
//! 20-thread iMac Pro; see NATS-REFERENCE §7) and the ratio ours / theirs.
//!
//! Run: `cargo bench -p cfsim-nats-server --bench sublist` (plain `Instant` timing, best of 5).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cfsim_nats_server::sublist::{match_literal, SubEntry, Sublist};

const TOKENS: [&str; 8] = [
    "synadia",
    "nats",
    "jetstream",
    "nkeys",
    "jwt",
    "deny",
    "auth",
    "drain",
];
const MAX_DEPTH: usize = 5;
const WILDCARDS: [&str; 3] = ["cloud.>", "cloud.nats.component.>", "cloud.*.*.nkeys.*"];
const REPEATS: usize = 5;
const TARGET: Duration = Duration::from_millis(200);

struct BenchSub {
    subject: String,
}

impl SubEntry for BenchSub {
    fn subject(&self) -> &str {
        &self.subject
    }
    fn queue(&self) -> Option<&str> {
        None
    }
}

fn new_sub(subject: &str) -> Arc<BenchSub> {
    Arc::new(BenchSub {
        subject: subject.to_string(),
    })
}

/// Every combination of [`TOKENS`] from one to [`MAX_DEPTH`] tokens, parents first.
fn literal_subjects(prefix: &str, out: &mut Vec<String>) {
    for token in TOKENS {
        let subject = match prefix {
            "" => token.to_string(),
            _ => format!("{prefix}.{token}"),
        };
        out.push(subject.clone());
        if subject.split('.').count() < MAX_DEPTH {
            literal_subjects(&subject, out);
        }
    }
}

fn workload() -> Vec<Arc<BenchSub>> {
    let mut subjects = Vec::with_capacity(40_000);
    literal_subjects("", &mut subjects);
    subjects.iter().map(|s| new_sub(s)).collect()
}

fn populated(subs: &[Arc<BenchSub>], sl: Sublist<BenchSub>) -> Sublist<BenchSub> {
    for sub in subs {
        sl.insert(Arc::clone(sub)).expect("valid subject");
    }
    for wildcard in WILDCARDS {
        sl.insert(new_sub(wildcard)).expect("valid subject");
    }
    sl
}

/// Best-of-[`REPEATS`] ns per call of `op`, with the iteration count calibrated to [`TARGET`].
fn ns_per_op(mut op: impl FnMut()) -> f64 {
    let mut iters = 1_000u64;
    loop {
        let start = Instant::now();
        (0..iters).for_each(|_| op());
        let elapsed = start.elapsed();
        if elapsed >= TARGET / 4 {
            iters = (iters as f64 * TARGET.as_secs_f64() / elapsed.as_secs_f64()) as u64;
            break;
        }
        iters *= 4;
    }
    let run = |op: &mut dyn FnMut()| {
        let start = Instant::now();
        (0..iters).for_each(|_| op());
        start.elapsed().as_nanos() as f64 / iters as f64
    };
    (0..REPEATS).map(|_| run(&mut op)).fold(f64::MAX, f64::min)
}

/// Best-of-[`REPEATS`] ns per insert of the whole workload into a fresh Sublist.
fn insert_ns(subs: &[Arc<BenchSub>], make: fn() -> Sublist<BenchSub>) -> f64 {
    let run = || {
        let sl = make();
        let start = Instant::now();
        for sub in subs {
            sl.insert(Arc::clone(sub)).expect("valid subject");
        }
        let ns = start.elapsed().as_nanos() as f64 / subs.len() as f64;
        drop(black_box(sl));
        ns
    };
    (0..REPEATS).map(|_| run()).fold(f64::MAX, f64::min)
}

/// Best-of-[`REPEATS`] ns per remove of the whole workload.
fn remove_ns(subs: &[Arc<BenchSub>]) -> f64 {
    let run = || {
        let sl = populated(subs, Sublist::new());
        let start = Instant::now();
        for sub in subs {
            sl.remove(sub).expect("inserted");
        }
        start.elapsed().as_nanos() as f64 / subs.len() as f64
    };
    (0..REPEATS).map(|_| run()).fold(f64::MAX, f64::min)
}

/// Aggregate ns per match with `threads` threads matching concurrently (elapsed / all ops).
fn concurrent_ns(sl: &Sublist<BenchSub>, subjects: &[&str], ops_per_thread: u64) -> f64 {
    let threads = subjects.len();
    let run = || {
        let barrier = std::sync::Barrier::new(threads + 1);
        let start = std::thread::scope(|scope| {
            for subject in subjects {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..ops_per_thread {
                        black_box(sl.match_subject(black_box(subject)));
                    }
                });
            }
            barrier.wait();
            Instant::now()
        });
        start.elapsed().as_nanos() as f64 / (ops_per_thread * threads as u64) as f64
    };
    (0..REPEATS).map(|_| run()).fold(f64::MAX, f64::min)
}

fn row(name: &str, ours: f64, theirs: Option<f64>) {
    match theirs {
        Some(t) => println!(
            "{name:<44} {ours:>9.1} ns/op   nats-server {t:>6.0} ns/op   x{:.2}",
            ours / t
        ),
        None => println!("{name:<44} {ours:>9.1} ns/op"),
    }
}

fn main() {
    let subs = workload();
    println!(
        "Sublist workload: {} literal subscriptions + {} wildcards (nats-server sublist_test.go shape)\n",
        subs.len(),
        WILDCARDS.len()
    );

    row("SublistInsert", insert_ns(&subs, Sublist::new), Some(340.0));
    row(
        "SublistInsertNoCache",
        insert_ns(&subs, Sublist::without_cache),
        None,
    );
    row("SublistRemove (all subs, cache on)", remove_ns(&subs), None);

    let cached = populated(&subs, Sublist::new());
    let uncached = populated(&subs, Sublist::without_cache());
    let cases = [
        ("MatchSingleToken", "synadia", 28.0),
        ("MatchTwoTokens", "synadia.nats", 29.0),
        ("MatchThreeTokens", "synadia.nats.jetstream", 30.0),
        ("MatchFourTokens", "synadia.nats.jetstream.nkeys", 31.0),
    ];
    for (name, subject, published) in cases {
        let ns = ns_per_op(|| drop(black_box(cached.match_subject(black_box(subject)))));
        row(&format!("Sublist{name} (cached)"), ns, Some(published));
    }
    let extra = [
        ("MatchFourTokensMultiResults", "cloud.nats.component.router"),
        ("MissOnLastTokenOfFive", "synadia.nats.jetstream.nkeys.ZZZZ"),
    ];
    for (name, subject) in extra {
        let ns = ns_per_op(|| drop(black_box(cached.match_subject(black_box(subject)))));
        row(&format!("Sublist{name} (cached)"), ns, None);
    }
    println!();
    for (name, subject) in cases.map(|(n, s, _)| (n, s)).iter().chain(&extra) {
        let ns = ns_per_op(|| drop(black_box(uncached.match_subject(black_box(subject)))));
        row(&format!("Sublist{name} (no cache)"), ns, None);
    }
    println!();

    let fanout = Sublist::without_cache();
    for _ in 0..512 {
        fanout.insert(new_sub("foo")).expect("valid subject");
    }
    let ns = ns_per_op(|| drop(black_box(fanout.match_subject(black_box("foo")))));
    row("SublistMatch512SubsWithNoCache", ns, None);
    println!();

    let four = "synadia.nats.jetstream.nkeys";
    let ops = 2_000_000;
    row(
        "2 threads, same subject (aggregate)",
        concurrent_ns(&cached, &[four, four], ops),
        Some(73.0),
    );
    row(
        "2 threads, different subjects (aggregate)",
        concurrent_ns(&cached, &[four, "synadia.nats.jetstream.jwt"], ops),
        None,
    );
    println!("  (nats-server figure: Sublist10XMultipleReads, 10 goroutines on 20 threads)\n");

    let literal = "foo.foo.foo.foo.foo.foo.foo.foo.foo.foo";
    let mut patterns: Vec<String> = (0..=10)
        .map(|n| {
            let mut tokens = vec!["foo"; 10 - n];
            tokens.push(">");
            tokens.truncate(10);
            tokens.join(".")
        })
        .collect();
    patterns.extend((1..=10).map(|n| {
        let mut tokens = vec!["foo"; 10 - n];
        tokens.extend(std::iter::repeat_n("*", n));
        tokens.join(".")
    }));
    assert!(patterns.iter().all(|p| match_literal(literal, p)));
    let ns = ns_per_op(|| {
        for pattern in &patterns {
            black_box(match_literal(black_box(literal), black_box(pattern)));
        }
    });
    row("SublistMatchLiteral (21 calls)", ns, Some(915.0));
}
