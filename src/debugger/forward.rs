//! Moving forwards: continue, next, step in, step out, one instruction.

use trace_format::RecTid;

use super::api::*;
use super::breakpoints::interpolate;
use super::engine::{Engine, Tick};
use super::inspect::is_runtime;
use crate::replay::BreakpointHit;

/// The frame a source-level step starts from.
#[derive(Debug, Clone)]
pub(super) struct StepFrame {
    pub g: u64,
    /// The top of the goroutine's stack when the step began (see `moved`).
    pub stack_hi: u64,
    pub tid: Option<RecTid>,
    pub entry: u64,
    pub cfa: u64,
    pub file: String,
    pub line: u64,
    /// Statement starts of the function (step in stops at any of them).
    pub stmts: Vec<u64>,
    /// Where next stops: the statements of this source frame and of its
    /// callers inlined in the same function, never those of other inlined
    /// calls, whose code belongs to their call's line (as Delve steps).
    pub lands: Vec<u64>,
    /// Where step out of an inlined frame stops: its callers' statements
    /// in the same function (empty when the frame is not inlined).
    pub out_lands: Vec<u64>,
    /// The frame's stack pointer (a deferred call run for a frame at or
    /// above it continues this step).
    pub sp: u64,
    /// Where the program's code continues once the frame returns, past
    /// runtime frames (a deferred function returns into `deferreturn`),
    /// with the least stack pointer a return there has.
    pub ret_user: Option<(u64, u64)>,
    /// On a panicking goroutine: where a recover can resume the frames
    /// above (their calls of `deferreturn`).
    pub resume: Vec<u64>,
    /// The caller step back and reverse step out go to, (return pc, frame
    /// address): the direct caller (where the function returns to), or for one of the program's functions
    /// that the runtime called (a deferred call run by a panic, a
    /// finalizer) the first of the program's frames below the runtime's —
    /// the line that panicked, not `runtime.gopanic`'s.
    pub back_caller: Option<(u64, u64)>,
}

impl StepFrame {
    /// Whether `pc` is on the line the step started from.
    pub fn on_line(&self, bin: &crate::gobin::GoBinary, pc: u64) -> bool {
        bin.line_at(pc) == Some((self.file.as_str(), self.line))
    }

    /// Whether a moment at `pc` with frame address `cfa`, in the caller's
    /// frame, is the caller's own: in another frame, any pc (a recursive
    /// call's caller runs this function's statements too: stepping back
    /// from its first line stayed there for good); in the same frame (this
    /// one inlined), none of this function's statements.
    pub fn callers_moment(&self, pc: u64, cfa: u64) -> bool {
        cfa != self.cfa || !self.stmts.contains(&pc)
    }
}

/// Whether step in runs a called function to its return instead of
/// entering it: the runtime and the packages the compiler calls for the
/// program's own operations (a map index calls internal/runtime/maps, a
/// comparison internal/bytealg). Other internal packages are ordinary
/// library code, entered as Delve does (os.File.Read → internal/poll).
fn steps_over(function: &str) -> bool {
    const IMPLICIT: &[&str] = &[
        "runtime.",
        "runtime/internal/",
        "internal/runtime/",
        "internal/abi.",
        "internal/bytealg.",
        "internal/race.",
        "internal/cpu.",
        "internal/chacha8rand.",
    ];
    IMPLICIT.iter().any(|p| function.starts_with(p))
}

/// From a function's statements, each with its inlined calls (innermost
/// first), those where next and step out may stop for the source frame in
/// inlined calls `here`: statements in `here` or in one of its callers (not
/// in other inlined calls), and for step out the callers' only.
pub(super) fn step_targets(rows: &[(u64, Vec<u32>)], here: &[u32]) -> (Vec<u64>, Vec<u64>) {
    let lands = rows
        .iter()
        .filter(|(_, calls)| here.ends_with(calls))
        .map(|r| r.0)
        .collect();
    let out = rows
        .iter()
        .filter(|(_, calls)| calls.len() < here.len() && here.ends_with(calls))
        .map(|r| r.0)
        .collect();
    (lands, out)
}

impl Engine {
    /// The CFA of the frame executing `pc` with stack pointer `sp` (frame
    /// pointer `bp` as the fallback where there is no CFI).
    pub(super) fn cfa_at(&self, pc: u64, sp: u64, bp: u64) -> u64 {
        if let Some(c) = self.info.cfa(pc, sp) {
            return c;
        }
        match self.bin.function_at(pc) {
            Some(f) if f.entry == pc => sp + 8,
            _ => bp + 16,
        }
    }

    /// How far the stepping goroutine's stack has moved since the step
    /// began, seen from thread `tid`: the runtime copies a stack elsewhere
    /// to grow or shrink it, frame addresses and all, so an address read
    /// now, minus this, compares with the frame's (0 when `tid` runs
    /// another goroutine or its g cannot be read).
    pub(super) fn moved(&self, f: &StepFrame, tid: RecTid) -> u64 {
        self.goroutine_on_thread(tid)
            .filter(|g| g.addr == f.g)
            .map_or(0, |g| g.stack.1.wrapping_sub(f.stack_hi))
    }

    pub(super) fn step_frame(&mut self, goid: Goid) -> EResult<StepFrame> {
        let frames = self.frames(goid)?;
        let f0 = frames
            .first()
            .ok_or_else(|| EngineError(format!("goroutine {goid} has no frames")))?
            .clone();
        let func = self
            .bin
            .function_at(f0.regs.pc)
            .ok_or_else(|| EngineError("no function at the current pc".into()))?
            .clone();
        let caller = frames
            .iter()
            .find(|f| f.regs.pc != f0.regs.pc || f.regs.cfa != f0.regs.cfa);
        let cfa = if f0.regs.cfa != 0 {
            f0.regs.cfa
        } else {
            let r = f0.regs.regs.unwrap_or_default();
            self.cfa_at(f0.regs.pc, r.rsp, r.rbp)
        };
        let (g, stack_hi) = {
            let g = self.goroutine(goid)?;
            (g.addr, g.stack.1)
        };
        let tid = self.stop_tid().filter(|t| self.g_of_thread(*t) == Some(g));
        // The first caller that is the program's, and the frame below it.
        let panicking = self
            .mem()
            .ok()
            .and_then(|m| self.defers.panic_frame_sp(m, g))
            .is_some();
        let mut below = cfa;
        let mut ret_user = None;
        let mut resume = Vec::new();
        let mut last = (f0.regs.pc, f0.regs.cfa);
        for c in &frames[1..] {
            if (c.regs.pc, c.regs.cfa) == last {
                continue; // an inlined call's frame: the same machine frame
            }
            last = (c.regs.pc, c.regs.cfa);
            let Some(func) = self.bin.function_at(c.regs.pc).cloned() else {
                break;
            };
            if is_runtime(&func.name) {
                below = c.regs.cfa;
                continue;
            }
            ret_user.get_or_insert((c.regs.pc, below));
            if !panicking {
                break;
            }
            resume.extend(self.defers.resume_sites(&self.bin, func.entry, func.size));
        }
        let runtimes = |pc: u64| {
            self.bin
                .function_at(pc)
                .is_some_and(|f| is_runtime(&f.name))
        };
        let direct = caller.map(|c| (c.regs.pc, c.regs.cfa)).filter(|c| c.1 != 0);
        let back_caller = match direct {
            Some((pc, cfa)) if runtimes(pc) && !is_runtime(&func.name) => frames
                .iter()
                .find(|c| c.regs.cfa > cfa && c.regs.cfa != 0 && !runtimes(c.regs.pc))
                .map(|c| (c.regs.pc, c.regs.cfa))
                .or(direct),
            _ => direct,
        };
        let rows = self.bin.function_stmts(f0.regs.pc);
        let (lands, out_lands) = step_targets(&rows, &self.bin.inlined_calls(f0.lookup_pc));
        Ok(StepFrame {
            g,
            stack_hi,
            tid,
            entry: func.entry,
            cfa,
            file: f0.file.clone(),
            line: f0.line,
            stmts: rows.iter().map(|r| r.0).collect(),
            lands,
            out_lands,
            sp: f0.regs.sp,
            ret_user,
            resume,
            back_caller,
        })
    }

    pub(super) fn stop(&mut self, reason: StopReason, tid: Option<RecTid>) -> Stop {
        let goid = tid.and_then(|t| self.goid_of_thread(t)).or(self.selected);
        let goid = self.live_goroutine(goid);
        let at = tid
            .and_then(|t| self.tl.session().regs(t).ok())
            .and_then(|r| self.bin.line_at(r.rip).map(|(f, l)| (f.to_string(), l)));
        let place = at
            .map(|(f, l)| format!(" at {}:{l}", f.rsplit('/').next().unwrap_or(&f)))
            .unwrap_or_default();
        let pos = self.tl.session().next_event().0;
        let total = self.tl.session().event_count();
        let description = match &reason {
            StopReason::Breakpoint { .. } => format!("breakpoint{place}"),
            StopReason::FunctionBreakpoint { .. } => format!("function breakpoint{place}"),
            StopReason::DataBreakpoint { text, .. } => format!("watchpoint{place}: {text}"),
            StopReason::WatchOutOfScope { text, .. } => text.clone(),
            StopReason::InstructionBreakpoint { .. } => format!("instruction breakpoint{place}"),
            StopReason::Step => format!("step{place}"),
            StopReason::Pause => format!("paused{place} (event {pos} of {total})"),
            StopReason::Exception { kind, .. } => match kind {
                ExceptionKind::Panic => "panic".into(),
                ExceptionKind::FatalError => "fatal error".into(),
            },
            StopReason::EndOfRecording => format!("end of recording (event {pos} of {total})"),
            StopReason::StartOfRecording => "start of recording".into(),
        };
        Stop {
            reason,
            goid,
            description,
        }
    }

    /// `goid` if that goroutine exists now; else the selected one, else
    /// goroutine 1, else the first: a stop never names a goroutine that has
    /// exited (a thread's g at the end of the recording can be a dead one).
    fn live_goroutine(&mut self, goid: Option<Goid>) -> Option<Goid> {
        let live: Vec<Goid> = match self.all_goroutines() {
            Ok(gs) => gs.iter().map(|g| g.goid).collect(),
            Err(_) => return None,
        };
        [goid, self.selected, Some(1), live.first().copied()]
            .into_iter()
            .flatten()
            .find(|g| live.contains(g))
    }

    /// Whether a hit stops a forward motion: an exception, or a user
    /// breakpoint whose condition and hit count say so (log points print).
    pub(super) fn hit_stops(&mut self, h: BreakpointHit) -> EResult<Option<Stop>> {
        if h.watch.is_some() {
            return self.watch_stops(h);
        }
        if let Some(s) = self.watch_scope_ends(&h)? {
            return Ok(Some(s));
        }
        if let Some(kind) = self
            .exceptions
            .iter()
            .find(|(a, _)| *a == h.addr)
            .map(|(_, k)| *k)
        {
            let on = match kind {
                ExceptionKind::Panic => self.stop_panics,
                ExceptionKind::FatalError => self.stop_fatal,
            };
            if on {
                let text = self.exception_text(h.tid, kind);
                let reason = StopReason::Exception { kind, text };
                return Ok(Some(self.stop(reason, Some(h.tid))));
            }
        }
        let mut ids = Vec::new();
        for i in self.bps.at(h.addr) {
            let bp = self.bps.list[i].clone();
            if !self.condition_holds(&bp.condition, h.tid, true)? {
                continue;
            }
            if let Some(hc) = &bp.hit_condition {
                if !self.hit_condition_here(hc, &bp.count_key())? {
                    continue;
                }
            }
            if let Some(msg) = &bp.log_message {
                let goid = self.goid_of_thread(h.tid);
                let text = interpolate(msg, |e| match self.eval_var(e, goid, 0) {
                    Ok(v) => v.value.value,
                    Err(err) => format!("<{err}>"),
                });
                self.output.push(OutputChunk::Log(text + "\n"));
                continue;
            }
            ids.push(bp.id);
        }
        if ids.is_empty() {
            return Ok(None);
        }
        let reason = self.bps.reason(ids);
        Ok(Some(self.stop(reason, Some(h.tid))))
    }

    /// A breakpoint condition, evaluated in the hitting goroutine's innermost
    /// frame. One that cannot be evaluated stops (and says why, if `report`),
    /// as Delve does.
    pub(super) fn condition_holds(
        &mut self,
        cond: &Option<String>,
        tid: RecTid,
        report: bool,
    ) -> EResult<bool> {
        let Some(cond) = cond else { return Ok(true) };
        let goid = self.goid_of_thread(tid);
        self.cache.clear();
        match self.eval_var(cond, goid, 0) {
            Ok(v) => Ok(v.as_bool().unwrap_or(true)),
            Err(e) => {
                if report {
                    self.output.push(OutputChunk::Log(format!(
                        "error evaluating breakpoint condition {cond:?}: {e}\n"
                    )));
                }
                Ok(true)
            }
        }
    }

    pub(super) fn run_continue(&mut self) -> EResult<Stop> {
        self.run_until(&[], &mut |_, _| Ok(false))
    }

    /// Continue until a thread reaches one of `addrs` (a step), or a user
    /// breakpoint stops it first.
    pub(super) fn run_to_any(&mut self, addrs: &[u64]) -> EResult<Stop> {
        self.run_until(addrs, &mut |_, h| Ok(addrs.contains(&h.addr)))
    }

    /// The forward motions' loop: runs until a user breakpoint, watchpoint
    /// or exception stops, a pause, the end, or `lands` accepts a hit of
    /// one of the temporary breakpoints `temp` (a step's end).
    fn run_until(
        &mut self,
        temp: &[u64],
        lands: &mut dyn FnMut(&mut Engine, BreakpointHit) -> EResult<bool>,
    ) -> EResult<Stop> {
        self.sync_breakpoints(temp)?;
        let result = loop {
            match self.tick(false)? {
                Tick::Hit(h) | Tick::Watch(h) => {
                    if let Some(s) = self.hit_stops(h)? {
                        break s;
                    }
                    if h.watch.is_none() && lands(self, h)? {
                        break self.stop(StopReason::Step, Some(h.tid));
                    }
                }
                // A pause ends the motion in `tick` (see `resume`).
                Tick::Event | Tick::Instruction(_) => {}
                Tick::End => break self.end_stop(),
            }
        };
        if !temp.is_empty() {
            self.sync_breakpoints(&[])?;
        }
        Ok(result)
    }

    pub(super) fn end_stop(&mut self) -> Stop {
        let tid = self.tl.focus_thread();
        self.stop(StopReason::EndOfRecording, tid)
    }

    /// Next or step out: temporary breakpoints on the frame's statements
    /// and its return address, honoured only for the stepping goroutine.
    /// A panic that reaches the frame goes on in the deferred functions it
    /// runs (the first of them is where the step ends), and a recover
    /// resumes their frame: both end the step as a return would. Deferred
    /// calls of a normal return are stepped over, as Delve's next does.
    pub(super) fn run_next(&mut self, f: &StepFrame, out: bool) -> EResult<Stop> {
        self.run_step(f, out, false)
    }

    /// Next (`out` false) or step out; `into_defers`: a step in, which
    /// also enters the deferred calls of a normal return.
    fn run_step(&mut self, f: &StepFrame, out: bool, into_defers: bool) -> EResult<Stop> {
        let mut temp: Vec<u64> = if out {
            f.out_lands.clone()
        } else {
            f.lands.clone()
        };
        temp.extend(f.ret_user.map(|r| r.0));
        temp.extend(&f.resume);
        temp.extend(
            self.defers
                .sites
                .iter()
                .filter(|s| into_defers || !s.in_deferreturn)
                .map(|s| s.addr),
        );
        let mut deferred = None;
        let stop = self.run_until(&temp, &mut |e, h| {
            if e.g_of_thread(h.tid) != Some(f.g) {
                return Ok(false);
            }
            if let Some(at) = e.deferred_call(f, h)? {
                deferred = Some(at);
                return Ok(true);
            }
            e.step_lands(f, h, out)
        })?;
        match deferred {
            Some(at) if stop.reason == StopReason::Step => self.run_into(f, at),
            _ => Ok(stop),
        }
    }

    /// At a runtime call of a deferred function: where that function's
    /// body starts, if the step should stop there (the defers are those
    /// of the stepping frame or its callers, and the function is the
    /// program's).
    fn deferred_call(&mut self, f: &StepFrame, h: BreakpointHit) -> EResult<Option<u64>> {
        let Some(site) = self.defers.site(h.addr) else {
            return Ok(None);
        };
        let r = self.tl.session().regs(h.tid)?;
        let moved = self.moved(f, h.tid);
        let frame_sp = if site.in_deferreturn {
            // deferreturn runs its caller's defers: the caller's sp is
            // deferreturn's CFA.
            Some(self.cfa_at(h.addr, r.rsp, r.rbp))
        } else {
            let mem = self.mem()?;
            self.defers.panic_frame_sp(mem, f.g)
        };
        if frame_sp.is_none_or(|sp| sp.wrapping_sub(moved) < f.sp) {
            return Ok(None);
        }
        let Some(code) = crate::tracee::insn::register(&r, site.target) else {
            return Ok(None);
        };
        let Some(func) = self.bin.function_at(code) else {
            return Ok(None);
        };
        let generated = self
            .bin
            .line_at(func.entry)
            .is_none_or(|(file, _)| file.ends_with("<autogenerated>"));
        if is_runtime(&func.name) || generated {
            return Ok(None);
        }
        Ok(Some(self.bin.after_prologue(func.entry)))
    }

    /// Runs the stepping goroutine to `at` (a deferred function's body).
    fn run_into(&mut self, f: &StepFrame, at: u64) -> EResult<Stop> {
        let g = f.g;
        self.run_until(&[at], &mut |e, h| {
            Ok(h.addr == at && e.g_of_thread(h.tid) == Some(g))
        })
    }

    /// Whether a hit of a temporary breakpoint ends a next/step out.
    fn step_lands(&mut self, f: &StepFrame, h: BreakpointHit, out: bool) -> EResult<bool> {
        if self.g_of_thread(h.tid) != Some(f.g) {
            return Ok(false);
        }
        let r = self.tl.session().regs(h.tid)?;
        let moved = self.moved(f, h.tid);
        let rsp = r.rsp.wrapping_sub(moved);
        if f.ret_user
            .is_some_and(|(ret, sp)| h.addr == ret && rsp >= sp)
        {
            return Ok(true);
        }
        if f.resume.contains(&h.addr) && rsp > f.sp {
            return Ok(true);
        }
        let targets = if out { &f.out_lands } else { &f.lands };
        if !targets.contains(&h.addr) {
            return Ok(false);
        }
        let cfa = self.cfa_at(h.addr, r.rsp, r.rbp).wrapping_sub(moved);
        // Out of an inlined call, any line of its callers is past it.
        Ok((cfa == f.cfa && (out || !f.on_line(&self.bin, h.addr))) || cfa > f.cfa)
    }

    /// Step in: single instructions until a new line of this function, the
    /// first line of a called (non-runtime) function, or the return.
    pub(super) fn run_step_in(&mut self, f: &StepFrame) -> EResult<Stop> {
        let Some(tid) = f.tid else {
            return self.run_next(f, false);
        };
        self.sync_breakpoints(&[])?;
        for _ in 0..200_000 {
            if self.tl.running_thread()? != Some(tid) {
                // The goroutine's thread is not the next to run (a syscall
                // intervenes): finish like next.
                return self.run_next(f, false);
            }
            match self.tick(true)? {
                Tick::Instruction(_) => {}
                Tick::Hit(h) | Tick::Watch(h) => {
                    if let Some(s) = self.hit_stops(h)? {
                        return Ok(s);
                    }
                    if h.watch.is_none() {
                        continue;
                    }
                }
                Tick::Event => continue,
                Tick::End => return Ok(self.end_stop()),
            }
            let r = self.tl.session().regs(tid)?;
            let pc = r.rip;
            let Some(func) = self.bin.function_at(pc).cloned() else {
                continue;
            };
            let moved = self.moved(f, tid);
            if r.rsp.wrapping_sub(moved) >= f.cfa {
                if is_runtime(&func.name) {
                    // Returned into the runtime (a deferred function into
                    // deferreturn or gopanic): on to the program's code.
                    return self.run_step(f, true, true);
                }
                // Returned to the caller.
                return Ok(self.stop(StopReason::Step, Some(tid)));
            }
            if func.entry == f.entry && self.cfa_at(pc, r.rsp, r.rbp).wrapping_sub(moved) == f.cfa {
                // Any statement of another line, inlined callees' included.
                if !f.on_line(&self.bin, pc) && f.stmts.contains(&pc) {
                    return Ok(self.stop(StopReason::Step, Some(tid)));
                }
                continue;
            }
            if pc != func.entry {
                continue;
            }
            // Just called `func`.
            let ret_sp = r.rsp + 8;
            let ret = self.mem()?.read_u64(trace_format::RemoteAddr(r.rsp))?;
            if steps_over(&func.name) {
                if let Some(stop) = self.run_until_return(f, tid, ret, ret_sp)? {
                    return Ok(stop);
                }
                continue;
            }
            let file = self.bin.line_at(pc).map(|(f, _)| f);
            if file.is_none_or(|f| f.ends_with("<autogenerated>")) {
                // A compiler-made wrapper (e.g. a value method called through
                // an interface): step through it to the method it calls.
                continue;
            }
            let target = self.bin.after_prologue(func.entry);
            if target == pc {
                return Ok(self.stop(StopReason::Step, Some(tid)));
            }
            self.sync_breakpoints(&[target])?;
            loop {
                match self.tick(false)? {
                    Tick::Hit(h) if h.addr == target && h.tid == tid => {
                        self.sync_breakpoints(&[])?;
                        return Ok(self.stop(StopReason::Step, Some(tid)));
                    }
                    Tick::Hit(h) | Tick::Watch(h) => {
                        if let Some(s) = self.hit_stops(h)? {
                            return Ok(s);
                        }
                    }
                    Tick::End => return Ok(self.end_stop()),
                    _ => {}
                }
            }
        }
        Ok(self.stop(StopReason::Step, Some(tid)))
    }

    /// Runs a called runtime function to its return (stepping through it
    /// instruction by instruction would take long and show nothing), unless
    /// it calls a function the step enters first (a deferred one: `gopanic`
    /// never returns) or something else stops it.
    fn run_until_return(
        &mut self,
        f: &StepFrame,
        tid: RecTid,
        ret: u64,
        ret_sp: u64,
    ) -> EResult<Option<Stop>> {
        let mut temp = vec![ret];
        temp.extend(self.defers.sites.iter().map(|s| s.addr));
        self.sync_breakpoints(&temp)?;
        let ret_sp = ret_sp.wrapping_sub(self.moved(f, tid));
        let stop = loop {
            match self.tick(false)? {
                Tick::Hit(h)
                    if h.addr == ret
                        && h.tid == tid
                        && self
                            .tl
                            .session()
                            .regs(tid)?
                            .rsp
                            .wrapping_sub(self.moved(f, tid))
                            >= ret_sp =>
                {
                    break None
                }
                Tick::Hit(h) | Tick::Watch(h) => {
                    if let Some(s) = self.hit_stops(h)? {
                        break Some(s);
                    }
                    if h.watch.is_none() && self.g_of_thread(h.tid) == Some(f.g) {
                        if let Some(at) = self.deferred_call(f, h)? {
                            break Some(self.run_into(f, at)?);
                        }
                    }
                }
                Tick::End => break Some(self.end_stop()),
                _ => {}
            }
        };
        self.sync_breakpoints(&[])?;
        Ok(stop)
    }

    pub(super) fn run_instruction(&mut self) -> EResult<Stop> {
        self.sync_breakpoints(&[])?;
        loop {
            match self.tick(true)? {
                Tick::Instruction(t) => return Ok(self.stop(StopReason::Step, Some(t))),
                Tick::Hit(h) | Tick::Watch(h) => {
                    if let Some(s) = self.hit_stops(h)? {
                        return Ok(s);
                    }
                    return Ok(self.stop(StopReason::Step, Some(h.tid)));
                }
                Tick::Event => {
                    if self.stop_tid().is_some() {
                        return Ok(self.stop(StopReason::Step, self.stop_tid()));
                    }
                }
                Tick::End => return Ok(self.end_stop()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{step_targets, steps_over};

    #[test]
    fn step_in_enters_library_internals_not_the_runtimes() {
        for f in [
            "internal/poll.(*FD).Read",
            "internal/fmtsort.Sort",
            "os.(*File).Read",
        ] {
            assert!(!steps_over(f), "{f}");
        }
        for f in [
            "runtime.growslice",
            "internal/runtime/maps.(*Map).getWithKeySmall",
            "internal/bytealg.IndexByteString",
            "runtime/internal/atomic.Load",
        ] {
            assert!(steps_over(f), "{f}");
        }
    }

    /// Statements of a function: its own (no inlined call), those of call 1
    /// (inlined), of call 2 inlined in call 1, and of call 3 (another
    /// inlined call, beside call 1).
    fn rows() -> Vec<(u64, Vec<u32>)> {
        vec![
            (0x10, vec![]),
            (0x20, vec![1]),
            (0x30, vec![2, 1]),
            (0x40, vec![1]),
            (0x50, vec![3]),
            (0x60, vec![]),
        ]
    }

    #[test]
    fn next_skips_other_inlined_calls() {
        // In the function itself: its own statements only.
        assert_eq!(step_targets(&rows(), &[]), (vec![0x10, 0x60], vec![]));
        // In call 1: its statements and the function's, not call 2's or 3's;
        // out of it, the function's.
        assert_eq!(
            step_targets(&rows(), &[1]),
            (vec![0x10, 0x20, 0x40, 0x60], vec![0x10, 0x60])
        );
        // In call 2 (inside call 1): all of its callers'.
        assert_eq!(
            step_targets(&rows(), &[2, 1]),
            (
                vec![0x10, 0x20, 0x30, 0x40, 0x60],
                vec![0x10, 0x20, 0x40, 0x60]
            )
        );
    }
}
