//! rrgo's user-facing error type and the exit codes it maps to.
//!
//! Every failure that reaches `main` is one of these, so the exit code a
//! script sees is documented (`rrgo --help`) and stable.

use std::fmt;

/// Why a command failed, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// I/O, ptrace refused, program not found, …
    Operational,
    /// Bad usage, or a feature not built yet.
    Usage,
    /// The trace is missing, not a trace, corrupt, or of another format version.
    Trace,
    /// Replay did not match the recording.
    Divergence,
}

impl Failure {
    pub fn exit_code(self) -> i32 {
        match self {
            Failure::Operational => 1,
            Failure::Usage => 2,
            Failure::Trace => 3,
            Failure::Divergence => 4,
        }
    }
}

/// An error with the exit code it should produce.
#[derive(Debug)]
pub struct RrgoError {
    pub failure: Failure,
    pub error: anyhow::Error,
}

impl RrgoError {
    pub fn new(failure: Failure, error: impl Into<anyhow::Error>) -> Self {
        RrgoError {
            failure,
            error: error.into(),
        }
    }
}

impl fmt::Display for RrgoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` prints the whole context chain on one line: "a: b: c".
        write!(f, "{:#}", self.error)
    }
}

impl From<trace_format::TraceError> for RrgoError {
    fn from(e: trace_format::TraceError) -> Self {
        let failure = match e {
            trace_format::TraceError::Io { .. } => Failure::Operational,
            _ => Failure::Trace,
        };
        RrgoError::new(failure, e)
    }
}

impl From<anyhow::Error> for RrgoError {
    fn from(error: anyhow::Error) -> Self {
        // A trace error anywhere in the chain decides the class.
        let failure = match error.downcast_ref::<trace_format::TraceError>() {
            Some(trace_format::TraceError::Io { .. }) => Failure::Operational,
            Some(_) => Failure::Trace,
            None if error.downcast_ref::<BadTrace>().is_some() => Failure::Trace,
            None => Failure::Operational,
        };
        RrgoError { failure, error }
    }
}

/// A trace that the format layer reads but that cannot be used as a
/// recording (no events, not starting with an exec, …): exit 3 like any
/// trace that cannot be read, wherever in the chain it is.
#[derive(Debug)]
pub struct BadTrace(pub String);

impl fmt::Display for BadTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadTrace {}

impl BadTrace {
    /// A trace with nothing to replay, saying why if the reader knows.
    pub fn no_events(reader: &trace_format::TraceReader) -> BadTrace {
        let why = match reader.completeness() {
            trace_format::Completeness::Truncated { reason, .. } => format!(" ({reason})"),
            trace_format::Completeness::Complete => String::new(),
        };
        BadTrace(format!("the trace has no events to replay{why}"))
    }
}

pub type Result<T, E = RrgoError> = std::result::Result<T, E>;
