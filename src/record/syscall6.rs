//! Go's `Syscall6` (the runtime's raw syscall function, behind every
//! `syscall.Syscall` of the standard library): finding it in a Go binary
//! and patching its entry, at exec, to jump to rrgo's page's `sys6`
//! (`tracee::clockpage`), which buffers the never-blocking calls.
//!
//! This is the recorder's only knowledge of Go's code: the function's
//! names and its first instructions, which `sys6` repeats. Replay does not
//! need it: it writes the patch the `Exec` event carries.

use object::{Object, ObjectSymbol};

use super::session::Recorder;
use crate::tracee::{clockpage, mem::ProcMem};

/// The names Go's raw syscall function has had (1.27+, 1.23–1.26, 1.21–1.22).
const NAMES: [&str; 3] = [
    "internal/runtime/syscall/linux.Syscall6",
    "internal/runtime/syscall.Syscall6",
    "runtime/internal/syscall.Syscall6",
];

/// The bytes at the start of `Syscall6` (all its names) that the patch
/// replaces: `mov r10, rsi; mov rdx, rdi; mov rsi, rcx; mov rdi, rbx;
/// syscall`. `sys6` does the same moves itself.
pub(crate) const PROLOGUE: [u8; 14] = [
    0x49, 0x89, 0xf2, 0x48, 0x89, 0xfa, 0x48, 0x89, 0xce, 0x48, 0x89, 0xdf, 0x0f, 0x05,
];

/// Go's `Syscall6` is patched to buffer calls unless RRGO_SYSBUF=0.
fn wanted() -> bool {
    std::env::var("RRGO_SYSBUF").map_or(true, |v| v != "0")
}

/// Where `Syscall6` starts in an executable (non-PIE executables only: a
/// position-independent one would need its load address).
pub(crate) fn find(f: &object::File) -> Option<u64> {
    if f.kind() != object::ObjectKind::Executable {
        return None;
    }
    f.symbols()
        .find(|s| s.name().is_ok_and(|n| NAMES.contains(&n)))
        .map(|s| s.address())
}

/// The patch for `Syscall6`'s entry: `movabs r11, SYS6; jmp r11` (r11 is
/// not an argument register of Go's ABIInternal and the syscall clobbers it).
fn patch() -> Vec<u8> {
    let mut c = vec![0x49, 0xbb];
    c.extend_from_slice(&clockpage::SYS6.to_le_bytes());
    c.extend_from_slice(&[0x41, 0xff, 0xe3]);
    c
}

impl Recorder {
    /// At an exec stop: patches the entry of Go's `Syscall6` (if the program
    /// has the expected one) to jump to rrgo's page. Returns the patches.
    pub(super) fn patch_syscall6(
        &mut self,
        mem: &ProcMem,
        syscall6: Option<u64>,
    ) -> Vec<trace_format::MemWrite> {
        if !self.clock_pages || !wanted() {
            return Vec::new();
        }
        let Some(addr) = syscall6 else {
            return Vec::new();
        };
        let at = trace_format::RemoteAddr(addr);
        let mut code = [0u8; 14];
        if mem.read_exact(at, &mut code).is_err() || code != PROLOGUE {
            tracing::debug!(addr, "Syscall6 is not the expected code; not patched");
            return Vec::new();
        }
        let patch = patch();
        if let Err(e) = mem.write(at, &patch) {
            tracing::debug!(addr, "cannot patch Syscall6: {e}");
            return Vec::new();
        }
        vec![trace_format::MemWrite {
            addr: at,
            data: patch,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys6_starts_with_syscall6s_own_moves() {
        let sys6 = (clockpage::SYS6 - clockpage::CODE) as usize;
        assert_eq!(&clockpage::CODE_BYTES[sys6..sys6 + 12], &PROLOGUE[..12]);
        assert_eq!(patch().len(), 13);
    }
}
