//! `rrgo replay [TRACE]` and its modes.

use crate::cli::ReplayArgs;
use crate::error::{Failure, Result, RrgoError};
use crate::progress::Progress;
use crate::replay::{Divergence, Output, ReplaySession};
use crate::{exit_status, trace_dir};

pub fn run(args: &ReplayArgs) -> Result<i32> {
    if let Some(addr) = &args.dap {
        // A trace named on the command line must be of a Go release the
        // debugger knows (a client's trace is checked when it is opened).
        if let Some(t) = &args.trace {
            let reader = trace_format::TraceReader::open(&trace_dir::resolve(Some(t))?)?;
            go_known(&reader, args.allow_any_go)?;
        }
        return serve_dap(addr, args);
    }
    // Resolve and open the trace first so a bad trace is reported as such.
    let dir = trace_dir::resolve(args.trace.as_deref())?;
    let reader = trace_format::TraceReader::open(&dir)?;
    if let Some(problem) = reader.manifest_problem() {
        // Not fatal: replay fails (exit 3) only if it needs a file that is
        // not listed; every copy it uses is checked against its hash.
        crate::say!(
            "warning: the trace's manifest is damaged ({problem}): files listed after the damage cannot be used"
        );
    }
    if args.goroutine.is_some()
        || args.goroutines
        || args.signals
        || args.timeline.is_some()
        || args.build_index
    {
        go_known(&reader, args.allow_any_go)?;
        goroutines_readable(&reader)?;
    }
    if args.build_index {
        drop(reader);
        return super::goindex::load_or_build(&dir).map(|idx| {
            // The process ends next: no freeing of the index's strings.
            std::mem::forget(idx);
            0
        });
    }
    if let Some(file) = &args.timeline {
        drop(reader);
        return super::timeline::run(&dir, file);
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
    let redacted = crate::record::redact::redacted_names(&reader.header().env);
    drop(reader);
    autopilot(&dir).map_err(|e| redaction_note(e, &redacted))
}

/// A divergence of a trace recorded with `--redact-env` may come from the
/// placeholders: say so (the program replays without the real values).
fn redaction_note(e: RrgoError, redacted: &[String]) -> RrgoError {
    if e.failure != Failure::Divergence || redacted.is_empty() {
        return e;
    }
    let note = format!(
        "{:#}\nrrgo: note: the trace holds placeholders instead of the values of {} \
         (recorded with --redact-env): a program that computes with one replays differently",
        e.error,
        redacted.join(", ")
    );
    RrgoError::new(Failure::Divergence, anyhow::anyhow!(note))
}

/// The Go-aware commands read the Go runtime's structures: they refuse a
/// program built by a release rrgo does not know, unless `allow_any`.
fn go_known(reader: &trace_format::TraceReader, allow_any: bool) -> Result<()> {
    crate::goruntime::version::check(reader.header().go_version.as_deref(), allow_any)
        .map_err(|e| RrgoError::new(Failure::Usage, e))
}

/// The goroutine views read the runtime's structures, whose layouts only
/// DWARF gives: a program without it is refused before the index's replay
/// (whose stories would be empty, not true).
fn goroutines_readable(reader: &trace_format::TraceReader) -> Result<()> {
    use object::Object;
    let exe = reader.stored_file_path(&reader.header().exe);
    // Only a stored copy that is a plain, parsable file is judged here; any
    // other (missing, a FIFO, forged) is refused where the replay checks it.
    if !std::fs::metadata(&exe).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    // Mapped, not read: only the section headers are looked at.
    let Ok(mapped) = crate::elf::Mapped::open(&exe) else {
        return Ok(());
    };
    let dwarf = object::File::parse(mapped.bytes()).map(|f| {
        f.section_by_name(".debug_info").is_some() || f.section_by_name(".zdebug_info").is_some()
    });
    if !matches!(dwarf, Ok(false)) {
        return Ok(());
    }
    Err(RrgoError::new(
        Failure::Usage,
        anyhow::anyhow!(
            "cannot read goroutines in this recording: {}",
            crate::goruntime::NO_DWARF
        ),
    ))
}

/// `--dap ADDR`: serves debug adapter clients until SIGINT/SIGTERM (exit 0).
/// A trace a client names is checked like one given here (`go_known`).
fn serve_dap(addr: &str, args: &ReplayArgs) -> Result<i32> {
    let addr = crate::dap::parse_addr(addr).map_err(|e| RrgoError::new(Failure::Usage, e))?;
    let opts = dap_options(args)?;
    // Before the engine thread exists, so it inherits the mask.
    crate::dap::block_termination_signals();
    let allow_any = args.allow_any_go;
    let handle = crate::debugger::handle::EngineHandle::spawn(Box::new(
        move |trace, progress, interrupt| {
            let dir = trace_dir::resolve(trace.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
            go_known(&trace_format::TraceReader::open(&dir)?, allow_any)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            crate::debugger::open_target(Some(dir), progress, interrupt)
        },
    ));
    crate::dap::serve(&addr, opts, handle).map_err(RrgoError::from)?;
    Ok(0)
}

/// The DAP flags, checked. A trace named on the command line must be
/// readable now; without one, a client's launch request names it
/// (`traceDirPath`, within the trace directory), or the latest recording is
/// used at attach.
fn dap_options(args: &ReplayArgs) -> Result<crate::dap::ServeOptions> {
    let trace = match &args.trace {
        Some(t) => {
            let dir = trace_dir::resolve(Some(t))?;
            trace_format::TraceReader::open(&dir)?;
            Some(dir)
        }
        None => None,
    };
    let usage = |m: &str| RrgoError::new(Failure::Usage, anyhow::anyhow!("{m}"));
    let t = args.dap_handshake_timeout;
    if !(t.is_finite() && (0.0..=1e6).contains(&t)) {
        return Err(usage(
            "--dap-handshake-timeout takes seconds, from 0 (no limit) up",
        ));
    }
    let token = args
        .dap_token
        .clone()
        .or_else(|| std::env::var("RRGO_DAP_TOKEN").ok())
        .filter(|t| !t.is_empty());
    Ok(crate::dap::ServeOptions {
        trace,
        allow_any_trace: args.dap_allow_any_trace,
        token,
        handshake_timeout: (t > 0.0).then(|| std::time::Duration::from_secs_f64(t)),
        accept_multiclient: args.accept_multiclient,
    })
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
    if p.jumped > 0 {
        crate::say!(
            "{} of {} preempted slices were reached by jumping to their recorded end state instead of re-executing them (RRGO_PREEMPT_SEARCH; a debugger's breakpoints there would not be hit)",
            p.jumped,
            p.jumped + p.executed
        );
    }
    tracing::info!(
        executed = p.executed,
        in_process = p.in_process,
        jumped = p.jumped,
        breakpoint_hits = p.hits,
        probe_stops = p.probes,
        unpatched = p.unpatched,
        guarded = p.guarded,
        "preemption points reached"
    );
    match session.exit_status().cloned() {
        Some(status) => {
            drop(session);
            exit_status::exit_like(&status)
        }
        None => Err(no_exit_status(&session.reader().completeness(), total)),
    }
}

/// A trace replayed to its end without the program's exit: there is no
/// status to exit with, and exiting 0 would claim the program succeeded.
fn no_exit_status(completeness: &trace_format::Completeness, total: u64) -> RrgoError {
    let why = match completeness {
        trace_format::Completeness::Truncated { reason, .. } => {
            format!("the trace is incomplete ({reason})")
        }
        trace_format::Completeness::Complete => "the trace ends before the program did".into(),
    };
    RrgoError::new(
        Failure::Trace,
        anyhow::anyhow!(
            "{why}: replayed all {total} readable events; how the program ended was not recorded"
        ),
    )
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
