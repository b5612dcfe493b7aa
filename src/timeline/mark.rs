//! Marks: moments of the replay, as the debugger names them.
//!
//! Inside the run of a thread towards its next event there is no event
//! count to tell two moments apart, and equal registers at one address do
//! not make equal moments: a loop whose state lives in memory (a global
//! counter, a variable in a caller's frame) passes the same instruction
//! with the same registers on every iteration. So a moment inside a run is
//! a route from the event: passes, each the nth time its thread stood at
//! its registers since the pass before (or the event). Whoever counts a
//! pass must have seen every arrival at its address since the pass
//! before (a breakpoint there, or single steps); the timeline counts the
//! stops of each motion (`Timeline::tick`) and closes a pass whenever
//! what is seen changes (breakpoints placed, stepping by instruction).

use trace_format::{RecTid, Regs};

/// A moment of the replay: before event `event` is applied, and, if `at`
/// is set, inside the run of thread `at.0` towards it, where its
/// registers are `at.1`, reached by `route` (whose last pass is `at`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pos {
    pub event: u64,
    pub at: Option<(RecTid, Regs)>,
    pub(super) route: Vec<Pass>,
}

/// One pass of a route: the `nth` (from 1) time thread `tid` stood at
/// `regs` since the previous pass, or since the event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pass {
    pub tid: RecTid,
    pub regs: Regs,
    pub nth: u32,
}

impl Pos {
    /// Just after the exec: the first moment the program exists.
    pub fn start() -> Pos {
        Pos::at_event(1)
    }

    /// Before event `event` is applied (between runs).
    pub fn at_event(event: u64) -> Pos {
        Pos {
            event,
            at: None,
            route: Vec::new(),
        }
    }

    /// Inside the run towards `event`, at the end of `route`.
    pub(super) fn routed(event: u64, route: Vec<Pass>) -> Pos {
        let at = route.last().map(|p| (p.tid, p.regs));
        Pos { event, at, route }
    }
}

/// Registers that identify a moment at one address (flags and the syscall
/// number are bookkeeping, not program state).
pub use crate::replay::same_state as same_regs;

/// A digest of what `same_regs` compares, for counting arrivals cheaply.
pub(super) fn state_key(r: &Regs) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::fasthash::AddrHasher::default();
    for w in [
        r.rip, r.rsp, r.rbp, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11,
        r.r12, r.r13, r.r14, r.r15, r.fs_base,
    ] {
        h.write_u64(w);
    }
    h.finish()
}
