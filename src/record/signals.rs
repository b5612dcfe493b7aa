//! Signal-delivery stops: RDTSC emulation, synchronous faults, and
//! asynchronous signals placed at a point replay can find again.

use trace_format::{DeliveryPoint, EventKind, SigInfo};

use super::rdtsc;
use super::session::Recorder;
use crate::tracee::{ptrace, Tid};

/// si_code of signals the kernel raised for a fault (or a trapped RDTSC).
const SI_KERNEL: i32 = 0x80;

pub(super) fn is_fault(sig: i32, si_code: i32) -> bool {
    si_code > 0
        && si_code != SI_KERNEL
        && matches!(
            sig,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
        )
}

impl Recorder {
    pub(super) fn on_signal(&mut self, tid: Tid, sig: i32) -> anyhow::Result<()> {
        let raw = ptrace::get_siginfo(tid)?;
        let raw = self.requeued_siginfo(tid, sig, raw)?;
        let siginfo = SigInfo(raw);
        let si_code = siginfo.code();
        let mut regs = ptrace::get_regs(tid)?;

        if sig == libc::SIGSEGV && si_code == SI_KERNEL {
            let tsc = self
                .t
                .proc_of(tid)
                .and_then(|p| rdtsc::decode(&p.mem, regs.rip));
            if let Some((len, is_rdtscp)) = tsc {
                let (value, aux) = rdtsc::now(is_rdtscp);
                let rip = trace_format::RemoteAddr(regs.rip);
                rdtsc::apply(&mut regs, len, value, aux);
                ptrace::set_regs(tid, &regs)?;
                self.append(tid, EventKind::Rdtsc { rip, value, aux })?;
                self.stats.rdtsc += 1;
                if let Some(th) = self.t.get(tid) {
                    th.last_regs = Some(regs);
                }
                return self.continue_or_switch(tid);
            }
        }

        let point = if is_fault(sig, si_code) {
            DeliveryPoint::Fault
        } else {
            // Asynchronous: if the thread ran user code since its last stop,
            // the kernel picked an arbitrary instruction: make it a preemption point.
            let stepped = match self.leave_page_code(tid, regs, Some(&raw))? {
                Some((r, stepped)) => {
                    regs = r;
                    stepped
                }
                None => return Ok(()),
            };
            let ran = stepped || self.t.get(tid).is_some_and(|t| t.last_regs != Some(regs));
            if ran {
                self.record_preempt(tid, regs)?;
            }
            DeliveryPoint::AtLastStop
        };
        self.append(
            tid,
            EventKind::Signal {
                signo: sig,
                siginfo,
                point,
            },
        )?;
        self.stats.signals += 1;
        if let Some(th) = self.t.get(tid) {
            th.inject = sig;
            th.last_regs = Some(regs);
        }
        self.continue_or_switch(tid)
    }
}
