//! The Sublist's match cache: results per literal subject (negative ones too), in
//! [`CACHE_SHARDS`] independently locked shards, bounded by random eviction.
//!
//! The cache only stores and patches results; deciding when to patch (inserts and removes,
//! under the trie write lock) and when a computed result may be stored (its generation) is the
//! job of [`Sublist`](super::Sublist) in `mod.rs`, whose documentation describes the coherence
//! rules. Kept apart so that those rules can be read without the shard bookkeeping.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rand::Rng;

use super::hash::PrehashedHasher;
use super::subject::match_literal;
use super::{read, write, SubEntry, SublistResult, CACHE_MAX, CACHE_SHARDS, CACHE_SWEEP};

const SHARD_MAX: usize = CACHE_MAX / CACHE_SHARDS;
const SHARD_SWEEP: usize = CACHE_SWEEP / CACHE_SHARDS;
/// Cached results with more entries than this are dropped rather than copied on a change.
pub(super) const PATCH_MAX: usize = 256;

pub(super) type ResultRef<T> = Arc<SublistResult<T>>;

pub(super) struct CacheEntry<T> {
    pub(super) subject: Box<str>,
    pub(super) result: ResultRef<T>,
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

pub(super) type CacheMap<T> = HashMap<u64, CacheEntry<T>, BuildHasherDefault<PrehashedHasher>>;

/// One cache shard, with the match counters of the subjects hashing to it (kept on the lock's
/// cache line, which a match dirties anyway).
#[repr(align(128))]
pub(super) struct CacheShard<T> {
    pub(super) map: RwLock<CacheMap<T>>,
    pub(super) matches: AtomicU64,
    pub(super) misses: AtomicU64,
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
    pub(super) fn get(&self, hash: u64, subject: &str) -> Option<ResultRef<T>> {
        let map = read(&self.map);
        let entry = map.get(&hash)?;
        (*entry.subject == *subject).then(|| Arc::clone(&entry.result))
    }

    /// Stores a result computed at `generation`, unless the trie changed since.
    pub(super) fn store(
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
    pub(super) fn patch_one(
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
    pub(super) fn patch_matching(
        &self,
        pattern: &str,
        patch: &dyn Fn(&SublistResult<T>) -> SublistResult<T>,
    ) {
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

/// The cache shard of a subject hash (bits unrelated to those the shard's table uses).
pub(super) fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % CACHE_SHARDS
}
