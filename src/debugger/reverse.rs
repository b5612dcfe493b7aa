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
use super::inspect::is_runtime;
use super::watch::WriteNotes;
use crate::timeline::{bases_at, scan, CountKey, Moment, Pos};

/// Why a reverse scan kept a hit: the stop it may be.
enum Why {
    /// A watchpoint's (its id).
    Watch(u32),
    Exception,
    /// The user breakpoints (indices) whose condition held there.
    Breakpoints(Vec<usize>),
}

/// A hit a reverse scan kept: the stop it may be (None: it only counts),
/// and the hit counts it adds one to (the judge's, as going forwards).
struct Kept {
    why: Option<Why>,
    adds: Vec<CountKey>,
}

/// A hit that stops a reverse-continue: the breakpoints or watchpoint it
/// stops for, and the hit counts just before it and at it.
pub(super) struct Stopping {
    ids: Vec<u32>,
    before: Vec<(CountKey, u64)>,
    at: Vec<(CountKey, u64)>,
}

impl Stopping {
    /// The hit counts where the stop is: at the hit (`with_hit`), or just
    /// before it (a watchpoint's stop before the write).
    pub(super) fn counts(self, with_hit: bool) -> Vec<(CountKey, u64)> {
        if with_hit {
            self.at
        } else {
            self.before
        }
    }
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
    /// (see `reverse_to_write`), or a user breakpoint's, whose condition
    /// holds and whose hit condition holds for its count there (hits from
    /// the start up to that moment, as going forwards).
    pub(super) fn reverse_continue(&mut self) -> EResult<Stop> {
        let here = self.tl.here()?;
        let exceptions = self.enabled_exceptions();
        let mut addrs: Vec<u64> = self.bps.addrs().collect();
        addrs.extend(exceptions.iter().map(|(a, _)| *a));
        let mut seen = WriteNotes::new();
        let watching = !self.watch.list.is_empty();
        let keys = self.counted();
        // Stopped just after a write (its instruction unknown): that write's
        // hit, here, is not "before now" again (reverse-continue stayed put).
        let passed = self.after_write.take().filter(|p| *p == here);
        let (hits, first) = scan(
            self,
            &here,
            &addrs,
            watching,
            &mut |e, h| {
                if h.watch.is_some() {
                    if let Some(p) = passed.as_ref().filter(|p| p.at.is_some()) {
                        // The very moment (its route, not only its registers:
                        // an earlier turn of a loop may have them too).
                        if e.tl.here()? == *p {
                            return Ok(None);
                        }
                    }
                }
                let adds = e.judge(h, &keys)?;
                let why = e.why_back(h, &exceptions, &mut seen)?;
                let kept = why.is_some() || !adds.is_empty();
                Ok::<_, EngineError>(kept.then_some(Kept { why, adds }))
            },
            &mut |e, from, found| Ok::<_, EngineError>(e.last_stop(from, found)?.is_some()),
        )?;
        let Some((k, stop)) = self.last_stop(first, &hits)? else {
            return self.seek_stop(&Pos::start(), StopReason::StartOfRecording);
        };
        let (p, h) = (hits[k].0.clone(), hits[k].1);
        if h.watch.is_some() {
            let key = p.at.as_ref().map(|(_, r)| (p.event, r.rip, r.rsp));
            let seen = key.and_then(|k| seen.remove(&k));
            return self.reverse_to_write(&p, h, seen, stop);
        }
        self.tl.seek(&p)?;
        let reason = match exceptions.iter().find(|(a, _)| *a == h.addr) {
            // Going back onto the panic (or fatal error) itself.
            Some((_, kind)) => {
                let text = self.exception_text(h.tid, *kind);
                StopReason::Exception { kind: *kind, text }
            }
            None => self.bps.reason(stop.ids.clone()),
        };
        self.tl.counts.set_here(stop.counts(true));
        Ok(self.stop(reason, Some(h.tid)))
    }

    /// Whether a hit a reverse scan meets may stop it, and as what.
    fn why_back(
        &mut self,
        h: crate::replay::BreakpointHit,
        exceptions: &[(u64, ExceptionKind)],
        seen: &mut WriteNotes,
    ) -> EResult<Option<Why>> {
        if let Some(id) = h.watch {
            return Ok(self.keep_watch_hit(&h, seen)?.then_some(Why::Watch(id)));
        }
        if exceptions.iter().any(|(a, _)| *a == h.addr) {
            return Ok(Some(Why::Exception));
        }
        // Every breakpoint whose condition holds: log points and hit
        // conditions count their hits too.
        let mut held = Vec::new();
        for i in self.bps.at(h.addr) {
            let bp = self.bps.list[i].clone();
            if self.condition_holds(&bp.condition, h.tid, true)? {
                held.push(i);
            }
        }
        Ok((!held.is_empty()).then_some(Why::Breakpoints(held)))
    }

    /// Which of a reverse scan's moments (`found`, from event `from` on)
    /// is the last that stops, with what it stops for and the hit counts
    /// there. Counting needs the counts at `from` (replayed if not known
    /// yet) only when a hit condition is set.
    fn last_stop(
        &mut self,
        from: u64,
        found: &[Moment<Kept>],
    ) -> EResult<Option<(usize, Stopping)>> {
        let keys = self.counted();
        let mut counts: Vec<u64> = if keys.is_empty() {
            Vec::new()
        } else {
            let k2 = keys.clone();
            bases_at(self, &keys, from, &mut |e: &mut Engine, h| e.judge(h, &k2))?
        };
        let mut last = None;
        for (k, (_, _, kept)) in found.iter().enumerate() {
            let before = counts.clone();
            for (n, key) in counts.iter_mut().zip(&keys) {
                if kept.adds.contains(key) {
                    *n += 1;
                }
            }
            let count =
                |key: &CountKey| keys.iter().position(|k| k == key).map_or(0, |j| counts[j]);
            let Some(ids) = self.stops_back(kept.why.as_ref(), &count)? else {
                continue;
            };
            let with = |c: &[u64]| keys.iter().cloned().zip(c.iter().copied()).collect();
            let (before, at) = (with(&before), with(&counts));
            last = Some((k, Stopping { ids, before, at }));
        }
        Ok(last)
    }

    /// The ids a kept hit stops a reverse-continue for (empty for an
    /// exception), given the hit counts at it; None if it does not stop.
    fn stops_back(
        &self,
        why: Option<&Why>,
        count: &dyn Fn(&CountKey) -> u64,
    ) -> EResult<Option<Vec<u32>>> {
        let met = |hc: &Option<String>, key: CountKey| match hc {
            Some(hc) => hit_condition_met(hc, count(&key)).map_err(EngineError),
            None => Ok(true),
        };
        let ids = match why {
            None => return Ok(None),
            Some(Why::Exception) => return Ok(Some(Vec::new())),
            Some(Why::Watch(id)) => match self.watch.get(*id) {
                Some(w) if met(&w.hit_condition, w.count_key())? => vec![*id],
                _ => Vec::new(),
            },
            Some(Why::Breakpoints(held)) => {
                let mut ids = Vec::new();
                for bp in held.iter().map(|&i| &self.bps.list[i]) {
                    if bp.log_message.is_none() && met(&bp.hit_condition, bp.count_key())? {
                        ids.push(bp.id);
                    }
                }
                ids
            }
        };
        Ok((!ids.is_empty()).then_some(ids))
    }

    /// Moments of frame `f`'s goroutine at statement starts of its function
    /// (same activation) and of its caller, plus the activation's entry.
    /// Also says which of the caller's statements step back may stop at:
    /// those of the calling source frame, not of other inlined calls.
    fn frame_history(&mut self, f: &StepFrame, here: &Pos) -> EResult<History> {
        let (caller_stmts, caller_lands) = match f.back_caller.map(|c| c.0) {
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
        // Frame addresses as of the step's stack (see `moved`), noted with each moment.
        let (hits, _) = scan(
            self,
            here,
            &addrs,
            false,
            &mut |e, h| {
                Ok::<_, EngineError>((e.g_of_thread(h.tid) == Some(g)).then(|| e.moved(f, h.tid)))
            },
            &mut |e, _, found| {
                Ok(found.iter().any(|(p, _, moved)| {
                    p.at.as_ref().is_some_and(|(_, r)| {
                        let cfa = e.cfa_at(r.rip, r.rsp, r.rbp).wrapping_sub(*moved);
                        (r.rip == entry && cfa == cfa0) || cfa > cfa0
                    })
                }))
            },
        )?;
        let history = hits
            .into_iter()
            .map(|(p, _, moved)| {
                let r = p.at.as_ref().map(|(_, r)| *r).unwrap_or_default();
                let cfa = self.cfa_at(r.rip, r.rsp, r.rbp).wrapping_sub(moved);
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
        let caller_cfa = f.back_caller.map(|c| c.1);
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
                && f.callers_moment(pc, cfa)
                && caller_lands.contains(&pc);
            if mine || callers {
                candidates.push((p, pc, cfa));
            }
        }
        let last = candidates
            .iter()
            .rposition(|(_, pc, cfa)| !(*cfa == f.cfa && f.on_line(&self.bin, *pc)));
        // Where next would have stopped on that line: the first of its
        // moments in a row (optimized code has several statements per
        // line; the last one is mid-line, with half of it done).
        let target = last.map(|mut k| {
            let line = |c: &(Pos, u64, u64)| (c.2, self.bin.line_at(c.1));
            while k > 0 && line(&candidates[k - 1]) == line(&candidates[k]) {
                k -= 1;
            }
            &candidates[k]
        });
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

    /// Step back from a stack with none of the program's own frames (the
    /// end of the recording: main.main returned into runtime.main, which
    /// exits — or first runs exit hooks that write, through os and fmt; a
    /// goroutine whose function returned): the last statement the
    /// goroutine ran in its own function — main.main for the main
    /// goroutine, else the function it started with. None if there is no
    /// such function or moment (step back goes on as usual).
    pub(super) fn back_into_own_code(&mut self, goid: Goid) -> EResult<Option<Stop>> {
        let frames = self.frames(goid)?;
        let names: Vec<String> = frames
            .iter()
            .filter_map(|f| self.bin.function_at(f.regs.pc).map(|f| f.name.clone()))
            .collect();
        let g = self.goroutine(goid)?;
        // The main goroutine starts in runtime.main, which calls main.main.
        let started = self.bin.function_at(g.startpc).map(|f| f.name.as_str());
        // A goroutine the program started, or main's: done with the
        // program's code once none of it is on its stack. Another (a
        // library's) only on runtime frames alone.
        let programs = started.is_some_and(|s| s == "runtime.main" || self.bin.is_own_code(s));
        let done = if programs {
            !names.iter().any(|n| self.bin.is_own_code(n))
        } else {
            names.iter().all(|n| is_runtime(n))
        };
        if names.is_empty() || !done {
            return Ok(None);
        }
        let own = if started == Some("runtime.main") || names.iter().any(|n| n == "runtime.main") {
            self.bin
                .functions_named("main.main")
                .first()
                .map(|f| (*f).clone())
        } else {
            self.bin.function_at(g.startpc).cloned()
        };
        let Some(own) = own.filter(|f| !is_runtime(&f.name)) else {
            return Ok(None);
        };
        let stmts: Vec<u64> = self
            .bin
            .function_stmts(own.entry)
            .into_iter()
            .map(|r| r.0)
            .collect();
        let here = self.tl.here()?;
        let g_addr = g.addr;
        let (hits, _) = scan(
            self,
            &here,
            &stmts,
            false,
            &mut |e, h| Ok::<_, EngineError>((e.g_of_thread(h.tid) == Some(g_addr)).then_some(())),
            &mut |_, _, found| Ok(!found.is_empty()),
        )?;
        match hits.last() {
            Some((p, _, _)) => {
                let p = p.clone();
                Ok(Some(self.seek_stop(&p, StopReason::Step)?))
            }
            None => Ok(None),
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
            } else if f.back_caller.map(|c| c.1) == Some(cfa) && f.callers_moment(pc, cfa) {
                last_caller = Some(p);
            }
        }
        match target {
            Some(p) => self.seek_stop(&p, StopReason::Step),
            None => self.seek_stop(&here, StopReason::Step),
        }
    }
}
