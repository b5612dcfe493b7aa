//! The in-process search for a preemption point (replay only).
//!
//! Why: without an instruction counter, replay finds the moment a thread
//! was preempted by its registers at the recorded rip. Stopping at every
//! visit of that rip costs a ptrace stop (~20 µs), and a hot loop visits
//! it millions of times. Instead the instructions at the rip are replaced
//! by a `jmp` to a stub that compares the registers with the recorded
//! ones inside the program and traps only when they are all equal; on any
//! difference it runs the replaced instructions (relocated) and jumps
//! back, so a visit costs nanoseconds.
//!
//! The stub never touches the program's stack or red zone: it saves rsp in
//! its own page, switches to a small stack there for the flags, and puts
//! both back before running the program's instructions. Only the thread
//! being searched runs while the jmp is in place, and rrgo takes the jmp
//! out before anything else runs, so no other thread, traceback or signal
//! ever sees it (replay delivers signals itself, at recorded points).
//!
//! The page is mapped when a program is exec'd in replay, just below the
//! image of its lowest file-backed executable mapping, where a rel32 `jmp`
//! from the program's code reaches it (0x3ee000 for a static Go binary).

use std::io;

use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use trace_format::Regs;

use super::insn::PatchSite;
use super::maps::{lowest_image_start, read_maps, Region};
use super::mem::ProcMem;
use super::{inject, Tid};

/// One of the stub's two pages (data, then code).
pub const PAGE_LEN: u64 = 0x1000;
/// The whole mapping.
pub const MAP_LEN: u64 = 2 * PAGE_LEN;
/// Gap left between the page and the program's code.
const GAP: u64 = 0x10000;
/// The lowest address user space may map (vm.mmap_min_addr's default).
const MIN_ADDR: u64 = 0x10000;

/// Where the page belongs in a process with these mappings.
fn place(maps: &[Region]) -> Option<u64> {
    // Below the whole image, not just its text (a PIE's read-only first
    // segment lies right below: the page could not be mapped there, and a
    // cgo test program's search fell back to a debug register).
    let lowest = lowest_image_start(maps)?;
    let addr = lowest.checked_sub(GAP + MAP_LEN)?;
    (addr >= MIN_ADDR).then_some(addr)
}

/// Maps the page into a process stopped at its execve's exit (`tid` its
/// thread), with the program's own `syscall` instruction at `insn`.
pub fn map(tid: Tid, mem: &ProcMem) -> io::Result<u64> {
    let maps = read_maps(mem.pid())?;
    let addr = place(&maps).ok_or_else(|| io::Error::other("no room below the program's code"))?;
    let insn = inject::find_syscall_insn(mem)?
        .ok_or_else(|| io::Error::other("no syscall instruction to map the search stub with"))?;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    inject::map_fixed(tid, insn, (addr, MAP_LEN), rw, 0)?;
    let rx = libc::PROT_READ | libc::PROT_EXEC;
    inject::protect(tid, insn, (addr + PAGE_LEN, PAGE_LEN), rx)?;
    Ok(addr)
}

/// The stub's mapping in process `pid`, if it has one (forks inherit it).
pub fn locate(pid: i32) -> Option<u64> {
    let maps = read_maps(pid).ok()?;
    let addr = place(&maps)?;
    let has = |start: u64, perms: &[u8]| {
        maps.iter()
            .any(|r| r.start == start && r.end == start + PAGE_LEN && &r.perms[..3] == perms)
    };
    (has(addr, b"rw-") && has(addr + PAGE_LEN, b"r-x")).then_some(addr)
}

/// Whether a rel32 displacement from `from` reaches `to`.
fn reaches(from: u64, to: u64) -> bool {
    let d = to.wrapping_sub(from) as i64;
    i32::try_from(d).is_ok()
}

/// An assembled stub for one point: a data page, then the code page.
pub struct Stub {
    /// Both pages' contents, from the mapping's start.
    pub bytes: Vec<u8>,
    /// The address just past its `int3` (rip at the trap of a match).
    pub matched: u64,
    /// Where to resume after a match that was not the point: the flags
    /// and rsp are put back, the replaced instructions run.
    pub resume: u64,
    /// The `jmp` that goes over the site, padded to its length.
    pub patch: Vec<u8>,
    /// A probe: it traps at every visit, whatever the registers.
    pub probe: bool,
}

/// What the stub's quick first test compares.
#[derive(Debug, Clone, Copy)]
pub enum FirstTest<'a> {
    /// Trap at every visit: rrgo reads the registers there to learn which
    /// ones a visit changes (`Visits`).
    Probe,
    /// Chosen from the registers of two visits in a row: one that changes
    /// from visit to visit. Chosen from the thread's registers before the
    /// search instead, a register that differed there could be constant
    /// at the site (a loop's argument), and every visit then took the
    /// full comparison: spinmarks replayed at 2.6x its recording.
    Visits(&'a Regs, &'a Regs),
}

/// Assembles the stub for `site` in the mapping at `at`, matching
/// `target`. `None` when the code page is out of a rel32 reach or the
/// encoder cannot relocate the site's instructions there.
pub fn assemble(
    at: u64,
    site: &PatchSite,
    target: &Regs,
    first: FirstTest<'_>,
    words: &[(u64, u64)],
) -> Option<Stub> {
    let code = at + PAGE_LEN;
    if !reaches(site.addr + 5, code) || !reaches(code + PAGE_LEN, site.resume_at()) {
        return None;
    }
    let built = match first {
        FirstTest::Probe => probe(at, site),
        FirstTest::Visits(a, b) => {
            let test = visits_test(target, a, b);
            tracing::debug!(
                site = site.addr,
                len = site.len,
                flags_dead = site.flags_dead(),
                first = ?test.map(|(r, v)| (iced_x86::Register::from(r), v)),
                "search stub"
            );
            build(at, site, target, test, words)
        }
    };
    built
        .map_err(|e| tracing::debug!(site = site.addr, "cannot assemble a search stub: {e}"))
        .ok()
}

/// The registers the quick test sums, with their scales: all of them
/// but rcx (the scratch, summed first) and rsp (summed last).
const SUMMED: [(AsmRegister64, u32); 14] = [
    (rdx, 4),
    (rbx, 8),
    (rsi, 1),
    (rdi, 2),
    (rbp, 4),
    (r8, 8),
    (r9, 1),
    (r10, 2),
    (r11, 4),
    (r12, 8),
    (r13, 1),
    (r14, 2),
    (r15, 4),
    (rax, 1),
];

/// The register the first test compares: of those that differ between
/// the thread's state `now` and the point, the one closest to its
/// recorded value (a loop's counter rather than a pointer set before the
/// loop). `None` when none differs: the sum decides.
fn first_test(t: &Regs, now: &Regs) -> Option<(AsmRegister64, u64)> {
    pairs(t)
        .into_iter()
        .zip(pairs(now))
        .filter(|((_, want), (_, have))| want != have)
        .min_by_key(|((_, want), (_, have))| (want.wrapping_sub(*have) as i64).unsigned_abs())
        .map(|((reg, want), _)| (reg, want))
}

/// The registers as (register, value) pairs, in one order.
fn pairs(r: &Regs) -> [(AsmRegister64, u64); 16] {
    [
        (rax, r.rax),
        (rbx, r.rbx),
        (rcx, r.rcx),
        (rdx, r.rdx),
        (rsi, r.rsi),
        (rdi, r.rdi),
        (rbp, r.rbp),
        (rsp, r.rsp),
        (r8, r.r8),
        (r9, r.r9),
        (r10, r.r10),
        (r11, r.r11),
        (r12, r.r12),
        (r13, r.r13),
        (r14, r.r14),
        (r15, r.r15),
    ]
}

/// The first test from two visits in a row (`a`, then `b`): of the
/// registers that changed between them and differ from the point, the one
/// that moved least (a counter rather than a hash); without one, as
/// `first_test` from `b`.
fn visits_test(t: &Regs, a: &Regs, b: &Regs) -> Option<(AsmRegister64, u64)> {
    pairs(t)
        .into_iter()
        .zip(pairs(a))
        .zip(pairs(b))
        .filter(|(((_, want), (_, was)), (_, is))| was != is && want != is)
        .min_by_key(|(((_, want), (_, was)), (_, is))| {
            (
                (is.wrapping_sub(*was) as i64).unsigned_abs(),
                (want.wrapping_sub(*is) as i64).unsigned_abs(),
            )
        })
        .map(|(((reg, want), _), _)| (reg, want))
        .or_else(|| first_test(t, b))
}

/// The probe stub: a trap at each visit, then the replaced instructions.
fn probe(at: u64, site: &PatchSite) -> Result<Stub, iced_x86::IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut trap = a.create_label();
    let mut original = a.create_label();
    a.db(&vec![0u8; PAGE_LEN as usize])?;
    a.int3()?;
    a.set_label(&mut trap)?;
    a.nop()?;
    a.set_label(&mut original)?;
    replaced(&mut a, site)?;
    let out = a.assemble_options(at, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    Ok(Stub {
        matched: out.label_ip(&trap)?,
        resume: out.label_ip(&original)?,
        bytes: out.inner.code_buffer,
        patch: jmp_patch(at, site),
        probe: true,
    })
}

/// The program's instructions the stub runs in place of the site's (and
/// its tail), then the `jmp` back.
fn replaced(a: &mut CodeAssembler, site: &PatchSite) -> Result<(), iced_x86::IcedError> {
    for insn in site.replaced() {
        a.add_instruction(*insn)?;
    }
    a.jmp(site.resume_at())
}

/// The `jmp` from `site` to the code page at `at + PAGE_LEN`, padded.
fn jmp_patch(at: u64, site: &PatchSite) -> Vec<u8> {
    let mut patch = vec![0xcc; site.len as usize];
    patch[0] = 0xe9;
    let rel = (at + PAGE_LEN).wrapping_sub(site.addr + 5) as u32;
    patch[1..5].copy_from_slice(&rel.to_le_bytes());
    patch
}

/// The quick test's sum for registers `t` (what the stub computes).
fn weighted_sum(t: &Regs) -> u64 {
    let v = [
        t.rdx, t.rbx, t.rsi, t.rdi, t.rbp, t.r8, t.r9, t.r10, t.r11, t.r12, t.r13, t.r14, t.r15,
        t.rax,
    ];
    let mut sum = t.rcx.wrapping_mul(2);
    for ((_, scale), value) in SUMMED.iter().zip(v) {
        sum = sum.wrapping_add(value.wrapping_mul(*scale as u64));
    }
    sum.wrapping_add(t.rsp)
}

/// The stub: a visit first sums the registers, weighted, with `lea` (no
/// flags change, no stack) and compares the sum with the recorded one by
/// `jrcxz`; only an equal sum (the point, or a rare coincidence) takes the
/// full comparison, which saves the flags on the page's own stack. Writes
/// go to the data page only: a store near code being run costs a pipeline
/// flush on every visit.
fn build(
    at: u64,
    site: &PatchSite,
    t: &Regs,
    first: Option<(AsmRegister64, u64)>,
    words: &[(u64, u64)],
) -> Result<Stub, iced_x86::IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut miss = a.create_label();
    let mut trap = a.create_label();
    let mut save_rcx = a.create_label();
    let mut save_rdx = a.create_label();
    let mut neg_sum = a.create_label();
    let mut save_rsp = a.create_label();
    let mut stack_top = a.create_label();
    let mut want_rsp = a.create_label();
    let compared: [(AsmRegister64, u64); 15] = [
        (rcx, t.rcx),
        (rax, t.rax),
        (rdx, t.rdx),
        (rbx, t.rbx),
        (rsi, t.rsi),
        (rdi, t.rdi),
        (rbp, t.rbp),
        (r8, t.r8),
        (r9, t.r9),
        (r10, t.r10),
        (r11, t.r11),
        (r12, t.r12),
        (r13, t.r13),
        (r14, t.r14),
        (r15, t.r15),
    ];
    let mut wanted: Vec<CodeLabel> = compared.iter().map(|_| a.create_label()).collect();
    // The data page.
    let mut data_len = 0u64;
    for ((_, value), label) in compared.iter().zip(wanted.iter_mut()) {
        a.set_label(label)?;
        a.dq(&[*value])?;
        data_len += 8;
    }
    for (label, value) in [
        (&mut want_rsp, t.rsp),
        (&mut neg_sum, weighted_sum(t).wrapping_neg()),
        (&mut save_rcx, 0),
        (&mut save_rdx, 0),
        (&mut save_rsp, 0),
    ] {
        a.set_label(label)?;
        a.dq(&[value])?;
        data_len += 8;
    }
    // Memory words compared after the registers (address, wanted value).
    let mut word_labels = Vec::new();
    for (off, value) in words {
        let mut label = a.create_label();
        a.set_label(&mut label)?;
        a.dq(&[*value])?;
        data_len += 8;
        word_labels.push((*off, label));
    }
    // The flags and one saved register; the label is the stack's top.
    a.dq(&[0, 0, 0, 0])?;
    a.set_label(&mut stack_top)?;
    data_len += 32;
    a.db(&vec![0u8; (PAGE_LEN - data_len) as usize])?;
    // The code page.
    let mut original = a.create_label();
    let flags_dead = site.flags_dead();
    if flags_dead {
        // The site sets the flags before it reads them: plain compares,
        // no stores, nothing added to the program's dependency chains.
        // The first compare is the register most likely to differ.
        // The usual visit falls through the first compare into the
        // replaced instructions: one taken branch more than native.
        let mut check = a.create_label();
        let first_reg = first.map(|(r, _)| r).unwrap_or(rcx);
        if first_reg == rsp {
            a.cmp(rsp, qword_ptr(want_rsp))?;
        } else {
            let i = compared
                .iter()
                .position(|(r, _)| *r == first_reg)
                .unwrap_or(0);
            a.cmp(compared[i].0, qword_ptr(wanted[i]))?;
        }
        a.je(check)?;
        a.set_label(&mut original)?;
        replaced(&mut a, site)?;
        a.set_label(&mut check)?;
        for ((reg, _), label) in compared.iter().zip(&wanted) {
            a.cmp(*reg, qword_ptr(*label))?;
            a.jne(original)?;
        }
        a.cmp(rsp, qword_ptr(want_rsp))?;
        a.jne(original)?;
        for (at, label) in &word_labels {
            // (mov leaves the flags of the compare alone.)
            a.mov(qword_ptr(save_rcx), rcx)?;
            a.mov(rcx, *at)?;
            a.mov(rcx, qword_ptr(rcx))?;
            a.cmp(rcx, qword_ptr(*label))?;
            a.mov(rcx, qword_ptr(save_rcx))?;
            a.jne(original)?;
        }
        a.int3()?;
        a.set_label(&mut trap)?;
        a.nop()?;
    } else {
        live_flags(
            &mut a,
            site,
            first,
            &compared,
            &wanted,
            &word_labels,
            Labels {
                miss: &mut miss,
                trap: &mut trap,
                original: &mut original,
                save_rcx,
                save_rdx,
                save_rsp,
                neg_sum,
                stack_top,
                want_rsp,
            },
        )?;
    }
    let out = a.assemble_options(at, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let matched = out.label_ip(&trap)?;
    let resume = out.label_ip(if flags_dead { &original } else { &miss })?;
    let bytes = out.inner.code_buffer;
    // 15 registers and the site's instructions: far below a page.
    debug_assert!(bytes.len() as u64 <= 2 * PAGE_LEN);
    Ok(Stub {
        bytes,
        matched,
        resume,
        patch: jmp_patch(at, site),
        probe: false,
    })
}

/// The labels the live-flags variant uses.
struct Labels<'a> {
    miss: &'a mut CodeLabel,
    trap: &'a mut CodeLabel,
    original: &'a mut CodeLabel,
    save_rcx: CodeLabel,
    save_rdx: CodeLabel,
    save_rsp: CodeLabel,
    neg_sum: CodeLabel,
    stack_top: CodeLabel,
    want_rsp: CodeLabel,
}

/// The stub for a site whose flags are live: the quick tests use `lea`
/// and `jrcxz` (no flags) with rcx kept in the data page; the full
/// comparison saves the flags on the page's own stack.
fn live_flags(
    a: &mut CodeAssembler,
    site: &PatchSite,
    first: Option<(AsmRegister64, u64)>,
    compared: &[(AsmRegister64, u64)],
    wanted: &[CodeLabel],
    words: &[(u64, CodeLabel)],
    l: Labels<'_>,
) -> Result<(), iced_x86::IcedError> {
    let mut summed = a.create_label();
    let mut full = a.create_label();
    a.mov(qword_ptr(l.save_rcx), rcx)?;
    if let Some((reg, want)) = first {
        let neg = want.wrapping_neg() as i64;
        if let Ok(disp) = i32::try_from(neg) {
            a.lea(rcx, ptr(reg + disp))?;
        } else if reg == rcx {
            a.mov(qword_ptr(l.save_rdx), rdx)?;
            a.mov(rdx, neg)?;
            a.lea(rcx, ptr(rcx + rdx))?;
            a.mov(rdx, qword_ptr(l.save_rdx))?;
        } else {
            a.mov(rcx, neg)?;
            a.lea(rcx, ptr(reg + rcx))?;
        }
        a.jrcxz(summed)?;
        a.mov(rcx, qword_ptr(l.save_rcx))?;
        a.jmp(*l.original)?;
        a.set_label(&mut summed)?;
        a.mov(rcx, qword_ptr(l.save_rcx))?;
    }
    // All registers, summed with weights.
    a.lea(rcx, ptr(rcx + rcx))?;
    for (reg, scale) in SUMMED {
        a.lea(rcx, ptr(rcx + reg * scale))?;
    }
    a.lea(rcx, ptr(rsp + rcx))?;
    a.mov(qword_ptr(l.save_rdx), rdx)?;
    a.mov(rdx, qword_ptr(l.neg_sum))?;
    a.lea(rcx, ptr(rcx + rdx))?;
    a.mov(rdx, qword_ptr(l.save_rdx))?;
    a.jrcxz(full)?;
    a.mov(rcx, qword_ptr(l.save_rcx))?;
    a.set_label(l.original)?;
    replaced(a, site)?;
    a.set_label(&mut full)?;
    a.mov(rcx, qword_ptr(l.save_rcx))?;
    a.mov(qword_ptr(l.save_rsp), rsp)?;
    a.lea(rsp, ptr(l.stack_top))?;
    a.pushfq()?;
    for ((reg, _), label) in compared.iter().zip(wanted) {
        a.cmp(*reg, qword_ptr(*label))?;
        a.jne(*l.miss)?;
    }
    a.push(rax)?;
    a.mov(rax, qword_ptr(l.save_rsp))?;
    a.cmp(rax, qword_ptr(l.want_rsp))?;
    a.pop(rax)?;
    a.jne(*l.miss)?;
    for (at, label) in words {
        a.push(rax)?;
        a.mov(rax, *at)?;
        a.mov(rax, qword_ptr(rax))?;
        a.cmp(rax, qword_ptr(*label))?;
        a.pop(rax)?;
        a.jne(*l.miss)?;
    }
    a.int3()?;
    a.set_label(l.trap)?;
    a.nop()?;
    a.set_label(l.miss)?;
    a.popfq()?;
    a.mov(rsp, qword_ptr(l.save_rsp))?;
    a.jmp(*l.original)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::Register;

    /// The instructions of a stub's code page (mapped at 0x3f0000).
    fn code_page(stub: &Stub) -> Vec<iced_x86::Instruction> {
        iced_x86::Decoder::with_ip(
            64,
            &stub.bytes[0x1000..],
            0x3f1000,
            iced_x86::DecoderOptions::NONE,
        )
        .into_iter()
        .collect()
    }

    #[test]
    fn the_stub_relocates_a_loop_branch_and_jumps_back() {
        // inc rcx; cmp rcx, rdx; jl -8  (a counting loop at 0x401000)
        let code = [0x48, 0xff, 0xc1, 0x48, 0x39, 0xd1, 0x7c, 0xf8];
        let site = crate::tracee::insn::patch_site(&code, 0x401000).expect("site");
        assert_eq!(site.len, 6);
        assert_eq!(site.interior().collect::<Vec<_>>(), vec![0x401003]);
        let now = Regs {
            rcx: 5,
            ..Regs::default()
        };
        let stub = assemble(
            0x3f0000,
            &site,
            &Regs::default(),
            FirstTest::Visits(&now, &Regs::default()),
            &[(0x7fff_0000_1000, 7)],
        )
        .expect("stub");
        assert_eq!(stub.patch[0], 0xe9);
        assert_eq!(stub.patch.len(), 6);
        assert!(stub.matched > 0x3f1000 && stub.resume > 0x3f1000);
        assert_eq!(
            u32::from_le_bytes(stub.patch[1..5].try_into().unwrap()),
            0x3f1000u32.wrapping_sub(0x401005)
        );
        // The loop's jl (the site's tail) and the jmp back past it are in
        // the code page.
        let insns = code_page(&stub);
        assert!(
            insns
                .iter()
                .any(|i| i.mnemonic() == iced_x86::Mnemonic::Jmp
                    && i.near_branch_target() == 0x401008)
        );
        assert!(insns
            .iter()
            .any(|i| i.mnemonic() == iced_x86::Mnemonic::Jl && i.near_branch_target() == 0x401000));
    }

    #[test]
    fn the_first_test_is_a_register_that_changes_between_visits() {
        // rax is a loop's constant argument, different from the point's
        // rax only because the search began elsewhere; rdx is the counter.
        let target = Regs {
            rax: 1,
            rdx: 1000,
            rcx: 0xdead_beef_0000,
            ..Regs::default()
        };
        let a = Regs {
            rax: 1,
            rdx: 10,
            rcx: 0x1234_5678_9abc,
            ..Regs::default()
        };
        let b = Regs {
            rdx: 11,
            rcx: 0x5555_0000_1111,
            ..a
        };
        let (reg, want) = visits_test(&target, &a, &b).expect("a register");
        assert_eq!((iced_x86::Register::from(reg), want), (Register::RDX, 1000));
        // The search's starting state alone would have picked rax.
        let now = Regs { rax: 0, ..a };
        assert_eq!(
            first_test(&target, &now).map(|(r, _)| Register::from(r)),
            Some(Register::RAX)
        );
    }

    #[test]
    fn a_site_takes_the_register_only_code_up_to_the_loop_branch_along() {
        // movabs rdi, imm64; add rcx, rdi; test rdx, 0x3fffff; jne -0x2c
        let mut code = vec![0x48, 0xbf, 1, 2, 3, 4, 5, 6, 7, 8];
        code.extend([0x48, 0x01, 0xf9]);
        code.extend([0x48, 0xf7, 0xc2, 0xff, 0xff, 0x3f, 0x00]);
        code.extend([0x75, 0xd4, 0x90]);
        let site = crate::tracee::insn::patch_site(&code, 0x49cc1a).expect("site");
        assert_eq!(site.len, 10);
        assert_eq!(site.tail.len(), 3);
        assert_eq!(site.resume_at(), 0x49cc1a + 22);
        // movabs leaves the flags alone, but add sets them all: dead.
        assert!(site.flags_dead());
        let stub = assemble(
            0x3f0000,
            &site,
            &Regs::default(),
            FirstTest::Visits(
                &Regs::default(),
                &Regs {
                    rdx: 1,
                    ..Regs::default()
                },
            ),
            &[],
        )
        .expect("stub");
        let insns: Vec<_> = code_page(&stub).into_iter().take(8).collect();
        // The loop's back edge runs from the stub, then the jmp back.
        let jne = insns
            .iter()
            .position(|i| {
                i.mnemonic() == iced_x86::Mnemonic::Jne
                    && i.near_branch_target() == 0x49cc1a + 22 - 0x2c
            })
            .expect("the relocated jne");
        assert_eq!(insns[jne + 1].mnemonic(), iced_x86::Mnemonic::Jmp);
        assert_eq!(insns[jne + 1].near_branch_target(), 0x49cc1a + 22);
        // A memory access ends the tail: it could fault in the stub.
        let mut code = vec![0x48, 0xbf, 1, 2, 3, 4, 5, 6, 7, 8];
        code.extend([0x48, 0x8b, 0x07, 0x75, 0xd4]);
        let site = crate::tracee::insn::patch_site(&code, 0x401000).expect("site");
        assert!(site.tail.is_empty());
    }

    #[test]
    fn calls_and_points_inside_string_instructions_are_not_sites() {
        // call rel32
        assert!(crate::tracee::insn::patch_site(&[0xe8, 0, 0, 0, 0, 0x90], 0x401000).is_none());
        // rep movsq; nop; nop; nop
        assert!(
            crate::tracee::insn::patch_site(&[0xf3, 0x48, 0xa5, 0x90, 0x90, 0x90], 0x401000)
                .is_none()
        );
        // A jmp rel8 leaves the run before 5 bytes.
        assert!(
            crate::tracee::insn::patch_site(&[0xeb, 0x10, 0x90, 0x90, 0x90], 0x401000).is_none()
        );
    }
}
