//! Seeking: the replay started over from the nearest checkpoint before a
//! mark (or the start) and run to it. Replay is deterministic, so the
//! state there is the state reached forwards.

use anyhow::Context;

use super::{same_regs, Cancelled, Pos, Tick, Timeline};
use crate::replay::{Output, ReplaySession};

impl Timeline {
    /// Starts the replay over at `from` (a checkpoint's event, or 1: just
    /// after the program's exec).
    pub(super) fn restart_at(&mut self, from: u64) -> anyhow::Result<()> {
        let s = match self.checkpoints.copy(from) {
            Some(s) => s,
            None => {
                let mut s = ReplaySession::start(&self.dir, Output::Discard)?;
                s.step()?;
                s
            }
        };
        self.session = s;
        self.moves += 1;
        self.checkpoints.since = std::time::Instant::now();
        self.exiting = false;
        self.stop_tid = None;
        self.forget_route();
        self.counts.forget_here();
        // A copy carries the checkpoint's breakpoints: start clean. (It has
        // no watchpoints: a fork loses debug registers; the caller sets them.)
        self.place_only(&[])?;
        Ok(())
    }

    /// Replays up to (not including) event `n`, event by event; a pause
    /// stops it at an event boundary (`Cancelled`: the replay stands there).
    fn run_to(&mut self, n: u64) -> anyhow::Result<()> {
        while self.session.next_event().0 < n {
            if self.cancel.requested() {
                return Err(anyhow::Error::new(Cancelled));
            }
            self.moves += 1;
            if self.session.step()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Replays to `pos` from the nearest checkpoint before it, or the start
    /// (output already shown is not repeated). A pause stops it on the way,
    /// at a moment `here` names.
    pub fn seek(&mut self, pos: &Pos) -> anyhow::Result<()> {
        let from = self.checkpoints.starts_before(pos.event)[0];
        self.restart_at(from)?;
        self.run_to(pos.event)
            .with_context(|| format!("cannot replay to event {}", pos.event))?;
        self.apply_watches()?;
        // Each pass: its thread's nth arrival at its registers since the
        // pass before, each arrival seen by a breakpoint at its address.
        for pass in &pos.route {
            self.place_only(&[pass.regs.rip])?;
            let mut seen = 0;
            loop {
                match self.tick(false)? {
                    Tick::Hit(h) | Tick::Watch(h)
                        if h.tid == pass.tid
                            && same_regs(&self.session.regs(h.tid)?, &pass.regs) =>
                    {
                        seen += 1;
                        if seen >= pass.nth {
                            break;
                        }
                    }
                    Tick::Hit(_) | Tick::Watch(_) | Tick::Instruction(_) => {}
                    Tick::Event | Tick::End => {
                        anyhow::bail!(
                            "replay did not reach the same place again (event {}): please report this",
                            pos.event
                        )
                    }
                }
            }
            self.route.push(pass.clone());
            self.since.clear();
        }
        self.restore_breakpoints()
    }
}
