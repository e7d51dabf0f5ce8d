//! Hashing for the Sublist: a small seeded multiply-fold hash for trie tokens, queue names,
//! subscription pointers and match-cache keys.
//!
//! Much faster than SipHash on the short strings the Sublist hashes, while the per-process
//! random seed keeps clients from predicting which of their tokens collide. Kept in its own
//! file because both the trie (`mod.rs`) and the match cache (`cache.rs`) build on it.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

const MUL_A: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL_B: u64 = 0xd6e8_feb8_6659_fd93;

/// 64x64 -> 128-bit multiply, folded back to 64 bits.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let wide = u128::from(a) * u128::from(b);
    (wide as u64) ^ ((wide >> 64) as u64)
}

/// The per-process random hash seed.
pub(super) fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
}

/// Hashes `bytes` into `state`, eight bytes per multiply.
#[inline]
pub(super) fn hash_bytes(state: u64, bytes: &[u8]) -> u64 {
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
pub(super) struct FoldHasher(u64);

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
pub(super) struct FoldState(u64);

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
pub(super) struct PrehashedHasher(u64);

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
