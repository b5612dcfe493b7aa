//! The one error type of the crate.

use crate::ids::EventTime;
use std::path::{Path, PathBuf};

/// Everything that can go wrong writing or reading a trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The trace directory does not exist.
    #[error("no trace at {}: the directory does not exist", path.display())]
    NotFound {
        /// The directory asked for.
        path: PathBuf,
    },

    /// The directory has no (recognisable) `header` file.
    #[error("{} is not an rrgo trace (no header file with rrgo's magic number)", path.display())]
    NotATrace {
        /// The directory asked for.
        path: PathBuf,
    },

    /// The trace was written in a format version this build does not read.
    #[error(
        "trace format {found}, this rrgo reads {supported}: re-record the program with this rrgo, \
         or replay it with the rrgo version that recorded it (rrgo {recorded_by})"
    )]
    VersionMismatch {
        /// The version in the trace.
        found: u32,
        /// The version this crate reads ([`crate::FORMAT_VERSION`]).
        supported: u32,
        /// The rrgo version string stored in the header's fixed preamble, or
        /// "of unknown version" when it could not be read.
        recorded_by: String,
    },

    /// A file of the trace has bytes that do not make sense.
    #[error("corrupt trace: {} at byte {offset}: {what}", file.display())]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in the file where the problem was found.
        offset: u64,
        /// What is wrong.
        what: String,
    },

    /// An operating-system error on a file of the trace.
    // The OS error is part of the message and deliberately not a `source()`:
    // printers of the whole chain (anyhow's `{:#}`) would say it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },

    /// `TraceWriter::create*` was pointed at a directory that already holds
    /// something; traces are never overwritten.
    #[error("{} already exists and is not empty; choose a new trace directory", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },

    /// One event is larger than a chunk may be.
    #[error("event of {size} bytes is larger than the {max}-byte limit of one chunk")]
    EventTooLarge {
        /// Encoded size of the event.
        size: usize,
        /// [`crate::MAX_CHUNK_UNCOMPRESSED`].
        max: usize,
    },

    /// `event(n)` for an event past the readable end.
    #[error("event {time} does not exist: the trace has {count} readable events")]
    EventOutOfRange {
        /// The time asked for.
        time: EventTime,
        /// How many events can be read.
        count: u64,
    },

    /// The caller passed something that cannot be written (e.g. a header
    /// field over a size limit).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The background writer failed earlier (and that error was already
    /// returned once) or stopped unexpectedly.
    #[error("trace writer is unusable: {0}")]
    WriterFailed(String),
}

impl TraceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> TraceError {
        TraceError::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn corrupt(file: &Path, offset: u64, what: impl Into<String>) -> TraceError {
        TraceError::Corrupt {
            file: file.to_path_buf(),
            offset,
            what: what.into(),
        }
    }
}
