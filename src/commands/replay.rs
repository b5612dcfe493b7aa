//! `rrgo replay [TRACE]` and its modes.

use crate::cli::ReplayArgs;
use crate::error::{Failure, Result, RrgoError};
use crate::progress::Progress;
use crate::replay::{Divergence, Output, ReplaySession};
use crate::{exit_status, trace_dir};

pub fn run(args: &ReplayArgs) -> Result<i32> {
    if let Some(addr) = &args.dap {
        // A trace named on the command line must be readable now; without
        // one, a client's launch request names it (`traceDirPath`), or the
        // latest recording is used at attach.
        if let Some(t) = &args.trace {
            let reader = trace_format::TraceReader::open(&trace_dir::resolve(Some(t))?)?;
            go_known(&reader, args.allow_any_go)?;
        }
        return serve_dap(addr, args.trace.clone(), args.allow_any_go);
    }
    // Resolve and open the trace first so a bad trace is reported as such.
    let dir = trace_dir::resolve(args.trace.as_deref())?;
    let reader = trace_format::TraceReader::open(&dir)?;
    if args.goroutine.is_some() || args.goroutines || args.signals {
        go_known(&reader, args.allow_any_go)?;
    }
    if let Some(goid) = args.goroutine {
        drop(reader);
        return super::history::run(&dir, goid, args.reverse, args.json);
    }
    if args.goroutines {
        drop(reader);
        return super::goroutines::run(&dir, args.at, args.json);
    }
    if args.signals {
        drop(reader);
        return super::signals::run(&dir, args.json);
    }
    if let Some(symbol) = &args.print {
        drop(reader);
        return print_symbol(&dir, symbol, args.at);
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
    autopilot(&dir)
}

/// The Go-aware commands read the Go runtime's structures: they refuse a
/// program built by a release rrgo does not know, unless `allow_any`.
fn go_known(reader: &trace_format::TraceReader, allow_any: bool) -> Result<()> {
    crate::goruntime::version::check(reader.header().go_version.as_deref(), allow_any)
        .map_err(|e| RrgoError::new(Failure::Usage, e))
}

/// `--dap ADDR`: serves debug adapter clients until SIGINT/SIGTERM (exit 0).
/// A trace a client names is checked like one given here (`go_known`).
fn serve_dap(addr: &str, trace: Option<std::path::PathBuf>, allow_any: bool) -> Result<i32> {
    let addr = crate::dap::parse_addr(addr).map_err(|e| RrgoError::new(Failure::Usage, e))?;
    // Before the engine thread exists, so it inherits the mask.
    crate::dap::block_termination_signals();
    let handle = crate::debugger::handle::EngineHandle::spawn(Box::new(
        move |trace, progress, interrupt| {
            let dir = trace_dir::resolve(trace.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
            go_known(&trace_format::TraceReader::open(&dir)?, allow_any)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            crate::debugger::open_target(Some(dir), progress, interrupt)
        },
    ));
    crate::dap::serve(&addr, trace, handle).map_err(RrgoError::from)?;
    Ok(0)
}

pub(super) fn classify(e: anyhow::Error) -> RrgoError {
    if e.downcast_ref::<Divergence>().is_some() {
        RrgoError::new(Failure::Divergence, e)
    } else {
        RrgoError::from(e)
    }
}

/// Replays to the end, passing the program's output through, and exits as it did.
fn autopilot(dir: &std::path::Path) -> Result<i32> {
    let mut session = ReplaySession::start(dir, Output::Passthrough).map_err(classify)?;
    let total = session.event_count();
    let mut progress = Progress::new("replaying events", total);
    while let Some(ev) = session.step().map_err(classify)? {
        progress.set(ev.time.0);
    }
    progress.finish();
    let p = session.preempt_stats();
    tracing::info!(
        executed = p.executed,
        jumped = p.jumped,
        breakpoint_hits = p.hits,
        "preemption points reached"
    );
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

/// `--print SYMBOL [--at EVENT]`: replays to the event and reads the variable
/// from the replayed process's memory.
fn print_symbol(dir: &std::path::Path, symbol: &str, at: Option<u64>) -> Result<i32> {
    let mut session = ReplaySession::start(dir, Output::Discard).map_err(classify)?;
    let exe = session
        .reader()
        .stored_file_path(&session.reader().header().exe.clone());
    let (addr, size) = crate::elf::data_symbol(&exe, symbol).ok_or_else(|| {
        RrgoError::new(
            Failure::Usage,
            anyhow::anyhow!("no variable named {symbol} in the recorded program"),
        )
    })?;
    // Default: the last moment the main process is still alive.
    let end = session.event_count().saturating_sub(1);
    let at = at.unwrap_or(end).min(end);
    let mut progress = Progress::new("replaying events", at);
    while session.next_event().0 < at {
        match session.step().map_err(classify)? {
            Some(ev) => progress.set(ev.time.0),
            None => break,
        }
    }
    progress.finish();
    let main = session.threads().into_iter().next().ok_or_else(|| {
        RrgoError::new(
            Failure::Usage,
            anyhow::anyhow!("no live process at event {at}"),
        )
    })?;
    let bytes = session
        .mem(main)
        .and_then(|m| Ok(m.read(trace_format::RemoteAddr(addr), size.clamp(1, 4096) as usize)?))
        .map_err(classify)?;
    let value = match bytes.len() {
        1 => (bytes[0] as i8).to_string(),
        2 => i16::from_le_bytes([bytes[0], bytes[1]]).to_string(),
        4 => i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string(),
        8 => i64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8])).to_string(),
        _ => crate::describe::hex(&bytes),
    };
    println!("{symbol} = {value}");
    Ok(0)
}
