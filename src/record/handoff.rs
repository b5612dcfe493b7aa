//! A futex wake hands the CPU to the thread it woke, a clone to the new
//! thread — when that thread is owed the CPU.
//!
//! The program sees the machine's CPUs while its threads take turns on one,
//! so Go wakes an idle thread (`wakep`: a futex wake) expecting it to run a
//! new goroutine in parallel, and the waker often goes on spinning until
//! that goroutine's work shows (`go cancel(); for ctx.Err() == nil {}` in
//! the `context` tests). Left running, the waker holds the only CPU until a
//! preemption (a ptrace interrupt, a point to record, and the woken-thread
//! bound of waiting first). Worse, a thread that stops the world in a loop
//! (`runtime.ReadMemStats`, a goroutine profile) wakes the other threads
//! when it starts the world again and asks them to stop before any has had
//! the CPU: their goroutines never run, and the program hangs (the
//! runtime's `TestLockOSThreadTemplateThreadRace`, `runtime/pprof`'s
//! `TestGoroutineProfileLabelRace`, `examples/stwloop`). At the wake's exit
//! stop the switch is free: the waker is stopped anyway, so the woken
//! thread runs first — as the kernel's wake-up preemption does on a busy
//! CPU, and with the same condition: the woken thread has had less of the
//! CPU than the waker, by more than a granularity (`Thread::cpu`). Handing
//! over at every wake (`RRGO_HANDOFF=1`) stalled `os/signal`'s go1.24.11
//! tests in `TestSignalTrace` in about one recording in six (a thread
//! spinning on the system stack while another stops the world, both for
//! good); with a 1 ms granularity one in eight under load, with 10 ms none
//! in 10, and the loops above still finish.

use std::time::{Duration, Instant};

use super::session::Recorder;
use super::threads::State;
use crate::tracee::{wait, Tid};

/// Whether wakes and clones may hand the CPU over (`RRGO_HANDOFF=0`: never).
pub(super) fn enabled() -> bool {
    mode() != Mode::Off
}

/// When a wake hands the CPU over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Never (`RRGO_HANDOFF=0`).
    Off,
    /// At every wake (`RRGO_HANDOFF=1`).
    Always,
    /// When the woken thread is owed the CPU (the default).
    Fair,
}

fn mode() -> Mode {
    // Asked at every futex wake's exit stop: read the environment once.
    static MODE: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("RRGO_HANDOFF").as_deref() {
        Ok("0") => Mode::Off,
        Ok("1") => Mode::Always,
        _ => Mode::Fair,
    })
}

/// How much more CPU time the waker must have had than the thread it woke
/// for a fair hand-over. Linux's wake-up granularity is 1–4 ms; 1 ms here
/// left `TestSignalTrace`'s stall (above) in one recording in eight.
const FAIR_GRANULARITY: Duration = Duration::from_millis(10);

/// How long the waker's exit stop waits for the woken thread's stop (it
/// needs only the CPU the stopped waker left, microseconds).
const WOKEN_STOP: Duration = Duration::from_millis(1);

const FUTEX_CMD_MASK: u64 = !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u64;

/// The futex word a syscall wakes waiters of: `futex(uaddr, FUTEX_WAKE…)`.
pub(super) fn futex_wake(nr: i64, args: &[u64; 6]) -> Option<u64> {
    let cmd = args[1] & FUTEX_CMD_MASK;
    (nr == libc::SYS_futex
        && (cmd == libc::FUTEX_WAKE as u64 || cmd == libc::FUTEX_WAKE_BITSET as u64))
        .then_some(args[0])
}

/// Whether a syscall waits on futex word `uaddr`.
fn futex_waits_on(nr: i64, args: &[u64; 6], uaddr: u64) -> bool {
    let cmd = args[1] & FUTEX_CMD_MASK;
    nr == libc::SYS_futex
        && args[0] == uaddr
        && (cmd == libc::FUTEX_WAIT as u64 || cmd == libc::FUTEX_WAIT_BITSET as u64)
}

impl Recorder {
    /// At the exit stop of `waker`'s futex wake of `uaddr`: the threads of
    /// its process waiting on that word were woken by it (`woken_by`).
    pub(super) fn note_woken_by(&mut self, waker: Tid, uaddr: u64) {
        for tid in self.waiters_on(waker, uaddr) {
            if let Some(t) = self.t.get(tid) {
                t.woken_by = Some(waker);
            }
        }
    }

    /// The threads of `waker`'s process in the kernel in a futex wait on
    /// `uaddr`.
    fn waiters_on(&self, waker: Tid, uaddr: u64) -> Vec<Tid> {
        let Some(tgid) = self.t.threads.get(&waker).map(|t| t.tgid) else {
            return Vec::new();
        };
        self.t
            .threads
            .iter()
            .filter(|(&tid, t)| {
                tid != waker
                    && t.tgid == tgid
                    && t.state == State::InKernel
                    && t.syscall
                        .as_ref()
                        .is_some_and(|sc| futex_waits_on(sc.nr, &sc.args, uaddr))
            })
            .map(|(&tid, _)| tid)
            .collect()
    }

    /// At the exit stop of the running thread's clone of `child`, a thread
    /// of its process that is ready to run: queues the parent behind it
    /// (true). Go starts a thread (`newm`) where it would wake an idle one
    /// for a new goroutine, and the parent may spin as after a wake.
    pub(super) fn hand_to_new_thread(&mut self, parent: Tid, child: Tid) -> bool {
        if self.t.running != Some(parent) {
            return false;
        }
        let Some(tgid) = self.t.get(parent).map(|t| t.tgid) else {
            return false;
        };
        if !self
            .t
            .get(child)
            .is_some_and(|c| c.tgid == tgid && c.state == State::Stopped)
            || (mode() == Mode::Fair && !self.owed_cpu(parent, &[child]))
        {
            return false;
        }
        tracing::trace!(%parent, %child, "clone handed the CPU over");
        self.stats.handoffs += 1;
        self.queue_waker(parent);
        true
    }

    /// At the exit stop of the running thread's futex wake of `uaddr` that
    /// woke `woken` threads: collects the stops of the threads of its process
    /// waiting on that word (one, if it woke none) and, if one is now ready,
    /// queues the waker behind it (true). False: nothing to hand to (the
    /// caller goes on as usual).
    pub(super) fn hand_off(&mut self, waker: Tid, uaddr: u64, woken: i64) -> anyhow::Result<bool> {
        if woken < 0 || self.t.running != Some(waker) {
            tracing::trace!(%waker, woken, running = ?self.t.running, "no handoff");
            return Ok(false);
        }
        // No bar on a thread handed the CPU handing it on: a bar until it
        // waited in the queue again (session 24, against chains of
        // handoffs between signal threads) kept the CPU with the thread
        // that ran a spinner (`examples/handoff`: a wait of RRGO_WAKE_MS in
        // most recordings) and did not keep `TestSignalTrace` from
        // stalling (above).
        let waiters = self.waiters_on(waker, uaddr);
        if waiters.is_empty() || (mode() == Mode::Fair && !self.owed_cpu(waker, &waiters)) {
            return Ok(false);
        }
        // Only the woken ones stop now; the others' waits time out at once.
        // Woken none: a waiter still in the kernel has not slept yet, and
        // its wait returns at once (EAGAIN: Go sets the word before waking),
        // ready for the work the wake was for.
        let deadline = Instant::now() + WOKEN_STOP;
        let mut ready = 0;
        for tid in waiters {
            if ready >= woken.max(1) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(w) = wait::wait_tid_timeout(tid, left)? {
                self.handle_or_vanished(w)?;
                if self.t.get(tid).is_some_and(|t| t.state == State::Stopped) {
                    ready += 1;
                }
            }
        }
        if ready == 0 {
            tracing::trace!(%waker, "no handoff: no woken thread stopped in time");
            return Ok(false);
        }
        tracing::trace!(%waker, ready, "futex wake handed the CPU over");
        self.stats.handoffs += 1;
        self.queue_waker(waker);
        Ok(true)
    }

    /// Whether one of `others` has had less of the CPU than `tid` by more
    /// than `FAIR_GRANULARITY`.
    fn owed_cpu(&self, tid: Tid, others: &[Tid]) -> bool {
        let had = self.t.cpu_now(tid);
        others
            .iter()
            .any(|&o| self.t.cpu_now(o) + FAIR_GRANULARITY < had)
    }

    /// Queues a thread that handed the CPU over. It would run on in
    /// parallel (often spinning until the other thread's work shows): it
    /// waits for the CPU as a woken thread does, not a whole turn.
    fn queue_waker(&mut self, waker: Tid) {
        self.t.set_stopped(waker);
        if let Some(t) = self.t.get(waker) {
            t.woke = true;
        }
    }
}
