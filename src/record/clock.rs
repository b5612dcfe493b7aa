//! The recorder's side of the clock page (`tracee::clockpage`): patching the
//! vDSO at exec, mapping the page at the execve's return, emptying the
//! buffer into `ClockReads` events, and keeping stops out of the page's code.

use anyhow::{anyhow, Context};
use trace_format::{EventKind, RecTid, Regs, VdsoSetup};

use super::session::Recorder;
use crate::tracee::wait::{self, Stop};
use crate::tracee::{auxv, clockpage, mem::ProcMem, ptrace, vdso, Tid};

/// The vDSO is patched (and the clock page used) unless RRGO_VDSO=hide.
pub(super) fn patch_wanted() -> bool {
    std::env::var("RRGO_VDSO").map_or(true, |v| v != "hide")
}

impl Recorder {
    /// At an exec stop: patches the vDSO, or hides it where that is not
    /// possible (no seccomp filter to let the page's clock reads through, a
    /// vDSO rrgo cannot patch). Returns what replay must do.
    pub(super) fn setup_vdso(&mut self, mem: &ProcMem, rsp: u64) -> anyhow::Result<VdsoSetup> {
        let aux =
            auxv::fix_at_exec(mem, rsp, false).context("cannot read the new program's auxv")?;
        if self.clock_pages {
            let patched = match aux.vdso {
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

    /// At the exit stop of an execve whose Exec patched the vDSO: maps the
    /// clock page the patched `clock_gettime` jumps to.
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

    /// Before an event of `tid`: the clock reads it made since its previous
    /// event, as a `ClockReads` event (only the thread that ran user code
    /// last can have made any).
    pub(super) fn flush_clock_reads(&mut self, tid: Tid) -> anyhow::Result<()> {
        if self.last_ran != Some(tid) && !self.clock_pending_reads.contains_key(&tid) {
            return Ok(());
        }
        let mut entries = self.clock_pending_reads.remove(&tid).unwrap_or_default();
        if self.last_ran == Some(tid) {
            entries.extend(self.take_clock_entries(tid));
        }
        if !entries.is_empty() {
            self.stats.clock_reads += (entries.len() / clockpage::ENTRY_LEN) as u64;
            self.writer
                .append(EventKind::ClockReads { entries }, RecTid(tid.0))?;
        }
        Ok(())
    }

    /// Another thread is about to run: what the last one read stays with it
    /// until its next event.
    pub(super) fn switching_to(&mut self, tid: Tid) {
        match self.last_ran {
            Some(prev) if prev != tid => {
                let entries = self.take_clock_entries(prev);
                if !entries.is_empty() {
                    self.clock_pending_reads
                        .entry(prev)
                        .or_default()
                        .extend(entries);
                }
            }
            _ => {}
        }
        self.last_ran = Some(tid);
    }

    fn take_clock_entries(&mut self, tid: Tid) -> Vec<u8> {
        let Some(p) = self.t.proc_of(tid).filter(|p| p.clock) else {
            return Vec::new();
        };
        // A process being torn down has nothing left to replay.
        clockpage::take_entries(&p.mem).unwrap_or_else(|e| {
            tracing::debug!(%tid, "cannot empty the clock page: {e}");
            Vec::new()
        })
    }

    /// A thread stopped at an arbitrary instruction (interrupt, asynchronous
    /// signal) inside the clock page's code is single-stepped to a safe
    /// point first: the page's two paths differ there, so replay could not
    /// find the point, and the buffer may be half-updated. `siginfo` is put
    /// back for the signal that stopped it. `None`: the thread died.
    pub(super) fn leave_clock_code(
        &mut self,
        tid: Tid,
        mut regs: Regs,
        siginfo: Option<&[u8; 128]>,
    ) -> anyhow::Result<Option<Regs>> {
        if clockpage::safe_point(regs.rip) || !self.t.proc_of(tid).is_some_and(|p| p.clock) {
            return Ok(Some(regs));
        }
        tracing::debug!(%tid, rip = regs.rip, "stepping out of the clock page");
        self.stats.clock_steps_out += 1;
        // The code is straight-line: a few dozen instructions at most.
        for _ in 0..256 {
            ptrace::resume(tid, ptrace::Resume::Step, 0)
                .with_context(|| format!("cannot step thread {tid} out of the clock page"))?;
            let w = wait::wait_tid(tid).context("waiting for a single step")?;
            match w.stop {
                Stop::Signal(libc::SIGTRAP) => {}
                Stop::Signal(other) => {
                    // Stepping discarded it: send it again, it lands later.
                    tracing::debug!(%tid, sig = other, "re-sending a signal that arrived while stepping");
                    let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
                    // SAFETY: tgkill to our own tracee.
                    unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid.0, other) };
                }
                Stop::Exited(_) | Stop::Killed { .. } => {
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
            if clockpage::safe_point(regs.rip) {
                if let Some(info) = siginfo {
                    ptrace::set_siginfo(tid, info)?;
                }
                return Ok(Some(regs));
            }
        }
        Err(anyhow!(
            "thread {tid} did not leave rrgo's clock page (rip {:#x})",
            regs.rip
        ))
    }
}
