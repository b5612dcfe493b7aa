//! Where deferred calls start and where a recover resumes (Go 1.22+):
//! `gopanic`, `Goexit` and `deferreturn` each loop over `p.nextDefer()`
//! and call the function it returns through a register — the only place
//! code the program deferred is entered. During a panic, `g._panic.sp`
//! says which frame's defers run (offsets from DWARF); a recover resumes
//! that frame at its call of `deferreturn` (the pc the funcdata names).

use iced_x86::Register;
use trace_format::RemoteAddr;

use crate::gobin::GoBinary;
use crate::tracee::mem::MemRead;

/// A runtime call of a deferred function.
#[derive(Debug, Clone, Copy)]
pub struct DeferSite {
    pub addr: u64,
    /// The register holding the deferred function's code address.
    pub target: Register,
    /// In `deferreturn`: the defers run are its caller's (a function
    /// returning normally), not a panic's.
    pub in_deferreturn: bool,
}

#[derive(Debug, Default)]
pub struct Defers {
    pub sites: Vec<DeferSite>,
    /// Offsets of `g._panic` and `_panic.sp`.
    panic: Option<(u64, u64)>,
    deferreturn: Option<u64>,
}

impl Defers {
    pub fn from_binary(bin: &GoBinary) -> Defers {
        let mut sites = Vec::new();
        for (name, in_deferreturn) in [
            ("runtime.gopanic", false),
            ("runtime.Goexit", false),
            ("runtime.deferreturn", true),
        ] {
            let Some(f) = bin.functions_named(name).first().copied() else {
                continue;
            };
            let Some(code) = bin.code(f.entry, f.entry + f.size) else {
                continue;
            };
            sites.extend(
                crate::tracee::insn::register_calls(code, f.entry)
                    .into_iter()
                    .map(|(addr, target)| DeferSite {
                        addr,
                        target,
                        in_deferreturn,
                    }),
            );
        }
        let panic = (|| {
            Some((
                bin.field_offset("runtime.g", "_panic")?,
                bin.field_offset("runtime._panic", "sp")?,
            ))
        })();
        let deferreturn = bin
            .functions_named("runtime.deferreturn")
            .first()
            .map(|f| f.entry);
        Defers {
            sites,
            panic,
            deferreturn,
        }
    }

    pub fn site(&self, addr: u64) -> Option<DeferSite> {
        self.sites.iter().find(|s| s.addr == addr).copied()
    }

    /// The stack pointer of the frame whose deferred calls the innermost
    /// panic (or Goexit) of the goroutine whose g is at `g` runs, if any.
    pub fn panic_frame_sp(&self, mem: &dyn MemRead, g: u64) -> Option<u64> {
        let (g_panic, sp) = self.panic?;
        let p = mem.read_u64(RemoteAddr(g + g_panic)).ok()?;
        if p == 0 {
            return None;
        }
        mem.read_u64(RemoteAddr(p + sp)).ok()
    }

    /// Where a recover can resume a frame of `function` (at `entry`,
    /// `size` bytes): its calls of `deferreturn`.
    pub fn resume_sites(&self, bin: &GoBinary, entry: u64, size: u64) -> Vec<u64> {
        match (self.deferreturn, bin.code(entry, entry + size)) {
            (Some(target), Some(code)) => crate::tracee::insn::calls_of(code, entry, target),
            _ => Vec::new(),
        }
    }
}
