//! `rrgo replay [TRACE]` and its modes.

use crate::cli::ReplayArgs;
use crate::error::{Failure, Result, RrgoError};
use crate::progress::Progress;
use crate::replay::{Divergence, Output, ReplaySession};
use crate::{exit_status, trace_dir};

pub fn run(args: &ReplayArgs, sigmask: libc::sigset_t) -> Result<i32> {
    // Resolve and open the trace first so a bad trace is reported as such.
    let dir = trace_dir::resolve(args.trace.as_deref())?;
    let reader = trace_format::TraceReader::open(&dir)?;
    let what = if args.dap.is_some() {
        Some("replay --dap")
    } else if args.goroutine.is_some() {
        Some("replay --goroutine")
    } else if args.goroutines {
        Some("replay --goroutines")
    } else if args.signals {
        Some("replay --signals")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(RrgoError::not_implemented(what));
    }
    if !args.autopilot {
        return Err(RrgoError::new(
            Failure::Usage,
            anyhow::anyhow!(
                "an interactive replay needs a front end: use -a (autopilot) or --dap ADDR"
            ),
        ));
    }
    if let trace_format::Completeness::Truncated {
        events_readable,
        reason,
    } = reader.completeness()
    {
        crate::say!(
            "trace is incomplete ({reason}): replaying its {events_readable} readable events"
        );
    }
    drop(reader);
    autopilot(&dir, sigmask)
}

fn classify(e: anyhow::Error) -> RrgoError {
    if e.downcast_ref::<Divergence>().is_some() {
        RrgoError::new(Failure::Divergence, e)
    } else {
        RrgoError::from(e)
    }
}

/// Replays to the end, passing the program's output through, and exits as it did.
fn autopilot(dir: &std::path::Path, sigmask: libc::sigset_t) -> Result<i32> {
    let mut session = ReplaySession::start(dir, Output::Passthrough, sigmask).map_err(classify)?;
    let total = session.event_count();
    let mut progress = Progress::new("replaying events", total);
    while let Some(ev) = session.step().map_err(classify)? {
        progress.set(ev.time.0);
    }
    progress.finish();
    match session.exit_status().cloned() {
        Some(status) => {
            drop(session);
            exit_status::exit_like(&status)
        }
        None => {
            crate::say!("replayed all {total} events of an incomplete trace");
            Ok(0)
        }
    }
}
