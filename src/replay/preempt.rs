//! Reaching a preemption point by re-executing the thread's slice: there is
//! no instruction counter on these machines, so the thread runs with a
//! hardware breakpoint on the recorded rip and stops at the first hit whose
//! registers equal the recorded ones. The pages recorded with the
//! preemption are written afterwards, so an earlier hit with equal
//! registers (a spin loop) still ends in exactly the recorded state.
//! Over budget, the thread jumps to the point instead (regs + pages), as
//! before: same state, but the slice's instructions were not all run.

use anyhow::Context;
use trace_format::{Event, MemWrite, PageHash, Regs, RemoteAddr};

use super::session::{BreakpointHit, ReplaySession};
use crate::tracee::wait::{Stop, Waited};
use crate::tracee::{ptrace, searchstub, Tid};

/// DR7 bit 0: DR0 enabled (local); type 00 (execute), length 00.
const DR7_L0: u64 = 1;
/// The trap flag in eflags.
const TF: u64 = 1 << 8;
/// DR6 bit 0: DR0 triggered.
const DR6_B0: u64 = 1;

/// Hits of the recorded rip to try before jumping (RRGO_PREEMPT_SEARCH).
fn budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var("RRGO_PREEMPT_SEARCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000)
    })
}

/// How preemption points were reached, for `RRGO_LOG=debug` and the bench.
#[derive(Debug, Default, Clone, Copy)]
pub struct PreemptStats {
    pub executed: u64,
    /// Of `executed`: found by the in-process search stub.
    pub in_process: u64,
    pub jumped: u64,
    /// Stops at the point's rip (debug-register search) or at the stub's
    /// trap (all registers equal) that were not the point.
    pub hits: u64,
    /// Stops of a probing stub (the first visits, to choose its test).
    pub probes: u64,
    /// Points in code the program still reads as data
    /// (`goruntime::selfread`): searched with a debug register, unpatched.
    pub unpatched: u64,
    /// Stub searches that needed debug registers to guard the site's
    /// interior: the searched thread ran 4x slower on these VMs while one
    /// was enabled (`record/points.rs` avoids such sites).
    pub guarded: u64,
}

/// The memory a point is verified by besides the registers (the event's
/// `verbatim` and `hashes`). Empty for a point recorded with contents
/// (`Pages`).
pub struct PointMemory<'a> {
    pub verbatim: &'a [MemWrite],
    pub hashes: &'a [PageHash],
    /// The point is the thread's first arrival at its rip since its
    /// previous event (`Preempt::first_visit`).
    pub first_visit: bool,
    /// The hashed range that differed at the last visit: checked first
    /// at the next (a loop's state in one range; hashing the rest, up
    /// to megabytes, at each visit made a search cost seconds).
    pub differed: std::cell::Cell<usize>,
}

impl PointMemory<'_> {
    pub fn is_empty(&self) -> bool {
        self.verbatim.is_empty() && self.hashes.is_empty()
    }
}

/// Memory words a refined stub compares in the program.
const MAX_WORDS: usize = 12;
/// Rebuilds of a point's stub with new words before visits just stop.
const MAX_REFINEMENTS: u32 = 64;

/// How the stub search ended.
enum StubOutcome {
    /// The thread is at the point (its rip in the stub; the caller sets
    /// the recorded registers).
    Reached,
    /// No stub for this point, or a branch into the patched bytes was
    /// caught before it ran them: search with a debug register from the
    /// thread's current state.
    Unavailable,
}

/// A stub in place: the stub, its mapping, its site and the site's
/// original bytes (address, bytes).
struct Placed<'a> {
    stub: &'a searchstub::Stub,
    page: u64,
    site: &'a crate::tracee::insn::PatchSite,
    original: (u64, &'a [u8]),
    /// Times the stub was rebuilt with more words for this point.
    refinements: u32,
}

/// How one patched run ended.
enum StubRun {
    Reached,
    /// Equal registers, other memory words: the stub should compare these
    /// too, and the registers there (a probe's visit). The thread is out
    /// of the stub.
    Refine(Vec<Word>, Box<Regs>),
    /// A probe's visit that was not the point, with the registers there.
    /// The thread is out of the stub.
    Visit(Box<Regs>),
    /// The thread stopped otherwise while leaving the stub (stashed).
    Left,
    /// Control came into the site's bytes after the first.
    Entered,
}

/// Visits a probing stub stops at before the real stub is built: two in a
/// row show which registers a visit changes.
const PROBE_VISITS: usize = 2;

/// The stub's first test for what the probe has seen so far.
fn first_test(visits: &[Regs]) -> searchstub::FirstTest<'_> {
    match visits {
        [.., a, b] if visits.len() >= PROBE_VISITS => searchstub::FirstTest::Visits(a, b),
        _ => searchstub::FirstTest::Probe,
    }
}

/// Entries into a site's bytes before the search gives the stub up.
const MAX_ENTRIES: u32 = 64;

/// DR7 enable bits of DR0..DR3 (local, execute, length 1).
const DR7_GUARDS: [u64; 4] = [1, 1 << 2, 1 << 4, 1 << 6];

impl ReplaySession {
    /// Runs the thread to the recorded point. Ok(true): reached by
    /// executing; Ok(false): give up (the caller jumps).
    pub(super) fn run_to_point(
        &mut self,
        e: &Event,
        live: Tid,
        target: &Regs,
        memory: &PointMemory<'_>,
    ) -> anyhow::Result<bool> {
        // A point recorded with hashes has no contents to jump with: the
        // search goes on until it finds it.
        let limit = if memory.first_visit {
            1
        } else if memory.is_empty() {
            budget()
        } else {
            u64::MAX
        };
        // The recorder cannot tell whether a thread resumed and stopped
        // again with equal registers ran: it records a point, which may be
        // where the thread stands (a signal pending when it was resumed).
        // Equal registers and memory are the same state either way.
        let now = ptrace::get_regs(live)?;
        if now.rip == target.rip && self.stashed.get(&live).is_none_or(|q| q.is_empty()) {
            if same_state(&now, target)
                && matches!(self.point_memory(e, memory, None)?, MemoryCheck::Equal)
            {
                tracing::trace!(time = e.time.0, "the thread stands at the point");
                self.preempt_stats.executed += 1;
                return Ok(true);
            }
            tracing::trace!(time = e.time.0, differ = ?differing(&now, target), "at the point's rip, not its state");
        } else {
            tracing::trace!(time = e.time.0, rip = now.rip, stashed = ?self.stashed.get(&live).map(|q| q.len()), "not at the point");
        }
        if limit == 0 {
            self.preempt_stats.jumped += 1;
            self.jumps.push(e.time);
            return Ok(false);
        }
        // A first arrival costs one stop with a debug register.
        if !memory.first_visit {
            match self.stub_search(e, live, target, memory)? {
                StubOutcome::Reached => {
                    self.preempt_stats.executed += 1;
                    self.preempt_stats.in_process += 1;
                    return Ok(true);
                }
                StubOutcome::Unavailable => {}
            }
        }
        // DR0 is never a watchpoint's (replay::watch).
        let watching = self.watch_dr7();
        ptrace::set_debugreg(live, 0, target.rip)?;
        ptrace::set_debugreg(live, 6, 0)?;
        ptrace::set_debugreg(live, 7, DR7_L0 | watching)?;
        let result = self.search(e, live, target, memory, limit);
        let _ = ptrace::set_debugreg(live, 7, watching);
        let _ = ptrace::set_debugreg(live, 6, 0);
        let reached = result?;
        if reached {
            self.preempt_stats.executed += 1;
        } else if memory.first_visit {
            return Err(anyhow::anyhow!(super::Divergence::new(
                e.time,
                e.tid,
                format!(
                    "its first arrival at {:#x} since its previous event to have the recorded registers",
                    target.rip
                ),
                format!(
                    "other registers there: {}",
                    differing(&ptrace::get_regs(live)?, target)
                        .iter()
                        .map(|(name, now, then)| format!("{name} {now:#x}, recorded {then:#x}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            )));
        } else if !memory.is_empty() {
            // Recorded by hashes: a jump would lose what the slice wrote.
            return Err(anyhow::anyhow!(super::Divergence::new(
                e.time,
                e.tid,
                format!("to run to a preemption point at {:#x}", target.rip),
                "a stop the search could not account for".to_string()
            )));
        } else {
            self.preempt_stats.jumped += 1;
            self.jumps.push(e.time);
            tracing::debug!(
                time = e.time.0,
                rip = target.rip,
                "preemption point not found within budget: jumping"
            );
        }
        Ok(reached)
    }

    fn search(
        &mut self,
        e: &Event,
        live: Tid,
        target: &Regs,
        memory: &PointMemory<'_>,
        limit: u64,
    ) -> anyhow::Result<bool> {
        let mut hits = 0u64;
        let mut stray = 0;
        // Already there: a thread preempted twice inside one long `rep movs`
        // resumes with RF set (the recorded eflags), so the breakpoint on
        // that rip would not fire again.
        let regs = ptrace::get_regs(live)?;
        if regs.rip == target.rip && self.inside_rep_string(e, &regs, target)? {
            return Ok(true);
        }
        let mut pending: Option<Waited> = self.step_over_breakpoint(live)?;
        // A search that cannot jump ends like any wait for a running thread:
        // after the stall limit, as a divergence.
        let started = std::time::Instant::now();
        let stall = *self
            .stall
            .get_or_insert_with(|| super::session::stall_limit(&self.reader));
        loop {
            if let Some(l) = stall {
                if started.elapsed() >= l {
                    return Err(anyhow::anyhow!(super::Divergence::new(
                        e.time,
                        e.tid,
                        format!("to reach the preemption point at {:#x}", target.rip),
                        format!(
                            "no visit with the recorded registers and memory in {} s of searching with a debug register (RRGO_STALL_S)",
                            l.as_secs()
                        )
                    )));
                }
            }
            let w = match pending.take() {
                Some(w) => w,
                None => {
                    // A stop already collected (stashed) is the thread's
                    // current one: it must not be resumed past it.
                    if self.stashed.get(&live).is_none_or(|q| q.is_empty()) {
                        ptrace::resume(live, ptrace::Resume::Syscall, 0)?;
                    }
                    self.wait_for(live)?
                }
            };
            match w.stop {
                Stop::Signal(libc::SIGTRAP) => {
                    if let Some(hit) = self.debug_trap(e.tid, live)? {
                        return Err(anyhow::anyhow!(hit));
                    }
                    let dr6 = ptrace::get_debugreg(live, 6)?;
                    // (The kernel does not always report which debug
                    // register fired: the rip tells.)
                    let at_point = ptrace::get_regs(live)?.rip == target.rip;
                    if dr6 & DR6_B0 == 0 && !at_point {
                        let code = ptrace::get_siginfo(live)
                            .map(|i| trace_format::SigInfo(i).code())
                            .unwrap_or(0);
                        let rip = ptrace::get_regs(live).map(|r| r.rip).unwrap_or(0);
                        tracing::debug!(
                            dr6,
                            code,
                            rip,
                            "unexpected trap while searching a preemption point"
                        );
                        return Ok(false);
                    }
                    ptrace::set_debugreg(live, 6, 0)?;
                    hits += 1;
                    self.preempt_stats.hits += 1;
                    let regs = ptrace::get_regs(live)?;
                    if same_state(&regs, target)
                        && matches!(self.point_memory(e, memory, None)?, MemoryCheck::Equal)
                    {
                        return Ok(true);
                    }
                    tracing::debug!(
                        time = e.time.0,
                        hits,
                        differ = ?differing(&regs, target),
                        "not the point"
                    );
                    if memory.is_empty() && self.inside_rep_string(e, &regs, target)? {
                        return Ok(true);
                    }
                    if hits >= limit {
                        return Ok(false);
                    }
                }
                _ => other_stop(e, target, &w, &mut stray)?,
            }
        }
    }
}

impl ReplaySession {
    /// Whether the recorded point lies inside the run of the `rep movs` /
    /// `rep stos` instruction the thread is about to start (Go's memmove
    /// and memclr): rip stays put while rcx counts down and rsi/rdi move,
    /// so no breakpoint stops in there. The registers must be those of this
    /// very instruction's start, advanced by the iterations the recording
    /// had done; the caller then sets the recorded registers and pages,
    /// which hold what those iterations wrote.
    fn inside_rep_string(&self, e: &Event, now: &Regs, target: &Regs) -> anyhow::Result<bool> {
        let same_rest = Regs {
            rcx: target.rcx,
            rsi: target.rsi,
            rdi: target.rdi,
            ..*now
        };
        if !same_state(&same_rest, target) || now.rcx < target.rcx {
            tracing::trace!(time = e.time.0, ?now, ?target, "not this visit");
            return Ok(false);
        }
        let mut code = [0u8; 15];
        if self
            .mem(e.tid)?
            .read_exact(trace_format::RemoteAddr(now.rip), &mut code)
            .is_err()
        {
            return Ok(false);
        }
        let Some(op) = crate::tracee::insn::rep_string(&code, now.rip) else {
            return Ok(false);
        };
        let step = (now.rcx - target.rcx).wrapping_mul(op.elem);
        // The direction flag (eflags bit 10) says which way they move.
        let advance = |from: u64| {
            if now.eflags & (1 << 10) != 0 {
                from.wrapping_sub(step)
            } else {
                from.wrapping_add(step)
            }
        };
        let rsi = if op.reads { advance(now.rsi) } else { now.rsi };
        let reached = advance(now.rdi) == target.rdi && rsi == target.rsi;
        if reached {
            tracing::debug!(
                time = e.time.0,
                rip = now.rip,
                left = target.rcx,
                "preemption point inside a rep string instruction"
            );
        }
        Ok(reached)
    }
}

/// Why the stub could not search a point, for `RRGO_LOG=debug`.
fn unavailable(rip: u64, why: &str) -> StubOutcome {
    tracing::debug!(
        point = format_args!("{rip:#x}"),
        why,
        "searching with a debug register"
    );
    StubOutcome::Unavailable
}

/// The registers that make two moments at one rip the same program state
/// (flags and the syscall number are bookkeeping).
/// The registers (besides rip) `same_state` compares that differ.
fn differing(a: &Regs, b: &Regs) -> Vec<(&'static str, u64, u64)> {
    [
        ("rsp", a.rsp, b.rsp),
        ("rbp", a.rbp, b.rbp),
        ("rax", a.rax, b.rax),
        ("rbx", a.rbx, b.rbx),
        ("rcx", a.rcx, b.rcx),
        ("rdx", a.rdx, b.rdx),
        ("rsi", a.rsi, b.rsi),
        ("rdi", a.rdi, b.rdi),
        ("r8", a.r8, b.r8),
        ("r9", a.r9, b.r9),
        ("r10", a.r10, b.r10),
        ("r11", a.r11, b.r11),
        ("r12", a.r12, b.r12),
        ("r13", a.r13, b.r13),
        ("r14", a.r14, b.r14),
        ("r15", a.r15, b.r15),
        ("fs_base", a.fs_base, b.fs_base),
    ]
    .into_iter()
    .filter(|(_, x, y)| x != y)
    .collect()
}

pub fn same_state(a: &Regs, b: &Regs) -> bool {
    a.rip == b.rip && differing(a, b).is_empty()
}

impl ReplaySession {
    /// Searches the point with a stub in the program (see
    /// `tracee::searchstub`): the thread runs at native speed and stops
    /// only where all its registers equal the recorded ones.
    fn stub_search(
        &mut self,
        e: &Event,
        live: Tid,
        target: &Regs,
        memory: &PointMemory<'_>,
    ) -> anyhow::Result<StubOutcome> {
        let Some(tgid) = self.threads.get(&e.tid).map(|t| t.tgid) else {
            return Ok(unavailable(target.rip, "no such thread"));
        };
        if self.unsafe_sites.contains(&(tgid, target.rip)) {
            return Ok(unavailable(target.rip, "branched into before"));
        }
        let page = match self.stub_pages.get(&tgid) {
            Some(p) => *p,
            None => {
                let p = searchstub::locate(self.mem(e.tid)?.pid());
                self.stub_pages.insert(tgid, p);
                p
            }
        };
        let Some(page) = page else {
            return Ok(unavailable(target.rip, "no stub page"));
        };
        // A breakpoint (ours or an RDRAND trap) in the site reads as int3: no site.
        let pid = self.mem(e.tid)?.pid();
        let map = self
            .code_maps
            .entry(tgid)
            .or_insert_with(|| crate::tracee::codemap::CodeMap::load(pid));
        let Some(site) = map.site(
            self.mems.get(&tgid).expect("the thread's process"),
            target.rip,
        ) else {
            return Ok(unavailable(target.rip, "not a patch site here"));
        };
        let mem = self.mems.get(&tgid).expect("the thread's process");
        if map.read_as_data(mem, site.addr, site.len) {
            self.preempt_stats.unpatched += 1;
            return Ok(unavailable(
                target.rip,
                "the program still reads this code as data (Go's FIPS self-check)",
            ));
        }
        // Memory words the stub also compares (address, value): none until a
        // visit with equal registers showed which differ (a loop's counter).
        let mut words: Vec<(u64, u64)> = Vec::new();
        let mut refinements = 0u32;
        // The registers at the probe's visits.
        let mut visits: Vec<Regs> = Vec::new();
        let assemble = |visits: &[Regs], words: &[(u64, u64)]| {
            searchstub::assemble(page, &site, target, first_test(visits), words)
        };
        let Some(mut stub) = assemble(&visits, &words) else {
            return Ok(unavailable(target.rip, "stub cannot be assembled"));
        };
        // A thread resting on a breakpoint gets past it first.
        if let Some(w) = self.step_over_breakpoint(live)? {
            // Not a plain step: let the debug-register search take this stop.
            self.stashed.entry(live).or_default().push_front(w);
            return Ok(unavailable(
                target.rip,
                "stopped stepping over a breakpoint",
            ));
        }
        // The guards share the debug registers with watchpoints.
        let watching = self.watch_dr7();
        let free = self.free_slots();
        let guarded = self.needs_guards(tgid, &site);
        if guarded.len() > free.len() {
            return Ok(unavailable(
                target.rip,
                "no debug registers left for guards",
            ));
        }
        if !guarded.is_empty() {
            self.preempt_stats.guarded += 1;
        }
        let mut entries = 0;
        loop {
            // A thread inside the site's bytes (a return into it, e.g. from
            // Go's asyncPreempt, or a sigreturn) runs out of them first.
            if !self.step_out_of(e.tid, live, &site)? {
                return Ok(unavailable(
                    target.rip,
                    "did not step out of the site's bytes",
                ));
            }
            let mem = self.mem(e.tid)?;
            let original = mem.read(RemoteAddr(site.addr), site.len as usize)?;
            mem.write(RemoteAddr(page), &stub.bytes)?;
            mem.write(RemoteAddr(site.addr), &stub.patch)?;
            let mut dr7 = watching;
            for (&slot, addr) in free.iter().zip(guarded.iter().copied()) {
                ptrace::set_debugreg(live, slot, addr)?;
                dr7 |= DR7_GUARDS[slot];
            }
            ptrace::set_debugreg(live, 6, 0)?;
            ptrace::set_debugreg(live, 7, dr7)?;
            let patched = (site.addr, original.as_slice());
            let placed = Placed {
                stub: &stub,
                page,
                site: &site,
                original: patched,
                refinements,
            };
            let result = self.stub_run(e, live, target, memory, &placed);
            // Whatever happened, the program's code is its own again.
            let restored = self.mem(e.tid)?.write(RemoteAddr(site.addr), &original);
            let _ = ptrace::set_debugreg(live, 7, watching);
            let _ = ptrace::set_debugreg(live, 6, 0);
            restored.context("cannot restore the code at a preemption point")?;
            match result? {
                StubRun::Reached => return Ok(StubOutcome::Reached),
                StubRun::Left => {
                    return Ok(unavailable(target.rip, "a stop the stub did not make"))
                }
                StubRun::Refine(more, regs) => {
                    // A loop whose state is all in memory: its visits count
                    // for the probe too, or it would probe forever.
                    if stub.probe {
                        visits.push(*regs);
                    }
                    refinements += 1;
                    for w in more {
                        let at = w.addr;
                        // The words compared so far were equal at this
                        // visit: the oldest make room for the new ones.
                        if !words.iter().any(|x| x.0 == at) {
                            if words.len() == MAX_WORDS {
                                words.remove(0);
                            }
                            words.push((at, w.want));
                        }
                    }
                    tracing::debug!(
                        point = target.rip,
                        words = words.len(),
                        "the stub compares memory words too"
                    );
                    match assemble(&visits, &words) {
                        Some(s) => stub = s,
                        None => {
                            return Ok(unavailable(target.rip, "refined stub cannot be assembled"))
                        }
                    }
                }
                StubRun::Visit(regs) => {
                    visits.push(*regs);
                    if visits.len() == PROBE_VISITS {
                        match assemble(&visits, &words) {
                            Some(s) => stub = s,
                            None => return Ok(unavailable(target.rip, "stub cannot be assembled")),
                        }
                    }
                }
                // Control came into the site's bytes (caught before it ran
                // them): once is a return; often is a branch target there.
                StubRun::Entered => {
                    entries += 1;
                    if entries > MAX_ENTRIES {
                        self.unsafe_sites.insert((tgid, target.rip));
                        return Ok(unavailable(target.rip, "branches into the site"));
                    }
                }
            }
        }
    }

    /// Single-steps `live` until it is outside `site`'s bytes after its
    /// first; false when it stopped otherwise (the stop is kept for the
    /// debug-register search) or did not get out.
    fn step_out_of(
        &mut self,
        tid: trace_format::RecTid,
        live: Tid,
        site: &crate::tracee::insn::PatchSite,
    ) -> anyhow::Result<bool> {
        self.step_while(tid, live, 16, |rip| {
            rip > site.addr && rip < site.addr + site.len
        })
    }

    /// Single-steps `live` (resumed into the stub's replaced instructions)
    /// until it is out of the stub's mapping.
    fn step_out_of_page(
        &mut self,
        tid: trace_format::RecTid,
        live: Tid,
        page: u64,
    ) -> anyhow::Result<bool> {
        self.step_while(tid, live, 64, |rip| {
            rip >= page && rip < page + searchstub::MAP_LEN
        })
    }

    /// Single-steps `live` (recorded as `tid`; at most `max` instructions)
    /// while `inside(rip)`; false when it stopped otherwise (the stop is
    /// stashed) or did not get out. A `rep` string instruction (Go's
    /// memclr of a frame: `rep stosq` with 549 iterations) runs to its end
    /// at once, not a step per iteration.
    fn step_while(
        &mut self,
        tid: trace_format::RecTid,
        live: Tid,
        max: u32,
        inside: impl Fn(u64) -> bool,
    ) -> anyhow::Result<bool> {
        // A watched write among the steps is reported once out (the
        // thread's rip is then program code again).
        let mut watched: Option<BreakpointHit> = None;
        for _ in 0..max {
            let mut regs = ptrace::get_regs(live)?;
            if !inside(regs.rip) {
                // A step over the stub's popfq leaves the kernel's TF in
                // the flags (it takes popf as setting TF itself).
                if regs.eflags & TF != 0 {
                    regs.eflags &= !TF;
                    ptrace::set_regs(live, &regs)?;
                }
                if let Some(hit) = watched {
                    return Err(anyhow::anyhow!(BreakpointHit {
                        addr: regs.rip,
                        ..hit
                    }));
                }
                return Ok(true);
            }
            let code = self.mem(tid)?.read_prefix(RemoteAddr(regs.rip), 16);
            let w = match crate::tracee::insn::steppable(&code, regs.rip) {
                Some(Some(len)) => self.run_past(live, regs.rip + len)?,
                _ => {
                    ptrace::resume(live, ptrace::Resume::Step, 0)?;
                    self.wait_for(live)?
                }
            };
            if w.stop != Stop::Signal(libc::SIGTRAP) {
                self.stashed.entry(live).or_default().push_front(w);
                return Ok(false);
            }
            if let Some(hit) = self.watch_trap(tid, live)? {
                watched.get_or_insert(hit);
            }
        }
        Ok(!inside(ptrace::get_regs(live)?.rip))
    }

    /// Runs `live` to `end` with debug register 0 (its other uses put back
    /// after).
    fn run_past(&mut self, live: Tid, end: u64) -> anyhow::Result<Waited> {
        let (dr0, dr7) = (
            ptrace::get_debugreg(live, 0)?,
            ptrace::get_debugreg(live, 7)?,
        );
        ptrace::set_debugreg(live, 0, end)?;
        ptrace::set_debugreg(live, 6, 0)?;
        ptrace::set_debugreg(live, 7, DR7_L0 | self.watch_dr7())?;
        ptrace::resume(live, ptrace::Resume::Cont, 0)?;
        let w = self.wait_for(live);
        ptrace::set_debugreg(live, 7, 0)?;
        ptrace::set_debugreg(live, 0, dr0)?;
        ptrace::set_debugreg(live, 7, dr7)?;
        // DR0's report goes; a watchpoint's stays for `watch_trap`.
        let dr6 = ptrace::get_debugreg(live, 6)?;
        ptrace::set_debugreg(live, 6, dr6 & !DR6_B0)?;
        w
    }

    fn stub_run(
        &mut self,
        e: &Event,
        live: Tid,
        target: &Regs,
        memory: &PointMemory<'_>,
        placed: &Placed<'_>,
    ) -> anyhow::Result<StubRun> {
        let (stub, page, site, patched) = (placed.stub, placed.page, placed.site, placed.original);
        let in_page = |rip: u64| rip >= page && rip < page + searchstub::MAP_LEN;
        let guards: u64 = self
            .free_slots()
            .into_iter()
            .take(site.interior().count())
            .map(|n| 1u64 << n)
            .sum();
        let mut stray = 0;
        loop {
            ptrace::resume(live, ptrace::Resume::Syscall, 0)?;
            let w = self.wait_for(live)?;
            match w.stop {
                Stop::Signal(libc::SIGTRAP) => {
                    if let Some(hit) = self.debug_trap(e.tid, live)? {
                        return Err(anyhow::anyhow!(hit));
                    }
                    let mut regs = ptrace::get_regs(live)?;
                    // The thread's registers as at the point's rip.
                    let here = Regs {
                        rip: target.rip,
                        ..regs
                    };
                    if regs.rip == stub.matched && stub.probe && !same_state(&here, target) {
                        self.preempt_stats.probes += 1;
                        regs.rip = stub.resume;
                        ptrace::set_regs(live, &regs)?;
                        if !self.step_out_of_page(e.tid, live, page)? {
                            return Ok(StubRun::Left);
                        }
                        return Ok(StubRun::Visit(Box::new(here)));
                    }
                    if regs.rip == stub.matched {
                        let check = if regs.fs_base == target.fs_base {
                            self.point_memory(e, memory, Some(patched))?
                        } else {
                            MemoryCheck::Differs(Vec::new())
                        };
                        let MemoryCheck::Differs(words) = check else {
                            return Ok(StubRun::Reached);
                        };
                        self.preempt_stats.hits += 1;
                        regs.rip = stub.resume;
                        ptrace::set_regs(live, &regs)?;
                        match words {
                            words
                                if stub.probe
                                    || (!words.is_empty()
                                        && placed.refinements < MAX_REFINEMENTS) =>
                            {
                                // Out of the stub before it is rewritten.
                                if !self.step_out_of_page(e.tid, live, page)? {
                                    return Ok(StubRun::Left);
                                }
                                return Ok(StubRun::Refine(words, Box::new(here)));
                            }
                            _ => continue,
                        }
                    }
                    let dr6 = ptrace::get_debugreg(live, 6)?;
                    // (The kernel does not always report which debug
                    // register fired: the rip tells.)
                    if !in_page(regs.rip)
                        && (dr6 & guards != 0 || site.interior().any(|a| a == regs.rip))
                    {
                        tracing::debug!(
                            rip = regs.rip,
                            point = target.rip,
                            "control entered a patched site"
                        );
                        return Ok(StubRun::Entered);
                    }
                    return Err(anyhow::anyhow!(super::Divergence::new(
                        e.time,
                        e.tid,
                        format!("to run to a preemption point at {:#x}", target.rip),
                        format!("an unexpected trap at {:#x} (dr6 {dr6:#x})", regs.rip)
                    )));
                }
                _ => other_stop(e, target, &w, &mut stray)?,
            }
        }
    }
}

/// How the thread's memory compares with the point's.
enum MemoryCheck {
    Equal,
    /// Verbatim words that differ, in the event's order (the stack from rsp
    /// first), then rrgo's page counts; empty when only a hashed range
    /// differs.
    Differs(Vec<Word>),
}

/// A memory word that differs from the point's.
#[derive(Debug, Clone, Copy)]
struct Word {
    addr: u64,
    want: u64,
}

impl ReplaySession {
    /// Whether the memory recorded with the point is the same now: equal
    /// registers alone can be an earlier visit of a loop whose state lives
    /// in memory (a counter spilled to the stack, a field of a reused
    /// object). rrgo's own bytes in the program (breakpoints, the jmp at
    /// `patched`) read as the program's.
    fn point_memory(
        &self,
        e: &Event,
        v: &PointMemory<'_>,
        patched: Option<(u64, &[u8])>,
    ) -> anyhow::Result<MemoryCheck> {
        if v.is_empty() {
            return Ok(MemoryCheck::Equal);
        }
        let mem = self.mem(e.tid)?;
        let main = self
            .threads
            .get(&e.tid)
            .is_some_and(|t| t.tgid == self.main_pid.0);
        // Memory as the program wrote it: the bytes the stub's patch and
        // the breakpoints replaced put back.
        let unpatch = |addr: u64, data: &mut [u8]| {
            let range = addr..addr + data.len() as u64;
            let mut put = |at: u64, bytes: &[u8]| {
                for (i, b) in bytes.iter().enumerate() {
                    let a = at + i as u64;
                    if range.contains(&a) {
                        data[(a - addr) as usize] = *b;
                    }
                }
            };
            if let Some((at, bytes)) = patched {
                put(at, bytes);
            }
            if main {
                for (at, orig) in &self.breakpoints {
                    put(*at, &[*orig]);
                }
            }
        };
        let read = |addr: RemoteAddr, len: u64| -> Option<Vec<u8>> {
            let mut data = mem.read_prefix(addr, len as usize);
            if data.len() as u64 != len {
                return None;
            }
            unpatch(addr.0, &mut data);
            Some(data)
        };
        let mut words = Vec::new();
        let mut differs = false;
        for w in v.verbatim {
            let Some(now) = read(w.addr, w.data.len() as u64) else {
                return Ok(MemoryCheck::Differs(Vec::new()));
            };
            if now == w.data {
                continue;
            }
            differs = true;
            for (i, (a, b)) in now.chunks(8).zip(w.data.chunks(8)).enumerate() {
                if a != b && b.len() == 8 && words.len() < 2 * MAX_WORDS {
                    let want = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                    tracing::trace!(
                        time = e.time.0,
                        at = format_args!("{:#x}", w.addr.0 + 8 * i as u64),
                        want = format_args!("{want:#x}"),
                        have = format_args!(
                            "{:#x}",
                            u64::from_le_bytes(a.try_into().unwrap_or([0; 8]))
                        ),
                        "memory word differs"
                    );
                    words.push(Word {
                        addr: w.addr.0 + 8 * i as u64,
                        want,
                    });
                }
            }
        }
        // Hashing reads every page the slice wrote: only once the words
        // the stub can learn agree, and up to the first that differs.
        let first = v.differed.get().min(v.hashes.len());
        let order = (first..v.hashes.len()).chain(0..first);
        for i in order {
            if differs {
                break;
            }
            let h = &v.hashes[i];
            match mem.hash_prefix(h.addr, h.len as usize, &unpatch) {
                (len, hash) if len as u64 == h.len && hash == h.hash => {}
                _ => {
                    tracing::trace!(
                        time = e.time.0,
                        at = format_args!("{:#x}", h.addr.0),
                        len = h.len,
                        "hashed memory differs"
                    );
                    v.differed.set(i);
                    differs = true
                }
            }
        }
        // The recorder flushed rrgo's page at the point: an earlier visit
        // (netpoll called in a loop: equal registers, equal stack) has not
        // used up the clock reads or buffered calls provided before it.
        for (addr, want) in crate::tracee::clockpage::unused(mem) {
            differs = true;
            words.push(Word { addr, want });
        }
        if differs {
            tracing::trace!(
                time = e.time.0,
                words = words.len(),
                "equal registers, other memory: not the point yet"
            );
            return Ok(MemoryCheck::Differs(words));
        }
        Ok(MemoryCheck::Equal)
    }
}

/// A stop during a search that is not its own: a group-stop (a replayed
/// SIGSTOP) or a signal the recording delivers elsewhere (e.g. SIGCHLD of
/// a real child) is run over, as when recording; anything else diverges.
fn other_stop(e: &Event, target: &Regs, w: &Waited, stray: &mut u32) -> anyhow::Result<()> {
    match w.stop {
        Stop::Event { event, .. } if event == libc::PTRACE_EVENT_STOP => Ok(()),
        Stop::Signal(sig)
            if *stray < 100
                && !matches!(
                    sig,
                    libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
                ) =>
        {
            *stray += 1;
            Ok(())
        }
        _ => {
            // Which call, from where: what the thread did instead.
            let got = match (w.stop, ptrace::get_regs(w.tid)) {
                (Stop::Syscall, Ok(r)) => {
                    tracing::debug!("return addresses: {}", return_addresses(w.tid, r.rbp));
                    format!(
                        "a {} syscall at {:#x} ({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})",
                        crate::syscall_names::name(r.orig_rax as i64),
                        r.rip,
                        r.rdi,
                        r.rsi,
                        r.rdx,
                        r.r10,
                        r.r8,
                        r.r9
                    )
                }
                (stop, _) => format!("{stop:?}"),
            };
            Err(anyhow::anyhow!(super::Divergence::new(
                e.time,
                e.tid,
                format!("to run to a preemption point at {:#x}", target.rip),
                got
            )))
        }
    }
}

/// The frame-pointer chain's return addresses from `bp` (for the log of a
/// divergence: where the thread went instead).
fn return_addresses(tid: Tid, mut bp: u64) -> String {
    let Ok(mem) = crate::tracee::mem::ProcMem::open(tid.0) else {
        return String::new();
    };
    let mut out = Vec::new();
    for _ in 0..40 {
        let (Ok(next), Ok(ret)) = (
            mem.read_u64(trace_format::RemoteAddr(bp)),
            mem.read_u64(trace_format::RemoteAddr(bp + 8)),
        ) else {
            break;
        };
        out.push(format!("{ret:#x}"));
        if next <= bp {
            break;
        }
        bp = next;
    }
    out.join(" ")
}

impl ReplaySession {
    /// The interior instruction starts of `site` that control may enter
    /// while the thread is searched, so a debug register must guard them
    /// (an enabled one made the searched thread 4x slower on these VMs:
    /// cpuworkers replayed in 0.68 s with guards, 0.35 s without, against
    /// 0.34 s recording). `CodeMap::site` already refused sites a branch
    /// of their function lands in; what else resumes code at an arbitrary
    /// instruction is a signal: Go's asyncPreempt returns, and a goroutine
    /// preempted so resumes (`gogo`), where a signal was delivered. Those
    /// places are known: every delivery so far (`landings`); later ones
    /// come after this search.
    fn needs_guards(&self, tgid: i32, site: &crate::tracee::insn::PatchSite) -> Vec<u64> {
        let Some(landed) = self.landings.get(&tgid) else {
            return Vec::new();
        };
        site.interior().filter(|a| landed.contains(a)).collect()
    }
}
