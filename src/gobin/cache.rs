//! The DWARF tables of an executable (line table, runtime struct layouts,
//! inlined calls) kept in a file between runs: reading them out of
//! compressed DWARF is most of what loading a binary costs (a web server:
//! ~75 ms of ~100), and every query of a trace loads the same executable
//! (the goroutine dump, the index, the debugger).
//!
//! The file is a cache, never a source of truth: it names the executable
//! it was made from (its length and xxh3) and carries a checksum of its
//! bytes; anything that does not match, or does not decode, is ignored and
//! the tables are read from the DWARF again.
//!
//! Layout: the checksum (xxh3 of all that follows, 8 bytes), the length of
//! `Meta` (8 bytes), `Meta` (bincode), then the fixed-size records (line
//! rows, inlined ranges, their reach) back to back. The file is mapped and
//! the records are used where they lie (`packed::Records::Stored`): a web
//! server's tables load in ~3 ms instead of ~17 decoding them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::dwarf::packed::{bytes_of, Records, Storage};
use super::dwarf::{InlineTable, LineTable, StructLayout};

/// Bumped whenever the tables' types, what is read into them, or the
/// layout change.
const VERSION: u32 = 3;

/// The executable a cache belongs to: its length and xxh3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    len: u64,
    hash: u64,
}

impl Key {
    pub fn of(bytes: &[u8]) -> Key {
        Key {
            len: bytes.len() as u64,
            hash: xxhash_rust::xxh3::xxh3_64(bytes),
        }
    }
}

/// All but the records, and how many bytes of records follow.
#[derive(Serialize, Deserialize)]
struct Meta {
    version: u32,
    key: Key,
    line_files: Vec<String>,
    inline_names: Vec<String>,
    inline_files: Vec<String>,
    inline_calls: u32,
    structs: HashMap<String, StructLayout>,
    rows_len: u64,
    ranges_len: u64,
    reach_len: u64,
}

/// The tables cached at `path` for the executable `key`, if there are.
pub fn read(
    path: &Path,
    key: Key,
) -> Option<(LineTable, HashMap<String, StructLayout>, InlineTable)> {
    let storage: Storage = Arc::new(crate::elf::Mapped::open(path).ok()?);
    let bytes = bytes_of(&storage);
    let (sum, body) = bytes.split_at_checked(8)?;
    if u64::from_le_bytes(sum.try_into().ok()?) != xxhash_rust::xxh3::xxh3_64(body) {
        tracing::debug!("{}: checksum mismatch, ignored", path.display());
        return None;
    }
    let meta_len = usize::try_from(u64::from_le_bytes(body.get(..8)?.try_into().ok()?)).ok()?;
    let meta_end = 16usize.checked_add(meta_len)?;
    let (meta, _): (Meta, _) =
        bincode::serde::decode_from_slice(bytes.get(16..meta_end)?, bincode::config::standard())
            .ok()?;
    if meta.version != VERSION || meta.key != key {
        tracing::debug!("{}: another version or executable, ignored", path.display());
        return None;
    }
    // The records' ranges, each checked to hold whole records, the last
    // ending where the file does.
    let mut at = meta_end;
    let mut next = |len: u64| {
        let start = at;
        at = at.checked_add(usize::try_from(len).ok()?)?;
        Some(start..at)
    };
    let rows = Records::stored(&storage, next(meta.rows_len)?)?;
    let ranges = Records::stored(&storage, next(meta.ranges_len)?)?;
    let reach: Records<u64> = Records::stored(&storage, next(meta.reach_len)?)?;
    if at != bytes.len() || reach.len() != ranges.len() {
        return None;
    }
    Some((
        LineTable {
            rows,
            files: meta.line_files,
        },
        meta.structs,
        InlineTable {
            ranges,
            reach,
            names: meta.inline_names,
            files: meta.inline_files,
            calls: meta.inline_calls,
        },
    ))
}

/// Keeps tables `encode` made at `path` (private, written whole or not at
/// all); a directory that cannot be written just means no cache.
pub fn write_bytes(path: &Path, bytes: &[u8]) {
    if let Err(e) = crate::trace_dir::write_private(path, bytes) {
        tracing::debug!("cannot cache the DWARF tables at {}: {e}", path.display());
    }
}

/// The cache file's bytes for these tables.
pub fn encode(
    key: Key,
    lines: &LineTable,
    structs: &HashMap<String, StructLayout>,
    inlines: &InlineTable,
) -> Option<Vec<u8>> {
    let meta = Meta {
        version: VERSION,
        key,
        line_files: lines.files.clone(),
        inline_names: inlines.names.clone(),
        inline_files: inlines.files.clone(),
        inline_calls: inlines.calls,
        structs: structs.clone(),
        rows_len: lines.rows.byte_len() as u64,
        ranges_len: inlines.ranges.byte_len() as u64,
        reach_len: inlines.reach.byte_len() as u64,
    };
    let meta = bincode::serde::encode_to_vec(&meta, bincode::config::standard()).ok()?;
    // One buffer, written in place: the checksum's 8 bytes filled last.
    let records = lines.rows.byte_len() + inlines.ranges.byte_len() + inlines.reach.byte_len();
    let mut bytes = Vec::with_capacity(16 + meta.len() + records);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&meta);
    lines.rows.put_all(&mut bytes);
    inlines.ranges.put_all(&mut bytes);
    inlines.reach.put_all(&mut bytes);
    let sum = xxhash_rust::xxh3::xxh3_64(&bytes[8..]);
    bytes[..8].copy_from_slice(&sum.to_le_bytes());
    Some(bytes)
}
