//! `rrgo replay --goroutines [--at EVENT] [--json]`: a goroutine dump at any
//! point of the recording, shaped like Go's own (SIGQUIT / panic) output.

use std::fmt::Write;

use anyhow::anyhow;
use serde::Serialize;
use trace_format::{EventKind, RecTid};

use crate::error::{Failure, Result, RrgoError};
use crate::gobin::GoBinary;
use crate::goruntime::{self, stack, Goroutine};
use crate::progress::Progress;
use crate::replay::{Output, ReplaySession};

#[derive(Serialize)]
struct Dumped {
    #[serde(flatten)]
    g: Goroutine,
    frames: Vec<stack::Frame>,
    created_by: Option<stack::Frame>,
}

/// The default point: just before the main process's exit_group, while
/// everything is still alive; else the last event.
fn default_point(session: &ReplaySession) -> u64 {
    let mut main = std::collections::HashSet::new();
    let mut at = session.event_count().saturating_sub(1);
    for e in session.reader().events().flatten() {
        if main.is_empty() {
            main.insert(e.tid);
        }
        match e.kind {
            EventKind::TaskCreate {
                parent,
                child,
                kind: trace_format::TaskKind::Thread,
                ..
            } if main.contains(&parent) => {
                main.insert(child);
            }
            EventKind::SyscallEntry { nr, .. }
                if nr == libc::SYS_exit_group && main.contains(&e.tid) =>
            {
                at = e.time.0;
            }
            _ => {}
        }
    }
    at
}

pub fn run(dir: &std::path::Path, at: Option<u64>, json: bool) -> Result<i32> {
    let mut session =
        ReplaySession::start(dir, Output::Discard).map_err(super::replay::classify)?;
    let exe = session
        .reader()
        .stored_file_path(&session.reader().header().exe.clone());
    let bin = GoBinary::load_cached(&exe, Some(&dir.join(crate::trace_dir::DWARF_TABLES)))?;
    // A position-independent executable: its addresses as loaded.
    let bin = bin.loaded_at_entry(session.exe_entry());
    // Past the main process's exit_group its memory is being torn down:
    // reads there fail or not depending on the kernel's progress, so the
    // dump is taken at the exit_group instead, and said so.
    let last = default_point(&session);
    let at = match at {
        Some(asked) if asked > last => {
            crate::say!(
                "note: event {asked} is after the program's exit_group (event {last}), when its \
                 memory is being torn down: showing the goroutines at event {last}"
            );
            last
        }
        Some(asked) => asked,
        None => last,
    };
    let mut progress = Progress::new("replaying to the event", at);
    let mut clock = super::goindex::ProgramClock::default();
    while session.next_event().0 < at {
        match session.step().map_err(super::replay::classify)? {
            Some(ev) => {
                progress.set(ev.time.0);
                clock.observe(&ev);
            }
            None => break,
        }
    }
    progress.finish();
    let main = *session
        .threads()
        .first()
        .ok_or_else(|| RrgoError::new(Failure::Usage, anyhow!("no live process at event {at}")))?;
    // The program's time there, and since its first clock read.
    let (time_ns, start_ns) = (clock.monotonic(main), clock.first(main));
    let mem = session.mem(main).map_err(super::replay::classify)?;
    let gs = goruntime::goroutines(&bin, mem)?;
    let mut dumped = Vec::new();
    for g in gs {
        let regs = g
            .thread
            .and_then(|t| session.regs(RecTid(t)).ok())
            .filter(|_| g.status == "running");
        let frames = stack::goroutine_frames(&bin, mem, &g, regs.as_ref());
        let created_by = stack::created_by(&bin, g.gopc);
        dumped.push(Dumped {
            g,
            frames,
            created_by,
        });
    }
    if json {
        let s = serde_json::to_string_pretty(&serde_json::json!({
            "event": at,
            "time_ns": time_ns,
            "start_ns": start_ns,
            "goroutines": dumped,
        }))
        .map_err(|e| RrgoError::new(Failure::Operational, e))?;
        println!("{s}");
        return Ok(0);
    }
    let mut out = String::new();
    let when = match super::signals::since(start_ns, time_ns) {
        Some(ns) => format!(
            "t=+{} on the program's monotonic clock since its first clock read",
            super::signals::secs(Some(ns), 6)
        ),
        None => "before the program read any clock".into(),
    };
    let _ = writeln!(out, "goroutines at event {at} ({when}):");
    if dumped.is_empty() {
        let _ = writeln!(
            out,
            "\nnone yet: the Go runtime has not created its first goroutine by this event"
        );
    }
    for d in dumped.iter().filter(|d| !d.g.system) {
        let state =
            d.g.wait_reason
                .clone()
                .unwrap_or_else(|| d.g.status.to_string());
        let _ = writeln!(out, "\ngoroutine {} [{}]:", d.g.goid, state);
        for f in &d.frames {
            // Like Go: inlined frames carry no pc offset.
            let off = if f.inlined {
                String::new()
            } else {
                format!(" +{:#x}", f.offset)
            };
            let _ = writeln!(out, "{}(...)\n\t{}:{}{}", f.function, f.file, f.line, off);
        }
        if let (Some(c), true) = (&d.created_by, d.g.goid != 1) {
            let parent =
                d.g.parent_goid
                    .map(|p| format!(" in goroutine {p}"))
                    .unwrap_or_default();
            let _ = writeln!(
                out,
                "created by {}{}\n\t{}:{} +{:#x}",
                c.function, parent, c.file, c.line, c.offset
            );
        }
    }
    print!("{out}");
    Ok(0)
}
