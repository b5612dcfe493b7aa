//! `rrgo replay --signals [--json]`: for each signal, when it arrived, which
//! thread and goroutine took it, when the runtime's handler ran and
//! `sigsend` queued it (or the runtime died from it), when the os/signal
//! loop woke, which goroutine received it, and what that goroutine then
//! waited for: for a `sync.Mutex`, the goroutine that held it, where and
//! when it locked and unlocked it (`goindex::LockWait`); otherwise the
//! goroutines that ran meanwhile. Then the handling time split into those
//! parts. Every step carries the program's monotonic time and the time
//! since the signal (see `goindex::ProgramClock`).

use std::fmt::Write;

use serde::Serialize;

use crate::error::Result;

use super::goindex::{GoIndex, LockKind, LockWait, SignalSeen, Transition, Waker};

pub(super) fn name(signo: i32) -> String {
    match nix::sys::signal::Signal::try_from(signo) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {signo}"),
    }
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

/// The mutex a wait was for, and who held it (`--json`: a step's `lock`).
#[derive(Serialize)]
struct LockInfo {
    /// "mutex", "rwmutex-write" (a writer waiting for readers),
    /// "rwmutex-read" (a reader waiting for the writer).
    kind: LockKind,
    mutex: String,
    mutex_name: Option<String>,
    holder_goroutine: Option<u64>,
    /// Where and when the holder locked it.
    locked_in: Option<String>,
    locked_at: Option<String>,
    locked_event: Option<u64>,
    locked_time_ns: Option<u64>,
    released_by_goroutine: Option<u64>,
    released_in: Option<String>,
    released_at: Option<String>,
    released_event: Option<u64>,
    released_time_ns: Option<u64>,
    /// A reader waiting for a writer that itself waited for readers: when
    /// the writer got the lock (the last reader's unlock).
    got_event: Option<u64>,
    got_time_ns: Option<u64>,
    /// From the holder's Lock (or getting it) to its release (none when
    /// either is unknown, or another goroutine's release let the waiter go).
    held_ns: Option<u64>,
    /// A writer waiting for readers: the other readers holding it.
    other_holder_goroutines: Vec<u64>,
    /// A mutex handed on during the wait: who locked it after the holder.
    later_holder_goroutines: Vec<u64>,
}

impl LockInfo {
    fn new(w: &LockWait) -> LockInfo {
        let (h, r) = (w.holder.as_ref(), w.released.as_ref());
        LockInfo {
            kind: w.kind,
            mutex: format!("{:#x}", w.mutex),
            mutex_name: w.mutex_name.clone(),
            holder_goroutine: h.map(|h| h.goid),
            locked_in: h.and_then(|h| h.function.clone()),
            locked_at: h.and_then(|h| h.location.clone()),
            locked_event: h.map(|h| h.event),
            locked_time_ns: h.and_then(|h| h.time_ns),
            released_by_goroutine: r.map(|r| r.goid),
            released_in: r.and_then(|r| r.function.clone()),
            released_at: r.and_then(|r| r.location.clone()),
            released_event: r.map(|r| r.event),
            released_time_ns: r.and_then(|r| r.time_ns),
            got_event: w.holder_got.as_ref().map(|g| g.event),
            got_time_ns: w.holder_got.as_ref().and_then(|g| g.time_ns),
            held_ns: held_ns(w),
            other_holder_goroutines: w.other_holders.iter().map(|o| o.goid).collect(),
            later_holder_goroutines: w.later_holders.iter().map(|o| o.goid).collect(),
        }
    }
}

/// How long the holder held the lock until the release that let the
/// waiter go: from its Lock, or from getting it when it had to wait for
/// readers itself; none when another goroutine's release let it go.
fn held_ns(w: &LockWait) -> Option<u64> {
    let r = w.released.as_ref()?;
    // The releaser's own acquisition: a later holder's, else the holder's.
    if let Some(later) = w.later_holders.iter().rev().find(|l| l.goid == r.goid) {
        return since(later.time_ns, r.time_ns);
    }
    let h = w.holder.as_ref()?;
    if h.goid != r.goid {
        return None;
    }
    let from = w.holder_got.as_ref().map_or(h.time_ns, |g| g.time_ns);
    since(from, r.time_ns)
}

/// "; then by goroutine 8 in F at L from t=+0.153s (#612)": a mutex handed
/// on while the waiter waited.
fn later_holders(idx: &GoIndex, w: &LockWait) -> String {
    let list: Vec<String> = w
        .later_holders
        .iter()
        .map(|l| {
            format!(
                "goroutine {}{} from t=+{} (#{})",
                l.goid,
                place(l.function.as_deref(), l.location.as_deref()),
                secs(since(idx.start(), l.time_ns), 3),
                l.event
            )
        })
        .collect();
    match list.as_slice() {
        [] => String::new(),
        _ => format!("; then by {}", list.join(", then by ")),
    }
}

/// The writer a reader queued behind, if it never got the lock: its own
/// wait for readers (a reader holding it while waiting on the writer is a
/// deadlock).
fn writer_never_got<'a>(idx: &'a GoIndex, w: &LockWait) -> Option<&'a LockWait> {
    let h = w.holder.as_ref()?;
    idx.lock_waits.iter().find(|x| {
        x.kind == LockKind::RwmutexWrite
            && x.mutex == w.mutex
            && x.waiter == h.goid
            && x.event >= h.event
            && x.released.is_none()
    })
}

/// "mutex main.stateMu" for a global, else the mutex's address;
/// "RWMutex …" and whether the waiter wanted to read or write.
pub(super) fn mutex_label(w: &LockWait) -> String {
    let how = match w.kind {
        LockKind::Mutex => "",
        LockKind::RwmutexWrite => " (to write)",
        LockKind::RwmutexRead => " (to read)",
    };
    format!("{}{how}", lock_name(w))
}

/// "mutex main.stateMu", "RWMutex main.tableMu", or the address.
fn lock_name(w: &LockWait) -> String {
    let what = match w.kind {
        LockKind::Mutex => "mutex",
        LockKind::RwmutexWrite | LockKind::RwmutexRead => "RWMutex",
    };
    match &w.mutex_name {
        Some(n) => format!("{what} {n}"),
        None => format!("the {what} at {:#x}", w.mutex),
    }
}

/// " in F at FILE:LINE", as far as known.
fn place(function: Option<&str>, location: Option<&str>) -> String {
    match (function, location) {
        (Some(f), Some(l)) => format!(" in {f} at {l}"),
        (Some(f), None) => format!(" in {f}"),
        _ => String::new(),
    }
}

/// Who held a waited-for mutex: "held by goroutine 7, which locked it in
/// main.worker at main.go:70 at t=+0.107s (#519)".
/// A writer waiting for readers: "read-locked by goroutine 7, which …
/// (and by goroutines 9, 12)".
pub(super) fn held_by(idx: &GoIndex, w: &LockWait) -> String {
    let (held, locked) = match w.kind {
        LockKind::Mutex => ("held", "locked"),
        LockKind::RwmutexWrite => ("read-locked", "read-locked"),
        LockKind::RwmutexRead => ("write-locked", "locked"),
    };
    let others = match w.other_holders.as_slice() {
        [] => String::new(),
        more => format!(
            " (and by goroutine{} {})",
            if more.len() == 1 { "" } else { "s" },
            more.iter()
                .map(|o| o.goid.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let Some(h) = &w.holder else {
        return "its holder locked it before rrgo could see (not known)".into();
    };
    let at = |step: &super::goindex::LockStep| {
        format!(
            "t=+{} (#{})",
            secs(since(idx.start(), step.time_ns), 3),
            step.event
        )
    };
    let last = w.kind == LockKind::RwmutexWrite
        && w.released.as_ref().is_some_and(|r| r.goid == h.goid)
        && !w.other_holders.is_empty();
    let whom = if last {
        format!("goroutine {} (the last reader to leave)", h.goid)
    } else {
        format!("goroutine {}", h.goid)
    };
    let place = place(h.function.as_deref(), h.location.as_deref());
    if w.kind == LockKind::RwmutexRead {
        if let Some(wait) = writer_never_got(idx, w) {
            let mut readers: Vec<u64> = wait
                .holder
                .iter()
                .chain(&wait.other_holders)
                .map(|r| r.goid)
                .collect();
            readers.dedup();
            let list = readers
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let deadlock = if readers.contains(&w.waiter) {
                format!(
                    " — a deadlock: goroutine {} holds a read lock itself",
                    w.waiter
                )
            } else {
                String::new()
            };
            return format!(
                "goroutine {} asked to write-lock it{place} at {} and never got it: it waits \
                 for the readers (goroutine{} {list}){deadlock}",
                h.goid,
                at(h),
                if readers.len() == 1 { "" } else { "s" }
            );
        }
    }
    let later = later_holders(idx, w);
    match &w.holder_got {
        // A reader queued behind a writer, and got it when the writer left.
        Some(got) if w.kind == LockKind::RwmutexWrite => format!(
            "{held} by {whom}, which asked to read-lock it{place} at {} and got it at {}, \
             when goroutine {} unlocked it{others}",
            at(h),
            at(got),
            got.goid
        ),
        // The writer asked while readers held it, and got it later.
        Some(got) => format!(
            "{held} by {whom}, which asked for it{place} at {} and got it at {}, \
             when goroutine {} read-unlocked it{others}",
            at(h),
            at(got),
            got.goid
        ),
        None => format!(
            "{held} by {whom}, which {locked} it{place} at {}{others}{later}",
            at(h)
        ),
    }
}

/// "; unlocked by goroutine 7 in F at L at t=+2.1s (#3312), held 2.1s".
pub(super) fn unlocked(idx: &GoIndex, w: &LockWait) -> String {
    let Some(r) = &w.released else {
        return "; not unlocked before the recording ends".into();
    };
    let held = held_ns(w)
        .map(|ns| format!(", held {}", secs(Some(ns), 3)))
        .unwrap_or_default();
    let how = if w.kind == LockKind::RwmutexWrite {
        "read-unlocked"
    } else {
        "unlocked"
    };
    format!(
        "; {how} by goroutine {}{} at t=+{} (#{}){held}",
        r.goid,
        place(r.function.as_deref(), r.location.as_deref()),
        secs(since(idx.start(), r.time_ns), 3),
        r.event
    )
}

/// "woken by goroutine 7 in main.worker at main.go:82", or by a part of
/// the runtime (a timer, the network poller) when no goroutine did.
pub(super) fn woken_by(w: &Waker) -> String {
    if let Some(io) = &w.io {
        return format!(
            "woken by the network poller: fd {} ready to {}",
            io.fd, io.ready_for
        );
    }
    let at = place(w.function.as_deref(), w.location.as_deref());
    match (w.goid, w.function.as_deref()) {
        (Some(g), _) => format!("woken by goroutine {g}{at}"),
        (None, Some("runtime.goroutineReady")) => "woken by its sleep's timer".into(),
        (None, Some("time.sendTime")) => {
            "woken by a timer sending on its channel (time.After, NewTimer or Tick)".into()
        }
        (None, Some("time.goFunc")) => "woken by a time.AfterFunc timer".into(),
        (None, _) => format!("woken by the runtime{at}"),
    }
}

/// A sleep's deadline: " until t=+0.212s (for 0.200s)".
pub(super) fn sleep_until(idx: &GoIndex, t: &Transition) -> String {
    match t.until_ns {
        Some(until) => format!(
            " until t=+{} (for {})",
            secs(since(idx.start(), Some(until)), 3),
            secs(since(t.time_ns, Some(until)), 3)
        ),
        None => String::new(),
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
    /// For a wait on a sync.Mutex: the mutex, its holder and its release.
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<LockInfo>,
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
    /// The goroutine running on that thread when it came.
    goroutine: Option<u64>,
    /// Who sent it ("kill() from pid N", "the kernel"), from its siginfo.
    sender: String,
    sender_pid: Option<i32>,
    si_code: i32,
    /// The goroutine that handled it: the one that received it from
    /// os/signal's channel, or the one woken from `ctx.Done()` of
    /// `signal.NotifyContext` (none when not known).
    handler_goroutine: Option<u64>,
    steps: Vec<Step>,
    /// From the signal until the goroutine that received it finished or
    /// waited for the next one (none if it never did).
    handled_ns: Option<u64>,
    /// What `handled_ns` was spent on, in order (empty without a total).
    breakdown: Vec<Part>,
}

/// A part of a signal's handling time.
#[derive(Serialize)]
struct Part {
    what: String,
    duration_ns: Option<u64>,
}

impl Part {
    fn new(what: &str, duration_ns: Option<u64>) -> Part {
        Part {
            what: what.to_string(),
            duration_ns,
        }
    }
}

impl Step {
    fn new(s: &SignalSeen, event: u64, time_ns: Option<u64>, what: String) -> Step {
        Step {
            event,
            time_ns,
            since_signal_ns: since(s.time_ns, time_ns),
            duration_ns: None,
            what,
            lock: None,
        }
    }
}

/// A goroutine that can receive a signal from os/signal's channel: the
/// program's, or `signal.NotifyContext`'s own (which cancels its context).
fn is_user(t: &Transition) -> bool {
    t.function.as_deref().is_some_and(|f| {
        (!f.starts_with("os/signal.") || is_notify_context(f)) && !f.starts_with("runtime.")
    })
}

/// `signal.NotifyContext`'s goroutine: it receives the signal and cancels
/// the context; the goroutine waiting on `ctx.Done()` handles it.
fn is_notify_context(function: &str) -> bool {
    function.starts_with("os/signal.NotifyContext")
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

/// How os/signal handed a signal on: the loop goroutine's wake, whether
/// that wake may be another signal's, when the loop waited again, the
/// goroutine that received it, and the next signal of the program's.
struct Delivery<'a> {
    looped: Option<&'a Transition>,
    ambiguous: Option<(&'a Transition, &'a SignalSeen)>,
    loop_done: Option<u64>,
    receiver: Option<&'a Transition>,
    next_signal: Option<&'a SignalSeen>,
}

fn delivery<'a>(idx: &'a GoIndex, s: &SignalSeen) -> Delivery<'a> {
    let after: Vec<&'a Transition> = idx
        .transitions
        .iter()
        .filter(|t| t.event >= s.event)
        .collect();
    // The os/signal loop goroutine leaves its syscall (notetsleepg) when sigsend wakes it.
    let looped = after.iter().find(|t| {
        t.function
            .as_deref()
            .is_some_and(|f| f.starts_with("os/signal."))
            && t.state != "syscall"
    });
    // A loop wake after another signal came may be that one's: the loop
    // takes pending signals by number, not by arrival.
    let next_signal = idx
        .signals
        .iter()
        .find(|x| x.event > s.event && !super::goindex::runtime_signal(x.signo));
    let (looped, ambiguous) = match (looped, next_signal) {
        (Some(l), Some(n)) if l.event > n.event => (None, Some((l, n))),
        (l, _) => (l, None),
    };
    // Until the loop waits again: what it did for this signal.
    let loop_done = looped.and_then(|l| {
        after
            .iter()
            .find(|t| {
                t.goid == l.goid
                    && t.event > l.event
                    && (t.state == "syscall" || t.state.starts_with("waiting"))
            })
            .map(|t| t.event)
    });
    let loops: Vec<u64> = idx
        .created
        .iter()
        .filter(|c| c.entry == "os/signal.loop")
        .map(|c| c.goid)
        .collect();
    // The receiver: a goroutine leaving a channel wait into the runnable
    // state, woken by the loop while it handed this signal on (a receiver
    // not waiting then takes it later from the channel's buffer, unseen).
    let receiver = after.iter().find(|t| {
        ambiguous.is_none()
            && t.state == "runnable"
            && is_user(t)
            && loop_done.is_none_or(|end| t.event <= end)
            // A wake after the next signal came may be for that one.
            && next_signal.is_none_or(|n| t.event < n.event)
            && match (looped, &t.woken_by) {
                (Some(l), Some(w)) => w.goid == Some(l.goid),
                (Some(_), None) => true,
                // The loop's wake unseen: only its own wake-up of a
                // receiver tells (any goroutine leaving a receive is not).
                (None, Some(w)) => w.goid.is_some_and(|g| loops.contains(&g)),
                (None, None) => false,
            }
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
    Delivery {
        looped: looped.copied(),
        ambiguous: ambiguous.map(|(l, n)| (*l, n)),
        loop_done,
        receiver: receiver.copied(),
        next_signal,
    }
}

/// A wake-up by a `signal.NotifyContext` goroutine after `s` (and before
/// the program's next signal): that goroutine and the goroutine woken.
fn notify_cancel<'a>(
    idx: &'a GoIndex,
    s: &SignalSeen,
    next: Option<&SignalSeen>,
) -> Option<(u64, &'a Transition)> {
    let notifiers: Vec<u64> = idx
        .created
        .iter()
        .filter(|c| is_notify_context(&c.entry))
        .map(|c| c.goid)
        .collect();
    idx.transitions
        .iter()
        .filter(|t| t.event >= s.event && next.is_none_or(|n| t.event < n.event))
        .find_map(|t| {
            let by = t.woken_by.as_ref()?.goid?;
            (t.state == "runnable" && t.goid != by && notifiers.contains(&by)).then_some((by, t))
        })
}

/// For a signal no receiver woke for: the signal before it, whose receiver
/// had not come back to its receive when this one came, that receiver's
/// receive, and when it is next seen waiting there.
fn busy_receiver<'a>(
    idx: &'a GoIndex,
    s: &SignalSeen,
) -> Option<(&'a SignalSeen, &'a Transition, Option<&'a Transition>)> {
    let p = idx
        .signals
        .iter()
        .rev()
        .find(|x| x.event < s.event && !super::goindex::runtime_signal(x.signo))?;
    let r = delivery(idx, p).receiver?;
    let at_receive = |t: &&Transition| {
        t.goid == r.goid
            && t.event > r.event
            && t.location == r.location
            && (t.state.starts_with("waiting: chan receive")
                || t.state.starts_with("waiting: select"))
    };
    let back = idx.transitions.iter().find(at_receive);
    match back {
        Some(b) if b.event <= s.event => None,
        _ => Some((p, r, back)),
    }
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
    let Delivery {
        looped,
        ambiguous,
        loop_done,
        receiver,
        next_signal,
    } = delivery(idx, s);
    if let Some((l, n)) = ambiguous {
        steps.push(Step::new(
            s,
            l.event,
            l.time_ns,
            format!(
                "the os/signal loop (goroutine {}) woke only after {} (#{}) came too: which \
                 goroutine took this one is not known (a receiver that was busy takes it \
                 later from its channel's buffer, unseen)",
                l.goid,
                name(n.signo),
                n.event
            ),
        ));
    }
    if let Some(l) = looped {
        steps.push(Step::new(
            s,
            l.event,
            l.time_ns,
            format!("os/signal loop (goroutine {}) woke", l.goid),
        ));
    }
    // Said where the loop waits again, else where the next signal came,
    // else where it woke (the loop's own waits not seen).
    let until = loop_done
        .or(next_signal.map(|n| n.event))
        .or(looped.map(|l| l.event));
    // signal.NotifyContext's goroutine, not yet at its select when the
    // signal came, takes it from its channel unseen: its cancel's wake-up
    // (nothing else of it wakes anyone) shows that it did.
    let unseen_cancel = match (receiver, ambiguous) {
        (None, None) => notify_cancel(idx, s, next_signal),
        _ => None,
    };
    if let (None, None, Some(l), Some(end)) = (receiver, unseen_cancel, looped, until) {
        let at = after.iter().rev().find(|t| t.event <= end);
        let what = match busy_receiver(idx, s) {
            Some((p, r, back)) => format!(
                "the os/signal loop (goroutine {}) woke no receiver: goroutine {}, still \
                 handling {} (#{}), was not at its receive; it takes this signal from its \
                 channel's buffer when it next receives, which leaves no trace{}",
                l.goid,
                r.goid,
                name(p.signo),
                p.event,
                back.map(|b| format!(
                    " (it is next seen waiting at its receive at t={} (#{}))",
                    secs(since(idx.start(), b.time_ns), 3),
                    b.event
                ))
                .unwrap_or_default()
            ),
            None => format!(
                "the os/signal loop (goroutine {}) woke no receiver: none was waiting, so the \
                 signal stays in a channel's buffer until received (or was dropped: a full \
                 channel)",
                l.goid
            ),
        };
        steps.push(Step::new(s, end, at.and_then(|t| t.time_ns), what));
    }
    // A later signal nobody was waiting for may be this receiver's next:
    // where it takes that one from its channel is not seen, so its waits
    // from then on may be for either.
    let overlapped = next_signal.filter(|n| {
        let d = delivery(idx, n);
        d.receiver.is_none() && d.ambiguous.is_none()
    });
    let loop_woke = steps
        .last()
        .filter(|st| st.what.starts_with("os/signal loop"));
    let loop_ns = loop_woke.and_then(|st| st.time_ns);
    let mut parts: Vec<Part> = Vec::new();
    let mut handled: Option<Option<u64>> = None;
    if loop_ns.is_some() && (receiver.is_some() || unseen_cancel.is_some()) {
        parts.push(Part::new(
            "to the os/signal loop",
            since(s.time_ns, loop_ns),
        ));
    }
    let first = match (receiver, unseen_cancel) {
        (Some(r), _) => {
            parts.push(Part::new(
                &format!("to goroutine {}", r.goid),
                since(loop_ns.or(s.time_ns), r.time_ns),
            ));
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
            Some(r)
        }
        (None, Some((g, h))) => {
            parts.push(Part::new(
                &format!("to goroutine {} (ctx.Done)", h.goid),
                since(loop_ns.or(s.time_ns), h.time_ns),
            ));
            steps.push(Step::new(
                s,
                h.event,
                h.time_ns,
                format!(
                    "goroutine {g} (signal.NotifyContext's), not yet waiting when the signal \
                     came, took it from its channel (unseen) and cancelled the context: \
                     goroutine {} woke from ctx.Done() in {} at {}",
                    h.goid,
                    h.function.clone().unwrap_or_default(),
                    h.location.clone().unwrap_or_default()
                ),
            ));
            Some(h)
        }
        (None, None) => None,
    };
    // A goroutine woken from ctx.Done() goes on with the program: its waits
    // are followed up to the program's next signal.
    let mut follow_end = unseen_cancel.and(next_signal.map(|n| n.event));
    let mut handler = first.map(|r| r.goid);
    if let Some(r) = first {
        // NotifyContext's goroutine cancels the context: the goroutine
        // that wakes from `ctx.Done()` is the one handling the signal.
        let mut r: &Transition = r;
        if r.function.as_deref().is_some_and(is_notify_context) {
            let woke = after.iter().find(|t| {
                t.event >= r.event
                    && t.goid != r.goid
                    && t.state == "runnable"
                    && t.woken_by.as_ref().is_some_and(|w| w.goid == Some(r.goid))
            });
            if let Some(h) = woke {
                parts.push(Part::new(
                    &format!("to goroutine {} (ctx.Done)", h.goid),
                    since(r.time_ns, h.time_ns),
                ));
                steps.push(Step::new(
                    s,
                    h.event,
                    h.time_ns,
                    format!(
                        "goroutine {} (signal.NotifyContext's) cancelled the context: goroutine \
                         {} woke from ctx.Done() in {} at {}",
                        r.goid,
                        h.goid,
                        h.function.clone().unwrap_or_default(),
                        h.location.clone().unwrap_or_default()
                    ),
                ));
                r = h;
                handler = Some(h.goid);
                follow_end = next_signal.map(|n| n.event);
            }
        }
        // What it did next, from the transition after r (more may be
        // noted at r's own event: woken and already waiting on a lock).
        let next = after
            .iter()
            .position(|t| std::ptr::eq(*t, r))
            .map_or(after.len(), |i| i + 1);
        let mine: Vec<&&Transition> = after[next..].iter().filter(|t| t.goid == r.goid).collect();
        for (i, t) in mine.iter().enumerate() {
            if follow_end.is_some_and(|end| t.event > end) {
                break;
            }
            if let Some(n) = overlapped.filter(|n| t.event > n.event) {
                steps.push(Step::new(
                    s,
                    n.event,
                    n.time_ns,
                    format!(
                        "{} came (#{}) while goroutine {} was still handling this signal: \
                         what it waits for from here on may be either's (it takes a signal \
                         waiting in its channel without a trace), so where this one's \
                         handling ends is not known",
                        name(n.signo),
                        n.event,
                        r.goid
                    ),
                ));
                break;
            }
            let again = (t.state.starts_with("waiting: chan receive")
                || t.state.starts_with("waiting: select"))
                && t.location == r.location;
            if again {
                // Back at the receive: this signal is handled.
                handled = Some(t.time_ns);
                steps.push(Step::new(
                    s,
                    t.event,
                    t.time_ns,
                    format!("goroutine {} waits for the next signal again", r.goid),
                ));
                break;
            }
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
                let wait = idx.lock_wait(t);
                let of = wait
                    .map(|w| format!(" for {}", mutex_label(w)))
                    .unwrap_or_default();
                let mut what = format!(
                    "goroutine {} waited{how_long}: {reason}{of} in {} at {}",
                    r.goid,
                    t.function.clone().unwrap_or_default(),
                    t.location.clone().unwrap_or_default()
                );
                let woke = end.and_then(|e| e.woken_by.as_ref());
                match (wait, woke) {
                    (Some(w), _) => {
                        let _ = write!(what, "; {}", held_by(idx, w));
                    }
                    (None, Some(by)) => {
                        let _ = write!(what, "; {}", woken_by(by));
                    }
                    (None, None) if !others.is_empty() => {
                        let _ = write!(what, "; meanwhile running: {}", others.join("; "));
                    }
                    (None, None) => {}
                }
                let for_what = match wait {
                    Some(w) => format!(
                        "waiting for {}{}",
                        mutex_label(w),
                        w.holder
                            .as_ref()
                            .map(|h| format!(
                                " (held by goroutine {}{}{})",
                                h.goid,
                                place(h.function.as_deref(), h.location.as_deref()),
                                w.later_holders
                                    .iter()
                                    .map(|l| format!(", then goroutine {}", l.goid))
                                    .collect::<String>()
                            ))
                            .unwrap_or_default()
                    ),
                    None => format!("waiting: {reason}"),
                };
                parts.push(Part::new(&for_what, waited));
                steps.push(Step {
                    duration_ns: waited,
                    lock: wait.map(LockInfo::new),
                    ..Step::new(s, t.event, t.time_ns, what)
                });
                if let Some((w, rel)) = wait.and_then(|w| Some((w, w.released.as_ref()?))) {
                    let how = if w.kind == LockKind::RwmutexWrite {
                        "read-unlocked"
                    } else {
                        "unlocked"
                    };
                    let mut what = format!(
                        "goroutine {} {how} {}{}",
                        rel.goid,
                        lock_name(w),
                        place(rel.function.as_deref(), rel.location.as_deref())
                    );
                    if let Some(held) = held_ns(w) {
                        let _ = write!(what, ", after holding it {}", secs(Some(held), 3));
                    }
                    steps.push(Step::new(s, rel.event, rel.time_ns, what));
                }
            } else if t.state == "dead" {
                let what = format!(
                    "goroutine {} finished, {} after the signal",
                    r.goid,
                    secs(since(s.time_ns, t.time_ns), 3)
                );
                steps.push(Step::new(s, t.event, t.time_ns, what));
                handled = Some(t.time_ns);
                break;
            }
        }
    }
    // What the handling's total is made of; the rest of it the receiver
    // was running or runnable.
    let handled_ns = handled.and_then(|end| since(s.time_ns, end));
    if let Some(total) = handled_ns {
        let known: u64 = parts.iter().filter_map(|p| p.duration_ns).sum();
        if parts.iter().all(|p| p.duration_ns.is_some()) && known <= total {
            parts.push(Part::new("running or runnable", Some(total - known)));
        }
    } else {
        parts.clear();
    }
    steps.sort_by_key(|st| st.event);
    Story {
        signal: name(s.signo),
        event: s.event,
        time_ns: s.time_ns,
        since_start_ns: since(idx.start(), s.time_ns),
        wall_time_ns: s.wall_time_ns,
        thread: s.thread,
        goroutine: s.goroutine,
        sender: sender(s.si_code, s.sender_pid),
        // A process sent it (SI_USER, SI_QUEUE, SI_TKILL…: codes ≤ 0).
        sender_pid: (s.si_code <= 0).then_some(s.sender_pid),
        si_code: s.si_code,
        handler_goroutine: handler,
        steps,
        handled_ns,
        breakdown: parts,
    }
}

pub fn run(dir: &std::path::Path, json: bool) -> Result<i32> {
    // The command ends the process: freeing the index's hundreds of
    // thousands of strings first took 3–4% of a first query.
    let idx = std::mem::ManuallyDrop::new(super::goindex::load_or_build(dir)?);
    idx.require_goroutines()?;
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
    print!("{}", render(&idx, &stories, preemptions));
    Ok(0)
}

/// The text `--signals` prints.
pub fn text(idx: &GoIndex) -> String {
    let stories: Vec<Story> = idx
        .signals
        .iter()
        .filter(|s| s.signo != 23)
        .map(|s| story(idx, s))
        .collect();
    let preemptions = idx.signals.iter().filter(|s| s.signo == 23).count();
    render(idx, &stories, preemptions)
}

fn render(idx: &GoIndex, stories: &[Story], preemptions: usize) -> String {
    let mut out = String::new();
    let at = |t: Option<u64>| format!("t=+{}", secs(since(idx.start(), t), 3));
    for st in stories {
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
            st.sender,
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
        if st.handled_ns.is_some() && !st.breakdown.is_empty() {
            let parts: Vec<String> = st
                .breakdown
                .iter()
                .map(|p| format!("{} {}", secs(p.duration_ns, 3), p.what))
                .collect();
            let _ = writeln!(
                out,
                "  handled in {} = {}",
                secs(st.handled_ns, 3),
                parts.join(" + ")
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
    out
}

#[cfg(test)]
mod tests {
    use super::name;

    /// Every standard signal by its name (timeout(1)'s SIGCONT was "signal 18").
    #[test]
    fn signals_are_named_as_the_kernel_names_them() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(18), "SIGCONT");
        assert_eq!(name(19), "SIGSTOP");
        assert_eq!(name(40), "signal 40");
    }
}
