//! Moving backwards. Replay is deterministic, so going back is replaying
//! forwards again from a checkpoint: one pass notes the candidate moments
//! before the current one (from the nearest checkpoint, then earlier ones
//! until the answer is settled), a second pass stops at the chosen one
//! (`Timeline::seek`, from the nearest checkpoint before it). The scans
//! and seeks are the timeline's; which moments count is decided here.

use super::api::*;
use super::breakpoints::hit_condition_met;
use super::engine::Engine;
use super::forward::{step_targets, StepFrame};
use crate::timeline::{bases_at, scan, CountKey, Moment, Pos};

/// Why a reverse scan kept a hit.
enum Why {
    Watch,
    Exception,
    /// The user breakpoints (indices) whose condition held there.
    Breakpoints(Vec<usize>),
}

/// A breakpoint hit that stops a reverse-continue: the breakpoints it
/// stops for, and the hit counts at that moment.
#[derive(Default)]
struct Stopping {
    ids: Vec<u32>,
    counts: Vec<(CountKey, u64)>,
}

/// A frame's history: moments with the pc and CFA there, and the caller's
/// statements step back may stop at.
type History = (Vec<(Pos, u64, u64)>, Vec<u64>);

impl Engine {
    fn seek_stop(&mut self, pos: &Pos, reason: StopReason) -> EResult<Stop> {
        self.tl.seek(pos)?;
        let tid = pos.at.as_ref().map(|(t, _)| *t);
        Ok(self.stop(reason, tid))
    }

    /// The last hit before now that stops: an exception, a watchpoint's
    /// (see `reverse_to_write`), or a user breakpoint whose condition holds
    /// and whose hit condition holds for its count there (hits from the
    /// start up to that moment, as going forwards).
    pub(super) fn reverse_continue(&mut self) -> EResult<Stop> {
        let here = self.tl.here()?;
        let exceptions = self.enabled_exceptions();
        let mut addrs: Vec<u64> = self.bps.addrs().collect();
        addrs.extend(exceptions.iter().map(|(a, _)| *a));
        let mut seen = std::collections::HashMap::new();
        let watching = !self.watch.list.is_empty();
        let (hits, first) = scan(
            self,
            &here,
            &addrs,
            watching,
            &mut |e, h| {
                if h.watch.is_some() {
                    return Ok::<_, EngineError>(
                        e.keep_watch_hit(&h, &mut seen)?.then_some(Why::Watch),
                    );
                }
                if exceptions.iter().any(|(a, _)| *a == h.addr) {
                    return Ok(Some(Why::Exception));
                }
                // Every breakpoint whose condition holds: log points and hit
                // conditions count their hits too.
                let mut held = Vec::new();
                for i in e.bps.at(h.addr) {
                    let bp = e.bps.list[i].clone();
                    if e.condition_holds(&bp.condition, h.tid, true)? {
                        held.push(i);
                    }
                }
                Ok((!held.is_empty()).then_some(Why::Breakpoints(held)))
            },
            &mut |e, from, found| Ok::<_, EngineError>(e.last_stop(from, found)?.is_some()),
        )?;
        match self.last_stop(first, &hits)? {
            Some((k, _)) if hits[k].1.watch.is_some() => {
                let (p, h, _) = &hits[k];
                let key = p.at.as_ref().map(|(_, r)| (p.event, r.rip, r.rsp));
                let seen = key.and_then(|k| seen.remove(&k));
                let (p, h) = (p.clone(), *h);
                self.reverse_to_write(&p, h, seen)
            }
            Some((k, stop)) => {
                let p = &hits[k].0;
                let (tid, addr) = p.at.as_ref().map(|(t, r)| (*t, r.rip)).unwrap_or_default();
                if let Some((_, kind)) = exceptions.iter().find(|(a, _)| *a == addr) {
                    // Going back onto the panic (or fatal error) itself.
                    self.tl.seek(p)?;
                    let text = self.exception_text(tid, *kind);
                    let reason = StopReason::Exception { kind: *kind, text };
                    return Ok(self.stop(reason, Some(tid)));
                }
                let reason = self.bps.reason(stop.ids);
                let s = self.seek_stop(p, reason)?;
                self.tl.counts.set_here(stop.counts);
                Ok(s)
            }
            None => {
                let s = self.seek_stop(&Pos::start(), StopReason::StartOfRecording)?;
                Ok(s)
            }
        }
    }

    /// Which of a reverse scan's moments (`found`, from event `from` on)
    /// is the last that stops, with the breakpoints it stops for and the
    /// hit counts there. Counting needs the counts at `from` (replayed if
    /// not known yet) only when a hit condition is set.
    fn last_stop(
        &mut self,
        from: u64,
        found: &[Moment<Why>],
    ) -> EResult<Option<(usize, Stopping)>> {
        let keys = self.bps.counted();
        let mut counts: Vec<u64> = if keys.is_empty() {
            Vec::new()
        } else {
            let k2 = keys.clone();
            bases_at(self, &keys, from, &mut |e: &mut Engine, h| e.judge(h, &k2))?
        };
        let mut last = None;
        for (k, (_, _, why)) in found.iter().enumerate() {
            let held = match why {
                Why::Watch | Why::Exception => {
                    last = Some((k, Stopping::default()));
                    continue;
                }
                Why::Breakpoints(held) => held,
            };
            // This hit counts once for each key a held breakpoint has.
            let mine: Vec<CountKey> = held.iter().map(|&i| self.bps.list[i].count_key()).collect();
            for (n, key) in counts.iter_mut().zip(&keys) {
                if mine.contains(key) {
                    *n += 1;
                }
            }
            let mut ids = Vec::new();
            for &i in held {
                let bp = &self.bps.list[i];
                if bp.log_message.is_some() {
                    continue;
                }
                if let Some(hc) = &bp.hit_condition {
                    let key = bp.count_key();
                    let n = keys.iter().position(|k| *k == key).map_or(0, |j| counts[j]);
                    if !hit_condition_met(hc, n).map_err(EngineError)? {
                        continue;
                    }
                }
                ids.push(bp.id);
            }
            if !ids.is_empty() {
                let counts = keys.iter().cloned().zip(counts.iter().copied()).collect();
                last = Some((k, Stopping { ids, counts }));
            }
        }
        Ok(last)
    }

    /// Moments of frame `f`'s goroutine at statement starts of its function
    /// (same activation) and of its caller, plus the activation's entry.
    /// Also says which of the caller's statements step back may stop at:
    /// those of the calling source frame, not of other inlined calls.
    fn frame_history(&mut self, f: &StepFrame, here: &Pos) -> EResult<History> {
        let (caller_stmts, caller_lands) = match f.ret {
            Some(ret) => {
                let rows = self.bin.function_stmts(ret);
                // The call instruction is in the calling source frame.
                let calls = self.bin.inlined_calls(ret.saturating_sub(1));
                let lands = step_targets(&rows, &calls).0;
                (rows.into_iter().map(|r| r.0).collect(), lands)
            }
            None => (Vec::new(), Vec::new()),
        };
        let mut addrs = f.stmts.clone();
        addrs.extend(&caller_stmts);
        addrs.push(f.entry);
        let g = f.g;
        let entry = f.entry;
        let cfa0 = f.cfa;
        // Enough once this activation's entry is among them (or any earlier
        // moment of it: all of its moments since the segment start are there).
        let (hits, _) = scan(
            self,
            here,
            &addrs,
            false,
            &mut |e, h| Ok::<_, EngineError>((e.g_of_thread(h.tid) == Some(g)).then_some(())),
            &mut |e, _, found| {
                Ok(found.iter().any(|(p, _, _)| {
                    p.at.as_ref().is_some_and(|(_, r)| {
                        let cfa = e.cfa_at(r.rip, r.rsp, r.rbp);
                        (r.rip == entry && cfa == cfa0) || cfa > cfa0
                    })
                }))
            },
        )?;
        let history = hits
            .into_iter()
            .map(|(p, _, _)| {
                let r = p.at.as_ref().map(|(_, r)| *r).unwrap_or_default();
                let cfa = self.cfa_at(r.rip, r.rsp, r.rbp);
                (p, r.rip, cfa)
            })
            .collect();
        Ok((history, caller_lands))
    }

    /// Reverse next: the previous line this goroutine executed in this
    /// function activation, or in its caller before the call.
    pub(super) fn step_back(&mut self, f: &StepFrame) -> EResult<Stop> {
        let here = self.tl.here()?;
        let (history, caller_lands) = self.frame_history(f, &here)?;
        let caller_cfa = f.caller_cfa;
        let mut candidates: Vec<(Pos, u64, u64)> = Vec::new();
        for (p, pc, cfa) in history {
            if pc == f.entry && cfa == f.cfa {
                // A new activation at the same depth begins: older ones do not count.
                candidates.retain(|c| c.2 != f.cfa);
                continue;
            }
            // Inlined callees' statements belong to their call's line.
            let mine = cfa == f.cfa && f.lands.contains(&pc);
            let callers = caller_cfa.is_some_and(|c| c == cfa)
                && !f.stmts.contains(&pc)
                && caller_lands.contains(&pc);
            if mine || callers {
                candidates.push((p, pc, cfa));
            }
        }
        let target = candidates
            .iter()
            .rev()
            .find(|(_, pc, cfa)| !(*cfa == f.cfa && f.on_line(&self.bin, *pc)));
        match target {
            Some((p, _, _)) => {
                let p = p.clone();
                self.seek_stop(&p, StopReason::Step)
            }
            None => {
                // Nothing earlier in this frame: stay where we are.
                self.seek_stop(&here, StopReason::Step)
            }
        }
    }

    /// Reverse step out: the caller's line, before it made this call.
    pub(super) fn reverse_step_out(&mut self, f: &StepFrame) -> EResult<Stop> {
        let here = self.tl.here()?;
        let (history, _) = self.frame_history(f, &here)?;
        let mut last_caller: Option<Pos> = None;
        let mut target: Option<Pos> = None;
        for (p, pc, cfa) in history {
            if pc == f.entry && cfa == f.cfa {
                target = last_caller.clone();
            } else if f.caller_cfa == Some(cfa) && !f.stmts.contains(&pc) {
                last_caller = Some(p);
            }
        }
        match target {
            Some(p) => self.seek_stop(&p, StopReason::Step),
            None => self.seek_stop(&here, StopReason::Step),
        }
    }
}
