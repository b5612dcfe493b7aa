//! How `ClockReads` entries are stored (format 6): each `struct timespec`
//! as the difference from one of the two values before it, a LEB128
//! varint. Raw timespecs (16 bytes each) compressed to ~3 bytes per read
//! and were most of a clock-heavy trace (the `time` tests: 6.8 million
//! reads, 15 MB of 21); deltas take ~1.2 (session 32). Two references
//! because Go's `time.Now` reads two clocks in turn (monotonic and
//! realtime), each close to its own previous value.
//!
//! Each entry is one varint `code`, `code & 3` its kind:
//! - 0: a timespec that is not a normalized time (`tv_sec` < 0, or
//!   `tv_nsec` outside [0, 10^9)): its 16 raw bytes follow;
//! - 1, 2: the value `v` = `tv_sec`·10^9 + `tv_nsec` is the value 1 or
//!   2 entries back (counting only entries of kinds 1–3) plus the zigzag
//!   decoding of `code >> 2`;
//! - 3: `v` itself is `code >> 2`.

use serde::de::Error;
use serde::{Deserializer, Serializer};

use crate::codec::MAX_CLOCK_ENTRIES;

const NS: i128 = 1_000_000_000;
const ENTRY: usize = 16;

/// The stored form of raw timespec `entries` (whole timespecs only).
pub fn pack(entries: &[u8]) -> Result<Vec<u8>, String> {
    if entries.len() % ENTRY != 0 {
        return Err(format!(
            "clock entries of {} bytes, not whole timespecs",
            entries.len()
        ));
    }
    let mut out = Vec::with_capacity(entries.len() / 4);
    let mut back: [Option<u64>; 2] = [None, None];
    for e in entries.chunks_exact(ENTRY) {
        let Some(v) = value(e) else {
            varint(&mut out, 0);
            out.extend_from_slice(e);
            continue;
        };
        let mut code = (u128::from(v) << 2) | 3;
        for (i, r) in back.iter().enumerate() {
            if let Some(r) = r {
                let d = i128::from(v) - i128::from(*r);
                let z = ((d << 1) ^ (d >> 127)) as u128;
                code = code.min((z << 2) | (i as u128 + 1));
            }
        }
        // A value below 2^62 fits kind 3, so the smallest code fits.
        varint(&mut out, code as u64);
        back = [Some(v), back[0]];
    }
    Ok(out)
}

/// The raw timespecs `packed` stands for.
pub fn unpack(packed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(packed.len().min(MAX_CLOCK_ENTRIES) * 4);
    let mut back: [Option<u64>; 2] = [None, None];
    let mut at = 0;
    while at < packed.len() {
        if out.len() / ENTRY >= MAX_CLOCK_ENTRIES {
            return Err(format!("more than {MAX_CLOCK_ENTRIES} clock entries"));
        }
        let code = read_varint(packed, &mut at)?;
        let v = match code & 3 {
            0 => {
                let raw = packed.get(at..at + ENTRY).ok_or("clock entry cut short")?;
                out.extend_from_slice(raw);
                at += ENTRY;
                continue;
            }
            3 => code >> 2,
            k => {
                let r = back[(k - 1) as usize].ok_or("clock entry refers to no earlier value")?;
                let z = code >> 2;
                let d = i128::from(z >> 1) ^ -i128::from(z & 1);
                u64::try_from(i128::from(r) + d).map_err(|_| "clock value out of range")?
            }
        };
        if v > MAX_VALUE {
            return Err(format!("clock value {v} out of range"));
        }
        let v = i128::from(v);
        out.extend_from_slice(&((v / NS) as i64).to_le_bytes());
        out.extend_from_slice(&((v % NS) as i64).to_le_bytes());
        back = [Some(v as u64), back[0]];
    }
    Ok(out)
}

/// Largest value stored as a number (kind 3 must hold it): year ~2116
/// for CLOCK_REALTIME; later or stranger timespecs are stored raw.
const MAX_VALUE: u64 = (1 << 62) - 1;

/// A normalized timespec's nanoseconds.
fn value(e: &[u8]) -> Option<u64> {
    let sec = i64::from_le_bytes(e[..8].try_into().ok()?);
    let nsec = i64::from_le_bytes(e[8..16].try_into().ok()?);
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return None;
    }
    let v = i128::from(sec) * NS + i128::from(nsec);
    u64::try_from(v).ok().filter(|&v| v <= MAX_VALUE)
}

fn varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn read_varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut x: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("clock entry cut short")?;
        *at += 1;
        if shift == 63 && b > 1 {
            break;
        }
        x |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(x);
        }
    }
    Err("clock entry varint too long".into())
}

/// `#[serde(with = "clockpack")]` for `ClockReads.entries`: packed in
/// binary formats (the trace), raw in readable ones (`rrgo dump --json`).
pub mod serde_entries {
    use super::*;

    /// Packs raw timespecs (binary formats).
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return crate::serde_bytes::vec::serialize(v, s);
        }
        let packed = pack(v).map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&packed)
    }

    /// Unpacks to raw timespecs (binary formats).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let human = d.is_human_readable();
        let bytes = crate::serde_bytes::vec::deserialize(d)?;
        if human {
            return Ok(bytes);
        }
        unpack(&bytes).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(sec: i64, nsec: i64) -> Vec<u8> {
        [sec.to_le_bytes(), nsec.to_le_bytes()].concat()
    }

    #[test]
    fn packing_keeps_every_timespec_and_is_small_for_two_interleaved_clocks() {
        let mut raw = Vec::new();
        for i in 0..1000i64 {
            raw.extend(ts(12_345 + i / 700, (i * 1_437_001) % 1_000_000_000)); // monotonic
            raw.extend(ts(1_780_000_000, 999_999_000 + i)); // realtime, crossing a second
        }
        raw.extend(ts(-1, 5)); // not a time: raw
        raw.extend(ts(7, 1_000_000_000)); // not normalized: raw
        raw.extend(ts(i64::MAX, 0)); // too large: raw
        raw.extend(ts(0, 0));
        let packed = pack(&raw).unwrap();
        assert_eq!(unpack(&packed).unwrap(), raw);
        assert!(
            packed.len() * 3 < raw.len(),
            "{} of {}",
            packed.len(),
            raw.len()
        );
        assert_eq!(pack(&[]).unwrap(), Vec::<u8>::new());
        assert!(pack(&raw[..15]).is_err());
    }

    #[test]
    fn forged_packings_are_errors_not_panics() {
        for bad in [
            &[0x05][..],       // kind 1 with nothing before
            &[0x80][..],       // varint cut
            &[0x00, 1, 2][..], // raw entry cut
            &[0xff; 11][..],   // varint too long
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..], // past 64 bits
        ] {
            assert!(unpack(bad).is_err(), "{bad:?}");
        }
        // Deltas to a value below zero or above the largest.
        let packed = [varint_of((3 << 2) | 3), varint_of((7 << 2) | 1)].concat();
        assert!(unpack(&packed).is_err());
        let packed = [varint_of(u64::MAX), varint_of((2 << 2) | 1)].concat();
        assert!(unpack(&packed).is_err());
        // Too many entries.
        let many = vec![0x0f; MAX_CLOCK_ENTRIES + 1];
        assert!(unpack(&many).is_err());
    }

    fn varint_of(x: u64) -> Vec<u8> {
        let mut v = Vec::new();
        varint(&mut v, x);
        v
    }
}
