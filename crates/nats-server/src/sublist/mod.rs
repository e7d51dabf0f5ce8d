//! The subscription index ("Sublist"): which subscriptions receive a message published on a
//! literal subject.
//!
//! Every `PUB` asks this index who gets the message, and every `SUB`/`UNSUB` changes it, so it
//! is shared (as `Arc<Sublist<T>>`) by all connection tasks and built for a read-mostly load.
//! The design follows nats-server's `server/sublist.go` (reimplemented, not ported):
//!
//! * **Token trie.** A level maps literal tokens to nodes and has two special nodes, `*`
//!   (one token) and `>` (one or more tokens). A node holds the next level, its plain
//!   subscriptions and its queue subscriptions (queue name -> members). A token is a wildcard
//!   only if it is exactly `*` or `>`: `foo*` or `>bar` are plain literal tokens. Nodes left
//!   empty by a removal are pruned.
//! * **Match cache.** Results are cached per literal subject (negative results too), in
//!   [`CACHE_SHARDS`] shards each behind its own `RwLock`, so a cache hit costs one read lock,
//!   one hash lookup and one `Arc` clone, and publishers on different subjects rarely touch the
//!   same lock. The cache is bounded ([`CACHE_MAX`] entries; when a shard overflows, random
//!   entries are evicted until the whole cache would hold about [`CACHE_SWEEP`]).
//! * **Coherence.** Inserts and removes take the trie write lock and, while still holding it,
//!   patch the cached results they affect (the literal subject's entry, or every cached subject
//!   a wildcard matches); very large results are dropped instead of copied. A match that missed
//!   the cache walks the trie under the read lock and stores its result only if no insert or
//!   remove happened meanwhile (checked against [`Sublist::genid`] under the shard lock), so a
//!   stale result can never be stored after the patch that should have covered it.
//!
//! Hashing uses a small multiply-fold hash keyed by a per-process random seed: much faster than
//! SipHash on short tokens, while clients cannot predict which of their tokens collide. (Cache
//! keys are checked against the stored subject, so a collision there only costs a miss.)
//!
//! Layout: this file holds the public API, the trie and the [`Sublist`] that ties the trie to
//! the cache; `subject.rs` tokenizes, validates and matches single subjects, `cache.rs` is the
//! match cache, `hash.rs` the hasher both use.

mod cache;
mod hash;
mod subject;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use cache::{shard_of, CacheShard, ResultRef};
use hash::{hash_bytes, seed, FoldState};
use subject::{check_tokens, is_wildcard, with_tokens};

pub use subject::{is_valid_literal_subject, is_valid_subject, match_literal};

/// Upper bound on the number of cached match results.
pub const CACHE_MAX: usize = 1024;
/// Roughly how many cached results survive an eviction sweep.
pub const CACHE_SWEEP: usize = 256;
/// Number of independently locked cache shards.
pub const CACHE_SHARDS: usize = 16;
/// Subscription sets of this size get a pointer index for O(1) removal.
const INDEX_MIN: usize = 64;

/// A subscription as the Sublist sees it. Identity is the `Arc` pointer; the subject and the
/// queue group must not change while the subscription is inserted. Both methods are called
/// with Sublist locks held, so they must be cheap and must not call back into the Sublist.
pub trait SubEntry: Send + Sync + 'static {
    /// The subject or wildcard pattern subscribed to.
    fn subject(&self) -> &str;
    /// The queue group name, or `None` for a plain subscription.
    fn queue(&self) -> Option<&str>;
}

/// The subscriptions matching one literal subject. Plain subs all get a copy; for each queue
/// group (merged BY NAME across every matching trie node, literal and wildcard) exactly one
/// member is picked by the caller.
#[derive(Debug)]
pub struct SublistResult<T> {
    /// Plain subscriptions: each gets its own copy of the message.
    pub psubs: Vec<Arc<T>>,
    /// One non-empty list of members per queue group name.
    pub qsubs: Vec<Vec<Arc<T>>>,
}

impl<T> Default for SublistResult<T> {
    fn default() -> Self {
        Self {
            psubs: Vec::new(),
            qsubs: Vec::new(),
        }
    }
}

impl<T> Clone for SublistResult<T> {
    fn clone(&self) -> Self {
        Self {
            psubs: self.psubs.clone(),
            qsubs: self.qsubs.clone(),
        }
    }
}

impl<T> SublistResult<T> {
    /// True when nothing matched.
    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.iter().all(Vec::is_empty)
    }

    /// Number of matching subscriptions: plain ones plus every queue group member.
    pub fn len(&self) -> usize {
        self.psubs.len() + self.qsubs.iter().map(Vec::len).sum::<usize>()
    }

    /// Messages one publish fans out to: one per plain sub, one per queue group.
    fn fanout(&self) -> usize {
        self.psubs.len() + self.qsubs.len()
    }
}

impl<T: SubEntry> SublistResult<T> {
    /// A copy with `sub` added (to its queue group, if it has one).
    fn with_sub(&self, sub: &Arc<T>) -> Self {
        let mut next = self.clone();
        let Some(queue) = sub.queue() else {
            next.psubs.push(Arc::clone(sub));
            return next;
        };
        match next.qsubs.iter_mut().find(|g| group_name(g) == Some(queue)) {
            Some(group) => group.push(Arc::clone(sub)),
            None => next.qsubs.push(vec![Arc::clone(sub)]),
        }
        next
    }

    /// A copy without `sub`; a queue group left empty disappears.
    fn without_sub(&self, sub: &Arc<T>) -> Self {
        let keep = |s: &Arc<T>| !Arc::ptr_eq(s, sub);
        let psubs = self.psubs.iter().filter(|s| keep(s)).cloned().collect();
        let qsubs = self
            .qsubs
            .iter()
            .map(|g| g.iter().filter(|s| keep(s)).cloned().collect::<Vec<_>>())
            .filter(|g| !g.is_empty())
            .collect();
        Self { psubs, qsubs }
    }
}

/// The queue name of a result group (all members share it).
fn group_name<T: SubEntry>(group: &[Arc<T>]) -> Option<&str> {
    group.first().and_then(|s| s.queue())
}

/// Why an insert or remove failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SublistError {
    /// The subject has an empty token or a token after `>`.
    InvalidSubject,
    /// The subscription is not in the Sublist.
    NotFound,
}

impl fmt::Display for SublistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidSubject => "sublist: invalid subject",
            Self::NotFound => "sublist: subscription not found",
        })
    }
}

impl std::error::Error for SublistError {}

/// Counters served on `/subsz`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SublistStats {
    /// Subscriptions currently inserted.
    pub num_subscriptions: u32,
    /// Entries in the match cache.
    pub num_cache: u32,
    /// Successful inserts so far.
    pub num_inserts: u64,
    /// Successful removes so far.
    pub num_removes: u64,
    /// Calls to [`Sublist::match_subject`] so far.
    pub num_matches: u64,
    /// Fraction of matches answered from the cache.
    pub cache_hit_rate: f64,
    /// Largest fan-out (plain subs + queue groups) among cached results.
    pub max_fanout: u32,
    /// Average fan-out among cached results.
    pub avg_fanout: f64,
}

// ---------------------------------------------------------------------------------------------
// The trie

/// A set of subscriptions by `Arc` identity, kept as a flat list for fast fan-out; large sets
/// also get a pointer -> position index so that removal stays O(1).
struct SubSet<T> {
    list: Vec<Arc<T>>,
    index: Option<HashMap<usize, usize, FoldState>>,
}

impl<T> Default for SubSet<T> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            index: None,
        }
    }
}

/// The identity of a subscription.
fn sub_key<T>(sub: &Arc<T>) -> usize {
    Arc::as_ptr(sub).addr()
}

impl<T> SubSet<T> {
    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn as_slice(&self) -> &[Arc<T>] {
        &self.list
    }

    fn position(&self, sub: &Arc<T>) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&sub_key(sub)).copied(),
            None => self.list.iter().position(|s| Arc::ptr_eq(s, sub)),
        }
    }

    /// Adds `sub`; false if it was already there.
    fn insert(&mut self, sub: &Arc<T>) -> bool {
        if self.position(sub).is_some() {
            return false;
        }
        if let Some(index) = &mut self.index {
            index.insert(sub_key(sub), self.list.len());
        }
        self.list.push(Arc::clone(sub));
        if self.index.is_none() && self.list.len() >= INDEX_MIN {
            self.build_index();
        }
        true
    }

    /// Removes `sub`; false if it was not there.
    fn remove(&mut self, sub: &Arc<T>) -> bool {
        let Some(pos) = self.position(sub) else {
            return false;
        };
        self.list.swap_remove(pos);
        if self.list.len() < INDEX_MIN / 2 {
            self.index = None;
        } else if let Some(index) = &mut self.index {
            index.remove(&sub_key(sub));
            if let Some(moved) = self.list.get(pos) {
                index.insert(sub_key(moved), pos);
            }
        }
        true
    }

    fn build_index(&mut self) {
        let index = self.list.iter().enumerate().map(|(i, s)| (sub_key(s), i));
        self.index = Some(index.collect());
    }
}

/// One trie node: the subscriptions whose subject ends here, and the level below.
struct Node<T> {
    next: Option<Box<Level<T>>>,
    psubs: SubSet<T>,
    qsubs: HashMap<Box<str>, SubSet<T>, FoldState>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            next: None,
            psubs: SubSet::default(),
            qsubs: HashMap::default(),
        }
    }
}

impl<T: SubEntry> Node<T> {
    fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty() && self.next.is_none()
    }

    /// Adds `sub` here; false if it was already there.
    fn add(&mut self, sub: &Arc<T>) -> bool {
        let Some(queue) = sub.queue() else {
            return self.psubs.insert(sub);
        };
        if !self.qsubs.contains_key(queue) {
            self.qsubs.insert(queue.into(), SubSet::default());
        }
        self.qsubs.get_mut(queue).is_some_and(|g| g.insert(sub))
    }

    /// Removes `sub` from here, dropping its queue group if that becomes empty.
    fn remove(&mut self, sub: &Arc<T>) -> Result<(), SublistError> {
        let removed = match sub.queue() {
            None => self.psubs.remove(sub),
            Some(queue) => self.remove_queued(queue, sub),
        };
        removed.then_some(()).ok_or(SublistError::NotFound)
    }

    fn remove_queued(&mut self, queue: &str, sub: &Arc<T>) -> bool {
        let Some(group) = self.qsubs.get_mut(queue) else {
            return false;
        };
        let removed = group.remove(sub);
        if group.is_empty() {
            self.qsubs.remove(queue);
        }
        removed
    }
}

/// One trie level: literal tokens plus the `*` and `>` nodes.
struct Level<T> {
    nodes: HashMap<Box<str>, Node<T>, FoldState>,
    pwc: Option<Box<Node<T>>>,
    fwc: Option<Box<Node<T>>>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Self {
            nodes: HashMap::default(),
            pwc: None,
            fwc: None,
        }
    }
}

impl<T: SubEntry> Level<T> {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }

    fn node_mut(&mut self, token: &str) -> Option<&mut Node<T>> {
        match token {
            "*" => self.pwc.as_deref_mut(),
            ">" => self.fwc.as_deref_mut(),
            _ => self.nodes.get_mut(token),
        }
    }

    fn node_or_insert(&mut self, token: &str) -> &mut Node<T> {
        match token {
            "*" => self.pwc.get_or_insert_with(Box::default),
            ">" => self.fwc.get_or_insert_with(Box::default),
            _ => {
                if !self.nodes.contains_key(token) {
                    self.nodes.insert(token.into(), Node::default());
                }
                self.nodes.get_mut(token).expect("node was just inserted")
            }
        }
    }

    fn remove_node(&mut self, token: &str) {
        match token {
            "*" => self.pwc = None,
            ">" => self.fwc = None,
            _ => {
                self.nodes.remove(token);
            }
        }
    }

    /// Adds `sub` under the (checked, non-empty) `tokens`; false if it was already there.
    fn insert(&mut self, tokens: &[&str], sub: &Arc<T>) -> bool {
        let Some((last, path)) = tokens.split_last() else {
            return false;
        };
        let mut level = self;
        for token in path {
            level = level
                .node_or_insert(token)
                .next
                .get_or_insert_with(Box::default);
        }
        level.node_or_insert(last).add(sub)
    }

    /// Removes `sub` from under `tokens`, pruning nodes and levels left empty.
    fn remove(&mut self, tokens: &[&str], sub: &Arc<T>) -> Result<(), SublistError> {
        let (token, rest) = tokens.split_first().ok_or(SublistError::NotFound)?;
        let node = self.node_mut(token).ok_or(SublistError::NotFound)?;
        if rest.is_empty() {
            node.remove(sub)?;
        } else {
            let next = node.next.as_deref_mut().ok_or(SublistError::NotFound)?;
            next.remove(rest, sub)?;
            if next.is_empty() {
                node.next = None;
            }
        }
        if node.is_empty() {
            self.remove_node(token);
        }
        Ok(())
    }
}

/// Gathers the subscriptions of every node matching a subject, merging queue groups by name.
struct Collector<'a, T> {
    psubs: Vec<Arc<T>>,
    qsubs: Vec<Vec<Arc<T>>>,
    qnames: Vec<&'a str>,
}

impl<'a, T> Collector<'a, T> {
    fn new() -> Self {
        Self {
            psubs: Vec::new(),
            qsubs: Vec::new(),
            qnames: Vec::new(),
        }
    }

    /// Collects the matches for `tokens` (all non-empty) starting at `level`.
    fn walk(&mut self, mut level: &'a Level<T>, mut tokens: &[&str]) {
        while let Some((token, rest)) = tokens.split_first() {
            if let Some(fwc) = &level.fwc {
                self.add(fwc);
            }
            if let Some(pwc) = &level.pwc {
                self.descend(pwc, rest);
            }
            let Some(node) = level.nodes.get(*token) else {
                return;
            };
            if rest.is_empty() {
                self.add(node);
                return;
            }
            let Some(next) = &node.next else {
                return;
            };
            level = next;
            tokens = rest;
        }
    }

    /// Continues below `node` with the tokens left after the one it matched.
    fn descend(&mut self, node: &'a Node<T>, rest: &[&str]) {
        match (&node.next, rest.is_empty()) {
            (_, true) => self.add(node),
            (Some(next), false) => self.walk(next, rest),
            (None, false) => {}
        }
    }

    fn add(&mut self, node: &'a Node<T>) {
        self.psubs.extend_from_slice(node.psubs.as_slice());
        for (name, members) in &node.qsubs {
            let slot = self.queue_slot(name);
            self.qsubs[slot].extend_from_slice(members.as_slice());
        }
    }

    fn queue_slot(&mut self, name: &'a str) -> usize {
        if let Some(slot) = self.qnames.iter().position(|n| *n == name) {
            return slot;
        }
        self.qnames.push(name);
        self.qsubs.push(Vec::new());
        self.qsubs.len() - 1
    }

    fn into_result(self) -> SublistResult<T> {
        SublistResult {
            psubs: self.psubs,
            qsubs: self.qsubs,
        }
    }
}

fn read<V>(lock: &RwLock<V>) -> RwLockReadGuard<'_, V> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<V>(lock: &RwLock<V>) -> RwLockWriteGuard<'_, V> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// The Sublist

/// Keeps a value on cache lines of its own.
#[repr(align(128))]
#[derive(Default)]
struct Padded<V>(V);

/// Counters changed only by inserts and removes (read on every publish for `genid`).
#[derive(Default)]
struct Counters {
    genid: AtomicU64,
    count: AtomicU32,
    inserts: AtomicU64,
    removes: AtomicU64,
}

/// The subscription index: a token trie plus a sharded match-result cache. `Send + Sync`;
/// share it as `Arc<Sublist<T>>`.
pub struct Sublist<T: SubEntry> {
    trie: Padded<RwLock<Level<T>>>,
    shards: Box<[CacheShard<T>]>,
    cache_enabled: bool,
    seed: u64,
    counters: Padded<Counters>,
    empty: ResultRef<T>,
}

impl<T: SubEntry> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: SubEntry> Sublist<T> {
    /// An empty Sublist with the match cache.
    pub fn new() -> Self {
        Self::build(true)
    }

    /// An empty Sublist without the match cache (like `no_sublist_cache`).
    pub fn without_cache() -> Self {
        Self::build(false)
    }

    fn build(cache_enabled: bool) -> Self {
        Self {
            trie: Padded(RwLock::new(Level::default())),
            shards: (0..CACHE_SHARDS).map(|_| CacheShard::default()).collect(),
            cache_enabled,
            seed: seed(),
            counters: Padded(Counters::default()),
            empty: Arc::new(SublistResult::default()),
        }
    }

    /// Adds `sub` under `sub.subject()`. Inserting the same `Arc` twice is a no-op.
    /// Fails with [`SublistError::InvalidSubject`] on an empty token or a token after `>`.
    pub fn insert(&self, sub: Arc<T>) -> Result<(), SublistError> {
        let subject = sub.subject();
        with_tokens(subject, |tokens| {
            check_tokens(tokens)?;
            let mut trie = write(&self.trie.0);
            if trie.insert(tokens, &sub) {
                self.record_change(&self.counters.0.inserts);
                self.counters.0.count.fetch_add(1, Ordering::Relaxed);
                self.patch_cache(subject, tokens, &|r| r.with_sub(&sub));
            }
            drop(trie);
            Ok(())
        })
    }

    /// Removes `sub` (by `Arc` identity), pruning trie nodes left empty.
    /// Fails with [`SublistError::NotFound`] if it is not inserted.
    pub fn remove(&self, sub: &Arc<T>) -> Result<(), SublistError> {
        let subject = sub.subject();
        with_tokens(subject, |tokens| {
            check_tokens(tokens)?;
            let mut trie = write(&self.trie.0);
            trie.remove(tokens, sub)?;
            self.record_change(&self.counters.0.removes);
            self.counters.0.count.fetch_sub(1, Ordering::Relaxed);
            self.patch_cache(subject, tokens, &|r| r.without_sub(sub));
            drop(trie);
            Ok(())
        })
    }

    /// The subscriptions matching the literal `subject`. A subject with an empty token matches
    /// nothing. The result is shared: with the cache on, repeated calls return the same `Arc`
    /// until an insert or remove changes it.
    pub fn match_subject(&self, subject: &str) -> Arc<SublistResult<T>> {
        let hash = hash_bytes(self.seed, subject.as_bytes());
        let shard = &self.shards[shard_of(hash)];
        shard.matches.fetch_add(1, Ordering::Relaxed);
        if self.cache_enabled {
            if let Some(hit) = shard.get(hash, subject) {
                return hit;
            }
        }
        shard.misses.fetch_add(1, Ordering::Relaxed);
        let Some((result, generation)) = self.match_trie(subject) else {
            return Arc::clone(&self.empty);
        };
        if self.cache_enabled {
            shard.store(hash, subject, &result, generation, &self.counters.0.genid);
        }
        result
    }

    /// Number of subscriptions currently inserted.
    pub fn count(&self) -> u32 {
        self.counters.0.count.load(Ordering::Relaxed)
    }

    /// Generation number, changed by every insert and remove.
    pub fn genid(&self) -> u64 {
        self.counters.0.genid.load(Ordering::Acquire)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SublistStats {
        let counters = &self.counters.0;
        let (mut matches, mut misses, mut cached, mut max_fanout, mut fanout) = (0, 0, 0, 0, 0);
        for shard in self.shards.iter() {
            matches += shard.matches.load(Ordering::Relaxed);
            misses += shard.misses.load(Ordering::Relaxed);
            let map = read(&shard.map);
            cached += map.len();
            for entry in map.values() {
                max_fanout = max_fanout.max(entry.result.fanout());
                fanout += entry.result.fanout();
            }
        }
        SublistStats {
            num_subscriptions: self.count(),
            num_cache: saturating_u32(cached),
            num_inserts: counters.inserts.load(Ordering::Relaxed),
            num_removes: counters.removes.load(Ordering::Relaxed),
            num_matches: matches,
            cache_hit_rate: ratio(matches.saturating_sub(misses) as f64, matches as f64),
            max_fanout: saturating_u32(max_fanout),
            avg_fanout: ratio(fanout as f64, cached as f64),
        }
    }

    /// Walks the trie under the read lock; `None` for a subject with an empty token. Returns
    /// the generation the result belongs to.
    fn match_trie(&self, subject: &str) -> Option<(ResultRef<T>, u64)> {
        with_tokens(subject, |tokens| {
            if tokens.iter().any(|t| t.is_empty()) {
                return None;
            }
            let trie = read(&self.trie.0);
            let generation = self.counters.0.genid.load(Ordering::Acquire);
            let mut collector = Collector::new();
            collector.walk(&trie, tokens);
            let result = collector.into_result();
            drop(trie);
            let result = match result.is_empty() {
                true => Arc::clone(&self.empty),
                false => Arc::new(result),
            };
            Some((result, generation))
        })
    }

    /// Bumps the generation and one of the insert/remove counters (trie write lock held).
    fn record_change(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.counters.0.genid.fetch_add(1, Ordering::AcqRel);
    }

    /// Brings the cached results `subject` affects up to date (trie write lock held).
    fn patch_cache(
        &self,
        subject: &str,
        tokens: &[&str],
        patch: &dyn Fn(&SublistResult<T>) -> SublistResult<T>,
    ) {
        if !self.cache_enabled {
            return;
        }
        if tokens.iter().any(|t| is_wildcard(t)) {
            for shard in self.shards.iter() {
                shard.patch_matching(subject, patch);
            }
        } else {
            let hash = hash_bytes(self.seed, subject.as_bytes());
            self.shards[shard_of(hash)].patch_one(hash, subject, patch);
        }
    }
}
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}
