//! Breakpoints and watchpoints as applied to the replay: the addresses
//! that hold an int3 and the ranges in the debug registers. The debugger
//! says what it wants; scans and seeks place their own for a while and
//! put these back, also on a copy restored from a checkpoint (a copy has
//! the checkpoint's int3s and no debug registers).

use super::Timeline;
use crate::replay::{ReplaySession, WatchRange};

#[derive(Default)]
pub struct Applied {
    /// The int3s the debugger asked for (its own and a motion's).
    pub bps: Vec<u64>,
    /// The watched ranges.
    pub watches: Vec<WatchRange>,
}

/// Breakpoints at exactly `want` (an address that cannot hold one, e.g.
/// a syscall instruction, is left out and logged).
pub(super) fn place_exactly(session: &mut ReplaySession, want: &[u64]) -> anyhow::Result<()> {
    let mut want = want.to_vec();
    want.sort_unstable();
    want.dedup();
    for a in session.breakpoint_addrs() {
        if want.binary_search(&a).is_err() {
            session.remove_breakpoint(a)?;
        }
    }
    for a in want {
        if let Err(e) = session.insert_breakpoint(a) {
            tracing::debug!("breakpoint at {a:#x} not inserted: {e:#}");
        }
    }
    Ok(())
}

impl Timeline {
    /// The breakpoints the replay must hold from now on.
    pub fn set_breakpoints(&mut self, want: &[u64]) -> anyhow::Result<()> {
        self.applied.bps = want.to_vec();
        place_exactly(&mut self.session, want)
    }

    /// The watched ranges from now on.
    pub fn set_watches(&mut self, ranges: Vec<WatchRange>) -> anyhow::Result<()> {
        self.applied.watches = ranges;
        self.apply_watches()
    }

    /// Puts the watched ranges into the replay's debug registers.
    pub(super) fn apply_watches(&mut self) -> anyhow::Result<()> {
        self.session.set_watches(&self.applied.watches)
    }

    /// Breakpoints at `want` only, for a scan or a seek (`reapply` ends it).
    pub(super) fn place_only(&mut self, want: &[u64]) -> anyhow::Result<()> {
        place_exactly(&mut self.session, want)
    }

    /// The debugger's breakpoints again, after a seek placed its own; the
    /// program's output is shown again.
    pub(super) fn restore_breakpoints(&mut self) -> anyhow::Result<()> {
        let bps = self.applied.bps.clone();
        place_exactly(&mut self.session, &bps)?;
        self.session
            .set_output(crate::replay::Output::Capture(Vec::new()));
        Ok(())
    }

    /// The debugger's breakpoints and watchpoints again, wherever a motion
    /// stopped (a paused scan or seek placed its own).
    pub fn reapply(&mut self) -> anyhow::Result<()> {
        self.restore_breakpoints()?;
        self.apply_watches()
    }
}
