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
    let (mut pc, mut bp) = (pc, bp);
    let mut first = true;
    while pc != 0 && frames.len() < max {
        let Some(f) = bin.function_at(pc) else { break };
        // A return address points after the call: its line is the call's.
        let lookup = if first && exact_pc {
            pc
        } else {
            pc.saturating_sub(1)
        };
        let before = frames.len();
        for (function, file, line) in bin.source_frames(lookup) {
            let inlined = function != f.name;
            frames.push(Frame {
                pc,
                function,
                file,
                line,
                offset: pc - f.entry,
                inlined,
            });
        }
        if frames[before..].iter().any(enough) {
            break;
        }
        if f.name == "runtime.goexit"
            || f.name == "runtime.mstart"
            || f.name == "runtime.rt0_go"
            || bp == 0
        {
            break;
        }
        // The saved bp and the return address in one read (the goroutine
        // index walks stacks at thousands of stops).
        let Ok(pair) = mem.read(RemoteAddr(bp), 16) else {
            break;
        };
        let word = |i: usize| u64::from_le_bytes(pair[i..i + 8].try_into().unwrap_or([0; 8]));
        let (next_bp, ret) = (word(0), word(8));
        if next_bp != 0 && next_bp <= bp {
            break;
        }
        pc = ret;
        bp = next_bp;
        first = false;
    }
    frames
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
    goroutine_frames_until(bin, mem, g, regs, &|_| false)
}

/// `goroutine_frames`, walking no further than the first machine frame
/// with a (source) frame `enough` accepts: for callers after one frame.
pub fn goroutine_frames_until(
    bin: &GoBinary,
    mem: &dyn MemRead,
    g: &super::Goroutine,
    regs: Option<&trace_format::Regs>,
    enough: &dyn Fn(&Frame) -> bool,
) -> Vec<Frame> {
    let walk = |pc, bp, exact| walk_until(bin, mem, pc, bp, exact, 100, enough);
    let mut frames = match regs {
        Some(r) => {
            let mut frames = walk(r.rip, r.rbp, true);
            let on_own_stack = g.stack.0 <= r.rsp && r.rsp < g.stack.1;
            if !on_own_stack && g.saved.0 != 0 {
                // On the system stack (g0): the goroutine's own frames
                // continue from the registers saved at the switch.
                if let Some(i) = frames
                    .iter()
                    .position(|f| SWITCHES.contains(&f.function.as_str()))
                {
                    frames.truncate(i + 1);
                }
                if !frames.iter().any(enough) {
                    frames.extend(walk(g.saved.0, g.saved.2, false));
                }
            }
            frames
        }
        None => walk(g.saved.0, g.saved.2, false),
    };
    frames.truncate(100);
    frames
}

/// The innermost frame of the program's own code: package main first, else
/// anything outside the runtime.
pub fn user_frame(frames: &[Frame]) -> Option<&Frame> {
    if let Some(f) = frames.iter().find(|f| f.function.starts_with("main.")) {
        return Some(f);
    }
    frames.iter().find(|f| {
        !f.function.starts_with("runtime.")
            && !f.function.starts_with("internal/")
            && !f.function.starts_with("syscall.")
    })
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
