//! `rrgo replay --goroutine N [--reverse] [--json]`: goroutine N's history,
//! observed by replaying the whole recording and reading its g struct after
//! every event (so transitions between two events are seen at the second).

use std::collections::HashMap;
use std::fmt::Write;

use serde::Serialize;
use trace_format::{EventKind, RecTid};

use crate::error::{Failure, Result, RrgoError};
use crate::gobin::GoBinary;
use crate::goruntime::{stack, GoReader};
use crate::progress::Progress;
use crate::replay::{Output, ReplaySession};

#[derive(Debug, Clone, Serialize)]
struct Entry {
    event: u64,
    /// Recorded CLOCK_MONOTONIC nanoseconds (the program's own clock), if read yet.
    time_ns: Option<u64>,
    state: String,
    thread: Option<i32>,
    function: Option<String>,
    location: Option<String>,
}

pub fn run(
    dir: &std::path::Path,
    goid: u64,
    reverse: bool,
    json: bool,
    sigmask: libc::sigset_t,
) -> Result<i32> {
    let classify = super::replay::classify;
    let mut session = ReplaySession::start(dir, Output::Discard, sigmask).map_err(classify)?;
    let exe = session
        .reader()
        .stored_file_path(&session.reader().header().exe.clone());
    let bin = GoBinary::load(&exe)?;
    let main = session
        .threads()
        .first()
        .copied()
        .ok_or_else(|| RrgoError::new(Failure::Usage, anyhow::anyhow!("no process")))?;
    let mut reader: Option<GoReader> = None;
    let mut g_addr: Option<u64> = None;
    let mut created: Option<(u64, Option<u64>, String)> = None;
    let mut entries: Vec<Entry> = Vec::new();
    let mut last_state = String::new();
    let mut clock: Option<u64> = None;
    let mut entry_args: HashMap<RecTid, [u64; 6]> = HashMap::new();
    let total = session.event_count();
    let mut progress = Progress::new("replaying to follow the goroutine", total);
    loop {
        let Some(ev) = session.step().map_err(classify)? else {
            break;
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
            // The runtime's tables are readable once it has started.
            reader = GoReader::new(&bin, mem).ok();
        }
        let Some(r) = &reader else { continue };
        // Find the goroutine's g once; a g reused for another goroutine means it died.
        if g_addr.is_none() {
            for g in r.all_g(mem).unwrap_or_default() {
                if let Ok(gr) = r.read_g(mem, g) {
                    if gr.goid == goid && gr.status != "dead" {
                        g_addr = Some(g);
                        let by = bin
                            .function_at(gr.gopc)
                            .map(|f| f.name.clone())
                            .unwrap_or_default();
                        let at = bin
                            .line_at(gr.gopc.saturating_sub(1))
                            .map(|(f, l)| format!("{f}:{l}"))
                            .unwrap_or_default();
                        created = Some((ev.time.0, gr.parent_goid, format!("{by} at {at}")));
                    }
                }
            }
        }
        let Some(addr) = g_addr else { continue };
        let Ok(g) = r.read_g(mem, addr) else { continue };
        let state = if g.goid != goid || g.status == "dead" {
            "dead".to_string()
        } else {
            g.wait_reason
                .clone()
                .map(|w| format!("waiting: {w}"))
                .unwrap_or_else(|| g.status.to_string())
        };
        if state != last_state {
            let regs = g
                .thread
                .and_then(|t| session.regs(RecTid(t)).ok())
                .filter(|_| g.status == "running");
            let frames = if state == "dead" {
                Vec::new()
            } else {
                stack::goroutine_frames(&bin, mem, &g, regs.as_ref())
            };
            let user = stack::user_frame(&frames);
            entries.push(Entry {
                event: ev.time.0,
                time_ns: clock,
                state: state.clone(),
                thread: g.thread,
                function: user.map(|f| f.function.clone()),
                location: user.map(|f| format!("{}:{}", f.file, f.line)),
            });
            last_state = state.clone();
            if state == "dead" {
                break;
            }
        }
    }
    progress.finish();
    let Some((created_at, parent, by)) = created else {
        return Err(RrgoError::new(
            Failure::Usage,
            anyhow::anyhow!("goroutine {goid} never existed in this recording"),
        ));
    };
    if reverse {
        entries.reverse();
    }
    if json {
        let v = serde_json::json!({ "goroutine": goid, "created_at_event": created_at, "parent": parent, "created_by": by, "history": entries });
        println!(
            "{}",
            serde_json::to_string_pretty(&v)
                .map_err(|e| RrgoError::new(Failure::Operational, e))?
        );
        return Ok(0);
    }
    let t0 = entries.iter().filter_map(|e| e.time_ns).min().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "goroutine {goid}: created by {by}{} (first seen at event {created_at})",
        parent
            .map(|p| format!(" in goroutine {p}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "(states as observed after each event; time is the program's monotonic clock)"
    );
    for e in &entries {
        let t = e
            .time_ns
            .map(|t| format!("+{:.6}s", (t - t0.min(t)) as f64 / 1e9))
            .unwrap_or_else(|| "        ".into());
        let thread = e
            .thread
            .map(|t| format!(" on thread {t}"))
            .unwrap_or_default();
        let at = match (&e.function, &e.location) {
            (Some(f), Some(l)) => format!(" in {f} at {l}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "  #{:<8} {t}  {}{thread}{at}", e.event, e.state);
    }
    print!("{out}");
    Ok(0)
}
