//! Watchpoints: the debug registers that stop a replayed thread after it
//! writes (or reads) a watched range, and their sharing with the
//! preemption search, which needs debug registers of its own.
//!
//! The four debug registers are allocated here and only here: watched
//! ranges take DR3, DR2, DR1 (at most `MAX_WATCH_SLOTS`), so DR0 is always
//! free for the debug-register search of a preemption point; the search
//! stub's guards take what is left (`free_slots`). Every thread of the
//! main process carries the watched ranges, including threads created
//! later and the threads of a checkpoint copy (a fork does not inherit
//! debug registers).

use anyhow::bail;
use trace_format::RecTid;

use super::session::{BreakpointHit, ReplaySession};
use crate::tracee::{ptrace, Tid};

/// What access stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchAccess {
    Write,
    /// x86 has no read-only data breakpoint: reads and writes.
    ReadWrite,
}

/// One watched range: 1, 2, 4 or 8 bytes, aligned to its length (what one
/// debug register covers). `owner` names it in hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchRange {
    pub addr: u64,
    pub len: u64,
    pub access: WatchAccess,
    pub owner: u32,
}

/// Debug registers available to watched ranges.
pub const MAX_WATCH_SLOTS: usize = 3;
/// The slots watched ranges take, in order.
const WATCH_SLOTS: [usize; MAX_WATCH_SLOTS] = [3, 2, 1];

/// Splits `[addr, addr+size)` into aligned pieces one debug register each
/// can watch (largest first). None if it needs more than `MAX_WATCH_SLOTS`.
pub fn split_range(addr: u64, size: u64) -> Option<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let (mut a, end) = (addr, addr.checked_add(size.max(1))?);
    while a < end {
        let len = [8u64, 4, 2, 1]
            .into_iter()
            .find(|l| a % l == 0 && a + l <= end)
            .unwrap_or(1);
        out.push((a, len));
        a += len;
        if out.len() > MAX_WATCH_SLOTS {
            return None;
        }
    }
    Some(out)
}

/// DR7 bits for slot `n` watching `len` bytes.
fn dr7_bits(n: usize, len: u64, access: WatchAccess) -> u64 {
    let rw = match access {
        WatchAccess::Write => 0b01,
        WatchAccess::ReadWrite => 0b11,
    };
    let len = match len {
        1 => 0b00,
        2 => 0b01,
        8 => 0b10,
        _ => 0b11,
    };
    (1 << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n))
}

impl ReplaySession {
    /// Watches exactly `ranges` from now on, on every thread of the main
    /// process.
    pub fn set_watches(&mut self, ranges: &[WatchRange]) -> anyhow::Result<()> {
        if ranges.len() > MAX_WATCH_SLOTS {
            bail!(
                "at most {MAX_WATCH_SLOTS} watched ranges at once (the CPU has 4 debug registers; rrgo's replay needs one)"
            );
        }
        for r in ranges {
            if ![1, 2, 4, 8].contains(&r.len) || r.addr % r.len != 0 {
                bail!("cannot watch {} bytes at {:#x}", r.len, r.addr);
            }
        }
        self.watches = ranges.to_vec();
        let main = self.main_pid.0;
        let lives: Vec<Tid> = self
            .threads
            .values()
            .filter(|t| t.tgid == main && !t.exited && t.death.is_none())
            .map(|t| t.live)
            .collect();
        for live in lives {
            if let Err(e) = self.apply_watches(live) {
                tracing::debug!("cannot set watchpoints on thread {live}: {e}");
            }
        }
        Ok(())
    }

    /// The DR7 bits of the watched ranges: what every other use of DR7
    /// keeps set.
    pub(super) fn watch_dr7(&self) -> u64 {
        self.watches
            .iter()
            .zip(WATCH_SLOTS)
            .map(|(w, n)| dr7_bits(n, w.len, w.access))
            .fold(0, |a, b| a | b)
    }

    /// Debug registers the preemption search may use besides DR0's.
    pub(super) fn free_slots(&self) -> Vec<usize> {
        let used = &WATCH_SLOTS[..self.watches.len()];
        (0..4).filter(|n| !used.contains(n)).collect()
    }

    /// Puts the watched ranges into one thread's debug registers.
    pub(super) fn apply_watches(&self, live: Tid) -> std::io::Result<()> {
        if self.watches.is_empty() {
            // Nothing to clear on a thread that never had any.
            let dr7 = ptrace::get_debugreg(live, 7)?;
            if dr7 != 0 {
                ptrace::set_debugreg(live, 7, 0)?;
            }
            return Ok(());
        }
        ptrace::set_debugreg(live, 7, 0)?;
        for (w, n) in self.watches.iter().zip(WATCH_SLOTS) {
            ptrace::set_debugreg(live, n, w.addr)?;
        }
        ptrace::set_debugreg(live, 6, 0)?;
        ptrace::set_debugreg(live, 7, self.watch_dr7())
    }

    /// A new thread of the main process gets the watched ranges.
    pub(super) fn watch_new_thread(&self, live: Tid, tgid: i32) {
        if tgid == self.main_pid.0 && !self.watches.is_empty() {
            if let Err(e) = self.apply_watches(live) {
                tracing::debug!("cannot set watchpoints on new thread {live}: {e}");
            }
        }
    }

    /// Whether a SIGTRAP of `live` came from a watched range (DR6 says
    /// which); clears the bits it reports.
    pub(super) fn watch_trap(
        &self,
        tid: RecTid,
        live: Tid,
    ) -> anyhow::Result<Option<BreakpointHit>> {
        if self.watches.is_empty() {
            return Ok(None);
        }
        let dr6 = ptrace::get_debugreg(live, 6)?;
        let fired = self
            .watches
            .iter()
            .zip(WATCH_SLOTS)
            .find(|(_, n)| dr6 & (1 << n) != 0)
            .map(|(w, _)| w.owner);
        let Some(owner) = fired else {
            return Ok(None);
        };
        let mask: u64 = WATCH_SLOTS.iter().map(|n| 1u64 << n).sum();
        ptrace::set_debugreg(live, 6, dr6 & !mask)?;
        let rip = ptrace::get_regs(live)?.rip;
        Ok(Some(BreakpointHit {
            tid,
            addr: rip,
            watch: Some(owner),
        }))
    }

    /// A SIGTRAP's cause for a debugger: a software breakpoint (rip moved
    /// back onto it) or a watched range.
    pub(super) fn debug_trap(
        &mut self,
        tid: RecTid,
        live: Tid,
    ) -> anyhow::Result<Option<BreakpointHit>> {
        if let Some(addr) = self.breakpoint_trap(live)? {
            return Ok(Some(BreakpointHit {
                tid,
                addr,
                watch: None,
            }));
        }
        self.watch_trap(tid, live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_aligned_pieces() {
        assert_eq!(split_range(0x1000, 8), Some(vec![(0x1000, 8)]));
        assert_eq!(split_range(0x1004, 4), Some(vec![(0x1004, 4)]));
        assert_eq!(
            split_range(0x1000, 16),
            Some(vec![(0x1000, 8), (0x1008, 8)])
        );
        assert_eq!(split_range(0x1003, 2), Some(vec![(0x1003, 1), (0x1004, 1)]));
        assert_eq!(split_range(0x1000, 24).map(|v| v.len()), Some(3));
        assert_eq!(split_range(0x1000, 32), None);
    }

    #[test]
    fn dr7_encodes_slot_access_and_length() {
        // DR3, write, 8 bytes: L3 (bit 6), RW3 = 01 (bits 28-29), LEN3 = 10 (bits 30-31).
        assert_eq!(
            dr7_bits(3, 8, WatchAccess::Write),
            (1 << 6) | (1 << 28) | (2 << 30)
        );
        // DR1, read/write, 4 bytes.
        assert_eq!(
            dr7_bits(1, 4, WatchAccess::ReadWrite),
            (1 << 2) | (3 << 20) | (3 << 22)
        );
    }
}
