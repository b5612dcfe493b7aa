//! Replay: re-execute the recorded program under ptrace, one event at a
//! time, in the recorded order, feeding recorded syscall results and
//! checking every event against the recording.
//!
//! `ReplaySession` is the stepping API later layers (goroutines, DAP) build
//! on: `step()` applies one event; `threads()`, `regs()` and `mem()` inspect
//! the stopped process between events.

mod checkpoint;
mod divergence;
mod exe;
mod launch;
mod preempt;
mod probes;
mod session;
mod shared;
mod step;
mod watch;

pub use divergence::Divergence;
pub use preempt::{same_state, PreemptStats};
pub use session::{BreakpointHit, Output, ReplaySession, Stepped};
pub use watch::{split_range, WatchAccess, WatchRange, MAX_WATCH_SLOTS};
