//! Decoding the tracee's instructions (iced-x86), for the few places where
//! the engines must know what the instruction at a point does.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

/// A `rep movs`/`rep stos` instruction: one instruction that runs many
/// iterations with rip unchanged, advancing rcx, rsi and rdi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepString {
    /// Bytes per iteration.
    pub elem: u64,
    /// Whether it reads from rsi (movs) as well as writing to rdi.
    pub reads: bool,
}

fn decode(bytes: &[u8], rip: u64) -> Instruction {
    Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE).decode()
}

/// The rep string instruction at the start of `bytes`, if it is one.
pub fn rep_string(bytes: &[u8], rip: u64) -> Option<RepString> {
    let insn = decode(bytes, rip);
    if insn.is_invalid() || !insn.has_rep_prefix() {
        return None;
    }
    let (elem, reads) = match insn.mnemonic() {
        Mnemonic::Movsb => (1, true),
        Mnemonic::Movsw => (2, true),
        Mnemonic::Movsd => (4, true),
        Mnemonic::Movsq => (8, true),
        Mnemonic::Stosb => (1, false),
        Mnemonic::Stosw => (2, false),
        Mnemonic::Stosd => (4, false),
        Mnemonic::Stosq => (8, false),
        _ => return None,
    };
    Some(RepString { elem, reads })
}

/// An RDRAND or RDSEED instruction: its length and destination register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandInsn {
    pub len: u64,
    pub reg: Register,
}

/// The RDRAND/RDSEED instruction at the start of `bytes`, if it is one.
pub fn rand_insn(bytes: &[u8], rip: u64) -> Option<RandInsn> {
    let insn = decode(bytes, rip);
    if insn.is_invalid() || !matches!(insn.mnemonic(), Mnemonic::Rdrand | Mnemonic::Rdseed) {
        return None;
    }
    (insn.op0_kind() == OpKind::Register).then(|| RandInsn {
        len: insn.len() as u64,
        reg: insn.op0_register(),
    })
}

/// File offsets of the RDRAND/RDSEED instructions in an ELF file's
/// executable segments. The bytes `0f c7 f0..ff` (the only encodings with
/// a register operand) are searched first; only where they occur is code
/// decoded, so that a match inside another instruction is never taken for
/// one: the function symbols holding them, from each function's start (a
/// Go binary's `.symtab`, a library's `.dynsym`), or, when a match lies
/// outside every known function, the whole segment from its start.
/// Searching with memchr and decoding only the functions took this from
/// 4 ms to a fraction of one for a 5.6 MB cgo test binary, at the start of
/// its recording.
pub fn rand_sites(elf: &[u8]) -> Vec<u64> {
    use object::elf::{FileHeader64, PF_X, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};
    let Ok(header) = FileHeader64::<object::LittleEndian>::parse(elf) else {
        return Vec::new();
    };
    let Ok(endian) = header.endian() else {
        return Vec::new();
    };
    let Ok(phdrs) = header.program_headers(endian, elf) else {
        return Vec::new();
    };
    let mut functions: Option<Vec<(u64, u64)>> = None;
    let mut out = Vec::new();
    for ph in phdrs {
        if ph.p_type(endian) != PT_LOAD || ph.p_flags(endian).0 & PF_X.0 == 0 {
            continue;
        }
        let Ok(code) = ph.data(endian, elf) else {
            continue;
        };
        let candidates: Vec<usize> = memchr::memmem::find_iter(code, &[0x0f, 0xc7])
            .filter(|&i| code.get(i + 2).is_some_and(|&b| b >= 0xf0))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let base = ph.p_offset(endian);
        let vaddr = ph.p_vaddr(endian);
        let functions = functions.get_or_insert_with(|| function_ranges(elf));
        // Each candidate's function, as a range of `code`.
        let ranges: Option<Vec<(usize, usize)>> = candidates
            .iter()
            .map(|&i| {
                let at = vaddr + i as u64;
                let k = functions.partition_point(|&(start, _)| start <= at);
                functions[..k]
                    .iter()
                    .rev()
                    .take(8)
                    .find(|&&(start, end)| at < end && start >= vaddr)
                    .map(|&(start, end)| {
                        let from = (start - vaddr) as usize;
                        (from, ((end - vaddr) as usize).min(code.len()))
                    })
            })
            .collect();
        let mut ranges = ranges.unwrap_or_else(|| vec![(0, code.len())]);
        ranges.sort_unstable();
        ranges.dedup();
        for (from, to) in ranges {
            out.extend(rand_insns_in(&code[from..to], base + from as u64));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The file's function symbols (`.symtab` and `.dynsym`) with a size, as
/// sorted `[start, end)` address ranges.
fn function_ranges(elf: &[u8]) -> Vec<(u64, u64)> {
    use object::{Object, ObjectSymbol, SymbolKind};
    let Ok(file) = object::File::parse(elf) else {
        return Vec::new();
    };
    let mut v: Vec<(u64, u64)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .map(|s| (s.address(), s.address().saturating_add(s.size())))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Offsets (from `ip`) of the RDRAND/RDSEED instructions with a register
/// operand in `code`, decoded from its first byte.
fn rand_insns_in(code: &[u8], ip: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        if matches!(insn.mnemonic(), Mnemonic::Rdrand | Mnemonic::Rdseed)
            && insn.op0_kind() == OpKind::Register
        {
            out.push(insn.ip());
        }
    }
    out
}

/// The direct `call rel32` instructions in `code` (at address `ip`), in
/// order: (address, target).
pub fn direct_calls(code: &[u8], ip: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        if insn.mnemonic() == Mnemonic::Call && insn.op0_kind() == OpKind::NearBranch64 {
            out.push((insn.ip(), insn.near_branch_target()));
        }
    }
    out
}

/// The same search over whole segments (the way before symbols were used),
/// for tests to compare against.
#[cfg(test)]
pub(crate) fn rand_sites_by_sweep(elf: &[u8]) -> Vec<u64> {
    use object::elf::{FileHeader64, PF_X, PT_LOAD};
    use object::read::elf::{FileHeader, ProgramHeader};
    let header = FileHeader64::<object::LittleEndian>::parse(elf).unwrap();
    let endian = header.endian().unwrap();
    let mut out = Vec::new();
    for ph in header.program_headers(endian, elf).unwrap() {
        if ph.p_type(endian) == PT_LOAD && ph.p_flags(endian).0 & PF_X.0 != 0 {
            out.extend(rand_insns_in(
                ph.data(endian, elf).unwrap(),
                ph.p_offset(endian),
            ));
        }
    }
    out
}

/// A general register's value as an instruction reading it sees it
/// (a 32-bit register: the low half).
pub fn register(regs: &trace_format::Regs, reg: Register) -> Option<u64> {
    let full = match reg.full_register() {
        Register::RAX => regs.rax,
        Register::RBX => regs.rbx,
        Register::RCX => regs.rcx,
        Register::RDX => regs.rdx,
        Register::RSI => regs.rsi,
        Register::RDI => regs.rdi,
        Register::RBP => regs.rbp,
        Register::RSP => regs.rsp,
        Register::R8 => regs.r8,
        Register::R9 => regs.r9,
        Register::R10 => regs.r10,
        Register::R11 => regs.r11,
        Register::R12 => regs.r12,
        Register::R13 => regs.r13,
        Register::R14 => regs.r14,
        Register::R15 => regs.r15,
        Register::RIP => regs.rip,
        _ => return None,
    };
    match reg.size() {
        8 => Some(full),
        4 => Some(full & 0xffff_ffff),
        2 => Some(full & 0xffff),
        _ => None,
    }
}

/// A locked read-modify-write of a 32-bit word in memory: Go's
/// `atomic.CompareAndSwapInt32` (`lock cmpxchg`) and `atomic.AddInt32`
/// (`lock xadd`).
#[derive(Debug, Clone)]
pub struct AtomicRmw {
    pub pc: u64,
    pub len: u64,
    pub swap: bool,
    base: Register,
    index: Register,
    scale: u32,
    disp: u64,
    src: Register,
}

impl AtomicRmw {
    /// The word's address with the thread's registers at the instruction.
    pub fn address(&self, regs: &trace_format::Regs) -> Option<u64> {
        let mut a = self.disp;
        if self.base != Register::None {
            a = a.wrapping_add(if self.base == Register::RIP {
                self.pc + self.len
            } else {
                register(regs, self.base)?
            });
        }
        if self.index != Register::None {
            a = a.wrapping_add(register(regs, self.index)?.wrapping_mul(self.scale as u64));
        }
        Some(a)
    }

    /// The word after the instruction runs on `old`: a failed
    /// compare-and-swap leaves it as it was.
    pub fn result(&self, regs: &trace_format::Regs, old: u32) -> Option<u32> {
        let src = register(regs, self.src)? as u32;
        Some(if !self.swap {
            old.wrapping_add(src)
        } else if regs.rax as u32 == old {
            src
        } else {
            old
        })
    }
}

/// Every `lock cmpxchg`/`lock xadd` on a 32-bit memory word in `code`
/// (loaded at `start`).
pub fn atomic_rmws(code: &[u8], start: u64) -> Vec<AtomicRmw> {
    let mut decoder = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
    let mut out = Vec::new();
    for insn in &mut decoder {
        let swap = match insn.mnemonic() {
            Mnemonic::Cmpxchg => true,
            Mnemonic::Xadd => false,
            _ => continue,
        };
        if !insn.has_lock_prefix()
            || insn.op0_kind() != OpKind::Memory
            || insn.op1_kind() != OpKind::Register
            || insn.op1_register().size() != 4
        {
            continue;
        }
        out.push(AtomicRmw {
            pc: insn.ip(),
            len: insn.len() as u64,
            swap,
            base: insn.memory_base(),
            index: insn.memory_index(),
            scale: insn.memory_index_scale(),
            disp: insn.memory_displacement64(),
            src: insn.op1_register(),
        });
    }
    out
}

/// Every `call REG` in `code` (loaded at `start`): where Go calls a
/// function value, e.g. the runtime's calls of deferred functions.
pub fn register_calls(code: &[u8], start: u64) -> Vec<(u64, Register)> {
    Decoder::with_ip(64, code, start, DecoderOptions::NONE)
        .into_iter()
        .filter(|i| i.mnemonic() == Mnemonic::Call && i.op0_kind() == OpKind::Register)
        .map(|i| (i.ip(), i.op0_register()))
        .collect()
}

/// Every direct `call` of `target` in `code` (loaded at `start`).
pub fn calls_of(code: &[u8], start: u64, target: u64) -> Vec<u64> {
    Decoder::with_ip(64, code, start, DecoderOptions::NONE)
        .into_iter()
        .filter(|i| {
            i.mnemonic() == Mnemonic::Call
                && i.op0_kind() == OpKind::NearBranch64
                && i.near_branch64() == target
        })
        .map(|i| i.ip())
        .collect()
}

/// Writes `value` into a general register as an instruction writing it
/// would: a 32-bit destination clears the upper half, a 16-bit one keeps it.
pub fn set_register(regs: &mut trace_format::Regs, reg: Register, value: u64) -> bool {
    let full = reg.full_register();
    let slot = match full {
        Register::RAX => &mut regs.rax,
        Register::RBX => &mut regs.rbx,
        Register::RCX => &mut regs.rcx,
        Register::RDX => &mut regs.rdx,
        Register::RSI => &mut regs.rsi,
        Register::RDI => &mut regs.rdi,
        Register::RBP => &mut regs.rbp,
        Register::RSP => &mut regs.rsp,
        Register::R8 => &mut regs.r8,
        Register::R9 => &mut regs.r9,
        Register::R10 => &mut regs.r10,
        Register::R11 => &mut regs.r11,
        Register::R12 => &mut regs.r12,
        Register::R13 => &mut regs.r13,
        Register::R14 => &mut regs.r14,
        Register::R15 => &mut regs.r15,
        _ => return false,
    };
    *slot = match reg.size() {
        8 => value,
        4 => value & 0xffff_ffff,
        2 => (*slot & !0xffff) | (value & 0xffff),
        _ => return false,
    };
    true
}

/// Emulates RDRAND/RDSEED at `rip` (the instruction `insn`) giving `value`:
/// the register gets it, CF is set and OF, SF, ZF, AF, PF are cleared.
pub fn apply_rand(regs: &mut trace_format::Regs, rip: u64, insn: RandInsn, value: u64) -> bool {
    if !set_register(regs, insn.reg, value) {
        return false;
    }
    const CF: u64 = 1;
    const OTHERS: u64 = (1 << 2) | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 11);
    regs.eflags = (regs.eflags | CF) & !OTHERS;
    regs.rip = rip + insn.len;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_memmove_string_instructions_are_recognised() {
        assert_eq!(
            rep_string(&[0xf3, 0x48, 0xa5], 0x1000),
            Some(RepString {
                elem: 8,
                reads: true
            })
        );
        assert_eq!(
            rep_string(&[0xf3, 0xa4], 0x1000),
            Some(RepString {
                elem: 1,
                reads: true
            })
        );
        assert_eq!(
            rep_string(&[0xf3, 0x48, 0xab], 0x1000),
            Some(RepString {
                elem: 8,
                reads: false
            })
        );
        assert_eq!(rep_string(&[0x48, 0xa5], 0x1000), None);
        assert_eq!(rep_string(&[0x90], 0x1000), None);
    }

    #[test]
    fn rdrand_and_rdseed_are_decoded_with_their_register() {
        let i = rand_insn(&[0x48, 0x0f, 0xc7, 0xf0], 0).unwrap();
        assert_eq!((i.len, i.reg), (4, Register::RAX));
        let i = rand_insn(&[0x0f, 0xc7, 0xf9], 0).unwrap();
        assert_eq!((i.len, i.reg), (3, Register::ECX));
        let i = rand_insn(&[0x41, 0x0f, 0xc7, 0xf8], 0).unwrap();
        assert_eq!((i.len, i.reg), (4, Register::R8D));
        assert!(rand_insn(&[0x0f, 0x31], 0).is_none());
        let mut regs = trace_format::Regs {
            rcx: u64::MAX,
            ..Default::default()
        };
        assert!(apply_rand(&mut regs, 0x1000, i, 0x1_2345_6789));
        assert_eq!(
            (regs.r8, regs.rip, regs.eflags & 1),
            (0x2345_6789, 0x1004, 1)
        );
    }

    /// Decoding only the functions that hold the candidate bytes finds what
    /// decoding the whole segments finds, on the libraries rdrand is known
    /// in (libstdc++: `.dynsym` only) and on whatever binaries are at hand.
    #[test]
    fn rand_sites_by_function_match_a_whole_segment_sweep() {
        let mut paths: Vec<std::path::PathBuf> = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/x86_64-linux-gnu/libcrypto.so.3",
            "/lib64/ld-linux-x86-64.so.2",
        ]
        .iter()
        .map(std::path::PathBuf::from)
        .collect();
        paths.push(std::env::current_exe().unwrap());
        let mut checked = 0;
        for p in paths.iter().filter(|p| p.exists()) {
            let bytes = std::fs::read(p).unwrap();
            let mut want = rand_sites_by_sweep(&bytes);
            want.sort_unstable();
            assert_eq!(rand_sites(&bytes), want, "{}", p.display());
            checked += 1;
        }
        assert!(checked >= 2, "no libraries to check");
    }

    #[test]
    fn go_mutex_atomics_are_decoded_with_their_word() {
        use iced_x86::code_asm::*;
        let mut a = CodeAssembler::new(64).unwrap();
        a.lock().cmpxchg(dword_ptr(rdx + 8), ecx).unwrap();
        a.lock().xadd(dword_ptr(rbx + rsi * 4 + 0x10), r8d).unwrap();
        a.lock().cmpxchg(qword_ptr(rdx), rcx).unwrap(); // 64-bit: not a mutex word
        a.cmpxchg(dword_ptr(rdx), ecx).unwrap(); // no lock prefix
        let code = a.assemble(0x4000).unwrap();
        let sites = atomic_rmws(&code, 0x4000);
        assert_eq!(sites.len(), 2);
        let regs = trace_format::Regs {
            rax: 0,
            rcx: 1,
            rdx: 0x1000,
            rbx: 0x2000,
            rsi: 3,
            r8: u32::MAX as u64, // -1: Unlock's add
            ..Default::default()
        };
        let (cas, add) = (&sites[0], &sites[1]);
        assert!(cas.swap && !add.swap);
        assert_eq!(cas.address(&regs), Some(0x1008));
        assert_eq!(cas.result(&regs, 0), Some(1), "CAS 0 -> 1 succeeds");
        assert_eq!(cas.result(&regs, 1), Some(1), "CAS on a held word fails");
        assert_eq!(add.address(&regs), Some(0x2000 + 12 + 0x10));
        assert_eq!(add.result(&regs, 1), Some(0));
        assert_eq!(sites[1].pc, 0x4000 + cas.len);
    }
}

/// The instructions a 5-byte `jmp rel32` at `rip` would cover, when they
/// can run elsewhere unchanged in meaning (a preemption point's search
/// stub runs them on the way back): none calls (a return address would
/// point into the stub), traps, makes a syscall or depends on where it
/// sits in a way the encoder cannot relocate. The first may not be a
/// `rep` string instruction: a point there may lie inside its iterations.
#[derive(Debug, Clone)]
pub struct PatchSite {
    pub addr: u64,
    /// Bytes covered: the instructions' total length (≥ 5).
    pub len: u64,
    pub insns: Vec<Instruction>,
    /// Instructions after the covered ones that the stub runs too, up to
    /// and with the next branch: register-only, so they cannot fault. The
    /// stub then ends in the program's own branch (a loop's back edge)
    /// instead of jumping back to it: one taken branch less per visit.
    pub tail: Vec<Instruction>,
}

impl PatchSite {
    /// Where the covered instructions after the first start: a branch to
    /// one of them would land inside the jmp.
    pub fn interior(&self) -> impl Iterator<Item = u64> + '_ {
        self.insns.iter().skip(1).map(|i| i.ip())
    }

    /// The instructions the stub runs for the program: the covered ones,
    /// then the tail.
    pub fn replaced(&self) -> impl Iterator<Item = &Instruction> + '_ {
        self.insns.iter().chain(&self.tail)
    }

    /// Where the program goes on after the stub ran `replaced()` without
    /// a branch being taken.
    pub fn resume_at(&self) -> u64 {
        self.tail
            .last()
            .map(|i| i.next_ip())
            .unwrap_or(self.addr + self.len)
    }

    /// Whether the status flags are dead at the site: its instructions
    /// (and the tail's) set them all before reading any, so code run
    /// before them may change the flags freely.
    pub fn flags_dead(&self) -> bool {
        use iced_x86::{FlowControl, RflagsBits as F};
        let status = F::OF | F::SF | F::ZF | F::AF | F::CF | F::PF;
        let mut written = 0;
        for insn in self.replaced() {
            if insn.rflags_read() & status & !written != 0 {
                return false;
            }
            written |= insn.rflags_modified() & status;
            if written == status {
                return true;
            }
            if insn.flow_control() != FlowControl::Next {
                return false;
            }
        }
        false
    }
}

/// Instructions that enter the kernel, trap, or that rrgo emulates (their
/// values are recorded), or that a single step mishandles: never run
/// outside the program's own flow, never stepped while settling.
fn kernel_or_emulated(m: Mnemonic) -> bool {
    matches!(
        m,
        Mnemonic::Syscall
            | Mnemonic::Sysenter
            | Mnemonic::Rdtsc
            | Mnemonic::Rdtscp
            | Mnemonic::Rdrand
            | Mnemonic::Rdseed
            | Mnemonic::Cpuid
            | Mnemonic::Hlt
            | Mnemonic::Xend
            // A single step over these leaves the kernel's TF in the
            // flags (it takes them as setting TF themselves).
            | Mnemonic::Popf
            | Mnemonic::Popfq
            | Mnemonic::Iretq
    )
}

/// The patch site at the start of `code` (read at `rip`), if there is one.
pub fn patch_site(code: &[u8], rip: u64) -> Option<PatchSite> {
    use iced_x86::FlowControl;
    let mut decoder = Decoder::with_ip(64, code, rip, DecoderOptions::NONE);
    let mut insns = Vec::new();
    let mut len = 0u64;
    while len < 5 {
        if !decoder.can_decode() {
            return None;
        }
        let insn = decoder.decode();
        if insn.is_invalid() {
            return None;
        }
        let movable = match insn.flow_control() {
            FlowControl::Next => !kernel_or_emulated(insn.mnemonic()),
            FlowControl::UnconditionalBranch
            | FlowControl::ConditionalBranch
            | FlowControl::IndirectBranch
            | FlowControl::Return => {
                !matches!(
                    insn.mnemonic(),
                    Mnemonic::Loop
                        | Mnemonic::Loope
                        | Mnemonic::Loopne
                        | Mnemonic::Jrcxz
                        | Mnemonic::Jecxz
                        | Mnemonic::Jmpe
                ) && !insn.is_jmp_far()
                    && !insn.is_jmp_far_indirect()
            }
            _ => false,
        };
        if !movable || (insns.is_empty() && insn.has_rep_prefix() && insn.is_string_instruction()) {
            return None;
        }
        len += insn.len() as u64;
        insns.push(insn);
        // Control leaves the run: what follows is not executed from here.
        if len < 5
            && insn.flow_control() != FlowControl::Next
            && insn.flow_control() != FlowControl::ConditionalBranch
        {
            return None;
        }
    }
    let mut tail = Vec::new();
    let mut factory = iced_x86::InstructionInfoFactory::new();
    let ends_run = insns
        .last()
        .is_some_and(|i| i.flow_control() != FlowControl::Next);
    while !ends_run && tail.len() < MAX_TAIL && decoder.can_decode() {
        let insn = decoder.decode();
        let branch = matches!(
            insn.flow_control(),
            FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
        ) && insn.is_jcc_short_or_near()
            || insn.is_jmp_short_or_near();
        if branch {
            tail.push(insn);
            break;
        }
        if insn.is_invalid() || !register_only(&mut factory, &insn) {
            break;
        }
        tail.push(insn);
    }
    Some(PatchSite {
        addr: rip,
        len,
        insns,
        tail,
    })
}

/// Instructions a stub's tail may hold besides its final branch.
const MAX_TAIL: usize = 6;

/// Whether `insn` only computes on registers: no memory access, no stack,
/// nothing that traps (division) or that rrgo must see run in place.
fn register_only(factory: &mut iced_x86::InstructionInfoFactory, insn: &Instruction) -> bool {
    use iced_x86::{FlowControl, OpAccess};
    if insn.flow_control() != FlowControl::Next
        || kernel_or_emulated(insn.mnemonic())
        || insn.is_string_instruction()
        || insn.stack_pointer_increment() != 0
        || matches!(insn.mnemonic(), Mnemonic::Div | Mnemonic::Idiv)
    {
        return false;
    }
    factory
        .info(insn)
        .used_memory()
        .iter()
        .all(|m| m.access() == OpAccess::NoMemAccess)
}

/// Whether the recorder may run the instruction at the start of `code`
/// on its own (settling a preemption point): `Some(None)` for a single
/// step, `Some(Some(len))` for a `rep` string instruction of that length,
/// run to its end; `None` for what must not run outside the program's
/// own flow (syscalls, traps, instructions rrgo emulates).
pub fn steppable(code: &[u8], rip: u64) -> Option<Option<u64>> {
    use iced_x86::FlowControl;
    let insn = decode(code, rip);
    if insn.is_invalid() {
        return None;
    }
    let ok = match insn.flow_control() {
        FlowControl::Next
        | FlowControl::UnconditionalBranch
        | FlowControl::ConditionalBranch
        | FlowControl::IndirectBranch
        | FlowControl::Call
        | FlowControl::IndirectCall
        | FlowControl::Return => !kernel_or_emulated(insn.mnemonic()),
        _ => false,
    };
    // A single-stepped `pushf` saves the trap flag the step set, and the
    // `popf` that restores those flags (Go's asyncPreempt) traps for real:
    // a fipsinit child died of SIGTRAP while recorded.
    let pushes_tf = matches!(
        insn.mnemonic(),
        Mnemonic::Pushf | Mnemonic::Pushfd | Mnemonic::Pushfq
    );
    if !ok || pushes_tf {
        return None;
    }
    let rep = insn.has_rep_prefix() && insn.is_string_instruction();
    Some(rep.then_some(insn.len() as u64))
}

/// The direct branch targets of the code in `body` (a function, decoded
/// from its start), and whether it has an indirect jump (whose targets
/// are unknown). Calls are left out: they go to function entries.
pub fn branch_targets(body: &[u8], start: u64) -> (Vec<u64>, bool) {
    use iced_x86::FlowControl;
    let mut decoder = Decoder::with_ip(64, body, start, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    let mut targets = Vec::new();
    let mut indirect = false;
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        match insn.flow_control() {
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch => {
                if matches!(
                    insn.op0_kind(),
                    OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
                ) {
                    targets.push(insn.near_branch_target());
                }
            }
            FlowControl::IndirectBranch => indirect = true,
            _ => {}
        }
    }
    (targets, indirect)
}

/// The instruction that made a data access a watchpoint stopped the
/// thread after: the one ending at `rip` in the linear decoding of its
/// function (`code` from the function's `entry` up to `rip`), if it
/// accesses memory. None when `rip` follows no such instruction: the
/// access was by a call or a jump (`rip` is then their target), or by an
/// unfinished `rep` string instruction (still at `rip`).
pub fn accessor_before(code: &[u8], entry: u64, rip: u64) -> Option<u64> {
    use iced_x86::OpAccess;
    let mut decoder = Decoder::with_ip(64, code, entry, DecoderOptions::NONE);
    let mut insn = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        if insn.is_invalid() || insn.next_ip() > rip {
            return None;
        }
        if insn.next_ip() == rip {
            let mut factory = iced_x86::InstructionInfoFactory::new();
            let accesses = factory
                .info(&insn)
                .used_memory()
                .iter()
                .any(|m| m.access() != OpAccess::NoMemAccess);
            return accesses.then_some(insn.ip());
        }
    }
    None
}
