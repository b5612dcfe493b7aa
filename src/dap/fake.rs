//! A scripted `DebugTarget` for protocol tests (no replay, no ptrace).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::debugger::api::*;
use crate::debugger::handle::Factory;

/// What the fake answers, and what it was asked (`calls`).
pub struct Script {
    pub goroutines: Vec<GoroutineSummary>,
    pub selected: Option<Goid>,
    /// Frames in every goroutine's stack.
    pub depth: usize,
    /// Results of successive `resume` calls; then the end of the recording.
    pub stops: VecDeque<EResult<Stop>>,
    /// `resume` waits for an interrupt (and then stops with Pause) instead
    /// of taking the next scripted stop, this many times.
    pub blocking_resumes: usize,
    pub output: Vec<OutputChunk>,
    pub open_error: Option<String>,
    pub progress: Vec<(u64, u64)>,
    pub calls: Vec<String>,
    pub next_bp_id: u32,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            goroutines: vec![
                goroutine(1, "main.main", false),
                goroutine(2, "runtime.gcBgMarkWorker", true),
            ],
            selected: Some(1),
            depth: 3,
            stops: VecDeque::new(),
            blocking_resumes: 0,
            output: Vec::new(),
            open_error: None,
            progress: Vec::new(),
            calls: Vec::new(),
            next_bp_id: 1,
        }
    }
}

pub fn goroutine(goid: Goid, function: &str, system: bool) -> GoroutineSummary {
    GoroutineSummary {
        goid,
        function: function.into(),
        thread: None,
        labels: Vec::new(),
        system,
    }
}

pub fn stop(reason: StopReason, goid: Option<Goid>) -> EResult<Stop> {
    Ok(Stop {
        reason,
        goid,
        description: String::new(),
    })
}

pub type Shared = Arc<Mutex<Script>>;

/// An engine factory that opens the fake (recording the trace asked for).
pub fn factory(script: Shared) -> Factory {
    Box::new(move |trace: Option<PathBuf>, progress, interrupt| {
        let mut s = script.lock().unwrap();
        s.calls.push(format!("open {trace:?}"));
        for (done, total) in s.progress.clone() {
            progress(done, total);
        }
        if let Some(e) = &s.open_error {
            anyhow::bail!("{e}");
        }
        Ok(Box::new(Fake {
            script: script.clone(),
            interrupt,
        }) as Box<dyn DebugTarget>)
    })
}

struct Fake {
    script: Shared,
    interrupt: Arc<AtomicBool>,
}

impl Fake {
    fn log(&self, call: String) {
        self.script.lock().unwrap().calls.push(call);
    }
}

pub const FILE: &str = "/build/src/main.go";

/// The fake's code: one-byte `nop`s of `main.f`, four to a line from line 10.
const CODE: std::ops::Range<u64> = 0x401000..0x401100;
/// The fake's readable memory: each byte is its address's low byte.
const DATA: std::ops::Range<u64> = 0xc000_0000..0xc000_1000;

fn int(name: &str, v: i64) -> Value {
    Value {
        name: name.into(),
        type_name: "int".into(),
        value: v.to_string(),
        ..Default::default()
    }
}

impl DebugTarget for Fake {
    fn position(&self) -> Position {
        Position {
            event: 0,
            total_events: 100,
        }
    }

    fn source_files(&self) -> Vec<String> {
        vec![FILE.into(), "/usr/lib/go/src/fmt/print.go".into()]
    }

    fn set_line_breakpoints(
        &mut self,
        file: &str,
        bps: &[LineBreakpoint],
    ) -> Vec<BreakpointStatus> {
        let lines: Vec<String> = bps
            .iter()
            .map(|b| match &b.condition {
                Some(c) => format!("{} if {c}", b.line),
                None => b.line.to_string(),
            })
            .collect();
        self.log(format!("bp {file} [{}]", lines.join(",")));
        let mut s = self.script.lock().unwrap();
        bps.iter()
            .map(|b| {
                s.next_bp_id += 1;
                let ok = b.line != 999;
                BreakpointStatus {
                    id: s.next_bp_id,
                    verified: ok,
                    file: ok.then(|| file.to_string()),
                    line: ok.then_some(b.line + 1),
                    message: (!ok).then(|| "no code at line 999".into()),
                }
            })
            .collect()
    }

    fn set_function_breakpoints(&mut self, bps: &[FunctionBreakpoint]) -> Vec<BreakpointStatus> {
        let names: Vec<&str> = bps.iter().map(|b| b.name.as_str()).collect();
        self.log(format!("fbp [{}]", names.join(",")));
        bps.iter()
            .enumerate()
            .map(|(i, b)| BreakpointStatus {
                id: 100 + i as u32,
                verified: b.name != "nope",
                file: (b.name != "nope").then(|| FILE.into()),
                line: (b.name != "nope").then_some(7),
                message: (b.name == "nope").then(|| "no function nope".into()),
            })
            .collect()
    }

    fn set_instruction_breakpoints(
        &mut self,
        bps: &[InstructionBreakpoint],
    ) -> Vec<BreakpointStatus> {
        let addrs: Vec<String> = bps.iter().map(|b| format!("{:#x}", b.addr)).collect();
        self.log(format!("ibp [{}]", addrs.join(",")));
        bps.iter()
            .enumerate()
            .map(|(i, b)| {
                let ok = CODE.contains(&b.addr);
                BreakpointStatus {
                    id: 200 + i as u32,
                    verified: ok,
                    file: ok.then(|| FILE.into()),
                    line: ok.then(|| 10 + (b.addr - CODE.start) / 4),
                    message: (!ok).then(|| format!("{:#x} is not in a function", b.addr)),
                }
            })
            .collect()
    }

    fn set_exception_filters(&mut self, panics: bool, fatal: bool) {
        self.log(format!("exceptions panics={panics} fatal={fatal}"));
    }

    fn resume(
        &mut self,
        motion: Motion,
        goid: Option<Goid>,
        granularity: Granularity,
    ) -> EResult<Stop> {
        self.log(format!("resume {motion:?} {goid:?} {granularity:?}"));
        let blocking = {
            let mut s = self.script.lock().unwrap();
            if s.blocking_resumes > 0 {
                s.blocking_resumes -= 1;
                true
            } else {
                false
            }
        };
        if blocking {
            for _ in 0..10_000 {
                if self.interrupt.swap(false, Ordering::SeqCst) {
                    return stop(StopReason::Pause, None);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            return Err(EngineError("never interrupted".into()));
        }
        let next = self.script.lock().unwrap().stops.pop_front();
        next.unwrap_or_else(|| {
            Ok(Stop {
                reason: StopReason::EndOfRecording,
                goid: None,
                description: "end of recording (event 100 of 100)".into(),
            })
        })
    }

    fn goroutines(&mut self) -> EResult<Vec<GoroutineSummary>> {
        Ok(self.script.lock().unwrap().goroutines.clone())
    }

    fn selected_goroutine(&self) -> Option<Goid> {
        self.script.lock().unwrap().selected
    }

    fn stack(
        &mut self,
        goid: Goid,
        start: usize,
        levels: usize,
    ) -> EResult<(Vec<FrameInfo>, bool)> {
        let s = self.script.lock().unwrap();
        if !s.goroutines.iter().any(|g| g.goid == goid) {
            return Err(EngineError(format!("unknown goroutine {goid}")));
        }
        let end = (start + levels).min(s.depth);
        let frames = (start..end)
            .map(|i| FrameInfo {
                function: if i + 1 == s.depth {
                    "runtime.goexit".into()
                } else {
                    format!("example.com/app/pkg.f{i}")
                },
                file: FILE.into(),
                line: 10 + i as u64,
                pc: 0x401000 + i as u64,
                runtime: i + 1 == s.depth,
            })
            .collect();
        Ok((frames, end < s.depth))
    }

    fn scope(&mut self, goid: Goid, frame: usize, kind: ScopeKind) -> EResult<Vec<Value>> {
        self.log(format!("scope {goid} {frame} {kind:?}"));
        Ok(match kind {
            ScopeKind::Arguments => vec![int("n", frame as i64)],
            ScopeKind::Locals => vec![
                Value {
                    name: "xs".into(),
                    type_name: "[]int".into(),
                    value: "[]int len: 250, cap: 256, [...]".into(),
                    children: Some(ChildrenRef(1)),
                    indexed: Some(250),
                    address: Some(0xc000010000),
                    evaluate_name: Some("xs".into()),
                    ..Default::default()
                },
                Value {
                    name: "p".into(),
                    type_name: "main.point".into(),
                    value: "main.point {X: 1, Y: 2}".into(),
                    children: Some(ChildrenRef(2)),
                    named: Some(2),
                    ..Default::default()
                },
            ],
            ScopeKind::Globals => Vec::new(),
        })
    }

    fn children(&mut self, of: ChildrenRef, start: u64, count: u64) -> EResult<Vec<Value>> {
        self.log(format!("children {} {start} {count}", of.0));
        match of.0 {
            1 => {
                let end = if count == 0 {
                    250
                } else {
                    (start + count).min(250)
                };
                Ok((start..end)
                    .map(|i| int(&format!("[{i}]"), i as i64 * 2))
                    .collect())
            }
            2 => Ok(vec![int("X", 1), int("Y", 2)]),
            _ => Err(EngineError("stale reference".into())),
        }
    }

    fn evaluate_with(
        &mut self,
        expr: &str,
        goid: Option<Goid>,
        frame: usize,
        _shown: Shown,
    ) -> EResult<Value> {
        self.log(format!("evaluate {expr} {goid:?} {frame}"));
        match expr {
            "p" => Ok(Value {
                name: "p".into(),
                type_name: "main.point".into(),
                value: "main.point {X: 1, Y: 2}".into(),
                children: Some(ChildrenRef(2)),
                named: Some(2),
                ..Default::default()
            }),
            "n" => Ok(int("n", 3)),
            _ => Err(EngineError(format!(
                "could not find symbol value for {expr}"
            ))),
        }
    }

    fn exception(&mut self, goid: Goid) -> EResult<ExceptionDetails> {
        Ok(ExceptionDetails {
            id: "panic".into(),
            description: "runtime error: index out of range [5] with length 0".into(),
            type_name: Some("runtime.boundsError".into()),
            stack: format!("goroutine {goid} [running]:\nmain.main()\n\t{FILE}:60"),
        })
    }

    fn disassemble(
        &mut self,
        addr: u64,
        offset: i64,
        count: usize,
        resolve_symbols: bool,
    ) -> EResult<Vec<Instruction>> {
        self.log(format!(
            "disassemble {addr:#x} {offset} {count} {resolve_symbols}"
        ));
        Ok((0..count as i64)
            .map(|k| {
                let a = addr.wrapping_add_signed(offset + k);
                if !CODE.contains(&a) {
                    return Instruction {
                        addr: a,
                        text: "??".into(),
                        invalid: true,
                        ..Default::default()
                    };
                }
                Instruction {
                    addr: a,
                    bytes: vec![0x90],
                    text: "nop".into(),
                    symbol: (a == CODE.start).then(|| "main.f".into()),
                    file: Some(FILE.into()),
                    line: Some(10 + (a - CODE.start) / 4),
                    invalid: false,
                }
            })
            .collect())
    }

    fn read_memory(&mut self, addr: u64, count: u64) -> EResult<MemoryRead> {
        let end = addr.saturating_add(count);
        let readable = if DATA.contains(&addr) {
            end.min(DATA.end) - addr
        } else {
            0
        };
        Ok(MemoryRead {
            data: (addr..addr + readable).map(|a| a as u8).collect(),
            unreadable: end - addr - readable,
        })
    }

    fn take_output(&mut self) -> Vec<OutputChunk> {
        std::mem::take(&mut self.script.lock().unwrap().output)
    }

    fn rewind_paused_motion(&mut self) -> EResult<()> {
        self.log("rewind".into());
        Ok(())
    }
}
