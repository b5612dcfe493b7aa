//! Recording: run the program under ptrace with all its threads serialised
//! (exactly one runs user code at a time) and write every nondeterministic
//! input to the trace. ARCHITECTURE.md describes the model.
//!
//! Scheduling: the running thread keeps the CPU until it blocks in a syscall,
//! its slice ends at a syscall stop while others wait, or — if it runs a
//! whole `preempt_after` without any stop — it is interrupted at an
//! arbitrary instruction and a `Preempt` (state-jump) event is recorded.

mod clock;
mod dirty;
mod handoff;
mod points;
mod rdtsc;
pub mod redact;
mod session;
mod shared;
mod signals;
mod snapshot;
mod spin;
mod splice;
mod syscall;
pub(crate) mod syscall6;
mod threads;
mod wake;

pub use rdtsc::apply as rdtsc_apply;
pub use session::{record, RecordOptions, RecordOutcome};
