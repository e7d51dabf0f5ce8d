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

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rand::Rng;

/// Upper bound on the number of cached match results.
pub const CACHE_MAX: usize = 1024;
/// Roughly how many cached results survive an eviction sweep.
pub const CACHE_SWEEP: usize = 256;
/// Number of independently locked cache shards.
pub const CACHE_SHARDS: usize = 16;

const SHARD_MAX: usize = CACHE_MAX / CACHE_SHARDS;
const SHARD_SWEEP: usize = CACHE_SWEEP / CACHE_SHARDS;
/// Cached results with more entries than this are dropped rather than copied on a change.
const PATCH_MAX: usize = 256;
/// Subjects with up to this many tokens are tokenized without allocating.
const STACK_TOKENS: usize = 32;
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
// Hashing

const MUL_A: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL_B: u64 = 0xd6e8_feb8_6659_fd93;

/// 64x64 -> 128-bit multiply, folded back to 64 bits.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let wide = u128::from(a) * u128::from(b);
    (wide as u64) ^ ((wide >> 64) as u64)
}

/// The per-process random hash seed.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
}

/// Hashes `bytes` into `state`, eight bytes per multiply.
#[inline]
fn hash_bytes(state: u64, bytes: &[u8]) -> u64 {
    let mut hash = fold_mul(state ^ bytes.len() as u64, MUL_A);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = fold_mul(hash ^ u64::from_le_bytes(word), MUL_A);
    }
    fold_mul(hash ^ read_tail(chunks.remainder()), MUL_B)
}

/// The last 0..=7 bytes as one word without a `memcpy` call: the reads overlap, but for a
/// given length (already mixed into the state) the word still determines every byte.
#[inline]
fn read_tail(rest: &[u8]) -> u64 {
    let n = rest.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
        u64::from(lo) | (u64::from(hi) << 32)
    } else if n > 0 {
        u64::from(rest[0]) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
    } else {
        0
    }
}

/// Seeded multiply-fold hasher for trie tokens, queue names and subscription pointers.
#[derive(Clone, Copy)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(self.0, bytes);
    }

    fn write_u8(&mut self, n: u8) {
        self.0 = fold_mul(self.0 ^ u64::from(n), MUL_A);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = fold_mul(self.0 ^ n as u64, MUL_B);
    }
}

/// Builds [`FoldHasher`]s from the process seed (read once per map, not once per hash).
#[derive(Clone, Copy)]
struct FoldState(u64);

impl Default for FoldState {
    fn default() -> Self {
        Self(seed())
    }
}

impl BuildHasher for FoldState {
    type Hasher = FoldHasher;

    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// Hasher for cache keys, which are already hashes.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(self.0, bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

// ---------------------------------------------------------------------------------------------
// Subjects

/// The `.`-separated tokens of a subject (a byte scan: subjects are short, and this is cheaper
/// than `str::split`'s searcher).
#[derive(Clone)]
struct Tokens<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b'.') {
            Some(dot) => {
                self.rest = Some(&rest[dot + 1..]);
                Some(&rest[..dot])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

fn tokens(subject: &str) -> Tokens<'_> {
    Tokens {
        rest: Some(subject),
    }
}

/// True for the whitespace that may not appear in a subject.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c')
}

/// True if `token` is a wildcard (`*` or `>` as a whole token).
fn is_wildcard(token: &str) -> bool {
    token == "*" || token == ">"
}

/// Whether `subject` may be subscribed to: non-empty tokens, no whitespace, `>` only as the last
/// token. `*` and `>` inside a longer token (`foo*`, `>bar`) are ordinary characters.
pub fn is_valid_subject(subject: &str) -> bool {
    let mut after_fwc = false;
    for token in tokens(subject) {
        if token.is_empty() || after_fwc || token.bytes().any(is_space) {
            return false;
        }
        after_fwc = token == ">";
    }
    true
}

/// Whether `subject` may be published to in pedantic mode: valid and without wildcard tokens.
pub fn is_valid_literal_subject(subject: &str) -> bool {
    is_valid_subject(subject) && !tokens(subject).any(is_wildcard)
}

/// Whether the literal subject `literal` matches the subscription subject `pattern`.
///
/// `*` in `pattern` matches one token, a final `>` one or more; wildcard characters in
/// `literal` are ordinary characters. A literal with an empty token matches nothing, as in
/// [`Sublist::match_subject`].
pub fn match_literal(literal: &str, pattern: &str) -> bool {
    let (lit, pat) = (literal.as_bytes(), pattern.as_bytes());
    let (mut li, mut pi) = (0, 0);
    loop {
        // Both indexes are at the start of a token.
        if matches!(lit.get(li), None | Some(b'.')) {
            return false;
        }
        match wildcard_at(pat, pi) {
            Some(b'>') => return !has_empty_token(&lit[li..]),
            Some(_) => (li, pi) = (token_end(lit, li), pi + 1),
            None => match same_token(lit, li, pat, pi) {
                Some(ends) => (li, pi) = ends,
                None => return false,
            },
        }
        match (lit.get(li), pat.get(pi)) {
            (None, None) => return true,
            (Some(b'.'), Some(b'.')) => (li, pi) = (li + 1, pi + 1),
            _ => return false,
        }
    }
}

/// Index of the `.` ending the token that starts at `start` (or the length).
#[inline]
fn token_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'.')
        .map_or(bytes.len(), |i| start + i)
}

/// `Some(b'*')` or `Some(b'>')` if the token starting at `start` is that wildcard.
#[inline]
fn wildcard_at(bytes: &[u8], start: usize) -> Option<u8> {
    let first = *bytes.get(start)?;
    let whole = matches!(bytes.get(start + 1), None | Some(b'.'));
    (whole && (first == b'*' || first == b'>')).then_some(first)
}

/// Compares the literal tokens starting at `li` and `pi` byte by byte; on a match, the indexes
/// just past the pattern token and the same number of literal bytes.
#[inline]
fn same_token(lit: &[u8], mut li: usize, pat: &[u8], mut pi: usize) -> Option<(usize, usize)> {
    while let Some(&b) = pat.get(pi).filter(|&&b| b != b'.') {
        if lit.get(li) != Some(&b) {
            return None;
        }
        (li, pi) = (li + 1, pi + 1);
    }
    Some((li, pi))
}

/// True if `subject` is empty or has an empty token.
fn has_empty_token(subject: &[u8]) -> bool {
    subject.first().is_none_or(|&b| b == b'.')
        || subject.last() == Some(&b'.')
        || subject.windows(2).any(|w| w == b"..")
}

/// Calls `f` with the tokens of `subject`, on the stack for up to [`STACK_TOKENS`] tokens.
fn with_tokens<R>(subject: &str, f: impl FnOnce(&[&str]) -> R) -> R {
    let mut stack = [""; STACK_TOKENS];
    let mut len = 0;
    for token in tokens(subject) {
        if len == STACK_TOKENS {
            let all: Vec<&str> = tokens(subject).collect();
            return f(&all);
        }
        stack[len] = token;
        len += 1;
    }
    f(&stack[..len])
}

/// Checks what the trie itself requires: no empty token, nothing after `>`.
fn check_tokens(tokens: &[&str]) -> Result<(), SublistError> {
    let last = tokens.len().saturating_sub(1);
    let ok = !tokens.is_empty()
        && tokens
            .iter()
            .enumerate()
            .all(|(i, t)| !t.is_empty() && (*t != ">" || i == last));
    if ok {
        Ok(())
    } else {
        Err(SublistError::InvalidSubject)
    }
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

// ---------------------------------------------------------------------------------------------
// The match cache

type ResultRef<T> = Arc<SublistResult<T>>;

struct CacheEntry<T> {
    subject: Box<str>,
    result: ResultRef<T>,
}

impl<T: SubEntry> CacheEntry<T> {
    /// Applies `patch`; false if the result is too large to copy and the entry should go.
    fn update(&mut self, patch: &dyn Fn(&SublistResult<T>) -> SublistResult<T>) -> bool {
        if self.result.len() > PATCH_MAX {
            return false;
        }
        self.result = Arc::new(patch(&self.result));
        true
    }
}

type CacheMap<T> = HashMap<u64, CacheEntry<T>, BuildHasherDefault<PrehashedHasher>>;

/// One cache shard, with the match counters of the subjects hashing to it (kept on the lock's
/// cache line, which a match dirties anyway).
#[repr(align(128))]
struct CacheShard<T> {
    map: RwLock<CacheMap<T>>,
    matches: AtomicU64,
    misses: AtomicU64,
}

impl<T> Default for CacheShard<T> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::default()),
            matches: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl<T: SubEntry> CacheShard<T> {
    fn get(&self, hash: u64, subject: &str) -> Option<ResultRef<T>> {
        let map = read(&self.map);
        let entry = map.get(&hash)?;
        (*entry.subject == *subject).then(|| Arc::clone(&entry.result))
    }

    /// Stores a result computed at `generation`, unless the trie changed since.
    fn store(
        &self,
        hash: u64,
        subject: &str,
        result: &ResultRef<T>,
        generation: u64,
        genid: &AtomicU64,
    ) {
        let mut map = write(&self.map);
        if genid.load(Ordering::Acquire) != generation {
            return;
        }
        let entry = CacheEntry {
            subject: subject.into(),
            result: Arc::clone(result),
        };
        map.insert(hash, entry);
        if map.len() > SHARD_MAX {
            evict(&mut map, SHARD_SWEEP);
        }
    }

    /// Patches the entry of the literal `subject`, if cached.
    fn patch_one(
        &self,
        hash: u64,
        subject: &str,
        patch: &dyn Fn(&SublistResult<T>) -> SublistResult<T>,
    ) {
        let mut map = write(&self.map);
        let Some(entry) = map.get_mut(&hash) else {
            return;
        };
        if *entry.subject == *subject && !entry.update(patch) {
            map.remove(&hash);
        }
    }

    /// Patches every cached subject that the wildcard `pattern` matches.
    fn patch_matching(&self, pattern: &str, patch: &dyn Fn(&SublistResult<T>) -> SublistResult<T>) {
        let mut map = write(&self.map);
        map.retain(|_, entry| !match_literal(&entry.subject, pattern) || entry.update(patch));
    }
}

/// Evicts uniformly random entries until `target` are left.
fn evict<T>(map: &mut CacheMap<T>, target: usize) {
    let mut rng = rand::rng();
    let mut remaining = map.len();
    let mut to_drop = remaining.saturating_sub(target);
    map.retain(|_, _| {
        let drop_it = rng.random_range(0..remaining) < to_drop;
        remaining -= 1;
        to_drop -= usize::from(drop_it);
        !drop_it
    });
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

/// The cache shard of a subject hash (bits unrelated to those the shard's table uses).
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % CACHE_SHARDS
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
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
}
