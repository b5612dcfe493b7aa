//! `rrgo replay --signals [--json]`: for each signal, when it arrived, which
//! thread and goroutine took it, when the runtime's handler ran and
//! `sigsend` queued it (or the runtime died from it), when the os/signal
//! loop woke, which
//! goroutine received it, and what that goroutine then waited for — with
//! the goroutines that ran meanwhile. Every step carries the program's
//! monotonic time and the time since the signal (see `goindex::ProgramClock`).

use std::fmt::Write;

use serde::Serialize;

use crate::error::Result;

use super::goindex::{GoIndex, SignalSeen, Transition};

pub(super) fn name(signo: i32) -> String {
    let n = match signo {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        17 => "SIGCHLD",
        23 => "SIGURG",
        27 => "SIGPROF",
        28 => "SIGWINCH",
        _ => return format!("signal {signo}"),
    };
    n.to_string()
}

fn sender(si_code: i32, pid: i32) -> String {
    match si_code {
        0 => format!("kill() from pid {pid}"),
        -6 => format!("tgkill() from pid {pid}"),
        -1 => format!("sigqueue() from pid {pid}"),
        c if c > 0 => "the kernel".to_string(),
        c => format!("si_code {c}"),
    }
}

/// One step of a signal's way (`--json`; README documents the fields).
#[derive(Serialize)]
struct Step {
    event: u64,
    /// The program's CLOCK_MONOTONIC (ns) at the step.
    time_ns: Option<u64>,
    /// `time_ns` minus the signal's.
    since_signal_ns: Option<u64>,
    /// How long a wait lasted (waits only; none while it lasts to the end).
    duration_ns: Option<u64>,
    what: String,
}

#[derive(Serialize)]
struct Story {
    signal: String,
    event: u64,
    /// The program's CLOCK_MONOTONIC (ns) when the signal was delivered.
    time_ns: Option<u64>,
    /// `time_ns` minus the program's first clock read.
    since_start_ns: Option<u64>,
    /// The program's CLOCK_REALTIME then (ns since the epoch), estimated.
    wall_time_ns: Option<u64>,
    thread: i32,
    goroutine: Option<u64>,
    steps: Vec<Step>,
}

impl Step {
    fn new(s: &SignalSeen, event: u64, time_ns: Option<u64>, what: String) -> Step {
        Step {
            event,
            time_ns,
            since_signal_ns: since(s.time_ns, time_ns),
            duration_ns: None,
            what,
        }
    }
}

fn is_user(t: &Transition) -> bool {
    t.function.as_deref().is_some_and(|f| {
        !f.starts_with("os/signal.") && !f.starts_with("runtime.") && !f.starts_with("sync.")
    }) || t
        .function
        .as_deref()
        .is_some_and(|f| f.starts_with("sync."))
}

/// `b - a`, if both are known.
pub(super) fn since(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

/// Seconds with `decimals` digits, e.g. "1.234s"; "?" when unknown.
pub(super) fn secs(ns: Option<u64>, decimals: usize) -> String {
    ns.map(|ns| format!("{:.decimals$}s", ns as f64 / 1e9))
        .unwrap_or_else(|| "?".into())
}

/// `ns` since the epoch as "YYYY-MM-DD HH:MM:SS.mmm UTC".
fn utc(ns: u64) -> String {
    crate::describe::unix_ns(ns)
}

fn story(idx: &GoIndex, s: &SignalSeen) -> Story {
    let mut steps = Vec::new();
    // Through the runtime's handler: the first of each step after the arrival.
    for (f, what) in [
        (
            "sighandler",
            "the Go runtime's handler (runtime.sighandler) ran",
        ),
        ("sigsend", "runtime.sigsend queued it for os/signal"),
        (
            "dieFromSignal",
            "the runtime died from it (runtime.dieFromSignal)",
        ),
    ] {
        if let Some(st) = idx
            .signal_steps
            .iter()
            .find(|x| x.signo == s.signo && x.function == f && x.event >= s.event)
        {
            steps.push(Step::new(
                s,
                st.event,
                st.time_ns,
                format!("{what} on thread {}", st.thread),
            ));
        }
    }
    let after: Vec<&Transition> = idx
        .transitions
        .iter()
        .filter(|t| t.event >= s.event)
        .collect();
    // The os/signal loop goroutine leaves its syscall (notetsleepg) when sigsend wakes it.
    if let Some(l) = after.iter().find(|t| {
        t.function
            .as_deref()
            .is_some_and(|f| f.starts_with("os/signal."))
            && t.state != "syscall"
    }) {
        steps.push(Step::new(
            s,
            l.event,
            l.time_ns,
            format!("os/signal loop (goroutine {}) woke", l.goid),
        ));
    }
    // The receiver: a goroutine leaving a channel wait into the runnable state.
    let receiver = after.iter().find(|t| {
        t.state == "runnable"
            && is_user(t)
            && idx
                .transitions
                .iter()
                .rev()
                .find(|p| p.goid == t.goid && p.event < t.event)
                .is_some_and(|p| {
                    p.state.starts_with("waiting: chan receive")
                        || p.state.starts_with("waiting: select")
                })
    });
    if let Some(r) = receiver {
        steps.push(Step::new(
            s,
            r.event,
            r.time_ns,
            format!(
                "goroutine {} received it in {} at {}",
                r.goid,
                r.function.clone().unwrap_or_default(),
                r.location.clone().unwrap_or_default()
            ),
        ));
        let mine: Vec<&&Transition> = after
            .iter()
            .filter(|t| t.goid == r.goid && t.event > r.event)
            .collect();
        for (i, t) in mine.iter().enumerate() {
            if let Some(reason) = t.state.strip_prefix("waiting: ") {
                let end = mine.get(i + 1);
                let until = end.map(|e| e.event).unwrap_or(u64::MAX);
                let mut others: Vec<String> = idx
                    .transitions
                    .iter()
                    .filter(|o| {
                        o.goid != r.goid
                            && o.state == "running"
                            && o.event >= t.event
                            && o.event <= until
                    })
                    .map(|o| match (&o.function, &o.location) {
                        (Some(f), Some(l)) => format!("goroutine {} in {f} at {l}", o.goid),
                        _ => {
                            let entry = idx
                                .created
                                .iter()
                                .find(|c| c.goid == o.goid)
                                .map(|c| c.entry.clone())
                                .unwrap_or_default();
                            format!("goroutine {} (started in {entry})", o.goid)
                        }
                    })
                    .collect();
                others.sort();
                others.dedup();
                let waited = end.and_then(|e| since(t.time_ns, e.time_ns));
                let how_long = match end {
                    Some(_) => format!(" {}", secs(waited, 3)),
                    None => " to the end of the recording".into(),
                };
                let mut what = format!(
                    "goroutine {} waited{how_long}: {reason} in {} at {}",
                    r.goid,
                    t.function.clone().unwrap_or_default(),
                    t.location.clone().unwrap_or_default()
                );
                if !others.is_empty() {
                    let _ = write!(what, "; meanwhile running: {}", others.join("; "));
                }
                steps.push(Step {
                    duration_ns: waited,
                    ..Step::new(s, t.event, t.time_ns, what)
                });
            } else if t.state == "dead" {
                let what = format!(
                    "goroutine {} finished, {} after the signal",
                    r.goid,
                    secs(since(s.time_ns, t.time_ns), 3)
                );
                steps.push(Step::new(s, t.event, t.time_ns, what));
            }
        }
    }
    Story {
        signal: name(s.signo),
        event: s.event,
        time_ns: s.time_ns,
        since_start_ns: since(idx.start(), s.time_ns),
        wall_time_ns: s.wall_time_ns,
        thread: s.thread,
        goroutine: s.goroutine,
        steps,
    }
}

pub fn run(dir: &std::path::Path, json: bool) -> Result<i32> {
    let idx = super::goindex::load_or_build(dir)?;
    let stories: Vec<Story> = idx
        .signals
        .iter()
        .filter(|s| s.signo != 23)
        .map(|s| story(&idx, s))
        .collect();
    let preemptions = idx.signals.iter().filter(|s| s.signo == 23).count();
    if json {
        let v = serde_json::json!({ "signals": stories, "sigurg_preemptions": preemptions });
        super::print_json(&v)?;
        return Ok(0);
    }
    let mut out = String::new();
    let at = |t: Option<u64>| format!("t=+{}", secs(since(idx.start(), t), 3));
    for (st, s) in stories
        .iter()
        .zip(idx.signals.iter().filter(|s| s.signo != 23))
    {
        let g = st
            .goroutine
            .map(|g| format!(" while goroutine {g} was running"))
            .unwrap_or_default();
        let wall = st
            .wall_time_ns
            .map(|w| format!(", {}", utc(w)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} at event {} ({}{wall}), sent by {}, taken by thread {}{g}",
            st.signal,
            st.event,
            at(st.time_ns),
            sender(s.si_code, s.sender_pid),
            st.thread
        );
        for step in &st.steps {
            let _ = writeln!(
                out,
                "  #{:<8} {:>10} {:>9}  {}",
                step.event,
                at(step.time_ns),
                format!("+{}", secs(step.since_signal_ns, 3)),
                step.what
            );
        }
    }
    if stories.is_empty() {
        let _ = writeln!(
            out,
            "no signals other than the Go runtime's own preemption requests"
        );
    }
    let _ = writeln!(
        out,
        "(and {preemptions} SIGURG: the Go runtime preempting goroutines)"
    );
    if !stories.is_empty() {
        let _ = writeln!(
            out,
            "(t: the program's monotonic clock since its first clock read; then the time since the signal)"
        );
    }
    print!("{out}");
    Ok(0)
}
