//! What a debugger front end (the DAP server, a later CLI) can ask of the
//! replay engine. The engine lives on the one ptrace thread; front ends
//! reach it through `EngineHandle` (see `handle.rs`), never directly.
//!
//! Everything here is plain data: no JSON (only `dap` knows JSON), no
//! ptrace types.

use std::fmt;

/// A goroutine id as Go prints it (`goroutine 17`).
pub type Goid = u64;

/// A line breakpoint as the user set it.
#[derive(Debug, Clone, Default)]
pub struct LineBreakpoint {
    pub line: u64,
    /// A Go boolean expression (`i == 3`); the stop happens only when it is true.
    pub condition: Option<String>,
    /// Delve syntax: `5` or `== 5`, `>= 5`, `% 5`, …
    pub hit_condition: Option<String>,
    /// A log point: print this (with `{expr}` interpolated) instead of stopping.
    pub log_message: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FunctionBreakpoint {
    /// `main.worker`, or a suffix such as `worker` when unambiguous.
    pub name: String,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
}

/// What a data breakpoint (watchpoint) would watch, as the front end names it.
#[derive(Debug, Clone)]
pub enum DataTarget {
    /// A variable of a frame's scope.
    Scope {
        goid: Goid,
        frame: usize,
        kind: ScopeKind,
        name: String,
    },
    /// A child (field, element) of an expanded value.
    Child { of: ChildrenRef, name: String },
    /// A Go expression in a frame (`s.items[2]`, `*p`).
    Expression {
        expr: String,
        goid: Option<Goid>,
        frame: usize,
    },
    /// `size` bytes at an address (DAP's `asAddress`).
    Address { addr: u64, size: u64 },
}

/// Which accesses stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataAccess {
    Write,
    /// Reads and writes (the CPU has no read-only watchpoint).
    ReadWrite,
}

/// Whether and how a value can be watched.
#[derive(Debug, Clone)]
pub struct DataInfo {
    /// What `set_data_breakpoints` takes; None if it cannot be watched.
    pub data_id: Option<String>,
    /// What is watched, or why it cannot be.
    pub description: String,
    pub access_types: Vec<DataAccess>,
}

/// A watchpoint as the user set it.
#[derive(Debug, Clone)]
pub struct DataBreakpoint {
    pub data_id: String,
    pub access: DataAccess,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
}

/// A breakpoint on one machine instruction (the disassembly view's).
#[derive(Debug, Clone, Default)]
pub struct InstructionBreakpoint {
    pub addr: u64,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
}

/// What the engine made of one requested breakpoint.
#[derive(Debug, Clone)]
pub struct BreakpointStatus {
    pub id: u32,
    pub verified: bool,
    /// Where it really is (the line may move to the next line with code).
    pub file: Option<String>,
    pub line: Option<u64>,
    /// Why it is not verified.
    pub message: Option<String>,
}

/// How to move through the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    Continue,
    /// Source-line step over calls, staying on the goroutine.
    Next,
    StepIn,
    StepOut,
    /// Back to the previous breakpoint hit, or the start of the recording.
    ReverseContinue,
    /// Reverse `Next`: the previous line executed by this goroutine in this
    /// frame (or its caller).
    StepBack,
    /// Back to the call of the current function.
    ReverseStepOut,
}

/// Granularity for steps (DAP `SteppingGranularity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    #[default]
    Line,
    Instruction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    Breakpoint {
        ids: Vec<u32>,
    },
    FunctionBreakpoint {
        ids: Vec<u32>,
    },
    /// A watchpoint: after the access going forwards, just before the
    /// write going backwards. `text` says what changed, e.g.
    /// "main.counter: 4 → 5 (written by goroutine 7 at main.go:21)".
    DataBreakpoint {
        ids: Vec<u32>,
        text: String,
    },
    /// A watched stack variable's frame returned: the watchpoint is gone.
    WatchOutOfScope {
        id: u32,
        text: String,
    },
    InstructionBreakpoint {
        ids: Vec<u32>,
    },
    Step,
    Pause,
    /// A Go panic (`panic`) or a fatal runtime error (`fatal error`).
    Exception {
        kind: ExceptionKind,
        text: String,
    },
    /// The end of the recording: still stopped, the user can reverse.
    EndOfRecording,
    /// Reversed to the start of the recording.
    StartOfRecording,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionKind {
    Panic,
    FatalError,
}

/// Where a motion ended.
#[derive(Debug, Clone)]
pub struct Stop {
    pub reason: StopReason,
    /// The goroutine to focus (the one that hit the breakpoint or stepped).
    pub goid: Option<Goid>,
    /// One line for humans, e.g. "breakpoint at main.go:42" or
    /// "end of recording (event 4210 of 4210)".
    pub description: String,
}

/// One goroutine as a "thread" of the debugger.
#[derive(Debug, Clone)]
pub struct GoroutineSummary {
    pub goid: Goid,
    /// The function shown in its name: the innermost user frame, as Delve does.
    pub function: String,
    /// The OS thread (recorded tid) running it, if it is running.
    pub thread: Option<i32>,
    /// pprof labels (`k:v`).
    pub labels: Vec<(String, String)>,
    /// Runtime goroutines (GC workers…) that `hideSystemGoroutines` hides.
    pub system: bool,
}

#[derive(Debug, Clone)]
pub struct FrameInfo {
    pub function: String,
    pub file: String,
    pub line: u64,
    pub pc: u64,
    /// Runtime-internal frames (shown subtly).
    pub runtime: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Arguments,
    Locals,
    /// The package globals of the frame's function.
    Globals,
}

/// An opaque handle to a value's children, valid until the next motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildrenRef(pub u64);

/// A Go value rendered as Delve renders it.
#[derive(Debug, Clone, Default)]
pub struct Value {
    pub name: String,
    /// Go type name (`[]int`, `map[string]int`, `*main.node`).
    pub type_name: String,
    /// e.g. `"hello"`, `[]int len: 3, cap: 4, [1,2,3]`, `(optimized away)`.
    pub value: String,
    /// Expandable (structs, slices, maps, pointers, interfaces…).
    pub children: Option<ChildrenRef>,
    /// Number of indexed children (slices, arrays, maps) for paging.
    pub indexed: Option<u64>,
    /// Number of named children (struct fields).
    pub named: Option<u64>,
    /// The value's address, for memory views.
    pub address: Option<u64>,
    /// An expression that evaluates to this value (watch "copy as expression").
    pub evaluate_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExceptionDetails {
    /// "panic" or "fatal error".
    pub id: String,
    /// The panic value as Go prints it, e.g. `runtime error: index out of range [5] with length 3`.
    pub description: String,
    /// Go type of the panic value, when known.
    pub type_name: Option<String>,
    /// The goroutine's stack as text.
    pub stack: String,
}

/// One instruction of a disassembly.
#[derive(Debug, Clone, Default)]
pub struct Instruction {
    pub addr: u64,
    /// The program's own bytes (not the debugger's int3s).
    pub bytes: Vec<u8>,
    /// Intel syntax, branch targets named (`call main.work`); `??` when invalid.
    pub text: String,
    /// The function this instruction starts, if it is a function's first.
    pub symbol: Option<String>,
    pub file: Option<String>,
    pub line: Option<u64>,
    /// Unreadable memory or bytes that are no instruction: filler for the view.
    pub invalid: bool,
}

/// A read of the replayed program's memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryRead {
    /// From the requested address on, up to the first unreadable byte.
    pub data: Vec<u8>,
    /// Unreadable bytes after `data` (a client skips them to read on).
    pub unreadable: u64,
}

/// Where the replay stands.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    /// The next recorded event to replay.
    pub event: u64,
    pub total_events: u64,
}

/// A failed request: the message is shown to the user as is.
#[derive(Debug, Clone)]
pub struct EngineError(pub String);

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

impl From<anyhow::Error> for EngineError {
    fn from(e: anyhow::Error) -> Self {
        EngineError(format!("{e:#}"))
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError(e.to_string())
    }
}

pub type EResult<T> = Result<T, EngineError>;

/// Output the replayed program wrote, to forward to the client.
#[derive(Debug, Clone)]
pub enum OutputChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// A log point's message.
    Log(String),
    /// rrgo's own note to the user (what the replay could not do).
    Note(String),
}

/// How much of an evaluation's result is shown: Delve's DAP server varies
/// it with the request's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    /// Bytes of a string result: 512 in watches (as in variables), 4 KiB
    /// where one value is read on its own (REPL, hover, copy).
    pub max_string: u64,
    /// The whole one-line rendering, not cut at 256 bytes (copying a value).
    pub full: bool,
}

impl Shown {
    /// A watch's (and a breakpoint condition's) view.
    pub const WATCH: Shown = Shown {
        max_string: 512,
        full: false,
    };
}

/// The engine as front ends see it. Implemented by `debugger::Engine`; all
/// calls run on the ptrace thread, one at a time.
pub trait DebugTarget {
    /// Where the recording's program is: for `stopOnEntry` and progress.
    fn position(&self) -> Position;
    /// The source file paths the program was built from (as DWARF names them).
    fn source_files(&self) -> Vec<String>;
    /// The trace directory being replayed (its goroutine index answers
    /// history questions); None for a target without one.
    fn trace_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Replaces all line breakpoints of `file` (a path as DWARF names it).
    fn set_line_breakpoints(&mut self, file: &str, bps: &[LineBreakpoint])
        -> Vec<BreakpointStatus>;
    /// Replaces all function breakpoints.
    fn set_function_breakpoints(&mut self, bps: &[FunctionBreakpoint]) -> Vec<BreakpointStatus>;
    /// Whether (and as what) a value can be watched.
    fn data_breakpoint_info(&mut self, target: DataTarget) -> EResult<DataInfo> {
        let _ = target;
        Err(EngineError("watchpoints are not supported here".into()))
    }
    /// Replaces all watchpoints.
    fn set_data_breakpoints(&mut self, bps: &[DataBreakpoint]) -> Vec<BreakpointStatus> {
        bps.iter()
            .map(|_| BreakpointStatus {
                id: 0,
                verified: false,
                file: None,
                line: None,
                message: Some("watchpoints are not supported here".into()),
            })
            .collect()
    }
    /// Replaces all instruction breakpoints.
    fn set_instruction_breakpoints(
        &mut self,
        bps: &[InstructionBreakpoint],
    ) -> Vec<BreakpointStatus>;
    /// Which exceptions stop: Go panics, fatal runtime errors.
    fn set_exception_filters(&mut self, panics: bool, fatal: bool);
    /// Moves through the recording; returns where it stopped. A pause
    /// request (`EngineHandle::interrupt`) makes it stop early with `Pause`.
    fn resume(
        &mut self,
        motion: Motion,
        goid: Option<Goid>,
        granularity: Granularity,
    ) -> EResult<Stop>;
    /// Live goroutines at the current stop, in goid order.
    fn goroutines(&mut self) -> EResult<Vec<GoroutineSummary>>;
    /// The goroutine selected by the last stop.
    fn selected_goroutine(&self) -> Option<Goid>;
    /// Frames `start..start+levels` of a goroutine's stack, and whether more exist.
    fn stack(&mut self, goid: Goid, start: usize, levels: usize)
        -> EResult<(Vec<FrameInfo>, bool)>;
    /// Variables of one scope of frame `frame` (0 = innermost) of a goroutine.
    fn scope(&mut self, goid: Goid, frame: usize, kind: ScopeKind) -> EResult<Vec<Value>>;
    /// Children of an expandable value: `start..start+count` (count 0 = all).
    fn children(&mut self, of: ChildrenRef, start: u64, count: u64) -> EResult<Vec<Value>>;
    /// A Go expression (variable, field, index, `*p`, `len(x)`) in a
    /// frame, its result shown as `shown` says.
    fn evaluate_with(
        &mut self,
        expr: &str,
        goid: Option<Goid>,
        frame: usize,
        shown: Shown,
    ) -> EResult<Value>;
    /// `evaluate_with`, shown as a watch (the engine's tests).
    #[cfg(test)]
    fn evaluate(&mut self, expr: &str, goid: Option<Goid>, frame: usize) -> EResult<Value> {
        self.evaluate_with(expr, goid, frame, Shown::WATCH)
    }
    /// The panic or fatal error the last stop was for.
    fn exception(&mut self, goid: Goid) -> EResult<ExceptionDetails>;
    /// `count` instructions from the `offset`th one (negative: before) of
    /// the instruction at `addr`; filler entries where there are none.
    fn disassemble(
        &mut self,
        addr: u64,
        offset: i64,
        count: usize,
        resolve_symbols: bool,
    ) -> EResult<Vec<Instruction>>;
    /// Up to `count` bytes of the program's memory at `addr`, as the program
    /// sees them (breakpoints hidden).
    fn read_memory(&mut self, addr: u64, count: u64) -> EResult<MemoryRead>;
    /// Program output produced since the last call.
    fn take_output(&mut self) -> Vec<OutputChunk>;
    /// Back to where the last motion began if a pause stopped it in a
    /// backward scan (a reverse-continue the DAP server paused to change
    /// breakpoints, which it then starts again from there: going on from
    /// the scan's position would skip the hits between it and the start).
    fn rewind_paused_motion(&mut self) -> EResult<()> {
        Ok(())
    }
}
