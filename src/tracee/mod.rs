//! The thread-level view of a traced process: ptrace requests, waiting for
//! stops, registers, memory, spawning and the exec-time auxv fixups.
//!
//! Everything here runs on the engine thread (ptrace is per tracing thread).
//! Nothing here knows about traces or recording policy, and of Go only a
//! calling convention: rrgo's page (`clockpage`) has an entry, `sys6`, that
//! takes a syscall in the registers Go's `Syscall6` receives it in. Finding
//! and patching Go's function to jump there is `record::syscall6`.

pub mod auxv;
pub mod clockpage;
pub mod codemap;
pub mod inject;
pub mod insn;
pub mod maps;
pub mod mem;
pub mod probelog;
pub mod ptrace;
pub mod regs;
pub mod searchstub;
pub mod sigframe;
pub mod spawn;
pub mod vdso;
pub mod wait;

/// Unit tests that start children take turns: a waiter for any child (the
/// engines' `waitpid(-1)`) would collect another test's child's stops and
/// exit (an engine test failed about 1 full run in 4 beside them).
#[cfg(test)]
pub static TRACING_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

use std::fmt;

/// A live thread id (as the kernel knows it now). Recorded tids are
/// `trace_format::RecTid`; replay maps between the two.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Tid(pub i32);

impl Tid {
    pub fn pid(self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.0)
    }
}

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
