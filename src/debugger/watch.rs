//! Watchpoints (DAP data breakpoints): what watching a value covers, the
//! stop forwards (just after the access, with old → new) and backwards
//! (just before the last write: "who changed this?"), and the end of a
//! watched stack variable's frame. The debug registers themselves are
//! the replay's (`replay::watch`).

use std::collections::HashMap;

use trace_format::RemoteAddr;

use super::api::*;
use super::engine::Engine;
use super::reverse::Stopping;
use crate::goruntime::GoReader;
use crate::govalue::{MemPlace, Var};
use crate::replay::{split_range, BreakpointHit, WatchAccess, WatchRange, MAX_WATCH_SLOTS};
use crate::timeline::{scan, Anchor, CountKey, Counted, Pos};

/// A watched stack variable's frame: its return ends the watchpoint.
#[derive(Debug, Clone)]
pub(super) struct FrameScope {
    /// The goroutine (its g) whose stack holds the variable.
    pub g: u64,
    pub goid: Goid,
    /// Where the frame returns to, and its CFA (rsp after the return).
    pub ret: u64,
    pub cfa: u64,
    pub function: String,
    /// The goroutine's stack top: the variable and its frame move with it
    /// when the runtime copies the stack (`Timeline`'s anchors).
    pub anchor: Option<Anchor>,
}

/// A value `data_breakpoint_info` described: what a data id stands for.
#[derive(Debug, Clone)]
pub(super) struct WatchTarget {
    name: String,
    place: MemPlace,
    scope: Option<FrameScope>,
}

#[derive(Debug, Clone)]
pub(super) struct Watchpoint {
    pub id: u32,
    target: WatchTarget,
    access: DataAccess,
    condition: Option<String>,
    pub hit_condition: Option<String>,
    /// The value where the forward motion began, or at its last access
    /// since: the "old" of the next change.
    last: String,
}

/// What a reverse scan noted about the watch hits it kept: the value
/// written and the writing instruction, by (event, rip, rsp).
pub(super) type WriteNotes = HashMap<(u64, u64, u64), (String, Option<u64>)>;

#[derive(Default)]
pub(super) struct Watches {
    targets: Vec<WatchTarget>,
    pub list: Vec<Watchpoint>,
}

impl Watchpoint {
    /// What its hit count counts (the count itself is the timeline's, by
    /// position: `timeline::counts`).
    pub fn count_key(&self) -> CountKey {
        CountKey {
            of: self.watched(),
            condition: self.condition.clone(),
        }
    }

    /// Whose hits it counts: its value (and frame) and the accesses that
    /// trap, not its id, which a new `setDataBreakpoints` changes.
    fn watched(&self) -> Counted {
        let s = self.target.scope.as_ref();
        Counted::Data {
            addr: self.target.place.addr,
            len: self.target.place.size,
            reads: self.access == DataAccess::ReadWrite,
            frame: s.map(|s| (s.g, s.cfa, s.anchor.is_some())),
        }
    }
}

impl Watches {
    /// The watchpoint with id `id`.
    pub fn get(&self, id: u32) -> Option<&Watchpoint> {
        self.list.iter().find(|w| w.id == id)
    }
}

/// A data target's expression, its value, and the frame (goroutine, index)
/// it was looked up in.
impl Engine {
    /// The return addresses that end watched stack variables.
    pub(super) fn watch_scope_addrs(&self) -> Vec<u64> {
        self.watch
            .list
            .iter()
            .filter_map(|w| w.target.scope.as_ref().map(|s| s.ret))
            .collect()
    }

    /// Puts the watchpoints into the replay's debug registers.
    pub(super) fn sync_watches(&mut self) -> anyhow::Result<()> {
        let mut ranges = Vec::new();
        for w in &self.watch.list {
            let access = match w.access {
                DataAccess::Write => WatchAccess::Write,
                DataAccess::ReadWrite => WatchAccess::ReadWrite,
            };
            let anchor = w.target.scope.as_ref().and_then(|s| s.anchor);
            for (addr, len) in
                split_range(w.target.place.addr, w.target.place.size).unwrap_or_default()
            {
                let range = WatchRange {
                    addr,
                    len,
                    access,
                    owner: w.id,
                };
                ranges.push((range, anchor));
            }
        }
        self.tl.set_watches(ranges)
    }

    /// How far a watched stack variable has moved with its goroutine's
    /// stack since it was looked up, where the replay stands.
    fn moved_by(&self, scope: Option<&FrameScope>) -> u64 {
        scope
            .and_then(|s| s.anchor.as_ref())
            .map_or(0, |a| self.tl.moved_by(a))
    }

    /// A watch target's value where the replay stands.
    fn render_target(&self, t: &WatchTarget) -> String {
        let mut place = t.place.clone();
        place.addr = place.addr.wrapping_add(self.moved_by(t.scope.as_ref()));
        self.render_place(&place)
    }

    fn render_place(&self, place: &MemPlace) -> String {
        match self.mem() {
            Ok(mem) => self.info.render_at(mem, place),
            Err(_) => "(unreadable: the program is not running)".into(),
        }
    }

    /// The value a data target names, and the expression naming it.
    fn data_var(&mut self, target: &DataTarget) -> EResult<(String, Var)> {
        Ok(match target {
            DataTarget::Scope {
                goid,
                frame,
                kind,
                name,
            } => {
                let f = self.frame(*goid, *frame)?;
                let vars = match kind {
                    ScopeKind::Globals => {
                        self.info.globals(super::inspect::package_of(&f.function))
                    }
                    _ => self
                        .info
                        .variables(f.lookup_pc, f.depth)
                        .into_iter()
                        .filter(|v| v.is_arg == (*kind == ScopeKind::Arguments))
                        .collect(),
                };
                let v = vars
                    .iter()
                    .find(|v| v.name == *name)
                    .ok_or_else(|| EngineError(format!("no variable {name} in that scope")))?;
                let var = self.info.read_var(self.mem()?, &f.regs, v);
                let eval = var.value.evaluate_name.clone().unwrap_or(name.clone());
                (eval, var)
            }
            DataTarget::Child { of, name } => {
                let e = self.expandable(*of)?;
                let var = self
                    .info
                    .expand(self.mem()?, &e, 0, 0)
                    .into_iter()
                    .find(|v| v.value.name == *name)
                    .ok_or_else(|| EngineError(format!("no element {name} in that value")))?;
                let eval = var.value.evaluate_name.clone().unwrap_or(name.clone());
                (eval, var)
            }
            DataTarget::Expression { expr, goid, frame } => {
                (expr.clone(), self.eval_var(expr, *goid, *frame)?)
            }
            DataTarget::Address { .. } => unreachable!("addresses have no variable"),
        })
    }

    /// The frame of a goroutine's stack that holds `addr`, if any.
    fn stack_scope(&mut self, addr: u64) -> EResult<Option<FrameScope>> {
        let gs = self.all_goroutines()?;
        let Some(g) = gs.iter().find(|g| g.stack.0 <= addr && addr < g.stack.1) else {
            return Ok(None);
        };
        let (goid, gaddr) = (g.goid, g.addr);
        let frames = self.frames(goid)?;
        // Frames go outwards: the first whose CFA is above the address
        // holds it; its caller's pc is where it returns to.
        let Some(i) = frames.iter().position(|f| f.regs.cfa > addr) else {
            return Ok(None);
        };
        let Some(caller) = frames.get(i + 1) else {
            return Ok(None);
        };
        let anchor = GoReader::new(&self.bin).ok().and_then(|r| {
            let word = r.stack_top_word(gaddr);
            let then = self.mem().ok()?.read_u64(RemoteAddr(word)).ok()?;
            Some(Anchor { word, then })
        });
        Ok(Some(FrameScope {
            g: gaddr,
            goid,
            ret: caller.regs.pc,
            cfa: frames[i].regs.cfa,
            function: frames[i].function.clone(),
            anchor,
        }))
    }

    pub(super) fn data_info(&mut self, target: DataTarget) -> EResult<DataInfo> {
        let refuse = |description: String| {
            Ok(DataInfo {
                data_id: None,
                description,
                access_types: Vec::new(),
            })
        };
        let (name, place) = match &target {
            DataTarget::Address { addr, size } => {
                let size = if *size == 0 { 8 } else { *size };
                match self.info.raw_place(*addr, size) {
                    Some(p) => (format!("{addr:#x}"), p),
                    None => {
                        return refuse(format!(
                            "cannot watch {size} bytes: 1, 2, 4 or 8 bytes at an address"
                        ))
                    }
                }
            }
            _ => {
                let (name, var) = self.data_var(&target)?;
                match var.place {
                    Some(p) => (name, p),
                    None => {
                        return refuse(format!(
                            "{name} cannot be watched: it has no address here (kept in a register, computed, or optimized away)"
                        ))
                    }
                }
            }
        };
        if split_range(place.addr, place.size).is_none() {
            return refuse(format!(
                "{name} is {} bytes: a watchpoint covers at most {} (the debug registers rrgo can give)",
                place.size,
                MAX_WATCH_SLOTS * 8
            ));
        }
        let scope = self.stack_scope(place.addr)?;
        let target = WatchTarget {
            name: name.clone(),
            place: place.clone(),
            scope,
        };
        let i = match self
            .watch
            .targets
            .iter()
            .position(|t| t.name == target.name && t.place == target.place)
        {
            Some(i) => {
                self.watch.targets[i] = target;
                i
            }
            None => {
                self.watch.targets.push(target);
                self.watch.targets.len() - 1
            }
        };
        let ty = self.info.place_type(&place);
        Ok(DataInfo {
            data_id: Some(format!("{name}@{:#x}#{i}", place.addr)),
            description: format!("{name} ({ty}, {} bytes at {:#x})", place.size, place.addr),
            access_types: vec![DataAccess::Write, DataAccess::ReadWrite],
        })
    }

    pub(super) fn set_data(&mut self, bps: &[DataBreakpoint]) -> Vec<BreakpointStatus> {
        self.watch.list.clear();
        let mut out = Vec::new();
        let mut slots = 0usize;
        let mut anchors = Vec::new();
        for bp in bps {
            let id = self.bps.new_id();
            let target = bp
                .data_id
                .rsplit_once('#')
                .and_then(|(_, i)| i.parse::<usize>().ok())
                .and_then(|i| self.watch.targets.get(i).cloned());
            let refused = |message: String| BreakpointStatus {
                id,
                verified: false,
                file: None,
                line: None,
                message: Some(message),
            };
            let Some(mut target) = target else {
                out.push(refused(format!("unknown data breakpoint {:?}", bp.data_id)));
                continue;
            };
            let need =
                split_range(target.place.addr, target.place.size).map_or(usize::MAX, |v| v.len());
            if slots.saturating_add(need) > MAX_WATCH_SLOTS {
                out.push(refused(format!(
                    "no debug register left for {}: watchpoints cover at most {MAX_WATCH_SLOTS} aligned words at once",
                    target.name
                )));
                continue;
            }
            slots += need;
            // Following a stack variable when its stack moves takes a
            // register for the stack's top word (one per goroutine).
            let mut message = None;
            if let Some(scope) = target.scope.as_mut() {
                match scope.anchor {
                    Some(a) if anchors.contains(&a.word) => {}
                    Some(a) if slots < MAX_WATCH_SLOTS => {
                        anchors.push(a.word);
                        slots += 1;
                    }
                    Some(_) => {
                        scope.anchor = None;
                        message = Some(format!(
                            "no debug register left to follow {} if goroutine {}'s stack moves: \
                             writes after the runtime grows that stack are not seen",
                            target.name, scope.goid
                        ));
                    }
                    None => {}
                }
            }
            let last = self.render_target(&target);
            self.watch.list.push(Watchpoint {
                id,
                target,
                access: bp.access,
                condition: bp.condition.clone().filter(|c| !c.trim().is_empty()),
                hit_condition: bp.hit_condition.clone().filter(|c| !c.trim().is_empty()),
                last,
            });
            out.push(BreakpointStatus {
                id,
                verified: true,
                file: None,
                line: None,
                message,
            });
        }
        if let Err(e) = self.sync_watches().and_then(|_| self.sync_breakpoints(&[])) {
            tracing::warn!("cannot set watchpoints: {e:#}");
            for s in &mut out {
                s.verified = false;
                s.message = Some(format!("cannot set watchpoints: {e:#}"));
            }
            self.watch.list.clear();
        }
        out
    }

    /// Whether a watch hit belongs to its watchpoint: a stack variable's
    /// slot counts only while its frame lives (its goroutine, below its CFA).
    fn watch_hit_counts(&self, w: &Watchpoint, h: &BreakpointHit) -> bool {
        let Some(s) = &w.target.scope else {
            return true;
        };
        let rsp = self.tl.session().regs(h.tid).map(|r| r.rsp).unwrap_or(0);
        let cfa = s.cfa.wrapping_add(self.moved_by(Some(s)));
        self.g_of_thread(h.tid) == Some(s.g) && rsp < cfa
    }

    /// Whether a watch hit is one of those `watched` counts: its
    /// watchpoint watches that, and the hit belongs to it.
    pub(super) fn watch_hit_of(&self, h: &BreakpointHit, watched: &Counted) -> bool {
        h.watch
            .and_then(|id| self.watch.get(id))
            .is_some_and(|w| w.watched() == *watched && self.watch_hit_counts(w, h))
    }

    /// The writing goroutine and line of a hit ("by goroutine 7 at main.go:21").
    fn writer_text(&self, h: &BreakpointHit, writer: Option<u64>) -> String {
        let who = self
            .goid_of_thread(h.tid)
            .map(|g| format!("goroutine {g}"))
            .unwrap_or_else(|| format!("thread {}", h.tid.0));
        let at = self
            .bin
            .line_at(writer.unwrap_or(h.addr))
            .map(|(f, l)| format!(" at {}:{l}", f.rsplit('/').next().unwrap_or(f)))
            .unwrap_or_default();
        format!("{who}{at}")
    }

    /// The instruction that made a hit's access (the thread is just past it).
    fn writer_pc(&self, h: &BreakpointHit) -> Option<u64> {
        let entry = self.bin.function_at(h.addr)?.entry;
        let len = usize::try_from(h.addr.checked_sub(entry)?).ok()?;
        if len == 0 || len > 1 << 20 {
            return None;
        }
        let code = self
            .tl
            .session()
            .mem(h.tid)
            .ok()?
            .read(RemoteAddr(entry), len)
            .ok()?;
        // Our int3s are not the program's code.
        let code = self.tl.session().original_code(entry, code);
        crate::tracee::insn::accessor_before(&code, entry, h.addr)
    }

    /// Notes the watched values where a forward motion begins: the "old"
    /// of a change is right however the replay got here (a step back, a
    /// seek).
    pub(super) fn note_watched_values(&mut self) {
        for i in 0..self.watch.list.len() {
            self.watch.list[i].last = self.render_target(&self.watch.list[i].target);
        }
    }

    /// Whether a watch hit stops a forward motion.
    pub(super) fn watch_stops(&mut self, h: BreakpointHit) -> EResult<Option<Stop>> {
        let Some(owner) = h.watch else {
            return Ok(None);
        };
        let Some(i) = self.watch.list.iter().position(|w| w.id == owner) else {
            return Ok(None);
        };
        let w = self.watch.list[i].clone();
        // Noted at every access, stop or not: a stop's "old" is then the
        // value before its own write, also when conditions skipped some.
        let now = self.render_target(&w.target);
        self.watch.list[i].last = now.clone();
        if !self.watch_hit_counts(&w, &h) || !self.condition_holds(&w.condition, h.tid, true)? {
            return Ok(None);
        }
        if let Some(hc) = &w.hit_condition {
            if !self.hit_condition_here(hc, &w.count_key())? {
                return Ok(None);
            }
        }
        let writer = self.writer_pc(&h);
        let by = self.writer_text(&h, writer);
        let text = match (now != w.last, w.access) {
            (true, _) => format!("{}: {} → {now} (written by {by})", w.target.name, w.last),
            (false, DataAccess::Write) => {
                format!("{} = {now} (written, unchanged, by {by})", w.target.name)
            }
            (false, DataAccess::ReadWrite) => {
                format!(
                    "{} = {now} (read or written, unchanged, by {by})",
                    w.target.name
                )
            }
        };
        let reason = StopReason::DataBreakpoint {
            ids: vec![w.id],
            text,
        };
        Ok(Some(self.stop(reason, Some(h.tid))))
    }

    /// A watched stack variable's frame returned: the watchpoint ends.
    pub(super) fn watch_scope_ends(&mut self, h: &BreakpointHit) -> EResult<Option<Stop>> {
        if h.watch.is_some() {
            return Ok(None);
        }
        let g = self.g_of_thread(h.tid);
        let rsp = self.tl.session().regs(h.tid)?.rsp;
        let Some(i) = self.watch.list.iter().position(|w| {
            w.target.scope.as_ref().is_some_and(|s| {
                let cfa = s.cfa.wrapping_add(self.moved_by(Some(s)));
                s.ret == h.addr && Some(s.g) == g && rsp >= cfa
            })
        }) else {
            return Ok(None);
        };
        let w = self.watch.list.remove(i);
        self.sync_watches()?;
        self.sync_breakpoints(&[])?;
        let s = w.target.scope.as_ref().expect("scoped");
        let text = format!(
            "watchpoint on {} went out of scope: {} returned (goroutine {}); it is removed",
            w.target.name, s.function, s.goid
        );
        Ok(Some(self.stop(
            StopReason::WatchOutOfScope { id: w.id, text },
            Some(h.tid),
        )))
    }

    /// Reverse-continue's answer when the last hit before now is a
    /// watchpoint's: the moment just before the write, found by a second
    /// pass stopping at the writing instruction. The hit counts there are
    /// `stopping`'s before the write (after it, if the stop is after it).
    pub(super) fn reverse_to_write(
        &mut self,
        after: &Pos,
        h: BreakpointHit,
        seen: Option<(String, Option<u64>)>,
        stopping: Stopping,
    ) -> EResult<Stop> {
        let owner = h.watch.unwrap_or_default();
        let Some(w) = self.watch.get(owner).cloned() else {
            return Ok(self.stop(StopReason::Pause, Some(h.tid)));
        };
        let (new, writer) = seen.unwrap_or_else(|| ("?".into(), None));
        let tid = h.tid;
        let before = match writer {
            Some(pc) => {
                let (found, _) = scan(
                    self,
                    after,
                    &[pc],
                    false,
                    &mut |_, hit| {
                        Ok::<_, EngineError>((hit.tid == tid && hit.watch.is_none()).then_some(()))
                    },
                    &mut |_, _, found| Ok(!found.is_empty()),
                )?;
                found.last().map(|(p, _, _)| p.clone())
            }
            None => None,
        };
        let by = self.writer_text(&h, writer);
        let text = match &before {
            Some(p) => {
                self.tl.seek(p)?;
                self.tl.counts.set_here(stopping.counts(false));
                let old = self.render_target(&w.target);
                format!(
                    "{}: {old} → {new} (the last write before, by {by}; stopped just before it)",
                    w.target.name
                )
            }
            None => {
                self.tl.seek(after)?;
                self.tl.counts.set_here(stopping.counts(true));
                self.after_write = Some(after.clone());
                format!(
                    "{} = {new} (the last write before, by {by}; stopped just after it: the writing instruction could not be told)",
                    w.target.name
                )
            }
        };
        let reason = StopReason::DataBreakpoint {
            ids: vec![w.id],
            text,
        };
        Ok(self.stop(reason, Some(tid)))
    }

    /// For a reverse scan: whether a watch hit is a candidate (its
    /// watchpoint's, its frame alive, its condition true), noting the value
    /// it wrote and its writing instruction in `seen`.
    pub(super) fn keep_watch_hit(
        &mut self,
        h: &BreakpointHit,
        seen: &mut WriteNotes,
    ) -> EResult<bool> {
        let Some(w) = self
            .watch
            .list
            .iter()
            .find(|w| Some(w.id) == h.watch)
            .cloned()
        else {
            return Ok(false);
        };
        if !self.watch_hit_counts(&w, h) || !self.condition_holds(&w.condition, h.tid, true)? {
            return Ok(false);
        }
        let regs = self.tl.session().regs(h.tid)?;
        let value = self.render_target(&w.target);
        let writer = self.writer_pc(h);
        seen.insert(
            (self.tl.session().next_event().0, regs.rip, regs.rsp),
            (value, writer),
        );
        Ok(true)
    }
}
