//! RDTSC/RDTSCP emulation: with PR_TSC_SIGSEGV the instructions fault; the
//! recorder supplies (and records) the value, the replayer feeds it back.

use trace_format::RemoteAddr;

use crate::tracee::mem::ProcMem;

/// The TSC instruction at `rip`, if it is one: (length, is_rdtscp).
pub fn decode(mem: &ProcMem, rip: u64) -> Option<(u64, bool)> {
    let mut code = [0u8; 3];
    mem.read_exact(RemoteAddr(rip), &mut code).ok()?;
    match code {
        [0x0f, 0x31, _] => Some((2, false)),
        [0x0f, 0x01, 0xf9] => Some((3, true)),
        _ => None,
    }
}

/// Reads the host's TSC (and TSC_AUX for RDTSCP).
pub fn now(rdtscp: bool) -> (u64, Option<u32>) {
    // SAFETY: the TSC instructions have no memory effects; rrgo itself does
    // not run with PR_TSC_SIGSEGV.
    unsafe {
        if rdtscp {
            let mut aux = 0u32;
            let v = core::arch::x86_64::__rdtscp(&mut aux);
            (v, Some(aux))
        } else {
            (core::arch::x86_64::_rdtsc(), None)
        }
    }
}

/// Applies a TSC value to the registers as the instruction would.
pub fn apply(regs: &mut trace_format::Regs, len: u64, value: u64, aux: Option<u32>) {
    regs.rax = value & 0xffff_ffff;
    regs.rdx = value >> 32;
    if let Some(aux) = aux {
        regs.rcx = aux as u64;
    }
    regs.rip += len;
}
