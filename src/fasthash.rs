//! A hasher for maps keyed by addresses and ids in rrgo's hot loops (the
//! goroutine index visits hundreds of thousands of probe records, each a
//! few map lookups): std's SipHash took 3% of an index pass. Keys are
//! rrgo's own bookkeeping; a forged trace that made them collide would only
//! slow its own query down.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-xor over 8-byte words (as `FxHash`), mixed at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct AddrHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(K);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u32 as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // The product's low bits are poor for aligned addresses, and the
        // table takes its bucket from them: MurmurHash3's finalizer mixes
        // every bit into every other.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// A `HashMap` with `AddrHasher`.
pub type AddrMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_addresses_spread_over_buckets() {
        let low_bits: std::collections::HashSet<u64> = (0..1024u64)
            .map(|i| {
                let mut h = AddrHasher::default();
                h.write_u64(0xc000_0000_0000 + i * 4096);
                h.finish() & 0x3ff
            })
            .collect();
        assert!(low_bits.len() > 600, "{}", low_bits.len());
    }
}
