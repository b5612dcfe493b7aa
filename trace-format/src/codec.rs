//! The bincode configuration and the hard size caps shared by writer and
//! reader. Changing any of these changes what valid traces look like: bump
//! `FORMAT_VERSION` when doing so.

use bincode::config::{Configuration, Limit};

/// Largest uncompressed chunk payload (and so the largest single event) a
/// writer produces and a reader accepts. Readers check it before allocating.
pub const MAX_CHUNK_UNCOMPRESSED: usize = 64 << 20;

/// Largest compressed chunk payload: zstd's worst-case bound for
/// [`MAX_CHUNK_UNCOMPRESSED`] (size + size/256 + a little), rounded up.
pub const MAX_CHUNK_COMPRESSED: usize =
    MAX_CHUNK_UNCOMPRESSED + MAX_CHUNK_UNCOMPRESSED / 128 + 4096;

/// Most timespecs one `ClockReads` event may unpack to (rrgo's page holds
/// about 4,000; the cap keeps a forged packing from asking for gigabytes).
pub const MAX_CLOCK_ENTRIES: usize = 1 << 16;

/// Largest bincode body of the `header` file.
pub const MAX_HEADER_BODY: usize = 16 << 20;

/// Longest rrgo version string in the header preamble.
pub const MAX_RRGO_VERSION_LEN: usize = 255;

/// bincode 2 `standard()` (little endian, variable-length integers) with a
/// byte limit, so a forged length inside an event fails instead of asking
/// for gigabytes.
pub(crate) type EventConfig = Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    Limit<MAX_CHUNK_UNCOMPRESSED>,
>;

pub(crate) const EVENT_CONFIG: EventConfig =
    bincode::config::standard().with_limit::<MAX_CHUNK_UNCOMPRESSED>();

pub(crate) type HeaderConfig =
    Configuration<bincode::config::LittleEndian, bincode::config::Varint, Limit<MAX_HEADER_BODY>>;

pub(crate) const HEADER_CONFIG: HeaderConfig =
    bincode::config::standard().with_limit::<MAX_HEADER_BODY>();

/// xxh3-64, the checksum used everywhere in the format.
pub fn xxh3(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Little-endian field reader over a byte slice that never panics: every
/// read checks bounds and returns `None` past the end.
pub(crate) struct LeCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> LeCursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        LeCursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N).and_then(|s| s.try_into().ok())
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}
