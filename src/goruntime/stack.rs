//! Goroutine stacks by frame-pointer walking: Go keeps RBP as a frame
//! pointer on amd64 (caller's RBP at [RBP], return address at [RBP+8]).
//! Inlined frames and the CFI-based first-frame fixups come later.

use serde::Serialize;
use trace_format::RemoteAddr;

use crate::gobin::GoBinary;
use crate::tracee::mem::MemRead;

#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub pc: u64,
    pub function: String,
    pub file: String,
    pub line: u64,
    /// pc − function entry, as Go prints it (+0x…).
    pub offset: u64,
    /// A call inlined into the next frame (same machine frame).
    pub inlined: bool,
}

/// Frames from (pc, bp). `exact_pc`: the first pc is the instruction being
/// executed (a running thread), not a return address.
pub fn walk(
    bin: &GoBinary,
    mem: &dyn MemRead,
    pc: u64,
    bp: u64,
    exact_pc: bool,
    max: usize,
) -> Vec<Frame> {
    walk_until(bin, mem, pc, bp, exact_pc, max, &|_| false)
}

/// `walk`, stopping after the first frame `enough` accepts.
fn walk_until(
    bin: &GoBinary,
    mem: &dyn MemRead,
    pc: u64,
    bp: u64,
    exact_pc: bool,
    max: usize,
    enough: &dyn Fn(&Frame) -> bool,
) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut count = 0;
    walk_machine(bin, mem, (pc, bp), exact_pc, max, &mut count, &mut |m| {
        m.push_to(&mut frames, enough)
    });
    frames
}

/// One machine frame of a walk: its pc, function, and source frames
/// (innermost first: inlined calls, then the function itself) as the
/// binary's memo holds them, so that a walk that wants one frame copies
/// no other's strings.
pub struct MachineFrame<'a> {
    pub pc: u64,
    pub function: &'a crate::gobin::Function,
    pub sources: std::sync::Arc<[crate::gobin::SourceFrame]>,
}

impl MachineFrame<'_> {
    /// Source frame `i` as a `Frame`.
    pub fn frame(&self, i: usize) -> Frame {
        let (function, file, line) = &self.sources[i];
        Frame {
            pc: self.pc,
            inlined: *function != self.function.name,
            function: function.clone(),
            file: file.clone(),
            line: *line,
            offset: self.pc - self.function.entry,
        }
    }

    /// Ranks its source frames into `best` (the innermost of the highest
    /// rank, as `goroutine_frame_ranked` picks), each first allowed by
    /// `more`: true when the search is over (a frame ranked 2, or `more`
    /// said no).
    fn rank_into(
        &self,
        best: &mut Option<(u8, Frame)>,
        rank: &dyn Fn(&str) -> u8,
        more: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        for i in 0..self.sources.len() {
            if !more(i) {
                return true;
            }
            let r = rank(&self.sources[i].0);
            if r > best.as_ref().map_or(0, |b| b.0) {
                *best = Some((r, self.frame(i)));
                if r >= 2 {
                    return true;
                }
            }
        }
        false
    }

    /// Appends its source frames to `frames`: whether `enough` accepts one.
    fn push_to(&self, frames: &mut Vec<Frame>, enough: &dyn Fn(&Frame) -> bool) -> bool {
        let before = frames.len();
        frames.extend((0..self.sources.len()).map(|i| self.frame(i)));
        frames[before..].iter().any(enough)
    }
}

/// Walks machine frames from (pc, bp) while fewer than `max` source
/// frames were passed (`count`, shared by the walks of one stack),
/// calling `visit` on each until it returns true.
fn walk_machine(
    bin: &GoBinary,
    mem: &dyn MemRead,
    (mut pc, mut bp): (u64, u64),
    exact_pc: bool,
    max: usize,
    count: &mut usize,
    visit: &mut dyn FnMut(&MachineFrame) -> bool,
) {
    let mut first = true;
    while pc != 0 && *count < max {
        let Some(f) = bin.function_at(pc) else { break };
        // A return address points after the call: its line is the call's.
        // A function's entry is none (a goroutine that has not run yet
        // saved it as its pc; Go's tracebacks do not back up there either).
        let lookup = if (first && exact_pc) || pc == f.entry {
            pc
        } else {
            pc.saturating_sub(1)
        };
        let sources = bin.source_frames_shared(lookup);
        *count += sources.len();
        if visit(&MachineFrame {
            pc,
            function: f,
            sources,
        }) {
            break;
        }
        if f.name == "runtime.goexit"
            || f.name == "runtime.mstart"
            || f.name == "runtime.rt0_go"
            || bp == 0
        {
            break;
        }
        let Some((next_bp, ret)) = caller_frame(mem, bp) else {
            break;
        };
        pc = ret;
        bp = next_bp;
        first = false;
    }
}

/// The caller's (bp, return address) from the frame at `bp`, if readable
/// and further up the stack.
fn caller_frame(mem: &dyn MemRead, bp: u64) -> Option<(u64, u64)> {
    // The saved bp and the return address in one read (the goroutine index
    // walks stacks at hundreds of thousands of visits).
    let mut pair = [0u8; 16];
    mem.read_exact(RemoteAddr(bp), &mut pair).ok()?;
    let word = |i: usize| u64::from_le_bytes(pair[i..i + 8].try_into().unwrap_or([0; 8]));
    let (next_bp, ret) = (word(0), word(8));
    (next_bp == 0 || next_bp > bp).then_some((next_bp, ret))
}

/// The machine frames' pcs from a running thread's (pc, bp), innermost
/// first, at most `max`: kept where a frame may be wanted later (a lock's
/// holder, named only if someone waits for it), then named by
/// `ranked_in_chain`.
pub fn raw_chain(mem: &dyn MemRead, (mut pc, mut bp): (u64, u64), max: usize) -> Vec<u64> {
    let mut pcs = Vec::with_capacity(max);
    while pc != 0 && pcs.len() < max {
        pcs.push(pc);
        if bp == 0 {
            break;
        }
        let Some((next_bp, ret)) = caller_frame(mem, bp) else {
            break;
        };
        pc = ret;
        bp = next_bp;
    }
    pcs
}

/// The frame `goroutine_frame_ranked` picks for a running thread on its
/// goroutine's own stack, from its `raw_chain` (the first pc exact).
pub fn ranked_in_chain(bin: &GoBinary, pcs: &[u64], rank: &dyn Fn(&str) -> u8) -> Option<Frame> {
    let mut best: Option<(u8, Frame)> = None;
    for (n, &pc) in pcs.iter().enumerate() {
        let Some(f) = bin.function_at(pc) else { break };
        let lookup = if n == 0 { pc } else { pc.saturating_sub(1) };
        let m = MachineFrame {
            pc,
            function: f,
            sources: bin.source_frames_shared(lookup),
        };
        if m.rank_into(&mut best, rank, &mut |_| true) {
            break;
        }
        if matches!(
            f.name.as_str(),
            "runtime.goexit" | "runtime.mstart" | "runtime.rt0_go"
        ) {
            break;
        }
    }
    best.map(|(_, f)| f)
}

/// Functions that switch from a goroutine's stack to the thread's g0 stack.
const SWITCHES: &[&str] = &[
    "runtime.systemstack",
    "runtime.mcall",
    "runtime.mstart",
    "runtime.asmcgocall",
];

/// A goroutine's frames: from the thread's registers if it is running
/// (`regs`), else from the registers saved in the g.
pub fn goroutine_frames(
    bin: &GoBinary,
    mem: &dyn MemRead,
    g: &super::Goroutine,
    regs: Option<&trace_format::Regs>,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    goroutine_walk(bin, mem, g, regs, &mut |m| {
        m.push_to(&mut frames, &|_| false)
    });
    frames.truncate(MAX_FRAMES);
    frames
}

/// The innermost frame of a goroutine's stack (walked as by
/// `goroutine_frames`) that `rank` ranks highest, by function name: 0
/// never, 1 if nothing better, 2 the one wanted (the walk stops there).
/// Only that frame's strings are copied: the goroutine index asks this at
/// every state change and lock acquisition.
pub fn goroutine_frame_ranked(
    bin: &GoBinary,
    mem: &dyn MemRead,
    g: &super::Goroutine,
    regs: Option<&trace_format::Regs>,
    rank: &dyn Fn(&str) -> u8,
) -> Option<Frame> {
    let mut best: Option<(u8, Frame)> = None;
    let mut passed = 0;
    goroutine_walk(bin, mem, g, regs, &mut |m| {
        m.rank_into(&mut best, rank, &mut |_| {
            passed += 1;
            passed <= MAX_FRAMES
        })
    });
    best.map(|(_, f)| f)
}

/// Source frames a goroutine's walk passes at most.
const MAX_FRAMES: usize = 100;

/// A goroutine's machine frames to `visit` (until it returns true): from
/// the thread's registers if it is running (`regs`), continuing on the
/// goroutine's own stack after a switch to the system stack; else from
/// the registers saved in the g.
fn goroutine_walk(
    bin: &GoBinary,
    mem: &dyn MemRead,
    g: &super::Goroutine,
    regs: Option<&trace_format::Regs>,
    visit: &mut dyn FnMut(&MachineFrame) -> bool,
) {
    let mut count = 0;
    let saved = (g.saved.0, g.saved.2);
    let Some(r) = regs else {
        walk_machine(bin, mem, saved, false, MAX_FRAMES, &mut count, visit);
        return;
    };
    let on_own_stack = g.stack.0 <= r.rsp && r.rsp < g.stack.1;
    let switched = !on_own_stack && g.saved.0 != 0;
    let mut done = false;
    walk_machine(
        bin,
        mem,
        (r.rip, r.rbp),
        true,
        MAX_FRAMES,
        &mut count,
        &mut |m| {
            done = visit(m);
            // On the system stack (g0): the goroutine's own frames continue
            // from the registers saved at the switch.
            done || (switched && SWITCHES.contains(&m.function.name.as_str()))
        },
    );
    if switched && !done {
        walk_machine(bin, mem, saved, false, MAX_FRAMES, &mut count, visit);
    }
}

/// The innermost frame of the program's own code: package main or the
/// main module's packages first, else anything outside the runtime.
pub fn user_frame<'a>(bin: &GoBinary, frames: &'a [Frame]) -> Option<&'a Frame> {
    frames
        .iter()
        .find(|f| user_rank(bin, &f.function) == 2)
        .or_else(|| frames.iter().find(|f| user_rank(bin, &f.function) == 1))
}

/// How `user_frame` ranks a function (for `goroutine_frame_ranked`): 2 in
/// the program's own code (`GoBinary::is_own_code`), 1 elsewhere outside
/// the runtime, 0 in the runtime.
pub fn user_rank(bin: &GoBinary, function: &str) -> u8 {
    if bin.is_own_code(function) {
        2
    } else if function.starts_with("runtime.")
        || function.starts_with("internal/")
        || function.starts_with("syscall.")
        // Go 1.27's symbol for runtime.goready's closure (systemstack).
        || function.starts_with("_.")
    {
        0
    } else {
        1
    }
}

/// The function a goroutine was started with (its `startpc`), as a person
/// names it: for `go f(x)`, which the compiler turns into a wrapper
/// (`main.main.gowrap1`) that calls f, the first function outside the
/// runtime the wrapper calls or has inlined (where f is inlined, its
/// calls' inline frames name it); else the function at `startpc` itself.
pub fn start_function(bin: &GoBinary, startpc: u64) -> Option<String> {
    let f = bin.function_at(startpc)?;
    if f.name.contains(".gowrap") {
        let called: Vec<String> = bin
            .code(f.entry, f.entry + f.size)
            .map(|code| crate::tracee::insn::direct_calls(code, f.entry))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(at, target)| {
                let inlined = bin.source_frames(at);
                match inlined.len() {
                    // Frames innermost first, the wrapper last.
                    2.. => Some(inlined[inlined.len() - 2].0.clone()),
                    _ => bin.function_at(target).map(|c| c.name.clone()),
                }
            })
            .filter(|name| *name != f.name && !name.starts_with("runtime.morestack"))
            .collect();
        // The program's function, else the runtime's own (bgsweep).
        let named = called
            .iter()
            .find(|c| user_rank(bin, c) > 0)
            .or(called.first());
        if let Some(c) = named {
            return Some(c.clone());
        }
    }
    Some(f.name.clone())
}

/// The `go` statement that created a goroutine (its `gopc`), as Go prints
/// "created by": the call's line, the offset from the creating function.
pub fn created_by(bin: &GoBinary, gopc: u64) -> Option<Frame> {
    let f = bin.function_at(gopc)?;
    let (file, line) = bin
        .line_at(gopc.saturating_sub(1))
        .map(|(f, l)| (f.to_string(), l))
        .unwrap_or_default();
    Some(Frame {
        pc: gopc,
        function: f.name.clone(),
        file,
        line,
        offset: gopc - f.entry,
        inlined: false,
    })
}
