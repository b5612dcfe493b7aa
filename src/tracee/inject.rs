//! Running a syscall inside a stopped tracee thread on rrgo's behalf.
//!
//! Only at a syscall-exit stop (the thread is about to return to user
//! space): the registers are saved, the thread is sent to a `syscall`
//! instruction with the call set up, and restored afterwards, so the program
//! never sees it.

use std::io;

use trace_format::RemoteAddr;

use super::maps::read_maps;
use super::mem::ProcMem;
use super::wait::{self, Stop};
use super::{ptrace, Tid};

/// The address of a `syscall` instruction (0f 05) in the process's code:
/// the vDSO has some (its fallback paths) even when the program cannot find it.
pub fn find_syscall_insn(mem: &ProcMem) -> io::Result<Option<RemoteAddr>> {
    let maps = read_maps(mem.pid())?;
    let mut regions: Vec<_> = maps.iter().filter(|r| r.perms[2] == b'x').collect();
    // The vDSO first: small, always there.
    regions.sort_by_key(|r| !r.path.starts_with("[vdso]"));
    for r in regions {
        let len = (r.end - r.start).min(1 << 20) as usize;
        let code = mem.read_prefix(RemoteAddr(r.start), len);
        if let Some(i) = code.windows(2).position(|w| w == [0x0f, 0x05]) {
            return Ok(Some(RemoteAddr(r.start + i as u64)));
        }
    }
    Ok(None)
}

/// Runs `nr(args…)` in `tid`, which must be at a syscall-exit stop; returns the result.
pub fn syscall(tid: Tid, insn: RemoteAddr, nr: i64, args: &[u64]) -> io::Result<i64> {
    syscall_observing(tid, insn, nr, args, |_| Ok(false))
}

/// Like `syscall`; ptrace event stops between entry and exit (a fork's or
/// clone's event, whose message is the new task) go to `on_event`, which
/// accepts them (true) or not. Seccomp stops (a tracee under a
/// SECCOMP_RET_TRACE filter) are always passed over.
pub fn syscall_observing(
    tid: Tid,
    insn: RemoteAddr,
    nr: i64,
    args: &[u64],
    mut on_event: impl FnMut(i32) -> io::Result<bool>,
) -> io::Result<i64> {
    let saved = ptrace::get_regs(tid)?;
    let mut r = saved;
    r.rip = insn.0;
    r.rax = nr as u64;
    r.orig_rax = u64::MAX;
    let slots = [
        &mut r.rdi, &mut r.rsi, &mut r.rdx, &mut r.r10, &mut r.r8, &mut r.r9,
    ];
    for (slot, v) in slots.into_iter().zip(args) {
        *slot = *v;
    }
    ptrace::set_regs(tid, &r)?;
    let result = (|| {
        let mut syscall_stops = 0;
        while syscall_stops < 2 {
            ptrace::resume(tid, ptrace::Resume::Syscall, 0)?;
            let w = wait::wait_tid(tid)?;
            match w.stop {
                Stop::Syscall => syscall_stops += 1,
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_SECCOMP => {}
                Stop::Event { event, .. } if on_event(event)? => {}
                other => {
                    return Err(io::Error::other(format!(
                        "unexpected stop while injecting a syscall: {other:?}"
                    )));
                }
            }
        }
        Ok(ptrace::get_regs(tid)?.rax as i64)
    })();
    ptrace::set_regs(tid, &saved)?;
    result
}

/// Maps `len` bytes of anonymous private memory at exactly `addr` (never
/// over an existing mapping) with `prot` and any extra `flags`, in the
/// process of `tid`, which must be at a syscall-exit stop.
pub fn map_fixed(
    tid: Tid,
    insn: RemoteAddr,
    (addr, len): (u64, u64),
    prot: i32,
    flags: i32,
) -> io::Result<()> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE | flags;
    let args = [addr, len, prot as u64, flags as u64, u64::MAX, 0];
    let got = syscall(tid, insn, libc::SYS_mmap, &args)?;
    if got as u64 != addr {
        return Err(io::Error::other(format!(
            "cannot map {len:#x} bytes at {addr:#x} (mmap returned {got:#x})"
        )));
    }
    Ok(())
}

/// Sets `prot` on `[addr, addr+len)` in the process of `tid` (at a
/// syscall-exit stop).
pub fn protect(tid: Tid, insn: RemoteAddr, (addr, len): (u64, u64), prot: i32) -> io::Result<()> {
    let r = syscall(tid, insn, libc::SYS_mprotect, &[addr, len, prot as u64])?;
    if r != 0 {
        return Err(io::Error::from_raw_os_error(-r as i32));
    }
    Ok(())
}
