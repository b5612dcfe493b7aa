//! The recorder's side of rrgo's page (`tracee::clockpage`): patching the
//! vDSO at exec (Go's `Syscall6`: `syscall6`), mapping the page at the
//! execve's return, emptying its buffers into `ClockReads` and `BufferedCalls`
//! events, and keeping stops out of the page's code.

use anyhow::{anyhow, Context};
use trace_format::{EventKind, RecTid, Regs, VdsoSetup};

use super::session::Recorder;
use crate::tracee::wait::{self, Stop};
use crate::tracee::{auxv, clockpage, mem::ProcMem, ptrace, vdso, Tid};

/// The vDSO is patched (and the clock page used) unless RRGO_VDSO=hide.
pub(super) fn patch_wanted() -> bool {
    std::env::var("RRGO_VDSO").map_or(true, |v| v != "hide")
}

/// Whether a thread stopped in rrgo's page was single-stepped out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stepped {
    /// It was at a safe point already.
    No,
    /// It was, from a stop where it had run its own code since its last
    /// stop: the point is an arbitrary visit (a tight loop can come back
    /// with equal registers).
    Ran,
    /// It was, from where it stood since its last stop: the point is its
    /// first arrival there.
    FromLastStop,
}

impl Recorder {
    /// At an exec stop: patches the vDSO, or hides it where that is not
    /// possible (no seccomp filter to let the page's clock reads through, a
    /// vDSO rrgo cannot patch). `vdso`: where AT_SYSINFO_EHDR says it is.
    /// Returns what replay must do.
    pub(super) fn setup_vdso(
        &mut self,
        mem: &ProcMem,
        rsp: u64,
        vdso: Option<u64>,
    ) -> anyhow::Result<VdsoSetup> {
        if self.clock_pages {
            let patched = match vdso {
                Some(base) => vdso::read(mem, base)
                    .map_err(|e| e.to_string())
                    .and_then(|image| vdso::patched(&image))
                    .map(|image| (base, image)),
                None => Err("the program has no vDSO".into()),
            };
            match patched {
                Ok((base, image)) => {
                    mem.write(trace_format::RemoteAddr(base), &image)
                        .context("cannot patch the new program's vDSO")?;
                    return Ok(VdsoSetup::Patched {
                        base: trace_format::RemoteAddr(base),
                        image,
                    });
                }
                Err(why) => {
                    if !self.warned_vdso {
                        self.warned_vdso = true;
                        crate::say!(
                            "warning: {why}; clock reads will be recorded as syscalls (slower)"
                        );
                    }
                }
            }
        }
        auxv::fix_at_exec(mem, rsp, true).context("cannot hide the new program's vDSO")?;
        Ok(VdsoSetup::Hidden)
    }

    /// At the exit stop of an execve whose Exec patched the vDSO or the
    /// program: maps rrgo's page they jump to.
    pub(super) fn install_clock_page(&mut self, tid: Tid) -> anyhow::Result<()> {
        let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
        let Some(p) = self.t.procs.get_mut(&tgid) else {
            return Ok(());
        };
        if !std::mem::take(&mut p.clock_pending) {
            return Ok(());
        }
        clockpage::install(tid, &p.mem, clockpage::Mode::Record).context(
            "cannot map rrgo's clock page into the program (RRGO_VDSO=hide records without it)",
        )?;
        p.clock = true;
        Ok(())
    }

    /// Before an event of `tid`: the clock reads and buffered calls it made
    /// through rrgo's page since its previous event, as `ClockReads` and
    /// `BufferedCalls` events (only the thread that ran user code last can
    /// have made any).
    pub(super) fn flush_page(&mut self, tid: Tid) -> anyhow::Result<()> {
        if self.last_ran != Some(tid) || !self.page_maybe_used {
            return Ok(());
        }
        self.page_maybe_used = false;
        let taken = self.take_page(tid);
        if !taken.clock.is_empty() {
            self.stats.clock_reads += (taken.clock.len() / clockpage::ENTRY_LEN) as u64;
            let entries = taken.clock;
            self.writer
                .append(EventKind::ClockReads { entries }, RecTid(tid.0))?;
        }
        if !taken.calls.is_empty() {
            self.stats.buffered_calls += clockpage::call_records(&taken.calls)
                .iter()
                .filter(|r| r.done)
                .count() as u64;
            let mut calls = EventKind::BufferedCalls {
                records: taken.calls,
            };
            self.redact(tid, &mut calls);
            self.writer.append(calls, RecTid(tid.0))?;
        }
        Ok(())
    }

    /// Another thread is about to run. If the last one used the page since
    /// its last event, it stopped at a point no event marks (replay would
    /// run it past): that point becomes a preemption, which also empties
    /// the page into events of its own.
    pub(super) fn switching_to(&mut self, tid: Tid) -> anyhow::Result<()> {
        if let Some(prev) = self.last_ran.filter(|&p| p != tid && self.page_maybe_used) {
            let used = self
                .t
                .proc_of(prev)
                .filter(|p| p.clock)
                .is_some_and(|p| clockpage::in_use(&p.mem).unwrap_or(false));
            if used
                && self
                    .t
                    .get(prev)
                    .is_some_and(|t| t.state == super::threads::State::Stopped)
            {
                tracing::debug!(%prev, %tid, "the page was used since the last event: a preemption point");
                let regs = ptrace::get_regs(prev)?;
                let site = self.at_site(prev, regs.rip);
                self.record_preempt(prev, regs, site)?;
            }
        }
        self.last_ran = Some(tid);
        self.shared_stores_of_others(tid)
    }

    fn take_page(&mut self, tid: Tid) -> clockpage::Taken {
        let Some(p) = self.t.proc_of(tid).filter(|p| p.clock) else {
            return Default::default();
        };
        // A process being torn down has nothing left to replay.
        clockpage::take(&p.mem).unwrap_or_else(|e| {
            tracing::debug!(%tid, "cannot empty rrgo's page: {e}");
            Default::default()
        })
    }

    /// A thread stopped at an arbitrary instruction (interrupt, asynchronous
    /// signal) inside the clock page's code is single-stepped to a safe
    /// point first: the page's two paths differ there, so replay could not
    /// find the point, and the buffer may be half-updated. For a signal
    /// (`siginfo`), a point just past one of the page's syscalls is not
    /// enough: its handler would see the page's pc (`handler_safe`).
    /// `siginfo` is put back for the signal that stopped it. Signals that arrive while it
    /// steps are held and sent again once it is out (see `requeue`).
    /// Returns the registers and whether it stepped (then the thread
    /// certainly ran: a tight loop can come back with equal registers), and
    /// from where. `None`: the thread died.
    pub(super) fn leave_page_code(
        &mut self,
        tid: Tid,
        regs: Regs,
        siginfo: Option<&[u8; 128]>,
    ) -> anyhow::Result<Option<(Regs, Stepped)>> {
        // A syscall the signal interrupted that the kernel restarts (its
        // result one of the ERESTART codes) is not past: a step would run
        // it again.
        let restarting = crate::syscalls::is_restart_code(regs.rax as i64);
        let safe = if siginfo.is_some() && !restarting {
            clockpage::handler_safe
        } else {
            clockpage::safe_point
        };
        if safe(regs.rip) || !self.t.proc_of(tid).is_some_and(|p| p.clock) {
            return Ok(Some((regs, Stepped::No)));
        }
        // Stepped from where it stood since its last event (a signal that
        // landed just past the page's syscall): its first arrival out of
        // the page is the point. Sysmon's SIGURG finds a thread stopped at
        // such a syscall all the time (gzipsha: 40 of 48 points, 1.5 ms and
        // 20 KB of trace each when compared as an arbitrary visit).
        let stepped = match self.t.get(tid).is_some_and(|t| !t.ran_to(&regs)) {
            true => Stepped::FromLastStop,
            false => Stepped::Ran,
        };
        tracing::debug!(%tid, rip = regs.rip, "stepping out of the clock page");
        self.page_maybe_used = true;
        self.stats.clock_steps_out += 1;
        let mut held = Vec::new();
        let out = self.step_to_safe_point(tid, regs, safe, &mut held);
        // Whatever happened, the signals that arrived meanwhile are not lost.
        self.requeue(tid, held);
        let Some(regs) = out? else {
            return Ok(None);
        };
        if let Some(info) = siginfo {
            ptrace::set_siginfo(tid, info)?;
        }
        Ok(Some((regs, stepped)))
    }

    /// Single-steps `tid` until it is at a point `safe` accepts. A signal reported
    /// meanwhile is taken off (resuming with it would run its handler, which
    /// may use the page, from the middle of the page's code; sending it again
    /// at once would stop the next step before it executes anything, forever)
    /// and kept in `held`. `None`: the thread died.
    fn step_to_safe_point(
        &mut self,
        tid: Tid,
        mut regs: Regs,
        safe: fn(u64) -> bool,
        held: &mut Vec<(i32, [u8; 128])>,
    ) -> anyhow::Result<Option<Regs>> {
        // The code is straight-line (its loops pass through recorded
        // syscalls, which are safe points, or are run over: `run_over`);
        // a `rep movsb` a signal interrupts may take one stop per byte, at
        // most the 1 MiB buffer.
        const MAX_STEPS: usize = 4 << 20;
        // Each held signal is one stop that executed nothing; a thread can
        // be sent only so many (standard signals coalesce).
        let max_stops = MAX_STEPS + 4096;
        for stops in 1..=max_stops {
            let w = self.step_once(tid, regs.rip)?;
            match w.stop {
                Stop::Signal(sig) => {
                    let info = ptrace::get_siginfo(tid)?;
                    let code = trace_format::SigInfo(info).code();
                    if sig != libc::SIGTRAP || code <= 0 {
                        if super::signals::is_fault(sig, code) {
                            return Err(anyhow!(
                                "thread {tid} faulted (signal {sig}) inside rrgo's clock page at {:#x}",
                                regs.rip
                            ));
                        }
                        tracing::debug!(%tid, sig, "holding a signal that arrived while stepping");
                        held.push((sig, info));
                        continue;
                    }
                }
                Stop::Exited(_) | Stop::Killed { .. } => {
                    self.handle(w)?;
                    return Ok(None);
                }
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_STOP => {
                    // An interrupt asked for before the signal that brought
                    // us here was reported (or a group-stop): it executed
                    // nothing, and the thread stops again at the safe point.
                    continue;
                }
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXIT => {
                    // Killed from outside (SIGKILL) while stepping.
                    self.handle(w)?;
                    return Ok(None);
                }
                other => {
                    return Err(anyhow!(
                        "thread {tid} stopped unexpectedly ({other:?}) while stepping out of rrgo's clock page"
                    ))
                }
            }
            regs = ptrace::get_regs(tid)?;
            if safe(regs.rip) {
                tracing::debug!(%tid, stops, held = held.len(), "left the clock page");
                return Ok(Some(regs));
            }
        }
        Err(anyhow!(
            "thread {tid} did not leave rrgo's clock page (rip {:#x})",
            regs.rip
        ))
    }

    /// Runs `tid` past the instruction at `rip`: a single step, or for a
    /// `rep movsb` (a step per byte, up to 1 MiB) or the write digest's
    /// loop a run to a hardware breakpoint just after it. Returns the stop (a signal that arrived
    /// meanwhile leaves the copy to resume where it was interrupted).
    fn step_once(&mut self, tid: Tid, rip: u64) -> anyhow::Result<wait::Waited> {
        /// DR7 bit 0: DR0 enabled (local), execute, length 1.
        const DR7_L0: u64 = 1;
        let to = clockpage::run_over(rip);
        let over = to.is_some();
        if let Some(to) = to {
            ptrace::set_debugreg(tid, 0, to)?;
            ptrace::set_debugreg(tid, 6, 0)?;
            ptrace::set_debugreg(tid, 7, DR7_L0)?;
        }
        let how = if over {
            ptrace::Resume::Cont
        } else {
            ptrace::Resume::Step
        };
        let resumed = ptrace::resume(tid, how, 0)
            .with_context(|| format!("cannot step thread {tid} out of the clock page"));
        let w = resumed.and_then(|()| wait::wait_tid(tid).context("waiting for a single step"));
        if over {
            // Fails harmlessly if the thread died meanwhile.
            let _ = ptrace::set_debugreg(tid, 7, 0);
            let _ = ptrace::set_debugreg(tid, 6, 0);
        }
        w
    }

    /// Sends the signals held while `tid` stepped out of the page again
    /// (they are then delivered at the safe point, or later), remembering
    /// their siginfo so `requeued_siginfo` records the original, not
    /// tgkill's. A standard signal already pending is not queued twice.
    pub(super) fn requeue(&mut self, tid: Tid, held: Vec<(i32, [u8; 128])>) {
        let Some(th) = self.t.get(tid) else {
            return;
        };
        let tgid = th.tgid;
        for (sig, mut info) in held {
            // rrgo's own resend of a signal held before, held again: it is
            // no longer pending, and its original siginfo goes with it. Kept
            // as "pending", every later held instance was dropped — a
            // runtime SIGURG never came back, so the thread spinning in the
            // page was never preempted while another stopped the world
            // (os/signal's go1.24 tests, now and then: record timeout).
            if is_resend(&info) {
                if let Some(i) = th.requeued.iter().position(|&(s, _)| s == sig) {
                    info = th.requeued.remove(i).1;
                }
            }
            let queued = th.requeued.iter().any(|&(s, _)| s == sig);
            if queued && sig < libc::SIGRTMIN() {
                continue;
            }
            tracing::debug!(%tid, sig, "sending a held signal again");
            // SAFETY: tgkill to our own tracee.
            let r = unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid.0, sig) };
            if r == 0 {
                th.requeued.push((sig, info));
            }
        }
    }

    /// At a delivery stop of `sig`: if it is one rrgo sent again (tgkill
    /// from rrgo's pid) after holding it, the siginfo it originally had,
    /// put back into the thread; else `raw`.
    pub(super) fn requeued_siginfo(
        &mut self,
        tid: Tid,
        sig: i32,
        raw: [u8; 128],
    ) -> anyhow::Result<[u8; 128]> {
        if !is_resend(&raw) {
            return Ok(raw);
        }
        let Some(th) = self.t.get(tid) else {
            return Ok(raw);
        };
        let Some(i) = th.requeued.iter().position(|&(s, _)| s == sig) else {
            return Ok(raw);
        };
        let (_, info) = th.requeued.remove(i);
        ptrace::set_siginfo(tid, &info)?;
        Ok(info)
    }
}

/// Whether a signal's siginfo says rrgo sent it (tgkill from rrgo's pid):
/// one held while its thread stepped out of the page, sent again.
fn is_resend(raw: &[u8; 128]) -> bool {
    const SI_TKILL: i32 = -6;
    let sender = i32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]);
    trace_format::SigInfo(*raw).code() == SI_TKILL && sender == std::process::id() as i32
}
