//! Probes that log instead of stopping (replay only; the goroutine index).
//!
//! Why: the goroutine index learns every goroutine state change, wake-up
//! and lock operation at the runtime's own functions. As int3 breakpoints
//! each visit cost two ptrace stops and a dozen reads (~80 µs): a web
//! server serving 2,000 requests hit them 226,000 times and indexed in
//! 19 s against a 0.17 s replay. A probe instead replaces the site's
//! instructions with a `jmp` to a trampoline that copies, inside the
//! program, what the index reads there — the registers, the words and
//! structs the site's handler reads (`Op`), the frame-pointer chains a
//! stack walk follows — into a log, runs the replaced instructions and
//! jumps back: nanoseconds. rrgo drains the log at the replay's stops and
//! hands each record to the same handler as before, reading through an
//! `Overlay` of the captured bytes.
//!
//! The trampolines touch neither the program's stack nor its red zone (no
//! push): scratch values live in their own data page, the flags are kept
//! with `lahf`/`seto` (no `popf`, which a single step would leave TF set
//! by), every general register is restored from the record. Replay runs
//! one thread at a time, so one data page serves all of them. Reads they
//! make are bounded: structs at pointers the runtime itself follows, and
//! stack words only inside the stack's bounds (`g.stack`, above rsp). A
//! full log drops records (counted) rather than stop the program.
//!
//! The trampolines' page is mapped below the search stub's (`searchstub`),
//! within a rel32 `jmp` of the program's code; the log, far from anything
//! a Go program maps, at `LOG_ADDR`.

use std::io;

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Code, Instruction, MemoryOperand, Register};
use trace_format::{Regs, RemoteAddr};

use super::insn::PatchSite;
use super::maps::read_maps;
use super::mem::{MemRead, ProcMem};
use super::{inject, Tid};

/// Where the log is mapped: far above a program's image and heap (Go's
/// arenas start at 0xc000000000) and below the kernel's top-down mmap area.
pub const LOG_ADDR: u64 = 0x3f00_0000_0000;
/// The log's size (reserved, touched as written).
pub const LOG_LEN: u64 = 64 << 20;
const PAGE: u64 = 0x1000;
/// Gap left between the trampolines and the search stub (or the code).
const GAP: u64 = 0x10000;
const MIN_ADDR: u64 = 0x10000;
/// Below this no page is ever mapped (Linux's default `mmap_min_addr`):
/// a pointer under it is nil plus an offset, which the capture does not
/// follow — the program's own access faults there after it, in the
/// relocated instruction (a nil `*sync.Mutex` field's Lock).
pub const NULL_GUARD: u64 = 0x10000;

/// The end of user space on x86-64 (4-level paging): no stack is above.
const USER_END: u64 = 0x7fff_ffff_f000;

/// A record's fixed part: site index, length, 16 registers, fs_base.
const HEADER: u64 = 8 * 19;
/// The registers' order in a record.
pub const REG_ORDER: [Register; 16] = [
    Register::RAX,
    Register::RBX,
    Register::RCX,
    Register::RDX,
    Register::RSI,
    Register::RDI,
    Register::RBP,
    Register::RSP,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];
/// Scratch slots a probe's ops compute values into.
pub const TMPS: usize = 8;

/// A value a probe's op starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    /// A register as the site saw it.
    Reg(Register),
    /// The thread's fs base (its TLS).
    FsBase,
    /// A scratch slot, set by an earlier `Op::Load`.
    Tmp(u8),
    /// The address the site's first instruction's memory operand names.
    OpAddr,
}

/// What a probe captures, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// tmp = the word at `from + off` (0 when `from` is 0).
    Load { tmp: u8, from: Val, off: i32 },
    /// The `len` bytes at `from + off` (nothing when `from` is 0).
    Copy { from: Val, off: i32, len: u32 },
    /// The frame-pointer chain from `bp`: each (saved bp, return address)
    /// pair, at most `max`, while inside the stack of the g at `g`
    /// (`[g+lo], [g+hi]`) and above `sp`, each frame above the last.
    Chain {
        bp: Val,
        sp: Val,
        g: Val,
        lo: i32,
        hi: i32,
        max: u32,
    },
}

/// A probe to place: its site and what it captures.
#[derive(Debug, Clone)]
pub struct Probe {
    pub site: PatchSite,
    pub ops: Vec<Op>,
}

impl Probe {
    /// Whether the trampoline can do what the ops ask at this site.
    pub fn placeable(&self) -> bool {
        !self.ops.iter().any(|op| uses(op, Val::OpAddr))
            || self.site.insns.first().and_then(operand_lea).is_some()
    }

    /// The most bytes one record of it takes.
    fn max_record(&self) -> u64 {
        HEADER
            + self
                .ops
                .iter()
                .map(|op| match op {
                    Op::Load { .. } => 0,
                    Op::Copy { len, .. } => 16 + (*len as u64).div_ceil(8) * 8,
                    Op::Chain { max, .. } => 32 * *max as u64,
                })
                .sum::<u64>()
    }
}

/// The assembled trampolines.
pub struct Assembled {
    /// The mapping's bytes from its start: the data page, then code.
    pub bytes: Vec<u8>,
    /// Each probe's `jmp` over its site (padded), by probe index.
    pub patches: Vec<Vec<u8>>,
    /// Where the data page's first words are: the log's write pointer,
    /// its end, the dropped-record count (in that order).
    pub write_ptr: u64,
    /// Each relocated instruction's address in a trampoline, with the
    /// address it has in the program: a fault there is the program's
    /// fault at the original instruction (`relocated_origin`).
    pub relocated: Vec<(u64, u64)>,
    /// Where each capture routine waits for the log to be drained when it
    /// is full: a `nop` for rrgo's breakpoint, after which the capture
    /// tries again. Armed by writing 1 to the word at `trap_on` once the
    /// breakpoints are in (else a full log drops records, counted).
    pub full_traps: Vec<u64>,
    pub trap_on: u64,
}

/// The program's address of the instruction at `rip` if `rip` is one of
/// the relocated instructions in `relocated` (sorted by address).
pub fn relocated_origin(relocated: &[(u64, u64)], rip: u64) -> Option<u64> {
    relocated
        .binary_search_by_key(&rip, |&(at, _)| at)
        .ok()
        .map(|i| relocated[i].1)
}

/// Where the trampolines go in `pid`, for `len` bytes: below the search
/// stub's page (or the program's image).
pub fn place(pid: i32, len: u64) -> Option<u64> {
    let maps = read_maps(pid).ok()?;
    let lowest = super::maps::lowest_image_start(&maps)?;
    let below = super::searchstub::locate(pid).unwrap_or(lowest);
    let addr = below.checked_sub(GAP + len.div_ceil(PAGE) * PAGE)? & !(PAGE - 1);
    let taken = maps.iter().any(|r| r.start < addr + len && addr < r.end);
    (addr >= MIN_ADDR && !taken).then_some(addr)
}

/// Whether this machine lets user code read the fs base (`rdfsbase`).
pub fn supported() -> bool {
    const HWCAP2_FSGSBASE: u64 = 1 << 1;
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_HWCAP2) & HWCAP2_FSGSBASE != 0 }
}

/// Data page fields (labels).
struct Data {
    write_ptr: CodeLabel,
    end: CodeLabel,
    dropped: CodeLabel,
    save_rax: CodeLabel,
    save_rdi: CodeLabel,
    save_flags: CodeLabel,
    op_addr: CodeLabel,
    /// The visiting probe's index, and where its trampoline goes on (its
    /// relocated instructions) once the shared capture routine is done.
    index: CodeLabel,
    back: CodeLabel,
    /// Non-zero once rrgo has a breakpoint on every `full_traps` address:
    /// a full log then stops the thread to be drained instead of
    /// dropping the record.
    trap_on: CodeLabel,
    tmps: Vec<CodeLabel>,
}

/// Assembles the trampolines of `probes` for a mapping at `at`; `None`
/// for a probe out of reach or whose site cannot be relocated (it keeps
/// its breakpoint). The log starts empty.
pub fn assemble(at: u64, probes: &[Probe]) -> Result<Assembled, iced_x86::IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut d = Data {
        write_ptr: a.create_label(),
        end: a.create_label(),
        dropped: a.create_label(),
        save_rax: a.create_label(),
        save_rdi: a.create_label(),
        save_flags: a.create_label(),
        op_addr: a.create_label(),
        index: a.create_label(),
        back: a.create_label(),
        trap_on: a.create_label(),
        tmps: (0..TMPS).map(|_| a.create_label()).collect(),
    };
    let mut data_len = 0u64;
    for (label, value) in [
        (&mut d.write_ptr, LOG_ADDR),
        (&mut d.end, LOG_ADDR + LOG_LEN),
        (&mut d.dropped, 0),
        (&mut d.save_rax, 0),
        (&mut d.save_rdi, 0),
        (&mut d.save_flags, 0),
        (&mut d.op_addr, 0),
        (&mut d.index, 0),
        (&mut d.back, 0),
        (&mut d.trap_on, 0),
    ] {
        a.set_label(label)?;
        a.dq(&[value])?;
        data_len += 8;
    }
    for t in d.tmps.iter_mut() {
        a.set_label(t)?;
        a.dq(&[0])?;
        data_len += 8;
    }
    a.db(&vec![0u8; (PAGE - data_len) as usize])?;
    // One capture routine per distinct list of ops (a few kinds of
    // sites), shared by their trampolines: assembling a whole capture per
    // site took 36 ms for a web server's 400 sites.
    let mut routines: Vec<(&[Op], CodeLabel, u64)> = Vec::new();
    for p in probes {
        if !routines.iter().any(|(ops, ..)| *ops == p.ops.as_slice()) {
            routines.push((&p.ops, a.create_label(), p.max_record()));
        }
    }
    let mut traps = Vec::new();
    for (ops, label, max) in routines.iter_mut() {
        a.set_label(label)?;
        traps.push(capture(&mut a, &d, ops, *max)?);
    }
    let mut entries = Vec::new();
    let mut moved: Vec<(CodeLabel, u64)> = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        let mut entry = a.create_label();
        a.set_label(&mut entry)?;
        let routine = routines
            .iter()
            .find(|(ops, ..)| *ops == p.ops.as_slice())
            .map(|(_, l, _)| *l)
            .expect("a routine for every list of ops");
        moved.extend(trampoline(&mut a, &d, i as u32, p, routine)?);
        entries.push(entry);
    }
    let out = a.assemble_options(at, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let mut patches = Vec::new();
    for (p, entry) in probes.iter().zip(&entries) {
        let to = out.label_ip(entry)?;
        let mut patch = vec![0xcc; p.site.len as usize];
        patch[0] = 0xe9;
        let rel = to.wrapping_sub(p.site.addr + 5) as u32;
        patch[1..5].copy_from_slice(&rel.to_le_bytes());
        patches.push(patch);
    }
    let mut relocated = moved
        .iter()
        .map(|(label, from)| Ok((out.label_ip(label)?, *from)))
        .collect::<Result<Vec<_>, iced_x86::IcedError>>()?;
    relocated.sort_unstable();
    let full_traps = traps
        .iter()
        .map(|l| out.label_ip(l))
        .collect::<Result<Vec<_>, _>>()?;
    let trap_on = out.label_ip(&d.trap_on)?;
    Ok(Assembled {
        bytes: out.inner.code_buffer,
        patches,
        write_ptr: at,
        relocated,
        full_traps,
        trap_on,
    })
}

/// Whether a rel32 `jmp` between the two addresses reaches.
pub fn reaches(from: u64, to: u64) -> bool {
    i32::try_from(to.wrapping_sub(from) as i64).is_ok()
}

fn reg64(r: Register) -> Option<AsmRegister64> {
    Some(match r {
        Register::RAX => rax,
        Register::RBX => rbx,
        Register::RCX => rcx,
        Register::RDX => rdx,
        Register::RSI => rsi,
        Register::RDI => rdi,
        Register::RBP => rbp,
        Register::RSP => rsp,
        Register::R8 => r8,
        Register::R9 => r9,
        Register::R10 => r10,
        Register::R11 => r11,
        Register::R12 => r12,
        Register::R13 => r13,
        Register::R14 => r14,
        Register::R15 => r15,
        _ => return None,
    })
}

/// The `lea rdi, <operand>` of the site's first instruction's memory
/// operand (a RIP-relative one re-encoded for where it runs).
fn operand_lea(insn: &Instruction) -> Option<Instruction> {
    if insn.segment_prefix() != Register::None {
        return None;
    }
    let (base, index) = (insn.memory_base(), insn.memory_index());
    if base == Register::None && index == Register::None && insn.memory_displacement64() == 0 {
        return None;
    }
    let mem = MemoryOperand::new(
        base,
        index,
        insn.memory_index_scale(),
        insn.memory_displacement64() as i64,
        8,
        false,
        Register::None,
    );
    Instruction::with2(Code::Lea_r64_m, Register::RDI, mem).ok()
}

/// One probe's trampoline: its operand's address (a lock atomic), its
/// index and way back in the data page, then the shared capture routine,
/// which jumps back to the relocated instructions. Only rax and rdi are
/// used here, saved first; no flags are touched.
fn trampoline(
    a: &mut CodeAssembler,
    d: &Data,
    index: u32,
    p: &Probe,
    routine: CodeLabel,
) -> Result<Vec<(CodeLabel, u64)>, iced_x86::IcedError> {
    let original = a.create_label();
    a.mov(qword_ptr(d.save_rdi), rdi)?;
    if p.ops.iter().any(|op| uses(op, Val::OpAddr)) {
        // (`Probe::placeable` checked there is an operand.)
        if let Some(lea) = p.site.insns.first().and_then(operand_lea) {
            a.add_instruction(lea)?;
        }
        a.mov(qword_ptr(d.op_addr), rdi)?;
    }
    a.mov(qword_ptr(d.save_rax), rax)?;
    a.mov(eax, index)?;
    a.mov(qword_ptr(d.index), rax)?;
    a.lea(rax, ptr(original))?;
    a.mov(qword_ptr(d.back), rax)?;
    a.jmp(routine)?;
    // Labels go on empty anchors: a relocated branch the encoder
    // lengthens cannot carry one. The first is where the capture returns.
    let mut moved = Vec::new();
    for (n, insn) in p.site.replaced().enumerate() {
        let mut at = if n == 0 { original } else { a.create_label() };
        a.set_label(&mut at)?;
        a.zero_bytes()?;
        a.add_instruction(*insn)?;
        moved.push((at, insn.ip()));
    }
    a.jmp(p.site.resume_at())?;
    Ok(moved)
}

/// A capture routine: entered with rax and rdi saved in the data page
/// and the probe's index and way back there; writes the record (or, with
/// the log full, stops at its trap for rrgo to drain the log and tries
/// again; unarmed, counts it dropped), restores every register and the
/// flags, and jumps back. Registers: rbx the record, rdi the write
/// cursor, rax/rcx/rdx/rsi/r8–r10 scratch; all restored from the record.
/// Returns the trap's label.
fn capture(
    a: &mut CodeAssembler,
    d: &Data,
    ops: &[Op],
    max_record: u64,
) -> Result<CodeLabel, iced_x86::IcedError> {
    let mut dropped = a.create_label();
    let mut full = a.create_label();
    let mut trap = a.create_label();
    let mut retry = a.create_label();
    a.lahf()?;
    a.seto(al)?;
    a.mov(qword_ptr(d.save_flags), rax)?;
    a.set_label(&mut retry)?;
    a.mov(rdi, qword_ptr(d.write_ptr))?;
    a.lea(rax, ptr(rdi + max_record as i32))?;
    a.cmp(rax, qword_ptr(d.end))?;
    a.ja(full)?;
    a.mov(rax, qword_ptr(d.index))?;
    a.mov(qword_ptr(rdi), rax)?;
    for (i, r) in REG_ORDER.iter().enumerate() {
        let off = 16 + 8 * i as i32;
        match *r {
            Register::RDI => {
                a.mov(rax, qword_ptr(d.save_rdi))?;
                a.mov(qword_ptr(rdi + off), rax)?;
            }
            Register::RAX => {
                a.mov(rax, qword_ptr(d.save_rax))?;
                a.mov(qword_ptr(rdi + off), rax)?;
            }
            r => a.mov(qword_ptr(rdi + off), reg64(r).expect("a gpr"))?,
        }
    }
    a.rdfsbase(rax)?;
    a.mov(qword_ptr(rdi + 16 + 8 * 16), rax)?;
    a.mov(rbx, rdi)?;
    a.add(rdi, HEADER as i32)?;
    for op in ops {
        emit(a, d, op)?;
    }
    a.mov(rax, rdi)?;
    a.sub(rax, rbx)?;
    a.mov(qword_ptr(rbx + 8), rax)?;
    a.mov(qword_ptr(d.write_ptr), rdi)?;
    for (i, r) in REG_ORDER.iter().enumerate() {
        if matches!(*r, Register::RAX | Register::RBX | Register::RSP) {
            continue;
        }
        a.mov(
            reg64(*r).expect("a gpr"),
            qword_ptr(rbx + (16 + 8 * i as i32)),
        )?;
    }
    a.mov(rax, qword_ptr(d.save_flags))?;
    a.add(al, 0x7f)?;
    a.sahf()?;
    a.mov(rax, qword_ptr(rbx + 16))?;
    a.mov(rbx, qword_ptr(rbx + 24))?;
    a.jmp(qword_ptr(d.back))?;
    // Full: stop where rrgo drains the log (only one thread runs in a
    // replay, so the data page's saved words wait with it), then retry.
    a.set_label(&mut full)?;
    a.cmp(qword_ptr(d.trap_on), 0)?;
    a.je(dropped)?;
    a.set_label(&mut trap)?;
    a.nop()?;
    a.jmp(retry)?;
    a.set_label(&mut dropped)?;
    a.inc(qword_ptr(d.dropped))?;
    a.mov(rdi, qword_ptr(d.save_rdi))?;
    a.mov(rax, qword_ptr(d.save_flags))?;
    a.add(al, 0x7f)?;
    a.sahf()?;
    a.mov(rax, qword_ptr(d.save_rax))?;
    a.jmp(qword_ptr(d.back))?;
    Ok(trap)
}

fn uses(op: &Op, v: Val) -> bool {
    match *op {
        Op::Load { from, .. } | Op::Copy { from, .. } => from == v,
        Op::Chain {
            bp: b, sp: s, g, ..
        } => b == v || s == v || g == v,
    }
}

/// rax = the value `v`.
fn value(a: &mut CodeAssembler, d: &Data, v: Val) -> Result<(), iced_x86::IcedError> {
    match v {
        Val::Reg(r) => {
            let i = REG_ORDER.iter().position(|x| *x == r).unwrap_or(0) as i32;
            a.mov(rax, qword_ptr(rbx + (16 + 8 * i)))
        }
        Val::FsBase => a.mov(rax, qword_ptr(rbx + (16 + 8 * 16))),
        Val::Tmp(t) => a.mov(rax, qword_ptr(d.tmps[t as usize % TMPS])),
        Val::OpAddr => a.mov(rax, qword_ptr(d.op_addr)),
    }
}

fn emit(a: &mut CodeAssembler, d: &Data, op: &Op) -> Result<(), iced_x86::IcedError> {
    match *op {
        Op::Load { tmp, from, off } => {
            let mut zero = a.create_label();
            value(a, d, from)?;
            a.cmp(rax, NULL_GUARD as i32)?;
            a.jb(zero)?;
            a.mov(rax, qword_ptr(rax + off))?;
            a.set_label(&mut zero)?;
            a.mov(qword_ptr(d.tmps[tmp as usize % TMPS]), rax)?;
        }
        Op::Copy { from, off, len } => {
            let mut skip = a.create_label();
            value(a, d, from)?;
            a.cmp(rax, NULL_GUARD as i32)?;
            a.jb(skip)?;
            a.lea(rsi, ptr(rax + off))?;
            a.mov(qword_ptr(rdi), rsi)?;
            a.mov(qword_ptr(rdi + 8), len as i32)?;
            a.add(rdi, 16)?;
            a.mov(ecx, len)?;
            a.rep().movsb()?;
            a.add(rdi, 7)?;
            a.and(rdi, -8)?;
            a.set_label(&mut skip)?;
        }
        Op::Chain {
            bp: b,
            sp: s,
            g,
            lo,
            hi,
            max,
        } => {
            let mut done = a.create_label();
            let mut above = a.create_label();
            let mut next = a.create_label();
            value(a, d, g)?;
            a.test(rax, rax)?;
            a.jz(done)?;
            a.mov(r8, qword_ptr(rax + lo))?;
            a.mov(r9, qword_ptr(rax + hi))?;
            value(a, d, s)?;
            a.cmp(r8, rax)?;
            a.jae(above)?;
            a.mov(r8, rax)?;
            a.set_label(&mut above)?;
            // A bound past user space is no g's stack (and a frame near
            // the top of the address space would wrap the +16 below).
            a.mov(rax, USER_END)?;
            a.cmp(r9, rax)?;
            a.ja(done)?;
            value(a, d, b)?;
            a.mov(rdx, rax)?;
            a.mov(r10d, max)?;
            a.set_label(&mut next)?;
            a.cmp(rdx, r8)?;
            a.jb(done)?;
            a.cmp(rdx, r9)?;
            a.jae(done)?;
            a.lea(rax, ptr(rdx + 16))?;
            a.cmp(rax, r9)?;
            a.ja(done)?;
            a.mov(qword_ptr(rdi), rdx)?;
            a.mov(qword_ptr(rdi + 8), 16)?;
            a.mov(rax, qword_ptr(rdx))?;
            a.mov(qword_ptr(rdi + 16), rax)?;
            a.mov(rcx, qword_ptr(rdx + 8))?;
            a.mov(qword_ptr(rdi + 24), rcx)?;
            a.add(rdi, 32)?;
            a.cmp(rax, rdx)?;
            a.jbe(done)?;
            a.mov(rdx, rax)?;
            a.dec(r10d)?;
            a.jnz(next)?;
            a.set_label(&mut done)?;
        }
    }
    Ok(())
}

/// Maps `len` bytes at `at` (data page read-write, the rest read-execute)
/// and the log, in a process stopped at a syscall exit (`tid`).
pub fn map(tid: Tid, mem: &ProcMem, at: u64, len: u64) -> io::Result<()> {
    let insn = inject::find_syscall_insn(mem)?
        .ok_or_else(|| io::Error::other("no syscall instruction to map probes with"))?;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let len = len.div_ceil(PAGE) * PAGE;
    inject::map_fixed(tid, insn, (at, len), rw, 0)?;
    inject::map_fixed(tid, insn, (LOG_ADDR, LOG_LEN), rw, libc::MAP_NORESERVE)?;
    let rx = libc::PROT_READ | libc::PROT_EXEC;
    inject::protect(tid, insn, (at + PAGE, len - PAGE), rx)?;
    Ok(())
}

/// One logged visit, borrowing the drained log.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The probe's index.
    pub probe: u32,
    /// The registers at the site (rip: unset; the caller knows the site).
    pub regs: Regs,
    /// What the probe copied: (address, bytes), in order.
    pub captured: &'a [(u64, &'a [u8])],
}

/// A drained log's records: their captures in one vector (hundreds of
/// thousands of records at an index pass: no allocation each).
pub struct Parsed<'a> {
    heads: Vec<(u32, Regs, std::ops::Range<usize>)>,
    captures: Vec<(u64, &'a [u8])>,
}

impl Parsed<'_> {
    /// The records, in order.
    pub fn records(&self) -> impl Iterator<Item = Record<'_>> {
        self.heads.iter().map(|(probe, regs, range)| Record {
            probe: *probe,
            regs: *regs,
            captured: &self.captures[range.clone()],
        })
    }
}

/// The records in a drained log, in order.
pub fn parse(log: &[u8]) -> Parsed<'_> {
    let word = |at: usize| -> Option<u64> {
        log.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let mut heads = Vec::new();
    let mut captured = Vec::with_capacity(log.len() / 64);
    let mut at = 0usize;
    while let (Some(probe), Some(len)) = (word(at), word(at + 8)) {
        let len = len as usize;
        if len < HEADER as usize || at + len > log.len() {
            break;
        }
        let r = |i: usize| word(at + 16 + 8 * i).unwrap_or(0);
        let regs = Regs {
            rax: r(0),
            rbx: r(1),
            rcx: r(2),
            rdx: r(3),
            rsi: r(4),
            rdi: r(5),
            rbp: r(6),
            rsp: r(7),
            r8: r(8),
            r9: r(9),
            r10: r(10),
            r11: r(11),
            r12: r(12),
            r13: r(13),
            r14: r(14),
            r15: r(15),
            fs_base: r(16),
            ..Regs::default()
        };
        let first = captured.len();
        let mut c = at + HEADER as usize;
        while c + 16 <= at + len {
            let (Some(addr), Some(n)) = (word(c), word(c + 8)) else {
                break;
            };
            let n = n as usize;
            let Some(bytes) = log.get(c + 16..c + 16 + n) else {
                break;
            };
            captured.push((addr, bytes));
            c += 16 + n.div_ceil(8) * 8;
        }
        heads.push((probe as u32, regs, first..captured.len()));
        at += len;
    }
    Parsed {
        heads,
        captures: captured,
    }
}

/// Memory as a record captured it: reads the record covers come from it;
/// other reads only from `fixed` ranges of the live process (the program's
/// static data, which do not change); anything else fails, so a handler
/// never mixes the moment of the visit with a later one.
pub struct Overlay<'a> {
    pub record: &'a Record<'a>,
    pub live: &'a ProcMem,
    pub fixed: &'a [(u64, u64)],
}

impl MemRead for Overlay<'_> {
    fn read_exact(&self, addr: RemoteAddr, buf: &mut [u8]) -> io::Result<()> {
        let (start, end) = (addr.0, addr.0.saturating_add(buf.len() as u64));
        if self.fixed.iter().any(|&(lo, hi)| lo <= start && end <= hi) {
            return self.live.read_exact(addr, buf);
        }
        // Usually one capture holds it all.
        if let Some((a, bytes)) = self
            .record
            .captured
            .iter()
            .rev()
            .find(|(a, b)| *a <= start && end <= a + b.len() as u64)
        {
            let i = (start - a) as usize;
            buf.copy_from_slice(&bytes[i..i + buf.len()]);
            return Ok(());
        }
        let overlaps = |(a, b): &&(u64, &[u8])| start < a + b.len() as u64 && *a < end;
        if !self.record.captured.iter().any(|c| overlaps(&c)) {
            return Err(io::ErrorKind::NotFound.into());
        }
        // Else covered byte by byte by the captures (later ones win).
        let mut covered = vec![false; buf.len()];
        for (a, bytes) in self.record.captured {
            let (lo, hi) = (start.max(*a), end.min(a + bytes.len() as u64));
            if lo < hi {
                let (o, i) = ((lo - start) as usize, (lo - a) as usize);
                let n = (hi - lo) as usize;
                buf[o..o + n].copy_from_slice(&bytes[i..i + n]);
                covered[o..o + n].iter_mut().for_each(|c| *c = true);
            }
        }
        if covered.iter().all(|c| *c) {
            Ok(())
        } else {
            // Not captured: a walk ends here at most of the hundreds of
            // thousands of visits of an index pass (no message to format).
            Err(io::ErrorKind::NotFound.into())
        }
    }

    fn read_prefix(&self, addr: RemoteAddr, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        match self.read_exact(addr, &mut buf) {
            Ok(()) => buf,
            Err(_) => Vec::new(),
        }
    }

    fn read_parts(
        &self,
        addr: RemoteAddr,
        len: usize,
        parts: &[(u64, u64)],
    ) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        for &(off, n) in parts {
            let (o, n) = (off as usize, n as usize);
            let Some(part) = buf.get_mut(o..o + n) else {
                return Err(io::ErrorKind::InvalidInput.into());
            };
            self.read_exact(RemoteAddr(addr.0 + off), part)?;
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trampoline_relocates_its_site_and_jumps_back() {
        // cmp rsp, [r14+0x10]; jbe +0x40 (a Go function's stack check)
        let code = [0x49, 0x3b, 0x66, 0x10, 0x76, 0x40, 0x90, 0x90];
        let site = super::super::insn::patch_site(&code, 0x401000).expect("site");
        let probe = Probe {
            site,
            ops: vec![
                Op::Load {
                    tmp: 0,
                    from: Val::FsBase,
                    off: -8,
                },
                Op::Copy {
                    from: Val::Reg(Register::RAX),
                    off: 0,
                    len: 12,
                },
                Op::Chain {
                    bp: Val::Reg(Register::RBP),
                    sp: Val::Reg(Register::RSP),
                    g: Val::Tmp(0),
                    lo: 0,
                    hi: 8,
                    max: 4,
                },
            ],
        };
        let out = assemble(0x300000, &[probe]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.patches[0][0], 0xe9);
        let insns: Vec<_> = iced_x86::Decoder::with_ip(
            64,
            &out.bytes[0x1000..],
            0x301000,
            iced_x86::DecoderOptions::NONE,
        )
        .into_iter()
        .collect();
        // No push, pop or popf: the program's stack is not touched.
        assert!(!insns.iter().any(|i| matches!(
            i.mnemonic(),
            iced_x86::Mnemonic::Push | iced_x86::Mnemonic::Pop | iced_x86::Mnemonic::Popfq
        )));
        assert!(
            insns
                .iter()
                .any(|i| i.mnemonic() == iced_x86::Mnemonic::Jbe
                    && i.near_branch_target() == 0x401046)
        );
        assert!(
            insns
                .iter()
                .any(|i| i.mnemonic() == iced_x86::Mnemonic::Jmp
                    && i.near_branch_target() == 0x401006)
        );
    }

    #[test]
    fn records_parse_and_the_overlay_reads_only_what_was_captured() {
        let mut log = Vec::new();
        let mut push = |w: u64| log.extend_from_slice(&w.to_le_bytes());
        push(3);
        push(HEADER + 16 + 8);
        for i in 0..17 {
            push(100 + i);
        }
        push(0x5000);
        push(5);
        log.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0]);
        let parsed = parse(&log);
        let recs: Vec<_> = parsed.records().collect();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].probe, 3);
        assert_eq!(recs[0].regs.rbx, 101);
        assert_eq!(recs[0].regs.fs_base, 116);
        assert_eq!(recs[0].captured, &[(0x5000, &[1u8, 2, 3, 4, 5][..])][..]);
        let live = ProcMem::open(std::process::id() as i32).expect("own memory");
        let o = Overlay {
            record: &recs[0],
            live: &live,
            fixed: &[],
        };
        assert_eq!(o.read(RemoteAddr(0x5001), 3).unwrap(), vec![2, 3, 4]);
        assert!(o.read(RemoteAddr(0x5003), 4).is_err());
    }
}
