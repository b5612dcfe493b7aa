//! The debugger engine over a replay: breakpoints, stepping forwards and
//! backwards, goroutines, frames and Go values at a stop. Front ends (DAP)
//! talk to it through `EngineHandle`, on its own ptrace thread.

pub mod api;
mod breakpoints;
mod disasm;
mod engine;
mod exception;
mod forward;
pub mod handle;
mod inspect;
mod reverse;
mod target;
mod watch;

pub use engine::open_target;

#[cfg(test)]
mod tests;
