//! Spotting a running thread that spins while another waits for the CPU.
//!
//! Why: the program's threads take turns on one CPU, but it sees more, so
//! a goroutine may spin until another thread has done something — and that
//! thread cannot, until the spinner's turn ends. Go 1.24's background
//! sweeper, for one, loops on `isSweepDone()` (a lock, a check, an unlock:
//! no syscall) until every goroutine that sweeps has finished, which the
//! waiting main thread was in the middle of: a GC-heavy program recorded
//! in 3.2 s against 0.07 s natively, 59 turns of ~50 ms each lost to the
//! spin. The adaptive wait (`wake.rs`) does not see it: the waiter was not
//! woken by the spinner, and preemptions that hash megabytes are costly.
//!
//! How: while another thread waits, the running one is looked at now and
//! then (2 ms into the wait, then at doubling intervals): interrupted
//! where it is, stepped one instruction, and run on with a hardware
//! breakpoint where it stood. A thread that comes back there with the same
//! registers and the same top of stack within a few visits goes round a
//! loop that changes nothing it can see but memory others write: it is
//! spinning, and it is preempted at once. A counting or computing loop
//! comes back with other registers and keeps its turn. A wrong verdict only
//! moves a preemption earlier (a loop whose whole state is in memory
//! elsewhere looks the same); nothing the trace holds depends on it, and a
//! look itself changes nothing the program can observe.
//! `RRGO_SPIN_MS=0` turns the looks off (`RRGO_SPIN_MS=<ms>`: the first
//! look's delay).

use std::time::{Duration, Instant};

use anyhow::anyhow;
use trace_format::{Regs, RemoteAddr};

use super::points::DR7_L0;
use super::session::Recorder;
use super::threads::State;
use crate::tracee::wait::{self, Stop, Waited};
use crate::tracee::{clockpage, insn, ptrace, Tid};

/// The longest gap between looks: beyond it a waiting thread's turn comes
/// anyway (`RRGO_PREEMPT_MS`).
const MAX_INTERVAL: Duration = Duration::from_millis(32);
/// How long a look lets the thread run to come back where it stood.
const WINDOW: Duration = Duration::from_millis(1);
/// Returns to the spot compared before the thread counts as not spinning:
/// a loop may reach the spot from several places (the sweeper's loop locks
/// two locks; each `lock2` call has its own registers).
const MAX_VISITS: u32 = 8;
/// The top of the stack compared with the registers: a caller's loop
/// counter is spilled there across the calls of its body.
const STACK_BYTES: usize = 256;
/// The flags an instruction computes (CF PF AF ZF SF DF OF): the trap and
/// resume flags a debug stop sets are no state of the program's.
const ARITH_FLAGS: u64 = 0xcd5;

/// When the running thread is looked at next.
#[derive(Debug, Clone)]
pub struct SpinWatch {
    /// The first look's delay after a thread began to wait; `None`: off.
    first: Option<Duration>,
    /// The next look, unless a thread has waited less than `first` then.
    next: Option<Instant>,
    interval: Duration,
}

impl SpinWatch {
    pub fn new(first: Option<Duration>) -> Self {
        Self {
            first,
            next: None,
            interval: first.unwrap_or_default(),
        }
    }

    /// From `RRGO_SPIN_MS` (default 2 ms; 0 turns the looks off).
    pub fn from_env() -> Self {
        let ms = std::env::var("RRGO_SPIN_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(2);
        Self::new((ms > 0).then(|| Duration::from_millis(ms)))
    }

    /// A thread got the CPU at `at`.
    pub fn turn_began(&mut self, at: Instant) {
        if let Some(first) = self.first {
            self.interval = first;
            self.next = Some(at + first);
        }
    }

    /// When to look at the running thread, another having waited since
    /// `waiting_since`.
    pub fn due(&self, waiting_since: Instant) -> Option<Instant> {
        let first = self.first?;
        let next = self.next?;
        Some(next.max(waiting_since + first))
    }

    /// A look ended at `now` without finding a spin: the next comes after
    /// twice the gap, so a computing thread is looked at a few times a turn.
    pub fn looked(&mut self, now: Instant) {
        self.interval = (self.interval * 2).min(MAX_INTERVAL);
        self.next = Some(now + self.interval);
    }
}

/// How a look ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// The thread runs on as before.
    Running,
    /// It stopped on its own (a syscall, a signal, its end), handled as usual.
    Stopped,
    /// It is spinning, stopped at an instruction's start.
    Spinning,
}

impl Look {
    fn verdict(spinning: bool) -> Look {
        if spinning {
            Look::Spinning
        } else {
            Look::Running
        }
    }
}

impl Recorder {
    /// Looks at the running thread `tid` and preempts it if it spins.
    pub(super) fn look_for_spin(&mut self, tid: Tid) -> anyhow::Result<()> {
        let began = Instant::now();
        let look = match self.look(tid) {
            // Killed meanwhile (a SIGKILL from outside): its death stop
            // comes next, handled as any other.
            Err(e) if super::points::thread_gone(&e) => Ok(Look::Stopped),
            other => other,
        };
        self.spin.looked(Instant::now());
        self.stats.spin_looks += 1;
        match look? {
            Look::Running | Look::Stopped => Ok(()),
            Look::Spinning => {
                self.stats.spin_preemptions += 1;
                tracing::debug!(%tid, took = ?began.elapsed(), "spinning: preempted");
                let stopped = Instant::now();
                // As at the end of a turn: the point, then the next thread.
                self.preempted_stop(tid)?;
                self.count_preemption(tid, stopped);
                Ok(())
            }
        }
    }

    fn look(&mut self, tid: Tid) -> anyhow::Result<Look> {
        match self.t.get(tid) {
            // Between a syscall's entry and exit (an event stop inside it):
            // an interrupt would land in the kernel.
            Some(th) if th.state == State::Running && th.syscall.is_none() => {}
            _ => return Ok(Look::Running),
        }
        if let Err(e) = ptrace::interrupt(tid) {
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Ok(Look::Running);
            }
            return Err(anyhow!(e).context(format!("cannot interrupt thread {tid}")));
        }
        // Other threads' stops (syscall exits of blocked ones) are taken
        // as they come; the thread's own first stop may be another than
        // the interrupt (then its interrupt stop comes later, a preemption
        // as any other, taken only if it ran since).
        loop {
            let Some(w) = wait::wait_any(None)? else {
                self.forward_signal();
                continue;
            };
            if w.tid == tid && is_interrupt(&w) {
                break;
            }
            self.handle_or_vanished(w)?;
            if self.t.running != Some(tid) {
                return Ok(Look::Stopped);
            }
        }
        let r0 = ptrace::get_regs(tid)?;
        let how = self.resume_how(tid);
        let code = match self.t.proc_of(tid) {
            Some(p) => p.mem.read_prefix(RemoteAddr(r0.rip), 32),
            None => Vec::new(),
        };
        // In rrgo's page or a syscall the program made through it (resumed,
        // the kernel restarts it), or at an instruction the recorder must
        // not run on its own: no verdict.
        let steppable = insn::steppable(&code, r0.rip) == Some(None);
        if clockpage::in_code(r0.rip) || (r0.orig_rax as i64) >= 0 || !steppable {
            self.resume_looked(tid, how)?;
            return Ok(Look::Running);
        }
        let stack0 = self.stack_top(tid, &r0);
        // One step off the spot, so the breakpoint there fires on a return.
        ptrace::resume(tid, ptrace::Resume::Step, 0)?;
        let w = wait::wait_tid(tid)?;
        if !is_step(tid, &w) {
            self.handle_or_vanished(w)?;
            return Ok(Look::Stopped);
        }
        ptrace::set_debugreg(tid, 0, r0.rip)?;
        ptrace::set_debugreg(tid, 6, 0)?;
        ptrace::set_debugreg(tid, 7, DR7_L0)?;
        ptrace::resume(tid, how, 0)?;
        let verdict = self.watch_returns(tid, &r0, &stack0, how);
        // Disarmed whatever happened (harmless if the thread is gone).
        let _ = ptrace::set_debugreg(tid, 7, 0);
        let _ = ptrace::set_debugreg(tid, 6, 0);
        let (look, stop) = verdict?;
        match (look, stop) {
            (Look::Running, None) => self.resume_looked(tid, how)?,
            (_, Some(w)) => self.handle_or_vanished(w)?,
            _ => {}
        }
        Ok(look)
    }

    /// Lets `tid` run up to `WINDOW` with the breakpoint at `r0.rip`
    /// armed, comparing its state at each return. Returns the verdict, and
    /// for `Look::Stopped` the stop to handle once the breakpoint is
    /// disarmed. `Running` leaves the thread stopped, to be resumed.
    fn watch_returns(
        &mut self,
        tid: Tid,
        r0: &Regs,
        stack0: &[u8],
        how: ptrace::Resume,
    ) -> anyhow::Result<(Look, Option<Waited>)> {
        let deadline = Instant::now() + WINDOW;
        let mut interrupted = false;
        let mut visits = 0;
        let mut spinning = false;
        loop {
            let w = if interrupted {
                wait::wait_tid(tid)?
            } else {
                let left = deadline.saturating_duration_since(Instant::now());
                match wait::wait_tid_timeout(tid, left)? {
                    Some(w) => w,
                    None => {
                        // Not back in time: fetched back by an interrupt.
                        ptrace::interrupt(tid)?;
                        interrupted = true;
                        continue;
                    }
                }
            };
            let ours = w.stop == Stop::Signal(libc::SIGTRAP)
                && ptrace::get_debugreg(tid, 6).is_ok_and(|dr6| dr6 & 1 != 0);
            if ours {
                visits += 1;
                spinning = spinning || self.stands_as(tid, r0, stack0)?;
                let done = spinning || visits >= MAX_VISITS;
                if done && !interrupted {
                    return Ok((Look::verdict(spinning), None));
                }
                // On to the next return, or to the interrupt sent.
                ptrace::set_debugreg(tid, 6, 0)?;
                if done {
                    ptrace::set_debugreg(tid, 7, 0)?;
                }
                ptrace::resume(tid, how, 0)?;
                continue;
            }
            if interrupted && is_interrupt(&w) {
                // A return may have come with the interrupt: its SIGTRAP is
                // queued behind the interrupt's stop (job control traps are
                // reported first) and must never reach the program.
                if ptrace::get_debugreg(tid, 6).is_ok_and(|dr6| dr6 & 1 != 0) {
                    ptrace::set_debugreg(tid, 7, 0)?;
                    ptrace::set_debugreg(tid, 6, 0)?;
                    ptrace::resume(tid, how, 0)?;
                    let w = wait::wait_tid(tid)?;
                    if w.stop != Stop::Signal(libc::SIGTRAP) {
                        return Ok((Look::Stopped, Some(w)));
                    }
                    spinning = spinning || self.stands_as(tid, r0, stack0)?;
                }
                return Ok((Look::verdict(spinning), None));
            }
            // The thread's own stop: handled as usual once disarmed.
            return Ok((Look::Stopped, Some(w)));
        }
    }

    /// Whether `tid`, stopped back at the spot, has the state it had there.
    fn stands_as(&self, tid: Tid, r0: &Regs, stack0: &[u8]) -> anyhow::Result<bool> {
        let r = ptrace::get_regs(tid)?;
        Ok(same_state(r0, &r) && self.stack_top(tid, &r) == stack0)
    }

    /// The top `STACK_BYTES` of `tid`'s stack at `regs` (what is readable).
    fn stack_top(&self, tid: Tid, regs: &Regs) -> Vec<u8> {
        match self.t.proc_of(tid) {
            Some(p) => p.mem.read_prefix(RemoteAddr(regs.rsp), STACK_BYTES),
            None => Vec::new(),
        }
    }

    /// Resumes the looked-at thread as it ran before.
    fn resume_looked(&mut self, tid: Tid, how: ptrace::Resume) -> anyhow::Result<()> {
        match ptrace::resume(tid, how, 0) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => {
                Err(anyhow!(e).context(format!("cannot resume thread {tid}")))
            }
            _ => Ok(()),
        }
    }
}

/// A PTRACE_INTERRUPT stop (not a group-stop).
fn is_interrupt(w: &Waited) -> bool {
    matches!(w.stop, Stop::Event { event, sig } if event == libc::PTRACE_EVENT_STOP && sig == libc::SIGTRAP)
}

/// The stop of a single step (a trace trap, not a signal sent).
fn is_step(tid: Tid, w: &Waited) -> bool {
    w.stop == Stop::Signal(libc::SIGTRAP)
        && ptrace::get_siginfo(tid).is_ok_and(|info| trace_format::SigInfo(info).code() > 0)
}

/// Equal registers at the spot, flags by what instructions compute.
fn same_state(a: &Regs, b: &Regs) -> bool {
    let mut b = *b;
    b.eflags = (b.eflags & ARITH_FLAGS) | (a.eflags & !ARITH_FLAGS);
    *a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_come_at_doubling_gaps_after_a_wait_began() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut w = SpinWatch::new(Some(ms(2)));
        assert_eq!(w.due(t0), None, "no turn yet");
        w.turn_began(t0);
        // A thread waiting since before the turn: 2 ms into the turn.
        assert_eq!(w.due(t0 - ms(10)), Some(t0 + ms(2)));
        // One that began to wait later: 2 ms after it did.
        assert_eq!(w.due(t0 + ms(5)), Some(t0 + ms(7)));
        w.looked(t0 + ms(2));
        assert_eq!(w.due(t0), Some(t0 + ms(6)));
        w.looked(t0 + ms(6));
        assert_eq!(w.due(t0), Some(t0 + ms(14)));
        for _ in 0..10 {
            w.looked(t0);
        }
        assert_eq!(w.due(t0), Some(t0 + MAX_INTERVAL));
        // A new turn starts over.
        w.turn_began(t0 + ms(100));
        assert_eq!(w.due(t0), Some(t0 + ms(102)));
        let off = SpinWatch::new(None);
        assert_eq!(off.due(t0), None);
    }

    #[test]
    fn state_compares_registers_and_computed_flags_only() {
        let a = Regs {
            rip: 0x401000,
            rax: 7,
            eflags: 0x246,
            ..Default::default()
        };
        let mut b = a;
        b.eflags |= 0x10000 | 0x100; // RF and TF from the debug stop
        assert!(same_state(&a, &b));
        b.eflags &= !0x40; // ZF
        assert!(!same_state(&a, &b));
        let mut c = a;
        c.rax = 8;
        assert!(!same_state(&a, &c));
    }
}
