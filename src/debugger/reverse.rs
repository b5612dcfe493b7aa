//! Moving backwards. Replay is deterministic, so going back is replaying
//! forwards again from a checkpoint: one pass notes the candidate moments
//! before the current one (from the nearest checkpoint, then earlier ones
//! until the answer is settled), a second pass stops at the chosen one
//! (`Engine::seek`, from the nearest checkpoint before it).

use super::api::*;
use super::engine::{same_regs, Engine, Pos, Tick};
use super::forward::{step_targets, StepFrame};
use crate::replay::BreakpointHit;

/// A moment a scan kept, and the hit that made it.
type Moment = (Pos, BreakpointHit);

/// A frame's history: moments with the pc and CFA there, and the caller's
/// statements step back may stop at.
type History = (Vec<(Pos, u64, u64)>, Vec<u64>);

impl Engine {
    /// The moments before `until` where `keep` accepted a hit of `addrs`
    /// (and, with `watches`, of a watchpoint), in order. Replays from the
    /// nearest checkpoint, then from earlier ones, until `enough` says the
    /// moments found settle the question.
    pub(super) fn scan(
        &mut self,
        until: &Pos,
        addrs: &[u64],
        watches: bool,
        keep: &mut dyn FnMut(&mut Engine, BreakpointHit) -> EResult<bool>,
        enough: &dyn Fn(&Engine, &[Moment]) -> bool,
    ) -> EResult<Vec<(Pos, BreakpointHit)>> {
        let mut found: Vec<(Pos, BreakpointHit)> = Vec::new();
        let mut end = until.clone();
        for from in self.starts_before(until.event) {
            if from > end.event {
                continue;
            }
            let mut part = self.scan_segment(from, &end, addrs, watches, keep)?;
            part.append(&mut found);
            found = part;
            if enough(self, &found) {
                break;
            }
            end = Pos {
                event: from,
                at: None,
            };
        }
        Ok(found)
    }

    /// One replay from `from` to `until`. A watchpoint's hit at `until`
    /// itself counts: the access happened before that moment.
    fn scan_segment(
        &mut self,
        from: u64,
        until: &Pos,
        addrs: &[u64],
        watches: bool,
        keep: &mut dyn FnMut(&mut Engine, BreakpointHit) -> EResult<bool>,
    ) -> EResult<Vec<(Pos, BreakpointHit)>> {
        self.restart_at(from)?;
        self.sync_watches()?;
        self.session.set_output(crate::replay::Output::Discard);
        let mut want = addrs.to_vec();
        want.extend(until.at.as_ref().map(|(_, r)| r.rip));
        self.place_exactly(&want)?;
        let mut found = Vec::new();
        loop {
            let event = self.session.next_event().0;
            if event > until.event || (until.at.is_none() && event >= until.event) {
                break;
            }
            match self.tick(false)? {
                Tick::Hit(h) | Tick::Watch(h) => {
                    let regs = self.session.regs(h.tid)?;
                    let at_end = until.at.as_ref().is_some_and(|(tid, r)| {
                        event == until.event && h.tid == *tid && same_regs(&regs, r)
                    });
                    let wanted = match h.watch {
                        Some(_) => watches,
                        None => !at_end && addrs.contains(&h.addr),
                    };
                    if wanted && keep(self, h)? {
                        let at = Some((h.tid, regs));
                        found.push((Pos { event, at }, h));
                    }
                    if at_end {
                        break;
                    }
                }
                Tick::Event | Tick::Instruction(_) => {
                    if self.interrupted() {
                        return Err(EngineError(super::engine::INTERRUPTED.into()));
                    }
                }
                Tick::End => break,
            }
        }
        Ok(found)
    }

    fn seek_stop(&mut self, pos: &Pos, reason: StopReason) -> EResult<Stop> {
        self.seek(pos)?;
        let tid = pos.at.as_ref().map(|(t, _)| *t);
        Ok(self.stop(reason, tid))
    }

    fn start_pos() -> Pos {
        // Just after the exec: the first moment the program exists.
        Pos { event: 1, at: None }
    }

    pub(super) fn reverse_continue(&mut self) -> EResult<Stop> {
        let here = self.here()?;
        let exceptions = self.enabled_exceptions();
        let mut addrs: Vec<u64> = self.bps.addrs().collect();
        addrs.extend(exceptions.iter().map(|(a, _)| *a));
        let mut seen = std::collections::HashMap::new();
        let watching = !self.watch.list.is_empty();
        let hits = self.scan(
            &here,
            &addrs,
            watching,
            &mut |e, h| {
                if h.watch.is_some() {
                    return e.keep_watch_hit(&h, &mut seen);
                }
                if exceptions.iter().any(|(a, _)| *a == h.addr) {
                    return Ok(true);
                }
                let mut stops = false;
                for i in e.bps.at(h.addr) {
                    let bp = e.bps.list[i].clone();
                    if bp.log_message.is_none() && e.condition_holds(&bp.condition, h.tid)? {
                        stops = true;
                    }
                }
                Ok(stops)
            },
            &|_, found| !found.is_empty(),
        )?;
        match hits.last() {
            Some((p, h)) if h.watch.is_some() => {
                let key = p.at.as_ref().map(|(_, r)| (p.event, r.rip, r.rsp));
                let seen = key.and_then(|k| seen.remove(&k));
                let (p, h) = (p.clone(), *h);
                self.reverse_to_write(&p, h, seen)
            }
            Some((p, _)) => {
                let (tid, addr) = p.at.as_ref().map(|(t, r)| (*t, r.rip)).unwrap_or_default();
                if let Some((_, kind)) = exceptions.iter().find(|(a, _)| *a == addr) {
                    // Going back onto the panic (or fatal error) itself.
                    self.seek(p)?;
                    let text = self.exception_text(tid, *kind);
                    let reason = StopReason::Exception { kind: *kind, text };
                    return Ok(self.stop(reason, Some(tid)));
                }
                let ids: Vec<u32> = self
                    .bps
                    .at(addr)
                    .iter()
                    .map(|&i| self.bps.list[i].id)
                    .collect();
                let reason = self.bps.reason(ids);
                self.seek_stop(p, reason)
            }
            None => {
                let s = self.seek_stop(&Self::start_pos(), StopReason::StartOfRecording)?;
                Ok(s)
            }
        }
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
        let hits = self.scan(
            here,
            &addrs,
            false,
            &mut |e, h| Ok(e.g_of_thread(h.tid) == Some(g)),
            &|e, found| {
                found.iter().any(|(p, _)| {
                    p.at.as_ref().is_some_and(|(_, r)| {
                        let cfa = e.cfa_at(r.rip, r.rsp, r.rbp);
                        (r.rip == entry && cfa == cfa0) || cfa > cfa0
                    })
                })
            },
        )?;
        let history = hits
            .into_iter()
            .map(|(p, _)| {
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
        let here = self.here()?;
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
        let here = self.here()?;
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
