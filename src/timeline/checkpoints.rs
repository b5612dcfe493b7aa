//! Checkpoints: when to take a copy of the replay (see
//! `replay::checkpoint`), and which one a replay going back starts from.

use std::time::{Duration, Instant};

use crate::replay::ReplaySession;

/// Replay time after which a checkpoint is due whatever the event count:
/// going back costs at most about this much re-execution.
const CHECKPOINT_WALL: Duration = Duration::from_millis(250);

pub struct Checkpoints {
    /// Copies of the replay at event boundaries, by event: going back
    /// replays from the nearest one (see replay::checkpoint).
    pub list: Vec<(u64, ReplaySession)>,
    pub every: u64,
    /// Replays started from a checkpoint rather than the start.
    pub resumed: u64,
    /// No new checkpoint before this event (a failed attempt waits a little).
    pub next: u64,
    /// Replay time since the last checkpoint (taken or resumed from): CPU-bound
    /// stretches have few events but cost seconds to replay again.
    pub since: Instant,
}

impl Checkpoints {
    /// Every `RRGO_CHECKPOINT_EVENTS` events (default: total/32, at least
    /// 5000), and after `CHECKPOINT_WALL` of replay.
    pub fn new(total_events: u64) -> Checkpoints {
        let every = std::env::var("RRGO_CHECKPOINT_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or((total_events / 32).max(5_000));
        Checkpoints {
            list: Vec::new(),
            every,
            resumed: 0,
            next: every,
            since: Instant::now(),
        }
    }

    /// Takes a checkpoint of `session` (at an event boundary) when the last
    /// one is far enough behind. Returns the event it was taken at.
    pub fn maybe_take(&mut self, session: &mut ReplaySession) -> Option<u64> {
        let at = session.next_event().0;
        let slow = self.since.elapsed() >= CHECKPOINT_WALL;
        if at < self.next && !slow {
            return None;
        }
        let near = if slow { 1 } else { self.every };
        if self.list.iter().any(|(e, _)| e.abs_diff(at) < near) {
            self.next = at + self.every / 4;
            return None;
        }
        match session.checkpoint() {
            Ok(cp) => {
                tracing::debug!(event = at, slow, "checkpoint");
                self.since = Instant::now();
                let i = self.list.partition_point(|(e, _)| *e < at);
                self.list.insert(i, (at, cp));
                if self.list.len() > 32 {
                    // Keep them spread out: drop every other one.
                    let mut k = 0;
                    self.list.retain(|_| {
                        k += 1;
                        k % 2 == 0
                    });
                }
                self.next = at + self.every;
                Some(at)
            }
            Err(e) => {
                tracing::debug!(event = at, "no checkpoint here: {e:#}");
                self.next = at + 100;
                None
            }
        }
    }

    /// The events replays can start from at or before `event`, latest first
    /// (checkpoints, then the start, event 1).
    pub fn starts_before(&self, event: u64) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .list
            .iter()
            .map(|(e, _)| *e)
            .filter(|e| *e <= event)
            .collect();
        v.reverse();
        v.push(1);
        v
    }

    /// A new copy of the checkpoint at `from`, if there is one and it can
    /// be copied (a checkpoint is never run itself).
    pub fn copy(&mut self, from: u64) -> Option<ReplaySession> {
        let (_, cp) = self.list.iter_mut().find(|(e, _)| *e == from)?;
        match cp.checkpoint() {
            Ok(s) => {
                self.resumed += 1;
                Some(s)
            }
            Err(e) => {
                tracing::debug!("cannot copy checkpoint {from}: {e:#}");
                None
            }
        }
    }
}
