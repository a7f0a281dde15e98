//! The confidential table: names stored only as keyed hashes.
//!
//! A confidential rule's reversed-label key (`com.example.`) is hashed with
//! keyed BLAKE3 under the list's random 32-byte salt, behind a context
//! string, and truncated to 128 bits. The plaintext never enters the file.
//!
//! Layout (little-endian):
//!
//! ```text
//! index:   (2^bucket_bits + 1) × u32   start record of each bucket
//! records: count × (16-byte hash, u32 packed RuleValue), sorted by hash
//! ```
//!
//! A hash's bucket is its top `bucket_bits` bits. The builder picks about
//! four records per bucket, so a lookup reads one index slot and one or two
//! cache lines of records, whatever the table's size.

use super::format::HASH_CONTEXT;

/// Bytes of a truncated name hash.
pub const HASH_LEN: usize = 16;
/// Bytes of one record: hash then packed value.
pub const RECORD_LEN: usize = HASH_LEN + 4;
/// Largest index size the builder emits.
const MAX_BUCKET_BITS: u8 = 26;

/// A 128-bit keyed name hash.
pub type NameHash = [u8; HASH_LEN];

/// Incremental hasher over a reversed-label key: feed labels from the top
/// down and take a hash at each boundary.
#[derive(Clone, Debug)]
pub struct SuffixHasher {
    inner: blake3::Hasher,
}

impl SuffixHasher {
    pub fn new(salt: &[u8; 32]) -> Self {
        let mut inner = blake3::Hasher::new_keyed(salt);
        inner.update(HASH_CONTEXT);
        Self { inner }
    }

    /// Feeds key bytes (labels with their trailing dots).
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
    }

    /// The hash of everything fed so far.
    pub fn current(&self) -> NameHash {
        let full = self.inner.finalize();
        let mut out = [0u8; HASH_LEN];
        out.copy_from_slice(&full.as_bytes()[..HASH_LEN]);
        out
    }

    /// Hash of one whole key.
    pub fn hash_key(salt: &[u8; 32], key: &[u8]) -> NameHash {
        let mut h = Self::new(salt);
        h.update(key);
        h.current()
    }
}

/// Chooses the bucket index size for `count` records.
pub fn bucket_bits_for(count: usize) -> u8 {
    let mut bits = 0u8;
    while bits < MAX_BUCKET_BITS && (1usize << bits) * 4 < count {
        bits += 1;
    }
    bits
}

fn bucket_of(hash: &NameHash, bits: u8) -> usize {
    if bits == 0 {
        return 0;
    }
    let mut top = [0u8; 8];
    top.copy_from_slice(&hash[..8]);
    // bits <= MAX_BUCKET_BITS < 64, so the shift is in range and the result
    // fits in usize on 32- and 64-bit targets.
    (u64::from_be_bytes(top) >> (64 - u32::from(bits))) as usize
}

/// Serialises sorted, deduplicated records into the section bytes.
pub fn encode(records: &[(NameHash, u32)], bits: u8) -> Vec<u8> {
    let buckets = 1usize << bits;
    let mut out = Vec::with_capacity((buckets + 1) * 4 + records.len() * RECORD_LEN);
    let mut next = 0usize;
    for b in 0..=buckets {
        while next < records.len() && bucket_of(&records[next].0, bits) < b {
            next += 1;
        }
        // Record counts are bounded by the u64 in the manifest and checked
        // against u32 by the builder.
        out.extend_from_slice(&(next as u32).to_le_bytes());
    }
    for (hash, value) in records {
        out.extend_from_slice(hash);
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// Why a hashed section does not have the shape its manifest claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("confidential table is {len} bytes, expected {expected} for {count} records")]
pub struct ShapeError {
    len: usize,
    expected: u128,
    count: u64,
}

/// A read-only view of the table.
#[derive(Debug, Clone, Copy)]
pub struct HashedTable<'a> {
    index: &'a [u8],
    records: &'a [u8],
    bits: u8,
    count: usize,
}

impl<'a> HashedTable<'a> {
    /// Checks the section's size against its record count and index size.
    pub fn new(bytes: &'a [u8], count: u64, bits: u8) -> Result<Self, ShapeError> {
        let expected = if bits > MAX_BUCKET_BITS {
            u128::MAX
        } else {
            ((1u128 << bits) + 1) * 4 + u128::from(count) * RECORD_LEN as u128
        };
        if bytes.len() as u128 != expected {
            return Err(ShapeError {
                len: bytes.len(),
                expected,
                count,
            });
        }
        let index_len = ((1usize << bits) + 1) * 4;
        let (index, records) = bytes.split_at(index_len);
        Ok(Self {
            index,
            records,
            bits,
            // Checked above: count * RECORD_LEN equals a slice length.
            count: count as usize,
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn slot(&self, i: usize) -> Option<usize> {
        let b = self.index.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// The packed value stored for `hash`, if any.
    pub fn get(&self, hash: &NameHash) -> Option<u32> {
        let bucket = bucket_of(hash, self.bits);
        let lo = self.slot(bucket)?;
        let hi = self.slot(bucket + 1)?.min(self.count);
        if lo >= hi {
            return None;
        }
        let slice = self.records.get(lo * RECORD_LEN..hi * RECORD_LEN)?;
        for rec in slice.chunks_exact(RECORD_LEN) {
            let (h, v) = rec.split_at(HASH_LEN);
            match h.cmp(&hash[..]) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => {
                    return Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]));
                }
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// Iterates over all records (for statistics and tests).
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], u32)> + 'a {
        self.records.chunks_exact(RECORD_LEN).map(|rec| {
            let (h, v) = rec.split_at(HASH_LEN);
            (h, u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(n: usize) -> (Vec<(NameHash, u32)>, Vec<u8>, u8) {
        let salt = [7u8; 32];
        let mut recs: Vec<(NameHash, u32)> = (0..n)
            .map(|i| {
                let key = format!("com.n{i}.");
                (SuffixHasher::hash_key(&salt, key.as_bytes()), i as u32 + 1)
            })
            .collect();
        recs.sort();
        let bits = bucket_bits_for(n);
        let bytes = encode(&recs, bits);
        (recs, bytes, bits)
    }

    #[test]
    fn finds_every_record_and_nothing_else() {
        for n in [0, 1, 3, 5, 100, 5000] {
            let (recs, bytes, bits) = table_of(n);
            let t = HashedTable::new(&bytes, n as u64, bits).unwrap();
            for (h, v) in &recs {
                assert_eq!(t.get(h), Some(*v));
            }
            let salt = [7u8; 32];
            let miss = SuffixHasher::hash_key(&salt, b"org.absent.");
            assert_eq!(t.get(&miss), None);
        }
    }

    #[test]
    fn shape_is_checked() {
        let (_, bytes, bits) = table_of(10);
        assert!(HashedTable::new(&bytes, 11, bits).is_err());
        assert!(HashedTable::new(&bytes[1..], 10, bits).is_err());
        assert!(HashedTable::new(&bytes, 10, 60).is_err());
    }

    #[test]
    fn incremental_hash_equals_whole() {
        let salt = [1u8; 32];
        let mut h = SuffixHasher::new(&salt);
        h.update(b"com.");
        h.update(b"example.");
        assert_eq!(h.current(), SuffixHasher::hash_key(&salt, b"com.example."));
    }
}
