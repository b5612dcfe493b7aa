//! The error replay reports when the replayed process does not do what the
//! recording says.

use std::fmt;

use trace_format::{EventTime, RecTid, Regs};

#[derive(Debug)]
pub struct Divergence {
    pub event: EventTime,
    pub tid: RecTid,
    pub expected: String,
    pub got: String,
}

impl Divergence {
    pub fn new(
        event: EventTime,
        tid: RecTid,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Divergence {
            event,
            tid,
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// Compares register sets; `None` when equal.
    pub fn regs(
        event: EventTime,
        tid: RecTid,
        what: &str,
        expected: &Regs,
        got: &Regs,
    ) -> Option<Self> {
        let diff = expected.diff(got);
        if diff.is_empty() {
            return None;
        }
        let fmt = |pick: fn(&(&str, u64, u64)) -> u64| {
            diff.iter()
                .map(|d| format!("{}={:#x}", d.0, pick(d)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        Some(Divergence::new(
            event,
            tid,
            format!("{what} with {}", fmt(|d| d.1)),
            fmt(|d| d.2),
        ))
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay diverged at event {} (thread {}): expected {}, got {}",
            self.event.0, self.tid.0, self.expected, self.got
        )
    }
}

impl std::error::Error for Divergence {}
