//! Unit tests of the Sublist: the NATS-REFERENCE §4.2 edge cases (rows 1-17), subject
//! validation and `match_literal`, queue-group merging, cache coherence and bounds, counters,
//! and randomized and concurrent runs checked against a brute-force matcher.
//!
//! A child module of the Sublist so that the tests can inspect the trie and the cache shards.

use super::cache::PATCH_MAX;
use super::subject::STACK_TOKENS;
use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug)]
struct Sub {
    subject: String,
    queue: Option<String>,
}

impl SubEntry for Sub {
    fn subject(&self) -> &str {
        &self.subject
    }
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
}

fn sub(subject: &str) -> Arc<Sub> {
    Arc::new(Sub {
        subject: subject.into(),
        queue: None,
    })
}

fn qsub(subject: &str, queue: &str) -> Arc<Sub> {
    Arc::new(Sub {
        subject: subject.into(),
        queue: Some(queue.into()),
    })
}

fn has(list: &[Arc<Sub>], s: &Arc<Sub>) -> bool {
    list.iter().any(|x| Arc::ptr_eq(x, s))
}

fn both() -> [Sublist<Sub>; 2] {
    [Sublist::new(), Sublist::without_cache()]
}

fn insert_all(sl: &Sublist<Sub>, subs: &[&Arc<Sub>]) {
    for s in subs {
        sl.insert(Arc::clone(s)).unwrap();
    }
}

/// A result in comparable form: plain sub ids, and queue name -> member ids.
type Shape = (BTreeSet<usize>, BTreeMap<String, BTreeSet<usize>>);

fn shape(r: &SublistResult<Sub>) -> Shape {
    let psubs: BTreeSet<usize> = r.psubs.iter().map(sub_key).collect();
    assert_eq!(psubs.len(), r.psubs.len(), "duplicate plain sub");
    let mut qsubs = BTreeMap::new();
    for group in &r.qsubs {
        assert!(!group.is_empty(), "empty queue group");
        let name = group_name(group).unwrap().to_string();
        assert!(
            group.iter().all(|s| s.queue() == Some(&*name)),
            "mixed group"
        );
        let ids: BTreeSet<usize> = group.iter().map(sub_key).collect();
        assert_eq!(ids.len(), group.len(), "duplicate queue member");
        assert!(qsubs.insert(name, ids).is_none(), "queue group split");
    }
    (psubs, qsubs)
}

fn brute_force(live: &[Arc<Sub>], subject: &str) -> Shape {
    let (mut psubs, mut qsubs) = (BTreeSet::new(), BTreeMap::<_, BTreeSet<_>>::new());
    for s in live.iter().filter(|s| match_literal(subject, &s.subject)) {
        match s.queue() {
            None => psubs.insert(sub_key(s)),
            Some(q) => qsubs.entry(q.to_string()).or_default().insert(sub_key(s)),
        };
    }
    (psubs, qsubs)
}

// --- NATS-REFERENCE §4.2 edge cases ---

#[test]
fn row01_full_wildcard_and_partials_all_match() {
    for sl in both() {
        let (a, b, c) = (sub("a.*.c"), sub("a.b.*"), sub("a.>"));
        insert_all(&sl, &[&a, &b, &c]);
        let r = sl.match_subject("a.b.c");
        assert_eq!(r.len(), 3);
        assert!(has(&r.psubs, &a) && has(&r.psubs, &b) && has(&r.psubs, &c));
    }
}

#[test]
fn row02_literal_fwc_subject_matches_only_fwc_sub() {
    for sl in both() {
        let (a, b, c) = (sub("a.*.c"), sub("a.b.*"), sub("a.>"));
        insert_all(&sl, &[&a, &b, &c]);
        let r = sl.match_subject("a.>");
        assert_eq!(r.len(), 1);
        assert!(has(&r.psubs, &c));
    }
}

#[test]
fn row03_two_token_pub_does_not_match_single_token_sub() {
    for sl in both() {
        let s = sub("foo");
        sl.insert(Arc::clone(&s)).unwrap();
        assert!(has(&sl.match_subject("foo").psubs, &s));
        assert!(sl.match_subject("foo.bar").is_empty());
    }
}

#[test]
fn row04_pwc_matches_exactly_one_token() {
    for sl in both() {
        sl.insert(sub("foo.*")).unwrap();
        assert!(sl.match_subject("foo").is_empty());
        assert!(sl.match_subject("foo.bar.baz").is_empty());
        assert_eq!(sl.match_subject("foo.bar").len(), 1);
    }
}

#[test]
fn row05_fwc_matches_one_or_more_tokens() {
    for sl in both() {
        sl.insert(sub("foo.>")).unwrap();
        assert!(sl.match_subject("foo").is_empty());
        assert_eq!(sl.match_subject("foo.bar").len(), 1);
        assert_eq!(sl.match_subject("foo.bar.baz").len(), 1);
    }
}

#[test]
fn row06_pwc_then_fwc_needs_two_tokens() {
    for sl in both() {
        sl.insert(sub("*.>")).unwrap();
        assert!(sl.match_subject("foo").is_empty());
        assert_eq!(sl.match_subject("foo.bar").len(), 1);
        assert_eq!(sl.match_subject("foo.bar.baz").len(), 1);
    }
}

#[test]
fn row07_leading_pwc() {
    for sl in both() {
        sl.insert(sub("*.bar")).unwrap();
        assert_eq!(sl.match_subject("foo.bar").len(), 1);
        assert_eq!(sl.match_subject("baz.bar").len(), 1);
        for other in ["bar", "foo", "foo.baz", "foo.bar.baz", "bar.foo"] {
            assert!(sl.match_subject(other).is_empty(), "{other}");
        }
    }
}

#[test]
fn row08_subjects_with_empty_tokens_match_nothing() {
    for sl in both() {
        for s in [
            sub(">"),
            qsub(">", "queue"),
            sub("*"),
            sub("foo.>"),
            sub("foo.*.bar"),
        ] {
            sl.insert(s).unwrap();
        }
        for subject in [
            ".foo",
            "..foo",
            "foo..",
            "foo.",
            "foo..bar",
            "foo...bar",
            ".",
            "",
        ] {
            let r = sl.match_subject(subject);
            assert!(r.psubs.is_empty() && r.qsubs.is_empty(), "{subject:?}");
        }
        assert_eq!(sl.stats().num_cache, 0);
    }
}

#[test]
fn row09_insert_rejects_invalid_subjects() {
    for sl in both() {
        for bad in [
            ".foo",
            "foo.",
            "foo..bar",
            "foo.bar..baz",
            "foo.>.bar",
            ">.foo",
            "",
        ] {
            assert_eq!(
                sl.insert(sub(bad)),
                Err(SublistError::InvalidSubject),
                "{bad:?}"
            );
            assert_eq!(sl.insert(qsub(bad, "q")), Err(SublistError::InvalidSubject));
        }
        assert_eq!(sl.count(), 0);
        assert_eq!(sl.genid(), 0);
        assert!(read(&sl.trie.0).is_empty());
    }
}

#[test]
fn row10_remove_rejects_invalid_subjects() {
    for sl in both() {
        assert_eq!(sl.remove(&sub("a.b..d")), Err(SublistError::InvalidSubject));
        assert_eq!(sl.remove(&sub("a.>.b")), Err(SublistError::InvalidSubject));
    }
}

#[test]
fn row11_wildcard_characters_inside_tokens_are_literal() {
    for sl in both() {
        let (pwc_like, fwc_like) = (sub("foo.*-"), sub("foo.>-"));
        insert_all(&sl, &[&pwc_like, &fwc_like]);
        assert!(sl.match_subject("foo.bar").is_empty());
        let r = sl.match_subject("foo.*-");
        assert_eq!(r.len(), 1);
        assert!(has(&r.psubs, &pwc_like));
        let r = sl.match_subject("foo.>-");
        assert_eq!(r.len(), 1);
        assert!(has(&r.psubs, &fwc_like));
    }
}

#[test]
fn row12_match_literal_true_cases() {
    for (literal, pattern) in [
        ("foo", ">"),
        ("foo.bar", ">"),
        ("foo.bar", "foo.>"),
        ("stats.test.22", "stats.*.*"),
        ("stats.test.22", "stats.>"),
        ("foo*bar", "foo*bar"),
        ("foo.>>>.bar", "foo.>>>.bar"),
        ("foo.*", "foo.*"),
        ("foo.>", "foo.*"),
    ] {
        assert!(match_literal(literal, pattern), "{literal} ~ {pattern}");
    }
}

#[test]
fn row13_match_literal_false_cases() {
    for (literal, pattern) in [
        ("foo.bar", "foo"),
        ("foo.bar", "bar.>"),
        ("stats.test", "stats.test.*"),
        ("stats.test.foos", "stats.*"),
        ("foo", "foo.>"),
        ("foo", "*.*"),
        ("foo..bar", "foo.*.bar"),
        ("foo.", ">"),
        (".foo", ">"),
    ] {
        assert!(!match_literal(literal, pattern), "{literal} !~ {pattern}");
    }
}

/// The token-by-token definition `match_literal` must agree with.
fn match_literal_reference(literal: &str, pattern: &str) -> bool {
    let mut lits = literal.split('.');
    for pat in pattern.split('.') {
        let Some(lit) = lits.next().filter(|t| !t.is_empty()) else {
            return false;
        };
        match pat {
            ">" => return lits.all(|t| !t.is_empty()),
            "*" => {}
            _ if pat != lit => return false,
            _ => {}
        }
    }
    lits.next().is_none()
}

#[test]
fn match_literal_agrees_with_token_definition() {
    let mut rng = StdRng::seed_from_u64(7);
    let alphabet = ["a", "b", "ab", "*", ">", "", "a*", ">>"];
    let random = |rng: &mut StdRng| {
        let n = rng.random_range(1..=4);
        let t: Vec<&str> = (0..n).map(|_| alphabet[rng.random_range(0..8)]).collect();
        t.join(".")
    };
    for _ in 0..20_000 {
        let (literal, pattern) = (random(&mut rng), random(&mut rng));
        let expected = match_literal_reference(&literal, &pattern);
        assert_eq!(
            match_literal(&literal, &pattern),
            expected,
            "{literal:?} ~ {pattern:?}"
        );
    }
}

#[test]
fn row14_queue_results_grouped_per_queue_name() {
    for sl in both() {
        let plain = sub("foo");
        let bar1 = qsub("foo", "bar");
        let bar2 = qsub("foo", "bar");
        let baz1 = qsub("foo", "baz");
        let baz2 = qsub("foo", "baz");
        let baz3 = qsub("foo", "baz");
        sl.insert(Arc::clone(&plain)).unwrap();
        sl.insert(Arc::clone(&bar1)).unwrap();
        let r = sl.match_subject("foo");
        assert_eq!((r.psubs.len(), r.qsubs.len(), r.len()), (1, 1, 2));
        insert_all(&sl, &[&bar2, &baz1, &baz2, &baz3]);
        let r = sl.match_subject("foo");
        let (psubs, qsubs) = shape(&r);
        assert_eq!(psubs.len(), 1);
        assert_eq!(qsubs["bar"].len(), 2);
        assert_eq!(qsubs["baz"].len(), 3);
        assert_eq!(r.len(), 6);
        sl.remove(&bar1).unwrap();
        sl.remove(&bar2).unwrap();
        let (_, qsubs) = shape(&sl.match_subject("foo"));
        assert!(!qsubs.contains_key("bar"));
        assert_eq!(qsubs["baz"].len(), 3);
    }
}

#[test]
fn row15_cache_sees_wildcard_insert() {
    let sl = Sublist::new();
    let (fwc_target, lit) = (sub("foo.*"), sub("foo.bar"));
    insert_all(&sl, &[&fwc_target, &lit]);
    assert_eq!(sl.match_subject("foo.bar").len(), 2);
    assert_eq!(sl.match_subject("foo.bar").len(), 2);
    sl.insert(sub("foo.>")).unwrap();
    assert_eq!(sl.match_subject("foo.bar").len(), 3);
    assert!(sl.stats().cache_hit_rate > 0.0);
}

#[test]
fn row16_remove_from_a_large_node() {
    for sl in both() {
        let plain: Vec<_> = (0..300).map(|_| sub("foo")).collect();
        let queued: Vec<_> = (0..300).map(|_| qsub("foo", "q")).collect();
        for s in plain.iter().chain(&queued) {
            sl.insert(Arc::clone(s)).unwrap();
        }
        assert_eq!(sl.match_subject("foo").len(), 600);
        sl.remove(&plain[150]).unwrap();
        sl.remove(&queued[150]).unwrap();
        let r = sl.match_subject("foo");
        assert_eq!((r.psubs.len(), r.qsubs[0].len()), (299, 299));
        assert!(!has(&r.psubs, &plain[150]) && !has(&r.qsubs[0], &queued[150]));
        assert_eq!(sl.remove(&plain[150]), Err(SublistError::NotFound));
        for s in plain.iter().chain(&queued) {
            let _ = sl.remove(s);
        }
        assert_eq!(sl.count(), 0);
        assert!(sl.match_subject("foo").is_empty());
        assert!(read(&sl.trie.0).is_empty());
    }
}

#[test]
fn row17_negative_results_are_cached() {
    let sl: Sublist<Sub> = Sublist::new();
    assert!(sl.match_subject("x").is_empty());
    let stats = sl.stats();
    assert_eq!((stats.num_cache, stats.num_matches), (1, 1));
    assert!(sl.match_subject("x").is_empty());
    assert_eq!(sl.stats().cache_hit_rate, 0.5);
    sl.insert(sub("x")).unwrap();
    assert_eq!(sl.match_subject("x").len(), 1);
}

// --- subject validation (§2.6) ---

#[test]
fn valid_subjects() {
    for s in [
        "foo",
        "foo.bar",
        "*",
        ">",
        "foo.*",
        "foo.>",
        "*.>",
        "foo.*.bar",
        "foo*",
        "*bar",
        "foo.>>",
        "foo>bar",
        ">bar",
        "foo.*-",
        "a.b.c.d.e.f",
    ] {
        assert!(is_valid_subject(s), "{s:?}");
    }
}

#[test]
fn invalid_subjects() {
    for s in [
        "",
        ".",
        "foo.>.bar",
        ">.bar",
        ".foo",
        "foo.",
        "foo..bar",
        "foo bar",
        "foo\tbar",
        "foo.bar\r",
        "foo\n",
        "foo.\x0cbar",
        " ",
        "\t",
        "> ",
    ] {
        assert!(!is_valid_subject(s), "{s:?}");
        assert!(!is_valid_literal_subject(s), "{s:?}");
    }
}

#[test]
fn valid_and_invalid_literal_subjects() {
    for s in [
        "foo", "foo.bar", "foo*", "*bar", "foo.>>", "foo>bar", ">bar", "a.**.b",
    ] {
        assert!(is_valid_literal_subject(s), "{s:?}");
    }
    for s in ["*", ">", "foo.*", "foo.>", "*.bar", "foo.*.bar"] {
        assert!(is_valid_subject(s) && !is_valid_literal_subject(s), "{s:?}");
    }
}

// --- queue groups, coherence, counters ---

#[test]
fn queue_groups_merge_across_literal_and_wildcard_nodes() {
    for sl in both() {
        let members = [
            qsub("foo.bar", "workers"),
            qsub("foo.*", "workers"),
            qsub("foo.>", "workers"),
            qsub(">", "workers"),
            qsub("*.bar", "others"),
        ];
        for m in &members {
            sl.insert(Arc::clone(m)).unwrap();
        }
        sl.insert(sub("foo.*")).unwrap();
        let r = sl.match_subject("foo.bar");
        let (psubs, qsubs) = shape(&r);
        assert_eq!(psubs.len(), 1);
        assert_eq!(r.qsubs.len(), 2);
        assert_eq!(qsubs["workers"].len(), 4);
        assert_eq!(qsubs["others"].len(), 1);
        // A new member on another node joins the cached, merged group.
        sl.insert(qsub("*.*", "workers")).unwrap();
        assert_eq!(shape(&sl.match_subject("foo.bar")).1["workers"].len(), 5);
    }
}

#[test]
fn cache_insert_literal_after_cached_match() {
    let sl = Sublist::new();
    assert!(sl.match_subject("foo.bar").is_empty());
    let (a, b) = (sub("foo.bar"), qsub("foo.bar", "q"));
    insert_all(&sl, &[&a, &b]);
    let r = sl.match_subject("foo.bar");
    assert!(has(&r.psubs, &a) && has(&r.qsubs[0], &b));
    assert_eq!(sl.stats().num_cache, 1);
}

#[test]
fn cache_remove_wildcard_after_cached_match() {
    let sl = Sublist::new();
    let (lit, pwc, fwc) = (sub("foo.bar"), sub("foo.*"), qsub("foo.>", "q"));
    insert_all(&sl, &[&lit, &pwc, &fwc]);
    assert_eq!(sl.match_subject("foo.bar").len(), 3);
    assert_eq!(sl.match_subject("foo.baz").len(), 2);
    sl.remove(&pwc).unwrap();
    assert_eq!(sl.match_subject("foo.bar").len(), 2);
    assert_eq!(sl.match_subject("foo.baz").len(), 1);
    sl.remove(&fwc).unwrap();
    let r = sl.match_subject("foo.bar");
    assert_eq!((r.len(), r.qsubs.len()), (1, 0));
    assert!(sl.match_subject("foo.baz").is_empty());
}

#[test]
fn cache_remove_literal_after_cached_match() {
    let sl = Sublist::new();
    let (a, b, w) = (sub("foo.bar"), sub("foo.baz"), sub("foo.*"));
    insert_all(&sl, &[&a, &b, &w]);
    assert_eq!(sl.match_subject("foo.bar").len(), 2);
    assert_eq!(sl.match_subject("foo.baz").len(), 2);
    sl.remove(&a).unwrap();
    let r = sl.match_subject("foo.bar");
    assert_eq!(r.len(), 1);
    assert!(has(&r.psubs, &w));
    assert_eq!(sl.match_subject("foo.baz").len(), 2);
}

#[test]
fn cache_drops_large_results_instead_of_copying() {
    let sl = Sublist::new();
    for _ in 0..PATCH_MAX + 10 {
        sl.insert(sub("big")).unwrap();
    }
    assert_eq!(sl.match_subject("big").len(), PATCH_MAX + 10);
    let extra = sub("big");
    sl.insert(Arc::clone(&extra)).unwrap();
    assert_eq!(sl.stats().num_cache, 0);
    assert_eq!(sl.match_subject("big").len(), PATCH_MAX + 11);
    sl.remove(&extra).unwrap();
    assert_eq!(sl.match_subject("big").len(), PATCH_MAX + 10);
}

#[test]
fn cache_hit_returns_the_same_result() {
    let sl = Sublist::new();
    sl.insert(sub("foo")).unwrap();
    let (r1, r2) = (sl.match_subject("foo"), sl.match_subject("foo"));
    assert!(Arc::ptr_eq(&r1, &r2));
    let nc = Sublist::without_cache();
    nc.insert(sub("foo")).unwrap();
    assert_eq!(nc.match_subject("foo").len(), 1);
    assert_eq!(nc.stats().num_cache, 0);
    assert_eq!(nc.stats().cache_hit_rate, 0.0);
}

#[test]
fn cache_is_bounded() {
    let sl = Sublist::new();
    sl.insert(sub("cache.>")).unwrap();
    for i in 0..CACHE_MAX * 3 {
        assert_eq!(sl.match_subject(&format!("cache.test.{i}")).len(), 1);
        assert!(sl.stats().num_cache as usize <= CACHE_MAX);
    }
    assert!(sl.stats().num_cache > 0);
}

#[test]
fn genid_changes_on_every_insert_and_remove() {
    let sl = Sublist::new();
    let s = sub("foo.*");
    let g0 = sl.genid();
    sl.insert(Arc::clone(&s)).unwrap();
    let g1 = sl.genid();
    assert_ne!(g0, g1);
    sl.match_subject("foo.bar");
    assert_eq!(sl.genid(), g1);
    sl.remove(&s).unwrap();
    assert_ne!(sl.genid(), g1);
    let g2 = sl.genid();
    assert_eq!(sl.remove(&s), Err(SublistError::NotFound));
    assert_eq!(sl.insert(sub("a..b")), Err(SublistError::InvalidSubject));
    assert_eq!(sl.genid(), g2);
}

#[test]
fn duplicate_insert_is_a_noop_and_remove_checks_presence() {
    for sl in both() {
        let s = qsub("foo", "q");
        sl.insert(Arc::clone(&s)).unwrap();
        sl.insert(Arc::clone(&s)).unwrap();
        assert_eq!(sl.count(), 1);
        assert_eq!(sl.match_subject("foo").len(), 1);
        assert_eq!(sl.remove(&qsub("foo", "q")), Err(SublistError::NotFound));
        assert_eq!(sl.remove(&sub("foo")), Err(SublistError::NotFound));
        assert_eq!(sl.remove(&sub("foo.bar")), Err(SublistError::NotFound));
        sl.remove(&s).unwrap();
        assert_eq!(sl.remove(&s), Err(SublistError::NotFound));
        assert_eq!(sl.count(), 0);
    }
}

#[test]
fn removal_prunes_the_trie() {
    let sl = Sublist::new();
    let subs: Vec<_> = ["a.b.c", "a.b", "a.*.c", "a.>", "*.b.>", ">", "x.y.z.w"]
        .into_iter()
        .map(sub)
        .collect();
    for s in &subs {
        sl.insert(Arc::clone(s)).unwrap();
    }
    for s in &subs {
        sl.remove(s).unwrap();
    }
    assert!(read(&sl.trie.0).is_empty());
}

#[test]
fn stats_counters() {
    let sl = Sublist::new();
    let (a, b, c) = (sub("foo"), qsub("foo", "q"), qsub("foo", "q"));
    insert_all(&sl, &[&a, &b, &c]);
    sl.insert(sub("bar")).unwrap();
    sl.remove(&a).unwrap();
    sl.match_subject("foo");
    sl.match_subject("foo");
    sl.match_subject("bar");
    sl.match_subject("none");
    let stats = sl.stats();
    assert_eq!(stats.num_subscriptions, 3);
    assert_eq!((stats.num_inserts, stats.num_removes), (4, 1));
    assert_eq!((stats.num_matches, stats.num_cache), (4, 3));
    assert_eq!(stats.cache_hit_rate, 0.25);
    assert_eq!(stats.max_fanout, 1);
    assert!((stats.avg_fanout - 2.0 / 3.0).abs() < 1e-9);
    let json = serde_json::to_value(&stats).unwrap();
    for key in [
        "num_subscriptions",
        "num_cache",
        "cache_hit_rate",
        "max_fanout",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[test]
fn long_subjects_use_the_heap_tokenizer() {
    let long: Vec<String> = (0..STACK_TOKENS * 2).map(|i| format!("t{i}")).collect();
    let literal = long.join(".");
    let pattern = format!("{}.>", long[..STACK_TOKENS + 3].join("."));
    for sl in both() {
        let (l, p, w) = (
            sub(&literal),
            sub(&pattern),
            sub(&format!("{}.*", long[..STACK_TOKENS * 2 - 1].join("."))),
        );
        insert_all(&sl, &[&l, &p, &w]);
        assert_eq!(sl.match_subject(&literal).len(), 3);
        for s in [&l, &p, &w] {
            sl.remove(s).unwrap();
        }
        assert!(sl.match_subject(&literal).is_empty());
    }
}

// --- randomized comparison with a brute-force oracle ---

fn random_subject(rng: &mut StdRng, alphabet: &[&str]) -> String {
    let n = rng.random_range(1..=5);
    let tokens: Vec<&str> = (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect();
    tokens.join(".")
}

fn random_pattern(rng: &mut StdRng) -> String {
    let mut p = random_subject(rng, &["a", "b", "c", "*", "*", "a*"]);
    if rng.random_bool(0.2) {
        p.push_str(".>");
    } else if rng.random_bool(0.05) {
        p = ">".into();
    }
    p
}

fn random_sub(rng: &mut StdRng) -> Arc<Sub> {
    let pattern = random_pattern(rng);
    match rng.random_range(0..4) {
        0 => qsub(&pattern, "q1"),
        1 => qsub(&pattern, "q2"),
        _ => sub(&pattern),
    }
}

fn run_random(sl: &Sublist<Sub>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut live: Vec<Arc<Sub>> = Vec::new();
    let subjects = ["a", "b", "c", "d", "*", ">", "a*"];
    for _ in 0..1500 {
        match rng.random_range(0..10) {
            0..=2 => {
                let s = random_sub(&mut rng);
                sl.insert(Arc::clone(&s)).unwrap();
                live.push(s);
            }
            3 | 4 if !live.is_empty() => {
                let s = live.swap_remove(rng.random_range(0..live.len()));
                sl.remove(&s).unwrap();
            }
            _ => {
                let subject = random_subject(&mut rng, &subjects);
                let got = shape(&sl.match_subject(&subject));
                assert_eq!(got, brute_force(&live, &subject), "subject {subject}");
            }
        }
        assert_eq!(sl.count() as usize, live.len());
    }
    for s in live.drain(..) {
        sl.remove(&s).unwrap();
    }
    assert!(read(&sl.trie.0).is_empty());
}

#[test]
fn randomized_against_brute_force_with_cache() {
    for seed in 0..8 {
        run_random(&Sublist::new(), seed);
    }
}

#[test]
fn randomized_against_brute_force_without_cache() {
    for seed in 0..4 {
        run_random(&Sublist::without_cache(), seed);
    }
}

/// The interleaving a concurrent miss can hit: the walk happens, then an insert (which
/// finds nothing cached to patch), then the store. The store must be refused.
#[test]
fn store_after_a_concurrent_change_is_refused() {
    let sl = Sublist::new();
    sl.insert(sub("foo.bar")).unwrap();
    let (stale, generation) = sl.match_trie("foo.bar").unwrap();
    sl.insert(sub("foo.*")).unwrap();
    let hash = hash_bytes(sl.seed, b"foo.bar");
    let shard = &sl.shards[shard_of(hash)];
    shard.store(hash, "foo.bar", &stale, generation, &sl.counters.0.genid);
    assert!(shard.get(hash, "foo.bar").is_none());
    assert_eq!(sl.match_subject("foo.bar").len(), 2);
    let (fresh, generation) = sl.match_trie("foo.bar").unwrap();
    shard.store(hash, "foo.bar", &fresh, generation, &sl.counters.0.genid);
    assert!(shard
        .get(hash, "foo.bar")
        .is_some_and(|r| Arc::ptr_eq(&r, &fresh)));
}

#[test]
fn concurrent_changes_keep_the_cache_coherent() {
    let sl = Arc::new(Sublist::new());
    let subjects = ["a", "b", "c", "*"];
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let sl = Arc::clone(&sl);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(100 + t);
                let mut mine: Vec<Arc<Sub>> = Vec::new();
                for _ in 0..3000 {
                    if t % 2 == 0 && rng.random_bool(0.5) {
                        let s = random_sub(&mut rng);
                        sl.insert(Arc::clone(&s)).unwrap();
                        mine.push(s);
                    } else if t % 2 == 0 && !mine.is_empty() {
                        sl.remove(&mine.swap_remove(rng.random_range(0..mine.len())))
                            .unwrap();
                    } else {
                        sl.match_subject(&random_subject(&mut rng, &subjects));
                    }
                }
                for s in mine.iter().filter(|_| rng.random_bool(0.5)) {
                    sl.remove(s).unwrap();
                }
            });
        }
    });
    // Every cached result must equal a fresh walk of the final trie.
    let cached: Vec<(String, ResultRef<Sub>)> = sl
        .shards
        .iter()
        .flat_map(|shard| {
            let map = read(&shard.map);
            map.values()
                .map(|e| (e.subject.to_string(), Arc::clone(&e.result)))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!cached.is_empty());
    for (subject, result) in cached {
        let (fresh, _) = sl.match_trie(&subject).unwrap();
        assert_eq!(
            shape(&result),
            shape(&fresh),
            "stale cache entry for {subject}"
        );
    }
}
