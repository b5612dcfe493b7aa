//! The DWARF tables of an executable (line table, runtime struct layouts,
//! inlined calls) kept in a file between runs: reading them out of
//! compressed DWARF is most of what loading a binary costs (a web server:
//! ~75 ms of ~100; ~25 from the cache), and every query of a trace loads the same executable
//! (the goroutine dump, the index, the debugger).
//!
//! The file is a cache, never a source of truth: it names the executable
//! it was made from (its length and xxh3) and carries a checksum of its
//! bytes; anything that does not match, or does not decode, is ignored and
//! the tables are read from the DWARF again.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dwarf::{InlineTable, LineTable, StructLayout};

/// Bumped whenever the tables' types or what is read into them change.
const VERSION: u32 = 1;

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

#[derive(Serialize)]
struct Out<'a> {
    version: u32,
    key: Key,
    lines: &'a LineTable,
    structs: &'a HashMap<String, StructLayout>,
    inlines: &'a InlineTable,
}

#[derive(Deserialize)]
struct In {
    version: u32,
    key: Key,
    lines: LineTable,
    structs: HashMap<String, StructLayout>,
    inlines: InlineTable,
}

/// The tables cached at `path` for the executable `key`, if there are.
pub fn read(
    path: &Path,
    key: Key,
) -> Option<(LineTable, HashMap<String, StructLayout>, InlineTable)> {
    let bytes = std::fs::read(path).ok()?;
    let (sum, body) = bytes.split_at_checked(8)?;
    if u64::from_le_bytes(sum.try_into().ok()?) != xxhash_rust::xxh3::xxh3_64(body) {
        tracing::debug!("{}: checksum mismatch, ignored", path.display());
        return None;
    }
    let (t, _) =
        bincode::serde::decode_from_slice::<In, _>(body, bincode::config::standard()).ok()?;
    if t.version != VERSION || t.key != key {
        tracing::debug!("{}: another version or executable, ignored", path.display());
        return None;
    }
    Some((t.lines, t.structs, t.inlines))
}

/// Keeps the tables at `path` (private, written whole or not at all); a
/// directory that cannot be written just means no cache.
pub fn write(
    path: &Path,
    key: Key,
    lines: &LineTable,
    structs: &HashMap<String, StructLayout>,
    inlines: &InlineTable,
) {
    let out = Out {
        version: VERSION,
        key,
        lines,
        structs,
        inlines,
    };
    let Ok(body) = bincode::serde::encode_to_vec(&out, bincode::config::standard()) else {
        return;
    };
    let mut bytes = xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes().to_vec();
    bytes.extend_from_slice(&body);
    if let Err(e) = crate::trace_dir::write_private(path, &bytes) {
        tracing::debug!("cannot cache the DWARF tables at {}: {e}", path.display());
    }
}
