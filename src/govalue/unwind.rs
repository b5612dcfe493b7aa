//! Physical frames from `.debug_frame`. Go describes every function's
//! frame as CFA = rsp + N (the linker derives it from the pc→sp-delta
//! table); the return address is at CFA-8 and, once the prologue has pushed
//! it, the caller's frame pointer at CFA-16. There is no rule for RBP.

use std::cell::RefCell;

use gimli::UnwindSection;

use super::info::{Info, R};
use super::{FrameRegs, Memory};

/// DWARF register numbers on x86-64.
pub(crate) const REG_RBP: u16 = 6;
pub(crate) const REG_RSP: u16 = 7;
const REG_RA: u16 = 16;

/// Functions where a goroutine's (or thread's) stack ends.
const OUTERMOST: &[&str] = &["runtime.goexit", "runtime.mstart", "runtime.rt0_go"];

/// Frame descriptions sorted by start address, for binary search (gimli's
/// own lookup in .debug_frame is a linear scan).
pub(crate) struct FrameTable {
    section: gimli::DebugFrame<R>,
    bases: gimli::BaseAddresses,
    fdes: Vec<gimli::FrameDescriptionEntry<R>>,
    ctx: RefCell<Box<gimli::UnwindContext<usize>>>,
    /// Where a position-independent executable was loaded: pcs are looked
    /// up this much lower (`Info::rebase`).
    pub bias: u64,
}

/// The CFA rule at one pc.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CfaRule {
    pub register: u16,
    pub offset: i64,
    /// Where the return address is, relative to the CFA.
    pub ra_offset: i64,
}

impl FrameTable {
    pub fn load(data: R) -> FrameTable {
        let mut section = gimli::DebugFrame::from(data);
        section.set_address_size(8);
        let bases = gimli::BaseAddresses::default();
        let mut fdes = Vec::new();
        let mut entries = section.entries(&bases);
        // Stop at the first malformed entry: what came before is still usable.
        while let Ok(Some(entry)) = entries.next() {
            if let gimli::CieOrFde::Fde(partial) = entry {
                if let Ok(fde) = partial.parse(gimli::DebugFrame::cie_from_offset) {
                    fdes.push(fde);
                }
            }
        }
        fdes.sort_by_key(|f| f.initial_address());
        FrameTable {
            section,
            bases,
            fdes,
            ctx: RefCell::new(Box::new(gimli::UnwindContext::new())),
            bias: 0,
        }
    }

    pub fn rule(&self, pc: u64) -> Option<CfaRule> {
        let pc = pc.wrapping_sub(self.bias);
        let i = self
            .fdes
            .partition_point(|f| f.initial_address() <= pc)
            .checked_sub(1)?;
        let fde = &self.fdes[i];
        if pc >= fde.end_address() {
            return None;
        }
        let mut ctx = self.ctx.try_borrow_mut().ok()?;
        let row = fde
            .unwind_info_for_address(&self.section, &self.bases, &mut ctx, pc)
            .ok()?;
        let (register, offset) = match row.cfa() {
            gimli::CfaRule::RegisterAndOffset { register, offset } => (register.0, *offset),
            gimli::CfaRule::Expression(_) => return None,
        };
        let ra_offset = match row.register(gimli::Register(REG_RA)) {
            Some(gimli::RegisterRule::Offset(o)) => o,
            _ => -8,
        };
        Some(CfaRule {
            register,
            offset,
            ra_offset,
        })
    }
}

fn read_u64(mem: &dyn Memory, addr: u64) -> Option<u64> {
    let b = mem.read(addr, 8).ok()?;
    Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))
}

impl Info {
    /// The CFA of the frame executing at `pc` with stack pointer `sp`
    /// (and frame pointer `bp`, for the rare rule based on it).
    pub fn cfa_at(&self, pc: u64, sp: u64, bp: u64) -> Option<(u64, CfaRule)> {
        let rule = self.frames.rule(pc)?;
        let base = match rule.register {
            REG_RSP => sp,
            REG_RBP => bp,
            _ => return None,
        };
        Some((base.wrapping_add(rule.offset as u64), rule))
    }

    pub fn unwind(
        &self,
        mem: &dyn Memory,
        pc: u64,
        sp: u64,
        bp: u64,
        max: usize,
    ) -> Vec<FrameRegs> {
        let mut out: Vec<FrameRegs> = Vec::new();
        let mut cur = FrameRegs {
            pc,
            sp,
            bp,
            cfa: 0,
            regs: None,
            xmm: None,
        };
        while cur.pc != 0 && out.len() < max {
            // A return address may be just past a call that never returns
            // (the function's last instruction): look its frame up inside the call.
            let lookup = if out.is_empty() { cur.pc } else { cur.pc - 1 };
            let in_rrgo_page = crate::tracee::clockpage::in_code(lookup);
            let (cfa, ra_at, saved_bp_at) = match self.cfa_at(lookup, cur.sp, cur.bp) {
                // rrgo's page (the patched vDSO clock and Syscall6) never
                // touches the stack: the return address is at rsp.
                _ if in_rrgo_page => (cur.sp.wrapping_add(8), cur.sp, None),
                Some((cfa, rule)) => {
                    let saved_bp = (rule.register == REG_RSP && rule.offset >= 16)
                        .then(|| cfa.wrapping_sub(16));
                    (cfa, cfa.wrapping_add(rule.ra_offset as u64), saved_bp)
                }
                // No CFI: trust the frame pointer chain.
                None if cur.bp != 0 => {
                    let cfa = cur.bp.wrapping_add(16);
                    (cfa, cur.bp.wrapping_add(8), Some(cur.bp))
                }
                None => {
                    out.push(cur);
                    break;
                }
            };
            cur.cfa = cfa;
            out.push(cur.clone());
            if self
                .function_name(lookup)
                .is_some_and(|f| OUTERMOST.contains(&f))
            {
                break;
            }
            let Some(ret) = read_u64(mem, ra_at) else {
                break;
            };
            let caller_bp = match saved_bp_at {
                Some(at) => match read_u64(mem, at) {
                    Some(v) => v,
                    None => break,
                },
                None => cur.bp,
            };
            // The stack grows down: a caller's frame is always above.
            if cfa <= cur.sp {
                break;
            }
            cur = FrameRegs {
                pc: ret,
                sp: cfa,
                bp: caller_bp,
                cfa: 0,
                regs: None,
                xmm: None,
            };
        }
        out
    }
}
