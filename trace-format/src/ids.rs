//! Small identifier newtypes shared by events, the header and the reader.
//!
//! They are plain numbers on disk (bincode varints); the newtypes exist so a
//! recorded thread id cannot be mixed up with a live one, or an event number
//! with an address.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Global event sequence number, 0-based: event N is the N-th event of the
/// trace, so the time of every event equals its position.
#[derive(
    Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default,
)]
pub struct EventTime(pub u64);

/// A thread id as it was during recording (replay threads get other ids).
#[derive(
    Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default,
)]
pub struct RecTid(pub i32);

/// An address in the tracee's address space.
#[derive(
    Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default,
)]
pub struct RemoteAddr(pub u64);

/// Index of a file copied into the trace's `files/` directory.
#[derive(
    Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default,
)]
pub struct FileId(pub u32);

impl EventTime {
    /// The event after this one (saturating, so it can never panic).
    pub fn next(self) -> EventTime {
        EventTime(self.0.saturating_add(1))
    }
}

impl RemoteAddr {
    /// `self + off`, wrapping like the CPU's address arithmetic does.
    /// (Also available as `addr + off`.)
    #[allow(clippy::should_implement_trait)] // it is implemented too, below
    pub fn add(self, off: u64) -> RemoteAddr {
        RemoteAddr(self.0.wrapping_add(off))
    }
}

impl std::ops::Add<u64> for RemoteAddr {
    type Output = RemoteAddr;

    fn add(self, off: u64) -> RemoteAddr {
        RemoteAddr(self.0.wrapping_add(off))
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for RecTid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for RemoteAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(RemoteAddr(0x4000).to_string(), "0x4000");
        assert_eq!(RemoteAddr(0).to_string(), "0x0");
        assert_eq!(RemoteAddr(u64::MAX).add(2), RemoteAddr(1));
        assert_eq!(RemoteAddr(0x10) + 0x20, RemoteAddr(0x30));
        assert_eq!(EventTime(7).to_string(), "7");
        assert_eq!(EventTime(u64::MAX).next(), EventTime(u64::MAX));
        assert_eq!(RecTid(-1).to_string(), "-1");
        assert_eq!(FileId(3).to_string(), "3");
    }
}
