//! Chunk framing of the `events` file (see SPEC.md, "events").
//!
//! ```text
//! offset size field
//!  0      4   magic "CHNK"
//!  4      8   first_event      (u64 LE)
//! 12      4   event_count      (u32 LE, >= 1)
//! 16      4   uncompressed_len (u32 LE)
//! 20      4   compressed_len   (u32 LE)
//! 24      8   payload_xxh3     (u64 LE, of the compressed bytes)
//! 32      4   header_check     (u32 LE, low 32 bits of xxh3 of bytes 0..32)
//! 36          compressed_len bytes of zstd data
//! ```

use crate::codec::{xxh3, LeCursor, EVENT_CONFIG, MAX_CHUNK_COMPRESSED, MAX_CHUNK_UNCOMPRESSED};
use crate::error::TraceError;
use crate::event::EventKind;
use crate::ids::RecTid;
use crate::FORMAT_VERSION;
use serde::Serialize;
use std::path::Path;

/// Magic number at the start of the `events` file.
pub const EVENTS_MAGIC: [u8; 8] = *b"RRGOEVT\0";
/// Bytes before the first chunk: magic + u32 format version.
pub const EVENTS_PREAMBLE_LEN: u64 = 12;
/// Magic number at the start of every chunk.
pub const CHUNK_MAGIC: [u8; 4] = *b"CHNK";
/// Size of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 36;

/// The bytes at the start of an `events` file.
pub fn events_preamble() -> [u8; EVENTS_PREAMBLE_LEN as usize] {
    let mut b = [0u8; EVENTS_PREAMBLE_LEN as usize];
    b[..8].copy_from_slice(&EVENTS_MAGIC);
    b[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    b
}

/// A decoded chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Time of the chunk's first event.
    pub first_event: u64,
    /// Number of events in the chunk.
    pub event_count: u32,
    /// Size of the decompressed payload.
    pub uncompressed_len: u32,
    /// Size of the zstd payload following the header.
    pub compressed_len: u32,
    /// xxh3-64 of the zstd payload.
    pub payload_xxh3: u64,
}

impl ChunkHeader {
    /// The 36 header bytes, with the header checksum filled in.
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(&CHUNK_MAGIC);
        b[4..12].copy_from_slice(&self.first_event.to_le_bytes());
        b[12..16].copy_from_slice(&self.event_count.to_le_bytes());
        b[16..20].copy_from_slice(&self.uncompressed_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.compressed_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.payload_xxh3.to_le_bytes());
        let check = xxh3(&b[0..32]) as u32;
        b[32..36].copy_from_slice(&check.to_le_bytes());
        b
    }

    /// Parses and validates 36 header bytes: magic, header checksum, and the
    /// size caps, so nothing derived from a header can ask for a huge
    /// allocation. The error says what is wrong, for the caller to wrap.
    pub fn decode(b: &[u8; CHUNK_HEADER_LEN]) -> Result<ChunkHeader, String> {
        let mut c = LeCursor::new(b);
        if c.array::<4>() != Some(CHUNK_MAGIC) {
            return Err("bad chunk magic".into());
        }
        let (
            Some(first_event),
            Some(event_count),
            Some(uncompressed_len),
            Some(compressed_len),
            Some(payload_xxh3),
            Some(check),
        ) = (c.u64(), c.u32(), c.u32(), c.u32(), c.u64(), c.u32())
        else {
            return Err("short chunk header".into());
        };
        if xxh3(&b[0..32]) as u32 != check {
            return Err("chunk header checksum mismatch".into());
        }
        let h = ChunkHeader {
            first_event,
            event_count,
            uncompressed_len,
            compressed_len,
            payload_xxh3,
        };
        if h.uncompressed_len as usize > MAX_CHUNK_UNCOMPRESSED {
            return Err(format!(
                "uncompressed length {} exceeds the {MAX_CHUNK_UNCOMPRESSED}-byte cap",
                h.uncompressed_len
            ));
        }
        if h.compressed_len as usize > MAX_CHUNK_COMPRESSED {
            return Err(format!(
                "compressed length {} exceeds the {MAX_CHUNK_COMPRESSED}-byte cap",
                h.compressed_len
            ));
        }
        // Every encoded event takes at least 2 bytes (tid, variant), so a
        // count beyond that is forged; this also bounds per-chunk work.
        if h.event_count == 0 || h.event_count as u64 * 2 > h.uncompressed_len as u64 {
            return Err(format!(
                "{} events cannot fit in {} bytes",
                h.event_count, h.uncompressed_len
            ));
        }
        if h.first_event.checked_add(h.event_count as u64).is_none() {
            return Err("event numbers overflow".into());
        }
        Ok(h)
    }

    /// Total bytes on disk: header plus payload.
    pub fn disk_len(&self) -> u64 {
        CHUNK_HEADER_LEN as u64 + self.compressed_len as u64
    }
}

#[derive(Serialize)]
struct EventRecordRef<'a> {
    tid: RecTid,
    kind: &'a EventKind,
}

/// Encodes one event as stored in a chunk payload: bincode of
/// `(tid, kind)`; the time is implied by position.
pub fn encode_event(tid: RecTid, kind: &EventKind) -> Result<Vec<u8>, TraceError> {
    bincode::serde::encode_to_vec(EventRecordRef { tid, kind }, EVENT_CONFIG)
        .map_err(|e| TraceError::InvalidInput(format!("cannot encode event: {e}")))
}

/// Decodes one event from the start of `buf`, returning it and the number
/// of bytes it took.
pub fn decode_event(buf: &[u8]) -> Result<(RecTid, EventKind, usize), String> {
    let ((tid, kind), used): ((RecTid, EventKind), usize) =
        bincode::serde::decode_from_slice(buf, EVENT_CONFIG).map_err(|e| e.to_string())?;
    Ok((tid, kind, used))
}

/// Compresses a payload of `event_count` encoded events into a framed chunk
/// (header followed by zstd data).
pub fn build_chunk(
    first_event: u64,
    event_count: u32,
    payload: &[u8],
    level: i32,
) -> Result<(ChunkHeader, Vec<u8>), std::io::Error> {
    let compressed = zstd::bulk::compress(payload, level)?;
    let too_big = |what| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("chunk {what} over cap"),
        )
    };
    if payload.len() > MAX_CHUNK_UNCOMPRESSED {
        return Err(too_big("payload"));
    }
    if compressed.len() > MAX_CHUNK_COMPRESSED {
        return Err(too_big("compressed payload"));
    }
    let header = ChunkHeader {
        first_event,
        event_count,
        uncompressed_len: payload.len() as u32,
        compressed_len: compressed.len() as u32,
        payload_xxh3: xxh3(&compressed),
    };
    let mut out = Vec::with_capacity(CHUNK_HEADER_LEN + compressed.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&compressed);
    Ok((header, out))
}

/// Checks a chunk's payload against its header and decompresses it, never
/// producing more than `uncompressed_len` bytes. `offset` is the chunk's
/// position in `file`, for error messages.
pub fn decompress_payload(
    h: &ChunkHeader,
    compressed: &[u8],
    file: &Path,
    offset: u64,
) -> Result<Vec<u8>, TraceError> {
    let payload_at = offset + CHUNK_HEADER_LEN as u64;
    if compressed.len() != h.compressed_len as usize {
        return Err(TraceError::corrupt(
            file,
            payload_at,
            "chunk payload is cut short",
        ));
    }
    if xxh3(compressed) != h.payload_xxh3 {
        return Err(TraceError::corrupt(
            file,
            payload_at,
            "chunk payload checksum mismatch",
        ));
    }
    let out = zstd::bulk::decompress(compressed, h.uncompressed_len as usize).map_err(|e| {
        TraceError::corrupt(file, payload_at, format!("cannot decompress chunk: {e}"))
    })?;
    if out.len() != h.uncompressed_len as usize {
        return Err(TraceError::corrupt(
            file,
            payload_at,
            format!(
                "chunk decompressed to {} bytes, header says {}",
                out.len(),
                h.uncompressed_len
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let h = ChunkHeader {
            first_event: 5,
            event_count: 3,
            uncompressed_len: 100,
            compressed_len: 40,
            payload_xxh3: 77,
        };
        let b = h.encode();
        assert_eq!(ChunkHeader::decode(&b), Ok(h));
        let mut bad = b;
        bad[5] ^= 1;
        assert!(ChunkHeader::decode(&bad).unwrap_err().contains("checksum"));
        let forged = ChunkHeader {
            compressed_len: 0xFFFF_FFF0,
            ..h
        }
        .encode();
        assert!(ChunkHeader::decode(&forged).unwrap_err().contains("cap"));
        let forged = ChunkHeader {
            event_count: 1000,
            ..h
        }
        .encode();
        assert!(ChunkHeader::decode(&forged).is_err());
        let forged = ChunkHeader {
            first_event: u64::MAX,
            ..h
        }
        .encode();
        assert!(ChunkHeader::decode(&forged).is_err());
    }
}
