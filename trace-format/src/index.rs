//! The `index` file: written last by `TraceWriter::finish`, so its presence
//! (and validity) marks a complete recording (see SPEC.md, "index").
//!
//! ```text
//! offset    size  field
//!  0         8    magic "RRGOIDX\0"
//!  8         4    format version (u32 LE)
//! 12         4    chunk_count n (u32 LE)
//! 16      20*n    per chunk: first_event u64, offset u64, event_count u32
//! 16+20n     8    total_events (u64 LE)
//! 24+20n     8    events_len: size of the `events` file (u64 LE)
//! 32+20n     8    xxh3 of bytes 0..32+20n (u64 LE)
//! ```

use crate::codec::{xxh3, LeCursor};
use crate::FORMAT_VERSION;

/// Magic number at the start of `index`.
pub const INDEX_MAGIC: [u8; 8] = *b"RRGOIDX\0";
/// Bytes per chunk entry.
pub const INDEX_ENTRY_LEN: usize = 20;
/// Bytes of an index with no chunks.
pub const INDEX_FIXED_LEN: usize = 40;

/// One chunk as listed in `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Time of the chunk's first event.
    pub first_event: u64,
    /// Byte offset of the chunk header in `events`.
    pub offset: u64,
    /// Events in the chunk.
    pub event_count: u32,
}

/// A parsed `index` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The chunks in file order.
    pub entries: Vec<IndexEntry>,
    /// Events in the whole trace.
    pub total_events: u64,
    /// Length of `events` when the index was written.
    pub events_len: u64,
}

impl Index {
    /// The bytes of the `index` file.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(INDEX_FIXED_LEN + INDEX_ENTRY_LEN * self.entries.len());
        b.extend_from_slice(&INDEX_MAGIC);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            b.extend_from_slice(&e.first_event.to_le_bytes());
            b.extend_from_slice(&e.offset.to_le_bytes());
            b.extend_from_slice(&e.event_count.to_le_bytes());
        }
        b.extend_from_slice(&self.total_events.to_le_bytes());
        b.extend_from_slice(&self.events_len.to_le_bytes());
        let sum = xxh3(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parses and self-checks an `index` file (checksum, exact length,
    /// consistent totals). Whether it matches `events` is the reader's job.
    pub fn decode(bytes: &[u8]) -> Result<Index, String> {
        let mut c = LeCursor::new(bytes);
        if c.array::<8>() != Some(INDEX_MAGIC) {
            return Err("bad magic number".into());
        }
        let version = c.u32().ok_or("truncated")?;
        if version != FORMAT_VERSION {
            return Err(format!(
                "format version {version}, expected {FORMAT_VERSION}"
            ));
        }
        let n = c.u32().ok_or("truncated")? as usize;
        // The exact length is known from n, so a forged n fails here before
        // anything is allocated for it.
        let expected = (n as u64) * INDEX_ENTRY_LEN as u64 + INDEX_FIXED_LEN as u64;
        if bytes.len() as u64 != expected {
            return Err(format!(
                "{} bytes, but {n} chunks need {expected}",
                bytes.len()
            ));
        }
        let body_len = bytes.len() - 8;
        if xxh3(&bytes[..body_len])
            != u64::from_le_bytes(bytes[body_len..].try_into().map_err(|_| "truncated")?)
        {
            return Err("checksum mismatch".into());
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let (Some(first_event), Some(offset), Some(event_count)) = (c.u64(), c.u64(), c.u32())
            else {
                return Err("truncated".into());
            };
            entries.push(IndexEntry {
                first_event,
                offset,
                event_count,
            });
        }
        let total_events = c.u64().ok_or("truncated")?;
        let events_len = c.u64().ok_or("truncated")?;
        let sum = entries
            .iter()
            .fold(0u64, |acc, e| acc.saturating_add(e.event_count as u64));
        if sum != total_events {
            return Err(format!(
                "chunks hold {sum} events, total says {total_events}"
            ));
        }
        Ok(Index {
            entries,
            total_events,
            events_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let idx = Index {
            entries: vec![
                IndexEntry {
                    first_event: 0,
                    offset: 12,
                    event_count: 3,
                },
                IndexEntry {
                    first_event: 3,
                    offset: 100,
                    event_count: 4,
                },
            ],
            total_events: 7,
            events_len: 200,
        };
        let b = idx.encode();
        assert_eq!(Index::decode(&b), Ok(idx));
        for cut in 0..b.len() {
            assert!(Index::decode(&b[..cut]).is_err());
        }
        let mut bad = b.clone();
        bad[20] ^= 0x40;
        assert!(Index::decode(&bad).is_err());
    }
}
