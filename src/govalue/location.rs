//! Evaluating DWARF location descriptions (gimli's `Evaluation`) in a
//! frame. Go's -N -l builds put variables at DW_OP_fbreg (frame base =
//! CFA); optimized builds use location lists with registers and
//! DW_OP_piece. A piece that is missing, or held in a register whose value
//! this frame does not know, makes the whole value unavailable: showing
//! "(optimized away)" beats showing a wrong value.

use gimli::{Location, Value};

use super::info::{Info, R};
use super::unwind::{REG_RBP, REG_RSP};
use super::{FrameRegs, Memory};

/// Where a value is.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    Mem(u64),
    /// Assembled from registers and pieces: no address.
    Bytes(Vec<u8>),
    /// No location at this pc, or a part is unknown.
    Missing,
}

/// A register's value in this frame, if known. Go has no callee-saved
/// registers, so outer frames know only their sp and bp.
pub(crate) fn register(frame: &FrameRegs, reg: u16) -> Option<u64> {
    match reg {
        REG_RSP => return Some(frame.sp),
        REG_RBP => return Some(frame.bp),
        _ => {}
    }
    if (17..=32).contains(&reg) {
        return frame.xmm.map(|x| x[(reg - 17) as usize]);
    }
    let r = frame.regs.as_ref()?;
    Some(match reg {
        0 => r.rax,
        1 => r.rdx,
        2 => r.rcx,
        3 => r.rbx,
        4 => r.rsi,
        5 => r.rdi,
        8 => r.r8,
        9 => r.r9,
        10 => r.r10,
        11 => r.r11,
        12 => r.r12,
        13 => r.r13,
        14 => r.r14,
        15 => r.r15,
        16 => r.rip,
        _ => return None,
    })
}

fn read_u64(mem: &dyn Memory, addr: u64, size: u8) -> Option<u64> {
    let n = (size as usize).clamp(1, 8);
    let b = mem.read(addr, n).ok()?;
    let mut buf = [0u8; 8];
    buf[..n].copy_from_slice(b.get(..n)?);
    Some(u64::from_le_bytes(buf))
}

/// Evaluates `expr` for a value of `size` bytes.
pub(crate) fn evaluate(
    info: &Info,
    unit: usize,
    expr: &gimli::Expression<R>,
    frame: &FrameRegs,
    mem: &dyn Memory,
    size: u64,
) -> Place {
    let Some(unit) = info.units.get(unit) else {
        return Place::Missing;
    };
    let mut eval = expr.clone().evaluation(unit.encoding());
    let mut result = eval.evaluate();
    // Each step consumes input; the bound only guards against a bug.
    for _ in 0..1000 {
        use gimli::EvaluationResult::*;
        let r = match result {
            Ok(Complete) => break,
            Ok(RequiresMemory { address, size, .. }) => match read_u64(mem, address, size) {
                Some(v) => eval.resume_with_memory(Value::Generic(v)),
                None => return Place::Missing,
            },
            Ok(RequiresRegister { register: reg, .. }) => match register(frame, reg.0) {
                Some(v) => eval.resume_with_register(Value::Generic(v)),
                None => return Place::Missing,
            },
            Ok(RequiresFrameBase) if frame.cfa != 0 => eval.resume_with_frame_base(frame.cfa),
            Ok(RequiresCallFrameCfa) if frame.cfa != 0 => {
                eval.resume_with_call_frame_cfa(frame.cfa)
            }
            // DW_OP_addr: a package variable, where the executable was loaded.
            Ok(RequiresRelocatedAddress(a)) => {
                eval.resume_with_relocated_address(a.wrapping_add(info.bias))
            }
            Ok(RequiresIndexedAddress { index, .. }) => match info.dwarf.address(unit, index) {
                Ok(a) => eval.resume_with_indexed_address(a.wrapping_add(info.bias)),
                Err(_) => return Place::Missing,
            },
            _ => return Place::Missing,
        };
        result = r;
    }
    if !matches!(result, Ok(gimli::EvaluationResult::Complete)) {
        return Place::Missing;
    }
    let pieces = eval.result();
    if let [p] = pieces.as_slice() {
        if p.size_in_bits.is_none() {
            if let Location::Address { address } = p.location {
                return Place::Mem(address);
            }
        }
    }
    let mut bytes = Vec::new();
    for p in &pieces {
        let n = match p.size_in_bits {
            Some(bits) => bits / 8,
            None if pieces.len() == 1 => size,
            None => return Place::Missing,
        };
        if n > 1 << 20 {
            return Place::Missing;
        }
        match &p.location {
            Location::Register { register: reg } => match register(frame, reg.0) {
                Some(v) if n <= 8 => bytes.extend_from_slice(&v.to_le_bytes()[..n as usize]),
                _ => return Place::Missing,
            },
            Location::Address { address } => match mem.read(*address, n as usize) {
                Ok(b) if b.len() == n as usize => bytes.extend_from_slice(&b),
                _ => return Place::Missing,
            },
            Location::Value { value } if n <= 8 => {
                let v = value.to_u64(!0).unwrap_or(0);
                bytes.extend_from_slice(&v.to_le_bytes()[..n as usize]);
            }
            Location::Bytes { value } => {
                use gimli::Reader;
                let Ok(b) = value.to_slice() else {
                    return Place::Missing;
                };
                let mut b = b.into_owned();
                b.resize(n as usize, 0);
                bytes.extend_from_slice(&b);
            }
            _ => return Place::Missing,
        }
    }
    Place::Bytes(bytes)
}
