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
    /// An RDRAND/RDSEED under rrgo's `int3` trapped: the value comes from
    /// the recorder's getrandom and is recorded.
    fn emulate_rand(
        &mut self,
        tid: Tid,
        mut regs: trace_format::Regs,
        rip: u64,
        first: u8,
    ) -> anyhow::Result<()> {
        let mut code = [0u8; 15];
        code[0] = first;
        if let Some(p) = self.t.proc_of(tid) {
            let rest = p.mem.read_prefix(trace_format::RemoteAddr(rip + 1), 14);
            code[1..1 + rest.len()].copy_from_slice(&rest);
        }
        let insn = crate::tracee::insn::rand_insn(&code, rip)
            .ok_or_else(|| anyhow::anyhow!("no RDRAND/RDSEED at {rip:#x} any more"))?;
        let mut value = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into `value`.
        unsafe { libc::getrandom(value.as_mut_ptr().cast(), 8, 0) };
        let value = u64::from_le_bytes(value);
        crate::tracee::insn::apply_rand(&mut regs, rip, insn, value);
        ptrace::set_regs(tid, &regs)?;
        self.append(
            tid,
            EventKind::Rdrand {
                rip: trace_format::RemoteAddr(rip),
                first,
                value,
            },
        )?;
        self.stats.rdrand += 1;
        if let Some(th) = self.t.get(tid) {
            th.last_regs = Some(regs);
        }
        self.continue_or_switch(tid)
    }

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

        if sig == libc::SIGTRAP && si_code == SI_KERNEL {
            let rip = regs.rip.wrapping_sub(1);
            let first = self
                .t
                .proc_of(tid)
                .and_then(|p| p.rand_sites.get(&rip).copied());
            if let Some(first) = first {
                return self.emulate_rand(tid, regs, rip, first);
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
