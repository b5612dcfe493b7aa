//! Signal frames the kernel builds, made the same in record and replay.
//!
//! Why: a frame's `sigcontext` holds the thread's last trap number, error
//! code and fault address (`trapno`, `err`, `cr2`) even for a signal that
//! is not a fault, and those come from whatever trapped last: a page
//! fault of demand paging, a ptrace single step, a breakpoint. They differ
//! between recording and replay, and a preemption point recorded by
//! hashes of the memory written would never match again. For a signal
//! that is not a fault both sides stop the thread at its handler's first
//! instruction and zero them. (A fault's values are the fault's own, and
//! replay re-executes the fault.)

use std::io;

use trace_format::RemoteAddr;

use super::mem::ProcMem;

/// From the handler's rsp (its return address) to `uc_mcontext`: the
/// return address, then `uc_flags`, `uc_link` and `uc_stack` (x86-64).
const MCONTEXT: u64 = 8 + 8 + 8 + 24;
/// `err`, `trapno`, `oldmask` and `cr2` in `struct sigcontext`.
const ERR: u64 = 152;
const TRAPNO: u64 = 160;
const CR2: u64 = 176;

/// Zeroes the trap fields of the frame of a thread stopped at its
/// handler's first instruction with stack pointer `rsp`.
pub fn normalize(mem: &ProcMem, rsp: u64) -> io::Result<()> {
    let base = rsp + MCONTEXT;
    for off in [ERR, TRAPNO, CR2] {
        mem.write(RemoteAddr(base + off), &0u64.to_le_bytes())?;
    }
    Ok(())
}

/// Whether process `tid` has a handler for `sig` (from /proc's SigCgt).
pub fn caught(tid: i32, sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{tid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| (1..=64).contains(&sig) && mask & (1u64 << (sig - 1)) != 0)
}

/// Whether a signal with this siginfo code is a fault of the instruction
/// the thread was at (the kernel's own frame values are then deterministic).
pub fn is_fault(sig: i32, si_code: i32) -> bool {
    const SI_KERNEL: i32 = 0x80;
    si_code > 0
        && si_code != SI_KERNEL
        && matches!(
            sig,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
        )
}
