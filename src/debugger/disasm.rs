//! The disassembly and memory views: the replayed program's bytes as the
//! program has them (the debugger's int3s put back), decoded with iced-x86.

use std::collections::HashMap;

use iced_x86::{
    Decoder, DecoderOptions, Formatter, Instruction as Insn, IntelFormatter, OpKind, Register,
    SymbolResolver, SymbolResult,
};
use trace_format::RemoteAddr;

use super::api::{EResult, EngineError, Instruction, MemoryRead};
use super::engine::Engine;

const PAGE: u64 = 4096;
/// The most one read returns: views ask for kilobytes; a client asking for
/// gigabytes gets a prefix (the protocol lets it ask again from there).
pub const MAX_READ: u64 = 1 << 20;
/// The most instructions one disassembly answers (views ask for ~50).
pub const MAX_INSTRUCTIONS: u64 = 1 << 16;
/// x86's longest instruction.
const MAX_LEN: u64 = 15;
/// Go aligns functions to 32 bytes and fills the gaps with int3: an address
/// this close after a function is its padding, still decodable from its entry.
const PADDING: u64 = 64;

/// One decoded slot: an instruction, or a filler byte (`insn` None).
struct Decoded {
    addr: u64,
    bytes: Vec<u8>,
    insn: Option<Insn>,
}

impl Decoded {
    fn end(&self) -> u64 {
        self.addr.saturating_add(self.bytes.len().max(1) as u64)
    }
}

/// Names of branch targets and RIP-relative data, found before formatting
/// (the formatter owns its resolver, so it cannot borrow the binary).
struct Names(HashMap<u64, String>);

impl SymbolResolver for Names {
    fn symbol(
        &mut self,
        instruction: &Insn,
        _operand: u32,
        instruction_operand: Option<u32>,
        address: u64,
        _address_size: u32,
    ) -> Option<SymbolResult<'_>> {
        // Only branch targets and RIP-relative operands are addresses;
        // an immediate or a displacement that equals one is not.
        match instruction.op_kind(instruction_operand?) {
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {}
            OpKind::Memory if instruction.memory_base() == Register::RIP => {}
            _ => return None,
        }
        let name = self.0.get(&address)?;
        Some(SymbolResult::with_str(address, name.as_str()))
    }
}

impl Engine {
    /// The memory in `[addr, addr+len)` up to its first unreadable page, and
    /// how many bytes after that are unreadable (up to the next readable
    /// page, within the range). Breakpoints show the program's bytes.
    pub(super) fn read_span(&self, addr: u64, len: u64) -> (Vec<u8>, u64) {
        let end = addr.saturating_add(len);
        let mut data = Vec::new();
        let Ok(mem) = self.mem() else {
            return (data, end - addr);
        };
        let page_end = |a: u64| (a | (PAGE - 1)).saturating_add(1).min(end);
        // Page by page: a read that reaches an unmapped page fails as a whole.
        let mut at = addr;
        while at < end {
            let next = page_end(at);
            let mut buf = vec![0u8; (next - at) as usize];
            if mem.read_exact(RemoteAddr(at), &mut buf).is_err() {
                break;
            }
            data.extend_from_slice(&buf);
            at = next;
        }
        let mut gap = at;
        while gap < end && mem.read_exact(RemoteAddr(gap), &mut [0u8]).is_err() {
            gap = page_end(gap);
        }
        (self.tl.session().original_code(addr, data), gap - at)
    }

    pub(super) fn memory(&self, addr: u64, count: u64) -> MemoryRead {
        let (data, unreadable) = self.read_span(addr, count.min(MAX_READ));
        MemoryRead { data, unreadable }
    }

    /// Decodes the instructions starting in `[from, to)`; a byte that starts
    /// no instruction is a filler slot of its own.
    fn decode_range(&self, from: u64, to: u64) -> Vec<Decoded> {
        let (bytes, _) = self.read_span(from, (to - from).saturating_add(MAX_LEN));
        decode(&bytes, from, |d| d.addr < to, usize::MAX)
    }

    /// The start of the instruction holding `addr`: decoded from its
    /// function's entry (x86 cannot be decoded backwards); `addr` itself
    /// outside the program's functions.
    pub(super) fn instruction_start(&self, addr: u64) -> u64 {
        let Some(f) = self.bin.function_before(addr) else {
            return addr;
        };
        if f.size != 0 && addr >= f.entry + f.size + PADDING {
            return addr;
        }
        self.decode_range(f.entry, addr.saturating_add(1))
            .iter()
            .rev()
            .find(|d| d.addr <= addr && addr < d.end())
            .map(|d| d.addr)
            .unwrap_or(addr)
    }

    /// Up to `need` instructions that end at or before `end`, decoded from
    /// the entries of the functions before it (nearest last).
    fn decode_before(&self, mut end: u64, need: usize) -> Vec<Decoded> {
        let mut chunks: Vec<Vec<Decoded>> = Vec::new();
        let mut have = 0;
        while have < need {
            let Some(f) = end.checked_sub(1).and_then(|p| self.bin.function_before(p)) else {
                break;
            };
            if f.entry >= end || (f.size != 0 && end > f.entry + f.size + PADDING) {
                // Not code the program's symbols describe: no safe start.
                break;
            }
            let entry = f.entry;
            let mut part = self.decode_range(entry, end);
            part.retain(|d| d.end() <= end);
            if part.is_empty() {
                break;
            }
            have += part.len();
            chunks.push(part);
            end = entry;
        }
        let mut out: Vec<Decoded> = chunks.into_iter().rev().flatten().collect();
        let extra = out.len().saturating_sub(need);
        out.drain(..extra);
        out
    }

    pub(super) fn disassembly(
        &self,
        addr: u64,
        offset: i64,
        count: usize,
        resolve: bool,
    ) -> EResult<Vec<Instruction>> {
        if count as u64 > MAX_INSTRUCTIONS || offset.unsigned_abs() > MAX_INSTRUCTIONS {
            return Err(EngineError(format!(
                "at most {MAX_INSTRUCTIONS} instructions from the reference, please"
            )));
        }
        let start = self.instruction_start(addr);
        // Slots offset..offset+count around the instruction at `start`
        // (slot 0): `need` before it, `ahead` from it.
        let need = offset.min(0).unsigned_abs() as usize;
        let ahead = (offset + count as i64).max(0) as usize;
        let mut slots = self.decode_before(start, need);
        let first = slots.first().map(|d| d.addr).unwrap_or(start);
        let missing = need - slots.len();
        // Nothing known before: filler, one byte each, counting down.
        let mut filler: Vec<Decoded> = (1..=missing as u64)
            .rev()
            .map(|k| Decoded {
                addr: first.saturating_sub(k),
                bytes: Vec::new(),
                insn: None,
            })
            .collect();
        filler.append(&mut slots);
        let mut slots = filler;
        if ahead > 0 {
            let (bytes, _) = self.read_span(start, ahead as u64 * MAX_LEN);
            let mut fwd = decode(&bytes, start, |_| true, ahead);
            while fwd.len() < ahead {
                let addr = fwd.last().map(|d| d.end()).unwrap_or(start);
                fwd.push(Decoded {
                    addr,
                    bytes: Vec::new(),
                    insn: None,
                });
            }
            slots.extend(fwd);
        }
        // slots[i] is slot i - need.
        let from = (offset + need as i64) as usize;
        let slots = &slots[from.min(slots.len())..(from + count).min(slots.len())];
        Ok(self.format(slots, resolve))
    }

    fn format(&self, slots: &[Decoded], resolve: bool) -> Vec<Instruction> {
        let mut names = HashMap::new();
        if resolve {
            for i in slots.iter().filter_map(|d| d.insn.as_ref()) {
                let mut targets = Vec::new();
                if (0..i.op_count()).any(|k| {
                    matches!(
                        i.op_kind(k),
                        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
                    )
                }) {
                    targets.push(i.near_branch_target());
                }
                if i.is_ip_rel_memory_operand() {
                    targets.push(i.ip_rel_memory_address());
                }
                for t in targets {
                    if let Some(n) = self.name_of(t) {
                        names.insert(t, n);
                    }
                }
            }
        }
        let mut fmt = IntelFormatter::with_options(
            resolve.then(|| Box::new(Names(names)) as Box<dyn SymbolResolver>),
            None,
        );
        let o = fmt.options_mut();
        o.set_hex_prefix("0x");
        o.set_hex_suffix("");
        o.set_uppercase_hex(false);
        o.set_branch_leading_zeros(false);
        o.set_show_branch_size(false);
        o.set_space_after_operand_separator(true);
        slots
            .iter()
            .map(|d| {
                let Some(i) = &d.insn else {
                    return Instruction {
                        addr: d.addr,
                        bytes: d.bytes.clone(),
                        text: "??".into(),
                        invalid: true,
                        ..Default::default()
                    };
                };
                let mut text = String::new();
                fmt.format(i, &mut text);
                let f = self.bin.function_at(d.addr);
                let (file, line) = self
                    .bin
                    .line_at(d.addr)
                    .filter(|_| f.is_some())
                    .map(|(f, l)| (Some(f.to_string()), Some(l)))
                    .unwrap_or_default();
                Instruction {
                    addr: d.addr,
                    bytes: d.bytes.clone(),
                    text,
                    symbol: f
                        .filter(|f| resolve && f.entry == d.addr)
                        .map(|f| f.name.clone()),
                    file,
                    line,
                    invalid: false,
                }
            })
            .collect()
    }

    /// `main.work` at a function's entry, `<main.work+0x12>` inside it, and
    /// a global's name (`main.counter`, `main.table+0x8`) for data.
    fn name_of(&self, addr: u64) -> Option<String> {
        if let Some(f) = self.bin.function_at(addr) {
            return Some(if f.entry == addr {
                f.name.clone()
            } else {
                format!("<{}+{:#x}>", f.name, addr - f.entry)
            });
        }
        let (name, off) = self.bin.data_symbol_at(addr)?;
        Some(if off == 0 {
            name.to_string()
        } else {
            format!("{name}+{off:#x}")
        })
    }

    /// Why `addr` cannot hold an instruction breakpoint, if it cannot.
    pub(super) fn instruction_breakpoint_refusal(&self, addr: u64) -> Option<String> {
        let Some(f) = self.bin.function_at(addr) else {
            return Some(format!(
                "{addr:#x} is not in a function of the program: instruction breakpoints go on its code"
            ));
        };
        let start = self.instruction_start(addr);
        if start != addr {
            return Some(format!(
                "{addr:#x} is inside the instruction at {start:#x} ({}+{:#x})",
                f.name,
                start - f.entry
            ));
        }
        let (bytes, _) = self.read_span(addr, 2);
        if bytes == [0x0f, 0x05] {
            // Stepping over it would run the call for real (see insert_breakpoint).
            return Some(format!(
                "cannot break on the syscall instruction at {addr:#x}"
            ));
        }
        None
    }
}

/// Decodes `bytes` (loaded at `ip`) while `keep` accepts the slot, at most
/// `max` slots; bytes that start no instruction, or one cut off by the end of
/// `bytes`, become one-byte filler slots.
fn decode(bytes: &[u8], ip: u64, keep: impl Fn(&Decoded) -> bool, max: usize) -> Vec<Decoded> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() && out.len() < max {
        let addr = ip.saturating_add(pos as u64);
        let mut dec = Decoder::with_ip(64, &bytes[pos..], addr, DecoderOptions::NONE);
        let i = dec.decode();
        let d = if i.is_invalid() {
            Decoded {
                addr,
                bytes: vec![bytes[pos]],
                insn: None,
            }
        } else {
            Decoded {
                addr,
                bytes: bytes[pos..pos + i.len()].to_vec(),
                insn: Some(i),
            }
        };
        if !keep(&d) {
            break;
        }
        pos += d.bytes.len();
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_fills() {
        // call rel32; nop; a truncated mov imm64.
        let code = [0xe8, 0x00, 0x00, 0x00, 0x00, 0x90, 0x48, 0xb8, 0x01];
        let d = decode(&code, 0x1000, |_| true, usize::MAX);
        assert_eq!(d[0].addr, 0x1000);
        assert_eq!(d[0].bytes.len(), 5);
        assert_eq!(d[0].insn.unwrap().near_branch_target(), 0x1005);
        assert_eq!(d[1].addr, 0x1005);
        assert!(d[2].insn.is_none(), "a cut-off instruction is filler");
        assert_eq!(d[2].end(), 0x1007);
        let limited = decode(&code, 0x1000, |d| d.addr < 0x1005, usize::MAX);
        assert_eq!(limited.len(), 1);
    }

    #[test]
    fn names_branch_targets_only() {
        let code = [0xe8, 0x00, 0x00, 0x00, 0x00];
        let d = decode(&code, 0x1000, |_| true, usize::MAX);
        let mut names = HashMap::new();
        names.insert(0x1005u64, "main.work".to_string());
        let mut fmt = IntelFormatter::with_options(Some(Box::new(Names(names))), None);
        fmt.options_mut().set_show_branch_size(false);
        let mut s = String::new();
        fmt.format(d[0].insn.as_ref().unwrap(), &mut s);
        assert_eq!(s, "call main.work");
    }
}
