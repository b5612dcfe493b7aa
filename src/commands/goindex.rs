//! The goroutine index of a trace: every goroutine state change, plus where
//! each signal landed. Built in one replay pass and cached next to the
//! trace (`goindex`), so later history and signal queries do not replay
//! again. State changes come from a breakpoint on `runtime.casgstatus`
//! (every transition, also those between two events: its arguments say
//! which g and which new status) and from reading every g after each event
//! (which catches what bypasses casgstatus, e.g. Go 1.26's syscall fast path).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use trace_format::{EventKind, RecTid};

use crate::error::{Failure, Result, RrgoError};
use crate::gobin::GoBinary;
use crate::goruntime::{stack, GoReader};
use crate::progress::Progress;
use crate::replay::{Output, ReplaySession, Stepped};

/// Bump when the cached layout changes; a stale cache is rebuilt.
const INDEX_VERSION: u32 = 4;
const INDEX_FILE: &str = "goindex";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    pub event: u64,
    /// The program's CLOCK_MONOTONIC at that point, if it had read it yet.
    pub time_ns: Option<u64>,
    pub goid: u64,
    /// "runnable", "running", "syscall", "waiting: chan receive", "dead", …
    pub state: String,
    pub thread: Option<i32>,
    pub function: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub goid: u64,
    /// The function the goroutine started in.
    pub entry: String,
    pub event: u64,
    pub parent: Option<u64>,
    pub by: String,
    pub system: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalSeen {
    pub event: u64,
    pub time_ns: Option<u64>,
    pub signo: i32,
    pub si_code: i32,
    pub sender_pid: i32,
    pub thread: i32,
    /// The goroutine that was running on the thread when the signal was delivered.
    pub goroutine: Option<u64>,
}

/// A signal passing through the Go runtime's handler, seen at a breakpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalStep {
    pub event: u64,
    pub time_ns: Option<u64>,
    pub signo: i32,
    pub thread: i32,
    /// "sighandler" (the runtime's handler ran), "sigsend" (queued for
    /// os/signal), "dieFromSignal" (the runtime dies from it).
    pub function: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GoIndex {
    pub version: u32,
    pub transitions: Vec<Transition>,
    pub created: Vec<Created>,
    pub signals: Vec<SignalSeen>,
    pub signal_steps: Vec<SignalStep>,
}

impl GoIndex {
    /// The earliest program time seen: times are printed relative to it.
    pub fn start_ns(&self) -> u64 {
        self.transitions
            .iter()
            .filter_map(|t| t.time_ns)
            .min()
            .unwrap_or(0)
    }

    pub fn history(&self, goid: u64) -> Vec<&Transition> {
        self.transitions.iter().filter(|t| t.goid == goid).collect()
    }
}

/// The cached index, or a new one built by replaying the trace.
pub fn load_or_build(dir: &Path) -> Result<GoIndex> {
    let path = dir.join(INDEX_FILE);
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok((idx, _)) =
            bincode::serde::decode_from_slice::<GoIndex, _>(&bytes, bincode::config::standard())
        {
            if idx.version == INDEX_VERSION {
                return Ok(idx);
            }
        }
    }
    let idx = build(dir)?;
    // A read-only trace just means no cache.
    if let Ok(bytes) = bincode::serde::encode_to_vec(&idx, bincode::config::standard()) {
        let _ = crate::trace_dir::write_private(&path, &bytes);
    }
    Ok(idx)
}

fn build(dir: &Path) -> Result<GoIndex> {
    let classify = super::replay::classify;
    let mut session = ReplaySession::start(dir, Output::Discard).map_err(classify)?;
    let exe = session
        .reader()
        .stored_file_path(&session.reader().header().exe.clone());
    let bin = GoBinary::load(&exe)?;
    let main = session.threads().first().copied().ok_or_else(|| {
        RrgoError::new(Failure::Usage, anyhow::anyhow!("the trace has no process"))
    })?;
    let mut idx = GoIndex {
        version: INDEX_VERSION,
        ..Default::default()
    };
    let mut reader: Option<GoReader> = None;
    let mut last: HashMap<u64, String> = HashMap::new();
    let mut clock: Option<u64> = None;
    let mut entry_args: HashMap<RecTid, [u64; 6]> = HashMap::new();
    let mut progress = Progress::new("indexing goroutines", session.event_count());
    let casgstatus = bin
        .functions_named("runtime.casgstatus")
        .first()
        .map(|f| f.entry);
    // The signal path's runtime functions take the signal number first (RAX).
    let signal_fns: Vec<(u64, &str)> = ["sighandler", "sigsend", "dieFromSignal"]
        .iter()
        .filter_map(|n| {
            bin.functions_named(&format!("runtime.{n}"))
                .first()
                .map(|f| (f.entry, *n))
        })
        .collect();
    let mut armed = false;
    loop {
        if !armed && session.next_event().0 >= 1 {
            // Past the exec, the program's code is there to break in.
            armed = true;
            for addr in casgstatus.iter().chain(signal_fns.iter().map(|(a, _)| a)) {
                if let Err(e) = session.insert_breakpoint(*addr) {
                    tracing::debug!("no breakpoint at {addr:#x}: {e:#}");
                }
            }
        }
        let ev = match session.step_debug().map_err(classify)? {
            Stepped::Event(ev) => ev,
            Stepped::End => break,
            Stepped::Instruction(_) => continue,
            Stepped::Breakpoint(hit) if Some(hit.addr) != casgstatus => {
                if let (Some((_, f)), Ok(regs)) = (
                    signal_fns.iter().find(|(a, _)| *a == hit.addr),
                    session.regs(hit.tid),
                ) {
                    idx.signal_steps.push(SignalStep {
                        event: session.next_event().0,
                        time_ns: clock,
                        signo: regs.rax as u32 as i32,
                        thread: hit.tid.0,
                        function: f.to_string(),
                    });
                }
                continue;
            }
            Stepped::Breakpoint(hit) => {
                // casgstatus(gp *g, oldval, newval uint32): RAX, RBX, RCX at entry.
                let (Some(r), Ok(mem), Ok(regs)) =
                    (&reader, session.mem(main), session.regs(hit.tid))
                else {
                    continue;
                };
                let event = session.next_event().0;
                if let Ok(g) = r.read_g(mem, regs.rax) {
                    let new = crate::goruntime::status_name(regs.rcx as u32);
                    let state = match new {
                        "waiting" => g
                            .wait_reason
                            .clone()
                            .or_else(|| r.wait_reason_of(mem, regs.rax))
                            .map(|w| format!("waiting: {w}"))
                            .unwrap_or_else(|| "waiting".into()),
                        other => other.to_string(),
                    };
                    let thread = (new == "running").then_some(hit.tid.0);
                    note(
                        &mut idx, &mut last, &bin, mem, &g, state, thread, None, event, clock,
                    );
                }
                continue;
            }
        };
        progress.set(ev.time.0);
        match &ev.kind {
            EventKind::SyscallEntry { args, .. } => {
                entry_args.insert(ev.tid, *args);
            }
            EventKind::SyscallExit { nr, writes, .. } if *nr == libc::SYS_clock_gettime => {
                let monotonic = entry_args
                    .get(&ev.tid)
                    .is_some_and(|a| a[0] == libc::CLOCK_MONOTONIC as u64);
                if let (true, Some(w)) = (monotonic, writes.first().filter(|w| w.data.len() >= 16))
                {
                    let sec = u64::from_le_bytes(w.data[..8].try_into().unwrap_or([0; 8]));
                    let nsec = u64::from_le_bytes(w.data[8..16].try_into().unwrap_or([0; 8]));
                    clock = Some(sec * 1_000_000_000 + nsec);
                }
            }
            EventKind::ProcessExit { .. } if ev.tid == main => break,
            _ => {}
        }
        if !session.threads().contains(&main) {
            break;
        }
        let Ok(mem) = session.mem(main) else { break };
        if reader.is_none() {
            reader = GoReader::new(&bin).ok();
        }
        let Some(r) = &reader else { continue };
        if let EventKind::Signal { signo, siginfo, .. } = &ev.kind {
            // The goroutine on the thread: g from TLS (fs_base-8); on g0 or gsignal, m.curg.
            let goroutine = session
                .regs(ev.tid)
                .ok()
                .and_then(|regs| r.on_thread(mem, regs.fs_base))
                .map(|g| g.goid);
            let sender_pid = i32::from_le_bytes(siginfo.0[16..20].try_into().unwrap_or([0; 4]));
            idx.signals.push(SignalSeen {
                event: ev.time.0,
                time_ns: clock,
                signo: *signo,
                si_code: siginfo.code(),
                sender_pid,
                thread: ev.tid.0,
                goroutine,
            });
        }
        let Ok(gs) = r.all_g(mem) else { continue };
        for addr in gs {
            let Ok(g) = r.read_g(mem, addr) else { continue };
            let state = g
                .wait_reason
                .clone()
                .map(|w| format!("waiting: {w}"))
                .unwrap_or_else(|| g.status.to_string());
            let regs = g
                .thread
                .and_then(|t| session.regs(RecTid(t)).ok())
                .filter(|_| g.status == "running");
            note(
                &mut idx,
                &mut last,
                &bin,
                mem,
                &g,
                state,
                g.thread,
                regs.as_ref(),
                ev.time.0,
                clock,
            );
        }
    }
    progress.finish();
    Ok(idx)
}

/// Records goroutine `g` entering `state` at `event`, unless that is the
/// state it was last seen in; its first sighting is its creation.
#[allow(clippy::too_many_arguments)]
fn note(
    idx: &mut GoIndex,
    last: &mut HashMap<u64, String>,
    bin: &GoBinary,
    mem: &crate::tracee::mem::ProcMem,
    g: &crate::goruntime::Goroutine,
    state: String,
    thread: Option<i32>,
    regs: Option<&trace_format::Regs>,
    event: u64,
    clock: Option<u64>,
) {
    // A stack being copied (growth) is not a state anyone waits on.
    if g.goid == 0 || state == "copystack" {
        return;
    }
    let prev = last.get(&g.goid);
    if prev == Some(&state) || (prev.is_none() && state == "dead") {
        return;
    }
    if prev.is_none() {
        let by = stack::created_by(bin, g.gopc)
            .map(|c| format!("{} at {}:{}", c.function, c.file, c.line))
            .unwrap_or_default();
        idx.created.push(Created {
            goid: g.goid,
            entry: bin
                .function_at(g.startpc)
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            event,
            parent: g.parent_goid,
            by,
            system: g.system,
        });
    }
    let frames = if state == "dead" {
        Vec::new()
    } else {
        stack::goroutine_frames(bin, mem, g, regs)
    };
    let user = stack::user_frame(&frames);
    idx.transitions.push(Transition {
        event,
        time_ns: clock,
        goid: g.goid,
        state: state.clone(),
        thread,
        function: user.map(|f| f.function.clone()),
        location: user.map(|f| format!("{}:{}", f.file, f.line)),
    });
    last.insert(g.goid, state);
}
