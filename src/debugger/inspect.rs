//! Looking at the stopped replay: goroutines, their frames, variables and
//! expressions. Everything is read from the replayed process's memory.

use std::collections::HashMap;

use trace_format::RecTid;

use super::api::*;
use super::engine::Engine;
use crate::goruntime::{self, GoReader, Goroutine};
use crate::govalue::{Expand, FrameRegs, Var};
use crate::tracee::mem::ProcMem;

/// One source-level frame: a physical frame, and which inlined call inside it.
#[derive(Debug, Clone)]
pub struct FrameEntry {
    pub regs: FrameRegs,
    /// The pc to look up lines and scopes with (return address − 1 for callers).
    pub lookup_pc: u64,
    /// Inline level, in `GoBinary::source_frames` order.
    pub depth: usize,
    pub function: String,
    pub file: String,
    pub line: u64,
}

/// What is computed once per stop.
#[derive(Default)]
pub struct StopCache {
    goroutines: Option<Vec<Goroutine>>,
    frames: HashMap<Goid, Vec<FrameEntry>>,
    pub(super) children: Vec<Expand>,
    /// The timeline's move count when this was filled.
    moves: u64,
}

impl StopCache {
    pub fn clear(&mut self) {
        self.goroutines = None;
        self.frames.clear();
        self.children.clear();
    }

    /// This cache for the moment `moves` names (cleared if it moved on).
    pub fn at(&mut self, moves: u64) -> &mut StopCache {
        if self.moves != moves {
            self.clear();
            self.moves = moves;
        }
        self
    }
}

/// Functions that switch from a goroutine's stack to the thread's g0 stack.
const SWITCHES: &[&str] = &[
    "runtime.systemstack",
    "runtime.mcall",
    "runtime.mstart",
    "runtime.asmcgocall",
];

pub fn is_runtime(function: &str) -> bool {
    function.starts_with("runtime.")
        || function.starts_with("internal/")
        || function.starts_with("runtime/internal/")
}

/// The package a function belongs to (`net/http.(*Server).Serve` → `net/http`).
pub fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map(|i| i + 1).unwrap_or(0);
    match function[slash..].find('.') {
        Some(dot) => &function[..slash + dot],
        None => function,
    }
}

impl Engine {
    pub(super) fn mem(&self) -> anyhow::Result<&ProcMem> {
        self.tl.session().mem(self.tl.session().main_pid())
    }

    /// The g a thread runs: g from its TLS (fs_base−8); on g0 or the signal
    /// stack, the user goroutine it is serving (m.curg).
    pub(super) fn g_of_thread(&self, tid: RecTid) -> Option<u64> {
        self.goroutine_on_thread(tid).map(|g| g.addr)
    }

    pub(super) fn goid_of_thread(&self, tid: RecTid) -> Option<Goid> {
        self.goroutine_on_thread(tid).map(|g| g.goid)
    }

    pub(super) fn goroutine_on_thread(&self, tid: RecTid) -> Option<Goroutine> {
        let regs = self.tl.session().regs(tid).ok()?;
        let mem = self.mem().ok()?;
        GoReader::new(&self.bin).ok()?.on_thread(mem, regs.fs_base)
    }

    pub(super) fn all_goroutines(&mut self) -> anyhow::Result<Vec<Goroutine>> {
        if let Some(g) = &self.stop_cache().goroutines {
            return Ok(g.clone());
        }
        let mem = self.mem()?;
        let mut v = goruntime::goroutines(&self.bin, mem)?;
        v.sort_by_key(|g| g.goid);
        self.stop_cache().goroutines = Some(v.clone());
        Ok(v)
    }

    pub(super) fn goroutine(&mut self, goid: Goid) -> anyhow::Result<Goroutine> {
        self.all_goroutines()?
            .into_iter()
            .find(|g| g.goid == goid)
            .ok_or_else(|| anyhow::anyhow!("there is no goroutine {goid} at this point"))
    }

    /// Low halves of a thread's XMM registers (FXSAVE layout: XMM0 at byte 160).
    fn xmm(&self, tid: RecTid) -> Option<[u64; 16]> {
        let x = self.tl.session().xstate(tid).ok()?;
        let mut out = [0u64; 16];
        for (i, v) in out.iter_mut().enumerate() {
            let at = 160 + i * 16;
            *v = u64::from_le_bytes(x.get(at..at + 8)?.try_into().ok()?);
        }
        Some(out)
    }

    /// The registers of the thread running goroutine `g`, if it is running.
    fn running_regs(&self, g: &Goroutine) -> Option<trace_format::Regs> {
        let tid = RecTid(g.thread?);
        if self.g_of_thread(tid) != Some(g.addr) {
            return None;
        }
        self.tl.session().regs(tid).ok()
    }

    /// Source-level frames of a goroutine, innermost first.
    pub(super) fn frames(&mut self, goid: Goid) -> anyhow::Result<Vec<FrameEntry>> {
        if let Some(f) = self.stop_cache().frames.get(&goid) {
            return Ok(f.clone());
        }
        let g = self.goroutine(goid)?;
        let regs = self.running_regs(&g);
        let mem = self.mem()?;
        let mut phys: Vec<FrameRegs> = Vec::new();
        let (spc, ssp, sbp) = g.saved;
        match regs {
            Some(r) => {
                phys = self.info.unwind(mem, r.rip, r.rsp, r.rbp, 200);
                if let Some(f) = phys.first_mut() {
                    f.regs = Some(r);
                    f.xmm = g.thread.and_then(|t| self.xmm(RecTid(t)));
                }
                let on_own_stack = g.stack.0 <= r.rsp && r.rsp < g.stack.1;
                if !on_own_stack && spc != 0 {
                    if let Some(i) = phys.iter().position(|f| {
                        self.bin
                            .function_at(f.pc)
                            .is_some_and(|f| SWITCHES.contains(&f.name.as_str()))
                    }) {
                        phys.truncate(i + 1);
                    }
                    phys.extend(self.info.unwind(mem, spc, ssp, sbp, 200));
                }
            }
            None if spc != 0 => phys = self.info.unwind(mem, spc, ssp, sbp, 200),
            None => {}
        }
        let mut out = Vec::new();
        if phys.is_empty() {
            // No CFI-based unwinding: frame pointers only (no variables).
            for (i, f) in goruntime::stack::goroutine_frames(&self.bin, mem, &g, regs.as_ref())
                .into_iter()
                .enumerate()
            {
                let top = regs.filter(|_| i == 0);
                out.push(FrameEntry {
                    regs: FrameRegs {
                        pc: f.pc,
                        sp: top.map(|r| r.rsp).unwrap_or(0),
                        bp: top.map(|r| r.rbp).unwrap_or(0),
                        cfa: 0,
                        regs: top,
                        xmm: None,
                    },
                    lookup_pc: f.pc,
                    depth: 0,
                    function: f.function,
                    file: f.file,
                    line: f.line,
                });
            }
        }
        for (i, p) in phys.iter().enumerate() {
            // A pc at a function's entry is no return address: a goroutine
            // that has not run yet (its saved pc is its function's entry;
            // one byte back lies between functions, and the frame was lost).
            let exact = (i == 0 && regs.is_some())
                || self.bin.function_at(p.pc).is_some_and(|f| f.entry == p.pc);
            let lookup = if exact { p.pc } else { p.pc.saturating_sub(1) };
            for (depth, (function, file, line)) in
                self.bin.source_frames(lookup).into_iter().enumerate()
            {
                out.push(FrameEntry {
                    regs: p.clone(),
                    lookup_pc: lookup,
                    depth,
                    function,
                    file,
                    line,
                });
            }
        }
        self.stop_cache().frames.insert(goid, out.clone());
        Ok(out)
    }

    pub(super) fn frame(&mut self, goid: Goid, index: usize) -> EResult<FrameEntry> {
        self.frames(goid)?
            .get(index)
            .cloned()
            .ok_or_else(|| EngineError(format!("goroutine {goid} has no frame {index}")))
    }

    fn publish(&mut self, v: Var) -> Value {
        let mut value = v.value;
        if let Some(e) = v.expand {
            self.stop_cache().children.push(e);
            value.children = Some(ChildrenRef(self.stop_cache().children.len() as u64));
        }
        value
    }

    pub(super) fn summaries(&mut self) -> EResult<Vec<GoroutineSummary>> {
        let gs = self.all_goroutines()?;
        let mem = self.mem()?;
        let mut out = Vec::new();
        for g in gs {
            let regs = self.running_regs(&g);
            let frames = goruntime::stack::goroutine_frames(&self.bin, mem, &g, regs.as_ref());
            let function = goruntime::stack::user_frame(&self.bin, &frames)
                .or(frames.first())
                .map(|f| f.function.clone())
                .or_else(|| self.bin.function_at(g.startpc).map(|f| f.name.clone()))
                .unwrap_or_else(|| "?".into());
            out.push(GoroutineSummary {
                goid: g.goid,
                function,
                thread: regs.and(g.thread),
                labels: g.labels.clone(),
                system: g.system,
            });
        }
        Ok(out)
    }

    pub(super) fn stack_frames(
        &mut self,
        goid: Goid,
        start: usize,
        levels: usize,
    ) -> EResult<(Vec<FrameInfo>, bool)> {
        let frames = self.frames(goid)?;
        let end = if levels == 0 {
            frames.len()
        } else {
            (start + levels).min(frames.len())
        };
        let out = frames
            .get(start.min(frames.len())..end)
            .unwrap_or(&[])
            .iter()
            .map(|f| FrameInfo {
                function: f.function.clone(),
                file: f.file.clone(),
                line: f.line,
                pc: f.regs.pc,
                runtime: is_runtime(&f.function),
            })
            .collect();
        Ok((out, end < frames.len()))
    }

    pub(super) fn scope_values(
        &mut self,
        goid: Goid,
        index: usize,
        kind: ScopeKind,
    ) -> EResult<Vec<Value>> {
        let f = self.frame(goid, index)?;
        let vars = match kind {
            ScopeKind::Globals => self.info.globals(package_of(&f.function)),
            ScopeKind::Arguments => self
                .info
                .variables(f.lookup_pc, f.depth)
                .into_iter()
                .filter(|v| v.is_arg)
                .collect(),
            ScopeKind::Locals => self
                .info
                .variables(f.lookup_pc, f.depth)
                .into_iter()
                .filter(|v| !v.is_arg)
                .collect(),
        };
        let mut out = Vec::new();
        for v in vars {
            let var = self.info.read_var(self.mem()?, &f.regs, &v);
            out.push(self.publish(var));
        }
        Ok(out)
    }

    /// What a children reference stands for, while the stop it came from lasts.
    pub(super) fn expandable(&self, of: ChildrenRef) -> EResult<Expand> {
        let cache = &self.cache;
        Some(&cache.children)
            .filter(|_| cache.moves == self.tl.moves())
            .and_then(|c| c.get((of.0 as usize).wrapping_sub(1)))
            .cloned()
            .ok_or_else(|| {
                EngineError("that value is no longer available (the program moved)".into())
            })
    }

    pub(super) fn child_values(
        &mut self,
        of: ChildrenRef,
        start: u64,
        count: u64,
    ) -> EResult<Vec<Value>> {
        let e = self.expandable(of)?;
        let vars = self.info.expand(self.mem()?, &e, start, count);
        Ok(vars.into_iter().map(|v| self.publish(v)).collect())
    }

    pub(super) fn eval_var(
        &mut self,
        expr: &str,
        goid: Option<Goid>,
        index: usize,
    ) -> EResult<Var> {
        self.eval_var_with(expr, goid, index, Shown::WATCH)
    }

    fn eval_var_with(
        &mut self,
        expr: &str,
        goid: Option<Goid>,
        index: usize,
        shown: Shown,
    ) -> EResult<Var> {
        let goid = goid
            .or(self.selected)
            .ok_or_else(|| EngineError("no goroutine is selected".into()))?;
        let f = self.frame(goid, index)?;
        self.info
            .evaluate(self.mem()?, &f.regs, f.lookup_pc, f.depth, expr, shown)
            .map_err(|e| EngineError(format!("{e:#}")))
    }

    pub(super) fn eval_value(
        &mut self,
        expr: &str,
        goid: Option<Goid>,
        index: usize,
        shown: Shown,
    ) -> EResult<Value> {
        let v = self.eval_var_with(expr, goid, index, shown)?;
        Ok(self.publish(v))
    }
}
