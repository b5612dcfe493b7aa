//! `rrgo dump [TRACE]`: the events, as text or JSON lines.

use std::io::Write;

use anyhow::Context;
use trace_format::{EventTime, TraceReader};

use crate::cli::DumpArgs;
use crate::error::Result;
use crate::{describe, trace_dir};

pub fn run(args: &DumpArgs) -> Result<i32> {
    let dir = trace_dir::resolve(args.trace.as_deref())?;
    let reader = TraceReader::open(&dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let limit = args.count.unwrap_or(u64::MAX);
    for event in reader
        .events_from(EventTime(args.from))
        .take(limit.try_into().unwrap_or(usize::MAX))
    {
        let event = event?;
        let line = if args.json {
            serde_json::to_string(&event).context("cannot encode event as JSON")?
        } else {
            describe::event(&event)
        };
        if writeln!(out, "{line}").is_err() {
            // A closed pipe (`rrgo dump | head`) is not an error.
            return Ok(0);
        }
    }
    let _ = out.flush();
    if let trace_format::Completeness::Truncated {
        events_readable,
        reason,
    } = reader.completeness()
    {
        crate::say!("trace is incomplete: {events_readable} events readable ({reason})");
    }
    Ok(0)
}
