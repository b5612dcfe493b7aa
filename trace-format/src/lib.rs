//! rrgo's on-disk trace format: the event types, and the writer and reader
//! of a trace directory, side by side so they cannot drift apart.
//!
//! `SPEC.md` next to this crate documents every byte. In short, a trace is
//! a directory holding `header` (what was recorded), `events` (zstd
//! compressed, checksummed chunks of bincode-encoded [`Event`]s), `index`
//! (written last; marks a complete recording), `manifest` and `files/`
//! (copies of the executables and libraries the program used).
//!
//! Recording:
//!
//! ```no_run
//! use trace_format::*;
//! # fn main() -> Result<(), TraceError> {
//! # let (dir, exe) = (std::path::Path::new("t"), std::path::Path::new("/bin/true"));
//! let mut w = TraceWriter::create_with(dir, WriterOptions::default(), |files| {
//!     let exe = files.store(exe, None)?;
//!     Ok::<_, TraceError>(Header {
//!         rrgo_version: "0.1.0".into(),
//!         exe,
//!         # created_unix_ms: 0, argv: vec![], env: vec![], cwd: vec![], go_version: None,
//!         # auxv_random: [0; 16], host: HostInfo::default(), initial_signals: Default::default(), initial_rlimits: vec![],
//!         // ...
//!     })
//! })?;
//! w.append(EventKind::TaskExit { status: 0 }, RecTid(100))?;
//! let summary = w.finish()?;
//! # Ok(()) }
//! ```
//!
//! Replaying:
//!
//! ```no_run
//! # use trace_format::*;
//! # fn main() -> Result<(), TraceError> {
//! let r = TraceReader::open(std::path::Path::new("t"))?;
//! if let Completeness::Truncated { reason, .. } = r.completeness() {
//!     eprintln!("warning: {reason}");
//! }
//! for ev in r.events_from(EventTime(1000)) {
//!     let ev = ev?;
//!     println!("{} {} {}", ev.time, ev.tid, ev.kind.name());
//! }
//! # Ok(()) }
//! ```
//!
//! Nothing in the reader panics or makes unbounded allocations on damaged
//! or forged input: lengths are checked against hard caps
//! ([`MAX_CHUNK_UNCOMPRESSED`], [`MAX_CHUNK_COMPRESSED`], [`MAX_HEADER_BODY`])
//! and the file's real size before anything is allocated.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunk;
pub mod clockpack;
mod codec;
pub mod copycache;
mod error;
mod event;
pub mod files;
mod header;
mod ids;
pub mod index;
pub mod layout;
pub mod private;
mod reader;
mod regs;
mod serde_bytes;
mod writer;

pub use codec::{
    xxh3, MAX_CHUNK_COMPRESSED, MAX_CHUNK_UNCOMPRESSED, MAX_HEADER_BODY, MAX_RRGO_VERSION_LEN,
};
pub use error::TraceError;
pub use event::{
    DeliveryPoint, Event, EventKind, ExitStatus, MemWrite, PageHash, SigInfo, StdStream,
    SyscallExtra, SyscallMode, TaskKind, VdsoSetup,
};
pub use files::FileStore;
pub use header::{
    decode_header_file, encode_header_file, Header, HostInfo, InitialSignals, StoredFile,
    HEADER_MAGIC,
};
pub use ids::{EventTime, FileId, RecTid, RemoteAddr};
pub use reader::{ChunkInfo, Completeness, Events, TraceReader};
pub use regs::Regs;
pub use writer::{PreparedTrace, TraceSummary, TraceWriter, WriterOptions};

/// Version of the on-disk format written and read by this crate. Bump it on
/// any change of layout or of the serialized types; readers refuse other
/// versions with [`TraceError::VersionMismatch`].
pub const FORMAT_VERSION: u32 = 10;
