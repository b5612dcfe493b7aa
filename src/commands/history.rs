//! `rrgo replay --goroutine N [--reverse] [--json]`: goroutine N's history,
//! from the trace's goroutine index (built on first use, see `goindex`).

use std::fmt::Write;

use crate::error::{Failure, Result, RrgoError};

use super::goindex;

fn secs(t: Option<u64>, t0: u64) -> String {
    t.map(|t| format!("+{:.6}s", t.saturating_sub(t0) as f64 / 1e9))
        .unwrap_or_else(|| " ".repeat(10))
}

pub fn run(dir: &std::path::Path, goid: u64, reverse: bool, json: bool) -> Result<i32> {
    let idx = goindex::load_or_build(dir)?;
    let Some(created) = idx.created.iter().find(|c| c.goid == goid) else {
        return Err(RrgoError::new(
            Failure::Usage,
            anyhow::anyhow!("goroutine {goid} never existed in this recording"),
        ));
    };
    let mut entries = idx.history(goid);
    if reverse {
        entries.reverse();
    }
    if json {
        let v = serde_json::json!({
            "goroutine": goid,
            "created_at_event": created.event,
            "parent": created.parent,
            "created_by": created.by,
            "history": entries,
        });
        super::print_json(&v)?;
        return Ok(0);
    }
    let t0 = idx.start_ns();
    let mut out = String::new();
    let parent = created
        .parent
        .filter(|&p| p != 0)
        .map(|p| format!(" in goroutine {p}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "goroutine {goid}: created by {}{parent} (first seen at event {})",
        created.by, created.event
    );
    let _ = writeln!(
        out,
        "(each state change, at the event it happened before; time is the program's monotonic clock)"
    );
    for e in entries {
        let thread = e
            .thread
            .map(|t| format!(" on thread {t}"))
            .unwrap_or_default();
        let at = match (&e.function, &e.location) {
            (Some(f), Some(l)) => format!(" in {f} at {l}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  #{:<8} {}  {}{thread}{at}",
            e.event,
            secs(e.time_ns, t0),
            e.state
        );
    }
    print!("{out}");
    Ok(0)
}
