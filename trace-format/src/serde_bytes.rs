//! Serde helpers that encode byte buffers as one length-prefixed blob.
//!
//! Plain `Vec<u8>` goes through serde's sequence path, one visitor call per
//! byte; memory written by syscalls can be megabytes, so event fields use
//! these instead. With bincode the bytes on disk are the same either way
//! (varint length, then raw bytes); only the speed differs. Decoding borrows
//! from the input slice first, so a forged length fails against the input's
//! real size instead of allocating.

use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_borrowed_bytes<E: Error>(self, v: &'de [u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    // Self-describing formats (e.g. JSON in tests or tools) hand bytes over
    // as a sequence; the size hint is not trusted beyond a small bound.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element()? {
            v.push(b);
        }
        Ok(v)
    }
}

/// `#[serde(with = "serde_bytes::vec")]` for `Vec<u8>`.
pub mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_bytes(BytesVisitor)
    }
}

/// `#[serde(with = "serde_bytes::array")]` for `[u8; N]`: encoded like a
/// `Vec<u8>` of length N (serde cannot derive arrays longer than 32), and a
/// different length on input is an error.
pub mod array {
    use super::*;

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let v = d.deserialize_bytes(BytesVisitor)?;
        <[u8; N]>::try_from(v.as_slice())
            .map_err(|_| D::Error::invalid_length(v.len(), &"a fixed-size byte array"))
    }
}
