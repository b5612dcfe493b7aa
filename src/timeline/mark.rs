//! Marks: moments of the replay, as the debugger names them.

use trace_format::{RecTid, Regs};

/// A moment of the replay: before event `event` is applied, and, if `at`
/// is set, inside the run of thread `at.0` towards it, at the instruction
/// where its registers were `at.1` (the first such moment: equal registers
/// at the same place in one run are equal states for the debugger).
#[derive(Debug, Clone, PartialEq)]
pub struct Pos {
    pub event: u64,
    pub at: Option<(RecTid, Regs)>,
}

impl Pos {
    /// Just after the exec: the first moment the program exists.
    pub fn start() -> Pos {
        Pos { event: 1, at: None }
    }
}

/// Registers that identify a moment at one address (flags and the syscall
/// number are bookkeeping, not program state).
pub use crate::replay::same_state as same_regs;
