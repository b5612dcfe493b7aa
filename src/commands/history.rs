//! `rrgo replay --goroutine N [--reverse] [--json]`: goroutine N's history,
//! from the trace's goroutine index (built on first use, see `goindex`),
//! with the program's time and the time since the latest signal.

use std::fmt::Write;

use serde::Serialize;

use crate::error::{Failure, Result, RrgoError};

use super::goindex::{self, GoIndex, Transition};
use super::signals::{held_by, mutex_label, name, secs, since, sleep_until, unlocked, woken_by};

/// One state change (`--json`; README documents the fields).
#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    t: &'a Transition,
    /// `time_ns` minus the latest signal's (`signal`, at `signal_event`).
    since_signal_ns: Option<u64>,
    signal: Option<String>,
    signal_event: Option<u64>,
    /// A wait in sync.Mutex.Lock: the mutex, its holder and its release.
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<&'a goindex::LockWait>,
}

fn entry<'a>(idx: &'a GoIndex, t: &'a Transition) -> Entry<'a> {
    let s = idx.signal_before(t.event);
    Entry {
        t,
        since_signal_ns: s.and_then(|s| since(s.time_ns, t.time_ns)),
        signal: s.map(|s| name(s.signo)),
        signal_event: s.map(|s| s.event),
        lock: idx.lock_wait(t),
    }
}

/// The text lines, oldest first: each entry, and a line where a signal arrived.
fn lines(idx: &GoIndex, entries: &[Entry]) -> Vec<String> {
    let at = |t: Option<u64>| format!("+{}", secs(since(idx.start(), t), 6));
    let first = entries.first().map_or(0, |e| e.t.event);
    let last = entries.last().map_or(0, |e| e.t.event);
    let mut signals = idx
        .signals
        .iter()
        .filter(|s| !goindex::runtime_signal(s.signo) && s.event >= first && s.event <= last)
        .peekable();
    let mut out = Vec::new();
    for e in entries {
        while let Some(s) = signals.next_if(|s| s.event <= e.t.event) {
            out.push(format!(
                "  #{:<8} {:>12}  {:<18}  (taken by thread {})",
                s.event,
                at(s.time_ns),
                format!("{} arrives", name(s.signo)),
                s.thread
            ));
        }
        let after = match (&e.signal, e.since_signal_ns) {
            (Some(sig), ns) => format!("+{} ({sig})", secs(ns, 3)),
            _ => String::new(),
        };
        let thread =
            e.t.thread
                .map(|t| format!(" on thread {t}"))
                .unwrap_or_default();
        let here = match (&e.t.function, &e.t.location) {
            (Some(f), Some(l)) => format!(" in {f} at {l}"),
            _ => String::new(),
        };
        let held = e
            .lock
            .map(|w| {
                format!(
                    " for {}; {}{}",
                    mutex_label(w),
                    held_by(idx, w),
                    unlocked(idx, w)
                )
            })
            .unwrap_or_default();
        let woken =
            e.t.woken_by
                .as_ref()
                .map(|w| format!("; {}", woken_by(w)))
                .unwrap_or_default();
        out.push(format!(
            "  #{:<8} {:>12}  {after:<18}  {}{}{thread}{here}{held}{woken}",
            e.t.event,
            at(e.t.time_ns),
            e.t.state,
            sleep_until(idx, e.t)
        ));
    }
    out
}

/// Goroutine `goid`'s mutex waits: who held the mutex, where they locked
/// and unlocked it; and what woke it from its other waits.
pub fn blocked_by_text(idx: &GoIndex, goid: u64) -> String {
    let at = |t: Option<u64>| format!("t=+{}", secs(since(idx.start(), t), 3));
    let history = idx.history(goid);
    let mut out = String::new();
    for (i, t) in history.iter().enumerate() {
        let Some(reason) = t.state.strip_prefix("waiting: ") else {
            continue;
        };
        let end = history[i + 1..]
            .iter()
            .find(|n| !n.state.starts_with("waiting"));
        let how_long = match end {
            Some(e) => format!("waited {}", secs(since(t.time_ns, e.time_ns), 3)),
            None => "waits to the end of the recording".into(),
        };
        let here = t.location.as_deref().unwrap_or("?");
        let _ = write!(
            out,
            "#{} {}: {how_long} in {reason}{} at {here}",
            t.event,
            at(t.time_ns),
            sleep_until(idx, t)
        );
        if let Some(w) = idx.lock_wait(t) {
            let _ = write!(
                out,
                " for {}; {}{}",
                mutex_label(w),
                held_by(idx, w),
                unlocked(idx, w)
            );
        } else if let Some(by) = end.and_then(|e| e.woken_by.as_ref()) {
            let _ = write!(out, "; {}", woken_by(by));
        }
        out.push('\n');
    }
    if out.is_empty() {
        out = format!("goroutine {goid} never waited\n");
    }
    out
}

/// The text `--goroutine N` prints.
pub fn text(idx: &GoIndex, goid: u64, reverse: bool) -> Result<String> {
    let Some(created) = idx.created.iter().find(|c| c.goid == goid) else {
        return Err(RrgoError::new(
            Failure::Usage,
            match &idx.goroutines_unreadable {
                Some(why) => anyhow::anyhow!("cannot read goroutines in this recording: {why}"),
                None => anyhow::anyhow!("goroutine {goid} never existed in this recording"),
            },
        ));
    };
    let entries: Vec<Entry> = idx
        .history(goid)
        .into_iter()
        .map(|t| entry(idx, t))
        .collect();
    Ok(render(idx, goid, created, &entries, reverse))
}

pub fn run(dir: &std::path::Path, goid: u64, reverse: bool, json: bool) -> Result<i32> {
    // The command ends the process: freeing the index's hundreds of
    // thousands of strings first took 3–4% of a first query.
    let idx = std::mem::ManuallyDrop::new(goindex::load_or_build(dir)?);
    let Some(created) = idx.created.iter().find(|c| c.goid == goid) else {
        return Err(RrgoError::new(
            Failure::Usage,
            match &idx.goroutines_unreadable {
                Some(why) => anyhow::anyhow!("cannot read goroutines in this recording: {why}"),
                None => anyhow::anyhow!("goroutine {goid} never existed in this recording"),
            },
        ));
    };
    let mut entries: Vec<Entry> = idx
        .history(goid)
        .into_iter()
        .map(|t| entry(&idx, t))
        .collect();
    if json {
        if reverse {
            entries.reverse();
        }
        let v = serde_json::json!({
            "goroutine": goid,
            "created_at_event": created.event,
            "parent": created.parent,
            "created_by": created.by,
            "start_ns": idx.start(),
            "history": entries,
        });
        super::print_json(&v)?;
        return Ok(0);
    }
    print!("{}", render(&idx, goid, created, &entries, reverse));
    Ok(0)
}

fn render(
    idx: &GoIndex,
    goid: u64,
    created: &goindex::Created,
    entries: &[Entry],
    reverse: bool,
) -> String {
    let mut out = String::new();
    let parent = created
        .parent
        .filter(|&p| p != 0)
        .map(|p| format!(" in goroutine {p}"))
        .unwrap_or_default();
    // Goroutine 1 is the runtime's own start (its recorded creator is the
    // ABI wrapper rt0_go calls): Go's traceback names no creator for it.
    let by = match goid {
        1 => "the main goroutine, started by the runtime".to_string(),
        _ => format!("created by {}{parent}", created.by),
    };
    let _ = writeln!(
        out,
        "goroutine {goid}: {by} (first seen at event {})",
        created.event
    );
    let _ = writeln!(
        out,
        "(each state change, at the event it happened before; t: the program's monotonic clock since its first clock read; after a signal, the time since it)"
    );
    let _ = writeln!(
        out,
        "  {:<9} {:>12}  {:<18}  state",
        "event", "t", "since signal"
    );
    let mut rows = lines(idx, entries);
    if reverse {
        rows.reverse();
    }
    for r in rows {
        let _ = writeln!(out, "{r}");
    }
    out
}
