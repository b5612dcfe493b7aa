//! How long a thread woken from a blocking syscall waits at most for the
//! running one to give up the CPU: adaptive by default, fixed with
//! `RRGO_WAKE_MS=<ms>`.
//!
//! Why adaptive: the program sees more CPUs than the one its threads take
//! turns on, so a goroutine spinning until the thread it woke has done its
//! work holds that thread up for as long as rrgo lets it run. Preempting
//! it early makes such programs (the `context` tests: 40x native wall with
//! a 50 ms wait) record near native speed, but every preemption costs the
//! recorder time (and the trace the pages written since the last point),
//! and a busy compiler would pay that hundreds of times a second. So the
//! wait follows what preemptions have cost this recording, and early
//! preemptions stay under 1/`COST_FACTOR` of the time.
//!
//! The rule is a budget, not a fixed wait: a woken thread gets the CPU
//! `MIN_WAIT` after it woke, but no sooner than `COST_FACTOR` times the
//! average preemption cost after the last preemption ended. A wait fixed
//! at a multiple of the cost stayed long after one costly preemption when
//! no further preemption came to bring the average down: runtime/pprof's
//! `TestGoroutineProfileLabelRace` (a profiler that must catch a loop
//! inside a short window) then saw the loop stop at the same syscall every
//! time and never finished.
//!
//! Behind the thread that woke it (its futex wake ended the wait, and it has
//! run on since), a woken thread is due at twice the average cost instead
//! of ten times while preemptions are cheap (≤ 1 ms): that is Go's `wakep`
//! followed by a spin on the new goroutine's work, where every millisecond
//! of waiting is lost. `context`'s tests (ten such rounds, 0.5–0.9 ms a
//! preemption): preempted every ~3 ms instead of ~9, recorded in 0.120 s
//! instead of 0.162 s (medians of 7).

use std::time::{Duration, Instant};

/// Preemptions may take this share of the time at most (1/`COST_FACTOR`).
const COST_FACTOR: u32 = 10;
/// Behind the thread that woke it, a woken thread lets preemptions take
/// up to 1/`WAKER_COST_FACTOR` of the time, while they cost at most
/// `WAKER_CHEAP` on average: gzipsha's (5 ms, a heap of buffers to hash)
/// came 4× as often with the rule and recorded 20% slower, because its
/// wakers compute rather than spin.
const WAKER_COST_FACTOR: u32 = 2;
const WAKER_CHEAP: Duration = Duration::from_millis(1);
/// The shortest wait: a thread woken to do work gets it this soon.
const MIN_WAIT: Duration = Duration::from_millis(2);

/// When a woken thread gets the CPU: fixed by RRGO_WAKE_MS, or adaptive.
#[derive(Debug, Clone)]
pub struct WakeWait {
    fixed: Option<Duration>,
    /// The longest wait: any waiting thread's (RRGO_PREEMPT_MS).
    max: Duration,
    /// The moving average of a preemption's cost so far.
    cost: Option<Duration>,
    /// When the last counted preemption ended.
    last: Option<Instant>,
    /// Processes preempted before: a process's first preemption also loads
    /// its code map and scans a fresh address space (10 ms where the next
    /// ones cost 0.4 ms), so it does not count.
    seen: std::collections::HashSet<i32>,
}

impl WakeWait {
    pub fn new(fixed: Option<Duration>, max: Duration) -> Self {
        Self {
            fixed,
            max,
            cost: None,
            last: None,
            seen: Default::default(),
        }
    }

    /// When a thread that became ready at `at` after a wake-up is due the
    /// CPU, waiting at most `cap`.
    pub fn due(&self, at: Instant, cap: Duration) -> Instant {
        self.due_with(at, cap, COST_FACTOR)
    }

    /// Like `due`, for a thread woken by the thread now running: that one
    /// may be spinning until the work it handed over is done (Go's `wakep`
    /// before `for ctx.Err() == nil {}`), so its preemptions may take up to
    /// 1/`WAKER_COST_FACTOR` of the time.
    pub fn due_behind_waker(&self, at: Instant, cap: Duration) -> Instant {
        match self.cost {
            Some(c) if c > WAKER_CHEAP => self.due(at, cap),
            _ => self.due_with(at, cap, WAKER_COST_FACTOR),
        }
    }

    fn due_with(&self, at: Instant, cap: Duration, factor: u32) -> Instant {
        let cap = cap.min(self.max);
        if let Some(f) = self.fixed {
            return at + f.min(cap);
        }
        let earliest = at + MIN_WAIT.min(cap);
        let budget = match (self.last, self.cost) {
            (Some(last), Some(c)) => last + c * factor,
            _ => earliest,
        };
        earliest.max(budget).min(at + cap)
    }

    /// A preemption in process `tgid` took `cost` of the recorder's time
    /// and ended at `now`.
    pub fn preempted(&mut self, tgid: i32, cost: Duration, now: Instant) {
        if self.seen.insert(tgid) {
            return;
        }
        // A quarter of each new cost: one slow point (a large heap's pages)
        // moves the average at once, a run of cheap ones brings it back.
        self.cost = Some(match self.cost {
            None => cost,
            Some(avg) => (avg * 3 + cost) / 4,
        });
        self.last = Some(now);
    }

    /// The wait a thread woken now would have (for logs).
    pub fn wait_now(&self) -> Duration {
        let now = Instant::now();
        self.due(now, self.max).saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preemptions_keep_to_their_share_of_the_time() {
        let max = Duration::from_millis(50);
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut w = WakeWait::new(None, max);
        assert_eq!(w.due(t0, max), t0 + MIN_WAIT);
        // A process's first preemption does not count.
        w.preempted(7, ms(10), t0);
        assert_eq!(w.due(t0, max), t0 + MIN_WAIT);
        // A 4 ms preemption ending at t0: the next one no sooner than 40 ms on.
        w.preempted(7, ms(4), t0);
        assert_eq!(w.due(t0, max), t0 + ms(40));
        assert_eq!(w.due(t0 + ms(30), max), t0 + ms(40));
        // Long after it, a woken thread waits the least again: the wait
        // does not stay long for want of new preemptions.
        assert_eq!(w.due(t0 + ms(500), max), t0 + ms(502));
        // Capped by the caller's limit and by RRGO_PREEMPT_MS.
        assert_eq!(w.due(t0, ms(20)), t0 + ms(20));
        w.preempted(7, ms(40), t0);
        assert_eq!(w.due(t0, Duration::from_secs(1)), t0 + max);
        // Behind its waker a woken thread waits twice the cost, not ten
        // times, while preemptions are cheap.
        assert_eq!(w.due_behind_waker(t0, max), t0 + max);
        let mut cheap = WakeWait::new(None, max);
        cheap.preempted(7, ms(10), t0);
        cheap.preempted(7, Duration::from_micros(800), t0);
        assert_eq!(cheap.due(t0, max), t0 + ms(8));
        assert_eq!(cheap.due_behind_waker(t0, max), t0 + MIN_WAIT);
        cheap.preempted(7, Duration::from_micros(1800), t0);
        // 1.05 ms on average: no longer cheap.
        assert_eq!(cheap.due(t0, max), t0 + Duration::from_micros(10_500));
        assert_eq!(cheap.due_behind_waker(t0, max), cheap.due(t0, max));
        let fixed = WakeWait::new(Some(ms(7)), max);
        assert_eq!(fixed.due(t0, max), t0 + ms(7));
        assert_eq!(fixed.due(t0, ms(5)), t0 + ms(5));
        assert_eq!(fixed.due_behind_waker(t0, max), t0 + ms(7));
    }
}
