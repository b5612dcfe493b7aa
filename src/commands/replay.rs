//! `rrgo replay [TRACE]` and its modes.

use crate::cli::ReplayArgs;
use crate::error::{Result, RrgoError};
use crate::trace_dir;

pub fn run(args: &ReplayArgs) -> Result<i32> {
    // Resolve and open the trace first so a bad trace is reported as such.
    let dir = trace_dir::resolve(args.trace.as_deref())?;
    let _reader = trace_format::TraceReader::open(&dir)?;
    let what = if args.dap.is_some() {
        "replay --dap"
    } else if args.goroutine.is_some() {
        "replay --goroutine"
    } else if args.goroutines {
        "replay --goroutines"
    } else if args.signals {
        "replay --signals"
    } else {
        "replay"
    };
    Err(RrgoError::not_implemented(what))
}
