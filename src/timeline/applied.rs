//! Breakpoints and watchpoints as applied to the replay: the addresses
//! that hold an int3 and the ranges in the debug registers. Changing them
//! closes the route's pass to where the replay stands (see `mark`). The debugger
//! says what it wants; scans and seeks place their own for a while and
//! put these back, also on a copy restored from a checkpoint (a copy has
//! the checkpoint's int3s and no debug registers).

use trace_format::RemoteAddr;

use super::Timeline;
use crate::replay::{ReplaySession, WatchAccess, WatchRange, MAX_WATCH_SLOTS};

/// The owner of the debug register that watches anchors' words; its hits
/// move the ranges and are not the debugger's.
pub const ANCHOR_OWNER: u32 = u32::MAX;

/// A watched range that moves with the word at `word`: a goroutine's
/// stack variable keeps its offset from the stack's top, which the Go
/// runtime rewrites when it copies the stack elsewhere to grow or shrink
/// it. `then` is the word's value when the range's address was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub word: u64,
    pub then: u64,
}

#[derive(Default)]
pub struct Applied {
    /// The int3s the debugger asked for (its own and a motion's).
    pub bps: Vec<u64>,
    /// The watched ranges, with the anchor each moves with.
    pub watches: Vec<(WatchRange, Option<Anchor>)>,
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
        self.close_pass()?;
        self.applied.bps = want.to_vec();
        place_exactly(&mut self.session, want)
    }

    /// The watched ranges from now on.
    pub fn set_watches(&mut self, ranges: Vec<(WatchRange, Option<Anchor>)>) -> anyhow::Result<()> {
        self.close_pass()?;
        self.applied.watches = ranges;
        self.apply_watches()
    }

    /// How far an anchor's range has moved where the replay stands (0 if
    /// its word cannot be read).
    pub fn moved_by(&self, anchor: &Anchor) -> u64 {
        self.read_word(anchor.word)
            .map_or(0, |now| now.wrapping_sub(anchor.then))
    }

    fn read_word(&self, addr: u64) -> Option<u64> {
        let tid = *self.session.threads().first()?;
        self.session.mem(tid).ok()?.read_u64(RemoteAddr(addr)).ok()
    }

    /// Puts the watched ranges into the replay's debug registers, each
    /// where its anchor says it is now, and the anchors' words in spare
    /// registers so that a move is seen (`Timeline::tick`). Anchors
    /// without a spare register stay where they are until the next motion.
    pub(super) fn apply_watches(&mut self) -> anyhow::Result<()> {
        let mut ranges = Vec::new();
        let mut words = Vec::new();
        for (r, anchor) in &self.applied.watches {
            let mut r = *r;
            if let Some(a) = anchor {
                r.addr = r.addr.wrapping_add(self.moved_by(a));
                if !words.contains(&a.word) {
                    words.push(a.word);
                }
            }
            ranges.push(r);
        }
        for word in words {
            if ranges.len() >= MAX_WATCH_SLOTS {
                tracing::warn!("no debug register left to follow a moving stack at {word:#x}");
                break;
            }
            ranges.push(WatchRange {
                addr: word,
                len: 8,
                access: WatchAccess::Write,
                owner: ANCHOR_OWNER,
            });
        }
        self.session.set_watches(&ranges)
    }

    /// Breakpoints at `want` only, for a scan or a seek (`reapply` ends it).
    pub(super) fn place_only(&mut self, want: &[u64]) -> anyhow::Result<()> {
        self.close_pass()?;
        place_exactly(&mut self.session, want)
    }

    /// The debugger's breakpoints again, after a seek placed its own; the
    /// program's output is shown again.
    pub(super) fn restore_breakpoints(&mut self) -> anyhow::Result<()> {
        self.close_pass()?;
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
