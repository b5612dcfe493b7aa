//! A futex wake hands the CPU to the thread it woke.
//!
//! The program sees the machine's CPUs while its threads take turns on one,
//! so Go wakes an idle thread (`wakep`: a futex wake) expecting it to run a
//! new goroutine in parallel, and the waker often goes on spinning until
//! that goroutine's work shows (`go cancel(); for ctx.Err() == nil {}` in
//! the `context` tests). Left running, the waker holds the only CPU until a
//! preemption (a ptrace interrupt, a point to record, and the woken-thread
//! bound of waiting first). At the wake's exit stop the switch is free: the
//! waker is stopped anyway, so the woken thread runs first — as the
//! kernel's wake-up preemption would do on a busy CPU.

use std::time::{Duration, Instant};

use super::session::Recorder;
use super::threads::State;
use crate::tracee::{wait, Tid};

/// Opt-in (`RRGO_HANDOFF=1`): with it `os/signal`'s `TestSignalTrace`
/// (go1.24.11), where one goroutine sends itself signals in a loop while
/// another stops the world 100 times, records 10× slower (a chain of
/// handoffs between the signal threads livelocked it until a thread handed
/// the CPU was barred from handing it on) and the row passed its time limit.
pub(super) fn enabled() -> bool {
    // Asked at every futex wake's exit stop: read the environment once.
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("RRGO_HANDOFF").is_ok_and(|v| v == "1"))
}

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
    /// At the exit stop of the running thread's futex wake of `uaddr` that
    /// woke `woken` threads: collects the stops of the threads of its process
    /// waiting on that word and, if one is now ready, queues the waker behind
    /// it (true). False: nothing to hand to (the caller goes on as usual).
    pub(super) fn hand_off(&mut self, waker: Tid, uaddr: u64, woken: i64) -> anyhow::Result<bool> {
        if woken < 1 || self.t.running != Some(waker) {
            return Ok(false);
        }
        let Some((tgid, handed)) = self.t.get(waker).map(|t| (t.tgid, t.handed)) else {
            return Ok(false);
        };
        if handed {
            return Ok(false);
        }
        let waiters: Vec<Tid> = self
            .t
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
            .collect();
        if waiters.is_empty() {
            return Ok(false);
        }
        // Only the woken ones stop now; the others' waits time out at once.
        let deadline = Instant::now() + WOKEN_STOP;
        let mut ready = 0;
        for tid in waiters {
            if ready >= woken {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(w) = wait::wait_tid_timeout(tid, left)? {
                self.handle_or_vanished(w)?;
                if let Some(t) = self.t.get(tid).filter(|t| t.state == State::Stopped) {
                    t.handed = true;
                    ready += 1;
                }
            }
        }
        if ready == 0 {
            return Ok(false);
        }
        self.stats.handoffs += 1;
        self.t.set_stopped(waker);
        Ok(true)
    }
}
