//! `rrgo replay --timeline FILE`: the goroutine index as a picture.
//! FILE.html is a self-contained page (`timeline.html`, the data inlined,
//! no network): one row per goroutine over the program's time, a bar per
//! state, the signals as vertical lines, and for each mutex wait an edge
//! from the waiter to the goroutine that held the mutex. Any other name
//! gets Chrome's trace-event JSON (Perfetto, chrome://tracing): goroutines
//! as threads, states as slices, signals as instant events, the blocking
//! edges as flows.

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::error::{Failure, Result, RrgoError};

use super::goindex::{self, GoIndex};
use super::signals::name;

const PAGE: &str = include_str!("timeline.html");

#[derive(Serialize)]
struct Segment {
    from_ns: u64,
    to_ns: u64,
    state: String,
    /// Where the goroutine was: "function at file:line".
    at: String,
}

#[derive(Serialize)]
struct Row {
    goid: u64,
    entry: String,
    system: bool,
    segments: Vec<Segment>,
}

#[derive(Serialize)]
struct Mark {
    name: String,
    time_ns: u64,
    thread: i32,
    goroutine: Option<u64>,
}

#[derive(Serialize)]
struct Edge {
    waiter: u64,
    holder: u64,
    mutex: String,
    /// The wait: from the waiter parking to the release (or the end).
    from_ns: u64,
    to_ns: u64,
    locked_at: String,
}

#[derive(Serialize)]
struct Picture {
    /// Program times are ns since `start_ns` (the first clock read).
    start_ns: u64,
    end_ns: u64,
    goroutines: Vec<Row>,
    signals: Vec<Mark>,
    edges: Vec<Edge>,
}

fn picture(idx: &GoIndex) -> Picture {
    let start = idx.start().unwrap_or(0);
    let rel = |t: Option<u64>| t.map(|t| t.saturating_sub(start));
    let end = idx
        .transitions
        .iter()
        .filter_map(|t| rel(t.time_ns))
        .max()
        .unwrap_or(0);
    let mut goroutines = Vec::new();
    let histories = idx.histories();
    for c in &idx.created {
        let history = histories.get(&c.goid).map_or(&[][..], |h| h.as_slice());
        let mut segments: Vec<Segment> = Vec::new();
        for (i, t) in history.iter().enumerate() {
            let Some(from) = rel(t.time_ns) else { continue };
            if t.state == "dead" {
                break;
            }
            let to = history[i + 1..]
                .iter()
                .find_map(|n| rel(n.time_ns))
                .unwrap_or(end);
            let at = match (&t.function, &t.location) {
                (Some(f), Some(l)) => format!("{f} at {l}"),
                _ => String::new(),
            };
            // Several states within one clock reading: the last one shows.
            if let Some(last) = segments.last_mut().filter(|s| s.from_ns == from) {
                last.state = t.state.clone();
                last.at = at;
                last.to_ns = to;
                continue;
            }
            segments.push(Segment {
                from_ns: from,
                to_ns: to,
                state: t.state.clone(),
                at,
            });
        }
        // `go f(x)` starts in a wrapper (main.main.gowrap1), named by the
        // function it calls (`start_function`); where that call is not
        // found (f inlined into it), by the first other function the
        // goroutine was seen in.
        let entry = if c.entry.contains(".gowrap") {
            history
                .iter()
                .find_map(|t| t.function.clone().filter(|f| !f.contains(".gowrap")))
                .unwrap_or_else(|| c.entry.clone())
        } else {
            c.entry.clone()
        };
        goroutines.push(Row {
            goid: c.goid,
            entry,
            system: c.system,
            segments,
        });
    }
    goroutines.sort_by_key(|r| (r.system, r.goid));
    let signals = idx
        .signals
        .iter()
        .filter(|s| !goindex::runtime_signal(s.signo))
        .filter_map(|s| {
            Some(Mark {
                name: name(s.signo),
                time_ns: rel(s.time_ns)?,
                thread: s.thread,
                goroutine: s.goroutine,
            })
        })
        .collect();
    let edges = idx
        .lock_waits
        .iter()
        .filter_map(|w| {
            let h = w.holder.as_ref()?;
            Some(Edge {
                waiter: w.waiter,
                holder: h.goid,
                mutex: w
                    .mutex_name
                    .clone()
                    .unwrap_or_else(|| format!("{:#x}", w.mutex)),
                from_ns: rel(w.time_ns)?,
                to_ns: w
                    .released
                    .as_ref()
                    .and_then(|r| rel(r.time_ns))
                    .unwrap_or(end),
                locked_at: h.location.clone().unwrap_or_default(),
            })
        })
        .collect();
    Picture {
        start_ns: start,
        end_ns: end,
        goroutines,
        signals,
        edges,
    }
}

/// The page: the template with the picture's JSON in place of its marker
/// (`</` escaped so that no string in it can end the script element).
fn html(p: &Picture) -> anyhow::Result<String> {
    let data = serde_json::to_string(p)?.replace("</", "<\\/");
    Ok(PAGE.replace("/*RRGO_TIMELINE_DATA*/null", &data))
}

/// Chrome's trace-event format: pid 1, one tid per goroutine, µs.
fn trace_events(p: &Picture) -> serde_json::Value {
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut events = Vec::new();
    for r in &p.goroutines {
        events.push(
            json!({"ph": "M", "pid": 1, "tid": r.goid, "name": "thread_name",
            "args": {"name": format!("[Go {}] {}", r.goid, r.entry)}}),
        );
        for s in &r.segments {
            events.push(json!({"ph": "X", "pid": 1, "tid": r.goid, "name": s.state,
                "ts": us(s.from_ns), "dur": us(s.to_ns.saturating_sub(s.from_ns)),
                "args": {"at": s.at}}));
        }
    }
    for s in &p.signals {
        events.push(
            json!({"ph": "i", "s": "g", "pid": 1, "tid": s.goroutine.unwrap_or(0),
            "name": s.name, "ts": us(s.time_ns), "args": {"thread": s.thread}}),
        );
    }
    for (i, e) in p.edges.iter().enumerate() {
        let name = format!("waits for {} held by goroutine {}", e.mutex, e.holder);
        events.push(
            json!({"ph": "s", "id": i, "pid": 1, "tid": e.waiter, "name": name,
            "cat": "lock", "ts": us(e.from_ns)}),
        );
        events.push(
            json!({"ph": "f", "bp": "e", "id": i, "pid": 1, "tid": e.holder,
            "name": name, "cat": "lock", "ts": us(e.to_ns)}),
        );
    }
    json!({ "traceEvents": events, "displayTimeUnit": "ms" })
}

pub fn run(dir: &Path, file: &Path) -> Result<i32> {
    // The command ends the process: freeing the index's hundreds of
    // thousands of strings first took 3–4% of a first query.
    let idx = std::mem::ManuallyDrop::new(goindex::load_or_build(dir)?);
    idx.require_goroutines()?;
    let p = picture(&idx);
    let html_out = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    let text = if html_out {
        html(&p).map_err(|e| RrgoError::new(Failure::Operational, e))?
    } else {
        serde_json::to_string(&trace_events(&p))
            .map_err(|e| RrgoError::new(Failure::Operational, e))?
    };
    std::fs::write(file, text).map_err(|e| {
        RrgoError::new(
            Failure::Operational,
            anyhow::anyhow!("cannot write {}: {e}", file.display()),
        )
    })?;
    crate::say!(
        "timeline of {} goroutines written to {}",
        p.goroutines.len(),
        file.display()
    );
    Ok(0)
}
