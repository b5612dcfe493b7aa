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
//! wait is a multiple of what preemptions have cost this recording: early
//! preemptions stay under 1/`COST_FACTOR` of the time.

use std::time::Duration;

/// The wait is this many times a preemption's average cost.
const COST_FACTOR: u32 = 10;
/// The shortest wait: a thread woken to do work gets it this soon.
const MIN_WAIT: Duration = Duration::from_millis(2);

/// The woken thread's wait: fixed by RRGO_WAKE_MS, or adaptive.
#[derive(Debug, Clone)]
pub struct WakeWait {
    fixed: Option<Duration>,
    /// The longest wait: any waiting thread's (RRGO_PREEMPT_MS).
    max: Duration,
    /// The moving average of a preemption's cost so far.
    cost: Option<Duration>,
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
            seen: Default::default(),
        }
    }

    /// The wait now.
    pub fn get(&self) -> Duration {
        if let Some(f) = self.fixed {
            return f;
        }
        let adaptive = self.cost.map_or(MIN_WAIT, |c| c * COST_FACTOR);
        adaptive.clamp(MIN_WAIT.min(self.max), self.max)
    }

    /// A preemption in process `tgid` took `cost` of the recorder's time.
    pub fn preempted(&mut self, tgid: i32, cost: Duration) {
        if self.seen.insert(tgid) {
            return;
        }
        // A quarter of each new cost: one slow point (a large heap's pages)
        // moves the wait at once, a run of cheap ones brings it back.
        self.cost = Some(match self.cost {
            None => cost,
            Some(avg) => (avg * 3 + cost) / 4,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_follows_what_preemptions_cost() {
        let max = Duration::from_millis(50);
        let mut w = WakeWait::new(None, max);
        assert_eq!(w.get(), MIN_WAIT);
        // A process's first preemption does not count.
        w.preempted(7, Duration::from_millis(10));
        assert_eq!(w.get(), MIN_WAIT);
        w.preempted(7, Duration::from_micros(20));
        assert_eq!(w.get(), MIN_WAIT);
        w.preempted(7, Duration::from_millis(20));
        assert_eq!(w.get(), max);
        for _ in 0..40 {
            w.preempted(7, Duration::from_micros(500));
        }
        let got = w.get();
        assert!(
            got > Duration::from_micros(4900) && got < Duration::from_micros(5100),
            "{got:?}"
        );
        let fixed = WakeWait::new(Some(Duration::from_millis(7)), max);
        assert_eq!(fixed.get(), Duration::from_millis(7));
    }
}
