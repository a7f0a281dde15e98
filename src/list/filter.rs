//! The suffix filter: a blocked Bloom filter over every rule's key, so
//! that most names skip the fst walk and the keyed hashing altogether.
//!
//! A cold fst walk over a ten-million-name index costs about one DRAM miss
//! per key byte (about 1 µs), because a path's nodes are scattered. The
//! filter answers "could any suffix of this name be a rule?" with one
//! independent cache-line read per label boundary; the CPU overlaps those
//! reads, and for an allowed name (most traffic) the lookup ends there.
//! Only flagged depths are then checked exactly: the fst is walked no
//! further than the deepest flagged plaintext depth, and the confidential
//! table is hashed and probed only at flagged confidential depths.
//!
//! Two filters share one section: plaintext rules, then confidential
//! rules. A key's filter hash is `xxh3_128(key, seed)` with the seed drawn
//! from the list's salt; the low 64 bits address the plaintext filter, the
//! high 64 bits the confidential one. Each key sets [`PROBES`] bits in one
//! 512-bit block. The filter has no false negatives by construction (the
//! builder inserts every key); false positives only cost an exact check.
//!
//! Like the hashed table, the filter stores no plaintext: a guess can be
//! tested against it, as against the table, but nothing can be read out.

use xxhash_rust::xxh3::xxh3_128_with_seed;

/// Bytes per block (one cache line).
pub const BLOCK_BYTES: usize = 64;
const BLOCK_BITS: u64 = 512;
/// Bits set per key.
pub const PROBES: u32 = 8;
/// Filter bits per key: with 8 probes into 512-bit blocks this gives a
/// false-positive rate near 0.5 % per probe.
pub const BITS_PER_KEY: u64 = 14;

/// The seed for a list's filter hashes, from its salt.
pub fn seed_of(salt: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&salt[24..32]);
    u64::from_le_bytes(b) ^ 0x7761_7264_6669_6c74 // "wardfilt"
}

/// (plaintext hash, confidential hash) of one key.
pub fn hashes(key: &[u8], seed: u64) -> (u64, u64) {
    let h = xxh3_128_with_seed(key, seed);
    // Truncations of the 128-bit hash into its two halves.
    (h as u64, (h >> 64) as u64)
}

/// Blocks for `keys` keys.
pub fn blocks_for(keys: usize) -> u64 {
    ((keys as u64).saturating_mul(BITS_PER_KEY))
        .div_ceil(BLOCK_BITS)
        .max(1)
}

fn block_of(h: u64, blocks: u64) -> u64 {
    // Lemire's multiply-shift range reduction; < blocks by construction.
    ((u128::from(h) * u128::from(blocks)) >> 64) as u64
}

/// The bit positions (0..512) a hash sets in its block.
fn positions(h: u64) -> impl Iterator<Item = u64> {
    let mut x = h ^ 0x9E37_79B9_7F4A_7C15;
    (0..PROBES).map(move |_| {
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD).rotate_left(29);
        x >> 55
    })
}

/// Builds one filter's bytes from its keys' hashes.
pub fn encode(hashes: impl ExactSizeIterator<Item = u64>) -> (Vec<u8>, u64) {
    let blocks = blocks_for(hashes.len());
    // blocks <= keys * 14 / 512 + 1, well within usize for any key count
    // that fits in memory.
    let mut words = vec![0u64; blocks as usize * 8];
    for h in hashes {
        let base = block_of(h, blocks) as usize * 8;
        for p in positions(h) {
            words[base + (p / 64) as usize] |= 1u64 << (p % 64);
        }
    }
    let mut out = Vec::with_capacity(words.len() * 8);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    (out, blocks)
}

/// A read-only filter.
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    bytes: &'a [u8],
    blocks: u64,
}

impl<'a> Filter<'a> {
    /// Checks the length against the block count.
    pub fn new(bytes: &'a [u8], blocks: u64) -> Option<Self> {
        let want = blocks.checked_mul(BLOCK_BYTES as u64)?;
        (blocks > 0 && bytes.len() as u64 == want).then_some(Self { bytes, blocks })
    }

    /// Starts loading the block `h` falls in, so that a later
    /// [`Filter::may_contain`] finds it in cache.
    #[inline]
    pub fn touch(&self, h: u64) {
        let at = block_of(h, self.blocks) as usize * BLOCK_BYTES;
        std::hint::black_box(self.bytes.get(at).copied());
    }

    /// False only if no key with hash `h` was inserted.
    #[inline]
    pub fn may_contain(&self, h: u64) -> bool {
        let base = block_of(h, self.blocks) as usize * BLOCK_BYTES;
        let Some(block) = self.bytes.get(base..base + BLOCK_BYTES) else {
            // Shape checked in `new`; a miss here would mean no filter, so
            // answer "maybe" and let the exact check decide.
            return true;
        };
        positions(h).all(|p| {
            let byte = block[(p / 8) as usize];
            byte & (1 << (p % 8)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let seed = seed_of(&[3; 32]);
        let keys: Vec<String> = (0..20_000).map(|i| format!("com.name{i}.")).collect();
        let hs: Vec<u64> = keys.iter().map(|k| hashes(k.as_bytes(), seed).0).collect();
        let (bytes, blocks) = encode(hs.iter().copied());
        let f = Filter::new(&bytes, blocks).unwrap();
        assert!(hs.iter().all(|&h| f.may_contain(h)));
        let fp = (0..20_000)
            .filter(|i| f.may_contain(hashes(format!("org.other{i}.").as_bytes(), seed).0))
            .count();
        // About 0.5 % expected; allow a wide margin.
        assert!(fp < 400, "{fp} false positives in 20000");
    }

    #[test]
    fn shape_is_checked() {
        let (bytes, blocks) = encode([1u64, 2, 3].into_iter());
        assert!(Filter::new(&bytes, blocks).is_some());
        assert!(Filter::new(&bytes[1..], blocks).is_none());
        assert!(Filter::new(&bytes, blocks + 1).is_none());
        assert!(Filter::new(&bytes, 0).is_none());
        assert!(Filter::new(&[], u64::MAX).is_none());
    }
}
