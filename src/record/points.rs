//! Where a timeslice's preemption point lands.
//!
//! Why: replay finds a preemption point by running the thread with a
//! `jmp` to its search stub over the point's instructions
//! (`tracee::searchstub`), which needs a patch site there: instructions
//! that can run elsewhere, 5 bytes or more, none a call or a trap. A
//! thread interrupted at the end of its slice can be anywhere, so the
//! recorder runs it on a few instructions (single steps; a `rep` string
//! instruction to its end) until it stands at such a site. Replay then
//! never has to stop at every visit of the point, and a point is never in
//! the middle of a `rep movs`, where no breakpoint can find it.

use anyhow::Context;
use trace_format::{Regs, RemoteAddr};

use super::session::Recorder;
use crate::tracee::codemap::CodeMap;
use crate::tracee::insn;
use crate::tracee::wait::{self, Stop};
use crate::tracee::{clockpage, ptrace, Tid};

/// Instructions to try before keeping the point where it is.
const MAX_STEPS: usize = 64;

/// Instructions to try past a site that needs a guard, for one that does not.
const GUARD_FREE_STEPS: usize = 8;

/// DR7: DR0 enabled (local), execute.
pub(super) const DR7_L0: u64 = 1;

/// Whether `e` comes from a thread that no longer exists (killed, e.g.
/// by a SIGKILL from outside, while rrgo stepped it): its death stop
/// follows and is handled as any other.
pub(super) fn thread_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::ESRCH))
    })
}

/// What settling did.
pub(super) struct Settled {
    pub regs: Regs,
    /// The point is a patch site: replay's stub can search it.
    pub site: bool,
    /// Instructions run to get there.
    pub steps: usize,
}

impl Recorder {
    /// Whether `tid`'s code at `rip` is a patch site (a point left where
    /// it is, e.g. where a signal landed).
    pub(super) fn at_site(&mut self, tid: Tid, rip: u64) -> bool {
        self.site_at(tid, rip).is_some()
    }

    /// The patch site at `rip`: `Some(true)` when it is one instruction,
    /// so replay needs no debug register to guard its interior (an
    /// instruction starting inside the patch's `jmp`): an enabled debug
    /// register made the searched thread 4x slower on these VMs (replay of
    /// racecounter 0.52 s against 0.13 s without).
    fn site_at(&mut self, tid: Tid, rip: u64) -> Option<bool> {
        // rrgo's page keeps its state (buffers, counts) in the page, not on
        // the stack: a point there is recorded with contents.
        if clockpage::in_code(rip) {
            return None;
        }
        let p = self.t.proc_of_mut(tid)?;
        let pid = p.mem.pid();
        p.code
            .get_or_insert_with(|| CodeMap::load(pid))
            .site(&p.mem, rip)
            .map(|s| s.interior().next().is_none())
    }

    /// Runs `tid` (stopped by the recorder's interrupt at `regs`) on to a
    /// patch site. `None`: the thread died meanwhile.
    pub(super) fn settle_point(&mut self, tid: Tid, regs: Regs) -> anyhow::Result<Option<Settled>> {
        let mut held = Vec::new();
        let began = std::time::Instant::now();
        let from = regs.rip;
        let out = self.settle(tid, regs, &mut held);
        self.requeue(tid, held);
        if let Ok(Some(s)) = &out {
            tracing::debug!(%tid, from = format_args!("{from:#x}"), to = format_args!("{:#x}", s.regs.rip), site = s.site, steps = s.steps, took = ?began.elapsed(), "settled a point");
        }
        out
    }

    fn settle(
        &mut self,
        tid: Tid,
        mut regs: Regs,
        held: &mut Vec<(i32, [u8; 128])>,
    ) -> anyhow::Result<Option<Settled>> {
        let mut stops = 0;
        // Steps taken when the first site that needs a guard was passed.
        let mut first_site = None;
        let start = regs.rip;
        // It has been elsewhere since (a step that only collected a signal
        // executed nothing).
        let mut left = false;
        while stops < MAX_STEPS + 64 {
            left |= regs.rip != start;
            let kind = self.site_at(tid, regs.rip);
            let site = kind.is_some();
            if site {
                first_site.get_or_insert(stops);
            }
            let code = match self.t.proc_of(tid) {
                Some(p) => p.mem.read_prefix(RemoteAddr(regs.rip), 32),
                None => Vec::new(),
            };
            let settled = kind == Some(true)
                || (site && first_site.is_some_and(|f| stops >= f + GUARD_FREE_STEPS));
            // Back where it started with no site on the way: a loop with
            // none in it (Go's `for {}`: a 2-byte `jmp` to itself, too
            // short to patch), which the remaining steps would only go
            // round (64 steps were 1 ms of every preemption of a spinner).
            let looped = left && regs.rip == start && first_site.is_none();
            if settled || looped || stops >= MAX_STEPS || clockpage::in_code(regs.rip) {
                return Ok(Some(Settled {
                    regs,
                    site,
                    steps: stops,
                }));
            }
            let Some(rep) = insn::steppable(&code, regs.rip) else {
                return Ok(Some(Settled {
                    regs,
                    site,
                    steps: stops,
                }));
            };
            stops += 1;
            if rep.is_some() {
                tracing::debug!(%tid, rip = regs.rip, left = regs.rcx, "preempted at a rep string instruction: running it to its end");
                self.stats.rep_strings_finished += 1;
            }
            let w = self
                .step_past(tid, regs.rip, rep)
                .context("settling a preemption point")?;
            match w.stop {
                Stop::Signal(libc::SIGTRAP)
                    if trace_format::SigInfo(ptrace::get_siginfo(tid)?).code() > 0 =>
                {}
                Stop::Signal(sig) => {
                    let info = ptrace::get_siginfo(tid)?;
                    if super::signals::is_fault(sig, trace_format::SigInfo(info).code()) {
                        // The instruction faults: it did not run, and it
                        // faults again (recorded then) when the thread goes on.
                        return Ok(Some(Settled { regs, site, steps: stops }));
                    }
                    held.push((sig, info));
                }
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_STOP => {}
                Stop::Exited(_) | Stop::Killed { .. } => {
                    self.handle(w)?;
                    return Ok(None);
                }
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXIT => {
                    self.handle(w)?;
                    return Ok(None);
                }
                other => {
                    return Err(anyhow::anyhow!(
                        "thread {tid} stopped unexpectedly ({other:?}) while settling a preemption point"
                    ))
                }
            }
            regs = ptrace::get_regs(tid)?;
        }
        Ok(Some(Settled {
            regs,
            site: false,
            steps: stops,
        }))
    }

    /// One instruction: a single step, or a `rep` string instruction (a
    /// step per iteration) run to a debug breakpoint just after it.
    fn step_past(&mut self, tid: Tid, rip: u64, rep: Option<u64>) -> anyhow::Result<wait::Waited> {
        if let Some(len) = rep {
            ptrace::set_debugreg(tid, 0, rip + len)?;
            ptrace::set_debugreg(tid, 6, 0)?;
            ptrace::set_debugreg(tid, 7, DR7_L0)?;
        }
        let how = if rep.is_some() {
            ptrace::Resume::Cont
        } else {
            ptrace::Resume::Step
        };
        let w = ptrace::resume(tid, how, 0)
            .with_context(|| format!("cannot step thread {tid}"))
            .and_then(|()| wait::wait_tid(tid).context("waiting for a step"));
        if rep.is_some() {
            let _ = ptrace::set_debugreg(tid, 7, 0);
            let _ = ptrace::set_debugreg(tid, 6, 0);
        }
        w
    }
}
