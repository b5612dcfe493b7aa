//! Tests that pin down individual record/replay mechanisms: each would fail
//! if the mechanism it names were missing.

mod common;

use std::io::BufReader;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use trace_format::{EventKind, TraceReader, TraceWriter, WriterOptions};

/// Replay re-executes the program: a variable read from the replayed
/// process's memory at the moment it printed equals what it printed.
#[test]
fn replayed_memory_holds_what_the_program_printed() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "racecounter"), &[]);
    let printed = text(&rec.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("counter = ").map(|v| v.trim().to_string()))
        .expect("racecounter prints `counter = N`");
    // The event at which the program's last stdout write returned.
    let at = event_with(&s, &trace, "to Stdout", true);
    let out = s.run(&[
        "replay",
        trace.to_str().unwrap(),
        "--at",
        &at,
        "--print",
        "main.counter",
    ]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("main.counter = {printed}"),
        "{}",
        text(&out.stderr)
    );
    // And at the start the variable is still zero: the value is computed by the replay.
    let out = s.run(&[
        "replay",
        trace.to_str().unwrap(),
        "--at",
        "3",
        "--print",
        "main.counter",
    ]);
    assert_eq!(text(&out.stdout).trim(), "main.counter = 0");
}

/// Copies a trace, letting `edit` change events on the way.
fn rewrite_trace(
    from: &std::path::Path,
    to: &std::path::Path,
    edit: impl FnMut(&mut EventKind) -> bool,
) -> bool {
    rewrite_trace_with(from, to, |_| {}, None, edit)
}

/// `rewrite_trace`, also letting `edit_header` change the header, and
/// inserting an event (`insert`: after the event of that time).
fn rewrite_trace_with(
    from: &std::path::Path,
    to: &std::path::Path,
    edit_header: impl FnOnce(&mut trace_format::Header),
    insert: Option<(u64, EventKind, trace_format::RecTid)>,
    mut edit: impl FnMut(&mut EventKind) -> bool,
) -> bool {
    let mut edited = false;
    rewrite_trace_events(from, to, edit_header, |events| {
        edited = events.iter_mut().any(|e| edit(&mut e.kind));
        if let Some((after, kind, tid)) = insert {
            let at = events.iter().position(|e| e.time.0 == after).unwrap() + 1;
            let time = events[at - 1].time;
            events.insert(at, trace_format::Event { time, tid, kind });
        }
    });
    edited
}

/// A copy of the trace at `from` with `edit_header` applied to its header
/// and `edit` to its whole list of events (times are given anew in the
/// list's order).
fn rewrite_trace_events(
    from: &std::path::Path,
    to: &std::path::Path,
    edit_header: impl FnOnce(&mut trace_format::Header),
    edit: impl FnOnce(&mut Vec<trace_format::Event>),
) {
    let r = TraceReader::open(from).unwrap();
    let mut header = r.header().clone();
    edit_header(&mut header);
    let exe = r.stored_file_path(&header.exe);
    let mut files: Vec<_> = r.stored_files().to_vec();
    files.sort_by_key(|f| f.id);
    let staging = tempfile::tempdir().unwrap();
    let mut w = TraceWriter::create_with(to, WriterOptions::default(), |store| {
        for f in &files {
            // Stored names are <hash>-<original basename>: store from a file of that name.
            let base = String::from_utf8_lossy(&f.original_path)
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let src = staging.path().join(format!("{}-{base}", f.id.0));
            std::fs::create_dir_all(&src).unwrap();
            let src = src.join(base);
            std::fs::copy(r.stored_file_path(f), &src).unwrap();
            let stored = store.store(&src, f.build_id.clone())?;
            assert_eq!((stored.id, &stored.stored_name), (f.id, &f.stored_name));
        }
        let _ = &exe;
        Ok::<_, trace_format::TraceError>(header.clone())
    })
    .unwrap();
    let mut events: Vec<_> = r.events().map(|e| e.unwrap()).collect();
    edit(&mut events);
    for e in events {
        w.append(e.kind, e.tid).unwrap();
    }
    w.finish().unwrap();
}

/// Bytes a replay sends differently from the recording are a divergence
/// (exit 4) naming the call, not a different output with exit 0: every
/// sending call carries a digest of what it sent.
#[test]
fn bytes_sent_differently_are_a_divergence() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "nondet"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let bad = s.path().join("bad");
    // crypto/rand's bytes, which nondet prints in hex: only the output differs.
    let edited = rewrite_trace(&trace, &bad, |k| match k {
        EventKind::SyscallExit { nr, writes, .. }
            if *nr == libc::SYS_getrandom && !writes.is_empty() =>
        {
            writes[0].data[0] ^= 0x5a;
            true
        }
        _ => false,
    });
    assert!(edited, "nondet made no getrandom syscall");
    let rep = s.replay(&bad);
    let err = text(&rep.stderr);
    assert_eq!(rep.status.code(), Some(4), "{err}");
    assert!(
        err.contains("replay diverged") && err.contains("write to send bytes with digest"),
        "{err}"
    );
}

/// A changed syscall result must make replay diverge or differ, never pass silently.
#[test]
fn corrupted_syscall_result_is_not_replayed_silently() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "nondet"), &[]);
    let bad = s.path().join("bad");
    let edited = rewrite_trace(&trace, &bad, |k| match k {
        EventKind::SyscallExit { nr, writes, .. }
            if *nr == libc::SYS_getrandom && !writes.is_empty() =>
        {
            for b in writes[0].data.iter_mut() {
                *b ^= 0x5a;
            }
            true
        }
        _ => false,
    });
    assert!(
        edited,
        "nondet made no getrandom syscall (is the vDSO hidden?)"
    );
    // The untouched copy still replays exactly (the rewrite itself is faithful)...
    let good = s.path().join("good");
    rewrite_trace(&trace, &good, |_| false);
    assert_same("unchanged copy", &rec, &s.replay(&good));
    // ...the corrupted one does not.
    let rep = s.replay(&bad);
    let diverged = rep.status.code() == Some(4) && text(&rep.stderr).contains("replay diverged");
    assert!(
        diverged || rep.stdout != rec.stdout,
        "a corrupted getrandom result replayed unnoticed"
    );
}

/// Replay runs on the CPU the recording ran on: CPUID (which these VMs
/// cannot trap) reports a per-CPU APIC id that Go's startup code leaves in a
/// register, so replaying on another CPU must be caught as a divergence.
#[test]
fn replay_pins_to_the_recorded_cpu() {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cpus < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "hello"), &[]);
    let recorded_cpu = TraceReader::open(&trace).unwrap().header().host.pinned_cpu;
    let same = s.path().join("same");
    rewrite_trace_with(&trace, &same, |_| {}, None, |_| false);
    assert_same("same CPU", &rec, &s.replay(&same));
    let other = s.path().join("other");
    rewrite_trace_with(
        &trace,
        &other,
        |h| h.host.pinned_cpu = 1 - recorded_cpu.min(1),
        None,
        |_| false,
    );
    let rep = s.replay(&other);
    assert_eq!(
        rep.status.code(),
        Some(4),
        "replay on another CPU was not caught: {}",
        text(&rep.stderr)
    );
    assert!(
        text(&rep.stderr).contains("replay diverged"),
        "{}",
        text(&rep.stderr)
    );
}

/// The vDSO is patched: clock reads go through rrgo's clock page and reach
/// the trace as `ClockReads` events, randomness falls back to getrandom
/// syscalls. AT_RANDOM is recorded.
#[test]
fn clock_reads_go_through_the_clock_page_and_randomness_through_syscalls() {
    let s = Scratch::new();
    let (_, trace) = s.record("t", &example(&newest(), "nondet"), &[]);
    let r = TraceReader::open(&trace).unwrap();
    let mut nrs = Vec::new();
    let mut clock_reads = 0;
    let mut state_only = 0;
    let mut first_reads = None;
    for e in r.events() {
        let e = e.unwrap();
        match e.kind {
            EventKind::SyscallEntry { nr, .. } => nrs.push(nr),
            EventKind::ClockReads { entries } => {
                // Stored as deltas (format 6), read back as the timespecs
                // the program got: whole, normalized, plausible times.
                assert_eq!(entries.len() % 16, 0);
                for t in entries.chunks_exact(16) {
                    let sec = i64::from_le_bytes(t[..8].try_into().unwrap());
                    let nsec = i64::from_le_bytes(t[8..].try_into().unwrap());
                    assert!((0..1_000_000_000).contains(&nsec), "{sec}.{nsec}");
                    assert!((0..4_000_000_000).contains(&sec), "{sec}.{nsec}");
                }
                clock_reads += entries.len() / 16;
                first_reads.get_or_insert((e.time, entries));
            }
            EventKind::SyscallExit {
                nr,
                extra: trace_format::SyscallExtra::ResultNotRecorded,
                ..
            } => {
                assert!(
                    [
                        libc::SYS_rt_sigaction,
                        libc::SYS_rt_sigprocmask,
                        libc::SYS_sigaltstack
                    ]
                    .contains(&nr),
                    "{nr} skipped its exit stop"
                );
                state_only += 1;
            }
            _ => {}
        }
    }
    assert!(clock_reads > 0, "no clock reads in the trace");
    // `rrgo dump --json` shows the raw timespecs, not their stored form.
    let (at, entries) = first_reads.unwrap();
    let out = s.run(&[
        "dump",
        trace.to_str().unwrap(),
        "--json",
        "--from",
        &at.0.to_string(),
        "--count",
        "1",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown: Vec<u8> = v["kind"]["ClockReads"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(shown, entries);
    // Signal state is re-created by replay: those calls took one stop each.
    assert!(
        state_only > 50,
        "only {state_only} calls without an exit stop"
    );
    assert!(
        !nrs.contains(&libc::SYS_clock_gettime),
        "Go's clock reads should not be syscalls"
    );
    assert!(
        nrs.contains(&libc::SYS_getrandom),
        "no getrandom syscall: the vDSO's getrandom was used"
    );
    // AT_RANDOM is recorded in the header and the first event; the vDSO patched.
    let first = r.events().next().unwrap().unwrap();
    match first.kind {
        EventKind::Exec {
            auxv_random, vdso, ..
        } => {
            assert_eq!(auxv_random, r.header().auxv_random);
            assert!(matches!(vdso, trace_format::VdsoSetup::Patched { .. }));
        }
        k => panic!("first event is {}", k.name()),
    }
    assert_ne!(r.header().auxv_random, [0; 16]);
}

/// Replay hands the program the clock values of the trace, read by the
/// program's own (re-executed) code from the clock page: shifting every
/// recorded wall-clock value by 1000 s shifts the time the replay computes
/// by exactly that — and, since that makes the program print other bytes
/// than it did, the replay diverges at that write, showing them. (Monotonic
/// values stay: the runtime keeps those in registers, where a change is a
/// divergence.)
#[test]
fn replayed_clock_reads_come_from_the_trace() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "nondet"), &[]);
    let shifted = s.path().join("shifted");
    rewrite_trace_with(
        &trace,
        &shifted,
        |_| {},
        None,
        |k| {
            if let EventKind::ClockReads { entries } = k {
                for ts in entries.chunks_exact_mut(16) {
                    let sec = i64::from_le_bytes(ts[..8].try_into().unwrap());
                    // CLOCK_REALTIME (seconds since 1970), not time since boot.
                    if sec > 1_000_000_000 {
                        ts[..8].copy_from_slice(&(sec + 1000).to_le_bytes());
                    }
                }
            }
            false
        },
    );
    let rep = s.replay(&shifted);
    let err = text(&rep.stderr);
    assert_eq!(rep.status.code(), Some(4), "{err}");
    assert!(err.contains("expected write to send bytes"), "{err}");
    let unix_ns = |out: &str| -> i64 {
        logged_number(out, "unix-ns").unwrap_or_else(|| panic!("no time in {out}")) as i64
    };
    assert_eq!(
        unix_ns(&err),
        unix_ns(&text(&rec.stdout)) + 1_000_000_000_000
    );
}

/// A clock read missing from the trace is a divergence, not a made-up time.
#[test]
fn a_missing_clock_read_is_a_divergence() {
    let s = Scratch::new();
    let (_, trace) = s.record("t", &example(&newest(), "nondet"), &[]);
    let short = s.path().join("short");
    let edited = rewrite_trace_with(
        &trace,
        &short,
        |_| {},
        None,
        |k| match k {
            EventKind::ClockReads { entries } if entries.len() >= 32 => {
                entries.truncate(entries.len() - 16);
                true
            }
            _ => false,
        },
    );
    assert!(edited, "no ClockReads event with two reads");
    let rep = s.replay(&short);
    assert_eq!(rep.status.code(), Some(4), "{}", text(&rep.stderr));
    assert!(
        text(&rep.stderr).contains("replay diverged"),
        "{}",
        text(&rep.stderr)
    );
}

/// A stop inside the clock page's code (a preemption, a signal) is moved to
/// a safe point by single steps before it is recorded: the page's record
/// and replay paths differ there. Since the page's clock-buffer stops hand
/// the CPU over (session 31), preemptions seldom land in the page, so
/// clockspin runs under CPU profiling: its SIGPROF comes mostly at the exit
/// of a clock read's syscall, inside the page (38-43 steps out per run;
/// without profiling 0 in most runs).
#[test]
fn stops_inside_the_clock_page_are_moved_out_of_it() {
    let s = Scratch::new();
    // Where SIGPROF lands is timing: a run starved of CPU by the rest of the
    // suite once had 0 steps out (33 signals instead of 65-73), so up to 3
    // recordings until one has.
    let mut run = 0;
    let (dir, rec) = loop {
        run += 1;
        let dir = s.path().join(format!("t{run}"));
        let mut cmd = s.cmd();
        cmd.env("RRGO_LOG", "rrgo::commands::record=info")
            .env("RRGO_PREEMPT_MS", "1")
            .arg("record")
            .arg("-o")
            .arg(&dir)
            .arg(example(&newest(), "clockspin"))
            .arg("profile");
        let rec = output_within(&mut cmd, DEADLINE);
        assert_eq!(rec.status.code(), Some(0), "{}", text(&rec.stderr));
        let log = text(&rec.stderr);
        // clockspin spends nearly all its time reading the clock.
        if record_stat(&log, "clock_steps_out") > 0 {
            break (dir, rec);
        }
        assert!(run < 3, "no stop landed in the clock page:\n{log}");
    };
    for _ in 0..2 {
        assert_same("clockspin", &rec_stdout_only(&rec), &s.replay(&dir));
    }
}

/// Mechanism: a signal that arrives just past a syscall made from rrgo's
/// page (Go's patched `Syscall6`, the clock's slow path) reaches its
/// handler at the program's own pc: the thread is stepped out of the page
/// first (`clockpage::handler_safe`). `examples/killself` sends itself
/// SIGSEGV with kill(2) and crashes on it; the runtime's crash report
/// prints the pc and walks the stack from it (with the page's pc it said
/// `unknown pc`: the runtime's own `TestSegv` failed so). Replay crashes
/// the same way, from its own execution.
#[test]
fn a_signal_handler_never_sees_rrgos_page() {
    for version in go_versions() {
        let s = Scratch::new();
        let dir = s.path().join("t");
        let mut cmd = s.cmd();
        cmd.env("GOTRACEBACK", "system")
            .args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&version, "killself"));
        let rec = output_within(&mut cmd, DEADLINE);
        let err = program_stderr(&rec);
        assert_eq!(rec.status.code(), Some(2), "go{version}: {err}");
        assert!(
            err.contains("SIGSEGV: segmentation violation") && err.contains("main.crash"),
            "go{version}: {err}"
        );
        assert!(
            !err.contains("unknown pc") && !err.contains("PC=0x7000"),
            "go{version}: the handler saw rrgo's page:\n{err}"
        );
        assert_same("killself", &rec, &s.replay(&dir));
    }
}

/// Mechanism: an asynchronous signal that lands just past a syscall in
/// rrgo's page is delivered after the thread has stepped out of the page,
/// and that point is the thread's first arrival there since its stop at
/// the syscall: it is recorded as such (`Preempt::first_visit`: registers,
/// no memory), and replay stops at the first arrival. Sysmon's SIGURG to
/// gzipsha's hashing goroutines lands there most of the time (go1.27: 40
/// of ~50 points, each 1.5 ms of hashing and 20 KB of trace as an
/// arbitrary visit). A forged register of such a point is a divergence.
#[test]
fn signals_past_the_pages_syscalls_are_first_arrivals() {
    let s = Scratch::new();
    let page = 0x7000_0000_0000..0x7000_0000_1000;
    let mut found = None;
    for run in 0..3 {
        let dir = s.path().join(format!("t{run}"));
        let mut cmd = s.cmd();
        cmd.args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&newest(), "gzipsha"));
        let rec = output_within(&mut cmd, DEADLINE);
        assert!(rec.status.success(), "{}", text(&rec.stderr));
        let firsts: Vec<(u64, bool)> = TraceReader::open(&dir)
            .unwrap()
            .events()
            .filter_map(|e| match e.unwrap().kind {
                EventKind::Preempt {
                    regs,
                    verbatim,
                    hashes,
                    first_visit: true,
                    ..
                } => Some((regs.rip, verbatim.is_empty() && hashes.is_empty())),
                _ => None,
            })
            .collect();
        assert!(
            firsts
                .iter()
                .all(|&(rip, empty)| empty && !page.contains(&rip)),
            "first arrivals in the page or with memory: {firsts:x?}"
        );
        if !firsts.is_empty() {
            found = Some((dir, rec));
            break;
        }
    }
    let (dir, rec) = found.expect("no signal landed past a syscall of rrgo's page in 3 recordings");
    replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
    let bad = s.path().join("bad");
    let edited = rewrite_trace(&dir, &bad, |k| match k {
        EventKind::Preempt {
            regs,
            first_visit: true,
            ..
        } => {
            regs.rbx ^= 0x10;
            true
        }
        _ => false,
    });
    assert!(edited);
    let rep = s.replay(&bad);
    let err = text(&rep.stderr);
    assert_eq!(rep.status.code(), Some(4), "{err}");
    assert!(err.contains("its first arrival at"), "{err}");
}

/// Go's Syscall6 is patched: reads and writes on the HTTP server's
/// non-blocking sockets run inside the program without a stop and reach the
/// trace as `BufferedCalls`; replay hands the recorded bytes back. With
/// RRGO_SYSBUF=0 they are ordinary syscalls. Both replay exactly, and a
/// changed byte of a buffered read changes the replay (it is not echoed).
#[test]
fn syscalls_buffered_in_the_program_replay_from_the_trace() {
    let s = Scratch::new();
    let prog = example(&newest(), "httpserver");
    let count = |trace: &std::path::Path| {
        let (mut reads, mut buffered) = (0, 0);
        for e in TraceReader::open(trace).unwrap().events() {
            match e.unwrap().kind {
                EventKind::SyscallEntry { nr, .. } if nr == libc::SYS_read => reads += 1,
                EventKind::BufferedCalls { .. } => buffered += 1,
                _ => {}
            }
        }
        (reads, buffered)
    };
    let (rec, trace) = s.record("t", &prog, &[]);
    for _ in 0..2 {
        assert_same("buffered calls", &rec, &s.replay(&trace));
    }
    let (reads, buffered) = count(&trace);
    assert!(buffered > 0, "no BufferedCalls event");

    let plain = s.path().join("plain");
    let mut cmd = s.cmd();
    cmd.env("RRGO_SYSBUF", "0")
        .arg("record")
        .arg("-q")
        .arg("-o")
        .arg(&plain)
        .arg(&prog);
    let rec_plain = output_within(&mut cmd, DEADLINE);
    assert_eq!(
        rec_plain.status.code(),
        Some(0),
        "{}",
        text(&rec_plain.stderr)
    );
    assert_same("unbuffered calls", &rec_plain, &s.replay(&plain));
    let (plain_reads, plain_buffered) = count(&plain);
    assert_eq!(plain_buffered, 0);
    assert!(
        plain_reads > reads + 10,
        "buffering saved no read stops ({plain_reads} vs {reads})"
    );

    // Flip the bytes of the first buffered read that returned data.
    let bad = s.path().join("bad");
    let edited = rewrite_trace_with(
        &trace,
        &bad,
        |_| {},
        None,
        |k| {
            let EventKind::BufferedCalls { records } = k else {
                return false;
            };
            let mut at = 0;
            while at + 16 <= records.len() {
                let nr = u16::from_le_bytes([records[at], records[at + 1]]);
                let done = records[at + 2] != 0;
                let len = u32::from_le_bytes(records[at + 4..at + 8].try_into().unwrap()) as usize;
                if nr == 0 && done && len > 0 {
                    for b in &mut records[at + 16..at + 16 + len] {
                        *b ^= 0x20;
                    }
                    return true;
                }
                at += 16 + len.div_ceil(8) * 8;
            }
            false
        },
    );
    assert!(edited, "no buffered read returned data");
    let rep = s.replay(&bad);
    let diverged = rep.status.code() == Some(4) && text(&rep.stderr).contains("replay diverged");
    assert!(
        diverged || rep.stdout != rec.stdout || rep.status.code() != rec.status.code(),
        "a changed buffered read replayed unnoticed"
    );
}

/// The program starts with the signal dispositions its caller gave rrgo
/// (not rrgo's own: rrgo ignores SIGINT), and replay starts it the same way.
#[test]
fn the_program_inherits_the_callers_ignored_signals() {
    use std::os::unix::process::CommandExt;
    let s = Scratch::new();
    let prog = example(&newest(), "nondet");
    let line = |o: &std::process::Output| {
        text(&o.stdout)
            .lines()
            .find(|l| l.starts_with("ignored signals:"))
            .map(str::to_string)
            .unwrap_or_default()
    };
    for ignore_int in [false, true] {
        // Both start from the defaults `Scratch::cmd` gives rrgo: a test run
        // from a shell's background job inherits SIGINT and SIGQUIT ignored.
        let setup = move || {
            for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
                // SAFETY: setting a disposition in the forked child before exec.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
            if ignore_int {
                // SAFETY: as above.
                unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
            }
            Ok(())
        };
        let mut native = std::process::Command::new(&prog);
        // SAFETY: the closure only calls signal(2).
        unsafe { native.pre_exec(setup) };
        let native = output_within(&mut native, DEADLINE);
        let dir = s.path().join(format!("ignore-int-{ignore_int}"));
        let mut cmd = s.cmd();
        cmd.arg("record").arg("-q").arg("-o").arg(&dir).arg(&prog);
        // SAFETY: as above.
        unsafe { cmd.pre_exec(setup) };
        let rec = output_within(&mut cmd, DEADLINE);
        assert_eq!(rec.status.code(), Some(0), "{}", text(&rec.stderr));
        assert_eq!(
            line(&rec),
            line(&native),
            "SIGINT ignored by the caller: {ignore_int}"
        );
        // Replayed by an rrgo whose caller ignores nothing.
        assert_same("ignored signals", &rec, &s.replay(&dir));
    }
}

/// execve gets the program path as typed (a shell would pass `./nondet`),
/// and replay shows the program the same string although it runs a copy.
#[test]
fn the_program_sees_the_path_it_was_started_with() {
    let s = Scratch::new();
    let prog = example(&newest(), "nondet");
    let dir = prog.parent().unwrap();
    let line = |o: &std::process::Output| {
        text(&o.stdout)
            .lines()
            .find(|l| l.starts_with("exec file name:"))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let native = output_within(
        std::process::Command::new("./nondet").current_dir(dir),
        DEADLINE,
    );
    assert_eq!(line(&native), "exec file name: ./nondet");
    let trace = s.path().join("t");
    let mut cmd = s.cmd();
    cmd.current_dir(dir)
        .arg("record")
        .arg("-q")
        .arg("-o")
        .arg(&trace)
        .arg("./nondet");
    let rec = output_within(&mut cmd, DEADLINE);
    assert_eq!(line(&rec), line(&native), "{}", text(&rec.stderr));
    assert_same("exec file name", &rec, &s.replay(&trace));
}

/// The three ways clock reads are recorded replay exactly: the clock page
/// (default; no stop), a syscall answered at its seccomp stop
/// (RRGO_VDSO=hide; one stop), and a plain syscall (RRGO_SECCOMP=0; two stops).
#[test]
fn every_clock_mechanism_replays_exactly() {
    let s = Scratch::new();
    let prog = example(&newest(), "nondet");
    for (env, name) in [
        (None, "clock page"),
        (Some(("RRGO_VDSO", "hide")), "seccomp stop"),
        (Some(("RRGO_SECCOMP", "0")), "syscall stops"),
    ] {
        let dir = s.path().join(name.replace(' ', "-"));
        let mut cmd = s.cmd();
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.env("RRGO_LOG", "rrgo::commands::record=info")
            .arg("record")
            .arg("-o")
            .arg(&dir)
            .arg(&prog);
        let rec = output_within(&mut cmd, DEADLINE);
        assert_eq!(rec.status.code(), Some(0), "{}", text(&rec.stderr));
        let log = text(&rec.stderr);
        let (in_page, at_entry) = (
            record_stat(&log, "clock_reads"),
            record_stat(&log, "answered_at_entry"),
        );
        match name {
            "clock page" => assert!(in_page > 0, "{name}: no clock read in the page"),
            "seccomp stop" => assert!(
                in_page == 0 && at_entry > 0,
                "{name}: {in_page} in the page, {at_entry} at entry"
            ),
            _ => assert_eq!((in_page, at_entry), (0, 0), "{name}"),
        }
        for _ in 0..2 {
            let rep = s.replay(&dir);
            assert_same(
                &format!("clock reads by {name}"),
                &rec_stdout_only(&rec),
                &rep,
            );
        }
    }
}

/// A counter of the record stats that `RRGO_LOG=rrgo::commands::record=info` logs.
fn record_stat(log: &str, key: &str) -> u64 {
    log.split(&format!("{key}: "))
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in the record stats:\n{log}"))
}

/// The recording's output without rrgo's own log lines.
fn rec_stdout_only(rec: &std::process::Output) -> std::process::Output {
    let stderr: Vec<u8> = text(&rec.stderr)
        .lines()
        .filter(|l| !l.contains("rrgo"))
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    std::process::Output {
        status: rec.status,
        stdout: rec.stdout.clone(),
        stderr,
    }
}

/// The program sees the CPU mask it would have had natively, not rrgo's pinning.
#[test]
fn cpu_count_is_not_changed_by_pinning() {
    let s = Scratch::new();
    let native = std::process::Command::new(example(&newest(), "cpuworkers"))
        .output()
        .unwrap();
    let (rec, _) = s.record("t", &example(&newest(), "cpuworkers"), &[]);
    let line = |o: &std::process::Output| {
        text(&o.stdout)
            .lines()
            .find(|l| l.starts_with("NumCPU="))
            .map(str::to_string)
    };
    assert_eq!(line(&native), line(&rec));
}

/// Starts `rrgo record` of sigterm-delay (which waits up to 60 s for SIGTERM)
/// and returns it once the program said it is ready, with the program's pid.
fn record_sigterm_delay(
    s: &Scratch,
    trace: &std::path::Path,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStderr>,
    i32,
    Watchdog,
) {
    let bg = s.record_until_ready(
        &["-q"],
        trace,
        &example(&newest(), "sigterm-delay"),
        &["-timeout", "60s"],
    );
    (bg.child, bg.stderr, bg.pid, bg.watchdog)
}

/// SIGTERM from outside, while recording, is delivered where it landed and replays identically.
#[test]
fn sigterm_from_outside_while_recording() {
    let s = Scratch::new();
    let trace = s.path().join("t");
    let (child, mut stderr, pid, _watchdog) = record_sigterm_delay(&s, &trace);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling the recorded program.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let rec = child.wait_with_output().unwrap();
    assert_eq!(rec.status.code(), Some(0), "{rest}");
    let out = text(&rec.stdout);
    assert!(out.contains("SIGTERM received"), "{out}");
    let recorded_stdout = rec.stdout.clone();
    for _ in 0..2 {
        let rep = s.replay(&trace);
        assert_eq!(
            text(&rep.stdout),
            text(&recorded_stdout),
            "replay's stderr: {}",
            text(&rep.stderr)
        );
        assert_eq!(rep.status.code(), Some(0), "{}", text(&rep.stderr));
    }
    let r = TraceReader::open(&trace).unwrap();
    let sigterms = r
        .events()
        .filter(|e| matches!(e.as_ref().unwrap().kind, EventKind::Signal { signo, .. } if signo == libc::SIGTERM))
        .count();
    assert_eq!(sigterms, 1);
}

/// kill -9 of rrgo while recording: the program dies too, and the trace's
/// prefix (complete chunks) replays without divergence.
#[test]
fn recording_killed_with_sigkill_leaves_a_replayable_prefix() {
    let s = Scratch::new();
    let trace = s.path().join("t");
    let (mut child, _stderr, pid, _watchdog) = record_sigterm_delay(&s, &trace);
    // More than a chunk's maximum age, so at least one chunk is on disk.
    std::thread::sleep(Duration::from_millis(1800));
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // SAFETY: probing whether the tracee still exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(
            Instant::now() < deadline,
            "the recorded program outlived rrgo"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let info = s.run(&["info", trace.to_str().unwrap()]);
    assert!(
        text(&info.stdout).contains("INCOMPLETE"),
        "{}",
        text(&info.stdout)
    );
    let rep = s.replay(&trace);
    // Exit 3 (not 4: no divergence): the trace holds no exit status to reproduce.
    assert_eq!(rep.status.code(), Some(3), "{}", text(&rep.stderr));
    assert!(
        text(&rep.stderr).contains("the trace is incomplete"),
        "{}",
        text(&rep.stderr)
    );
}

/// Preemption points inside `rep movsq` (Go's memmove of large blocks):
/// rip stays put while rcx/rsi/rdi advance, so an instruction breakpoint
/// never finds such a point (replay diverged with `expected to run to a
/// preemption point …, got Syscall`). The recorder runs the instruction to
/// its end before recording the point; replay re-executes every slice
/// (no jump) and ends in the same state.
#[test]
fn preemption_points_inside_string_instructions_are_reached() {
    let s = Scratch::new();
    let dir = s.path().join("t");
    let mut rec = s.cmd();
    rec.env("RRGO_PREEMPT_MS", "2")
        .env("RRGO_LOG", "rrgo::record=debug")
        .args(["record", "-o"])
        .arg(&dir)
        .arg("--")
        .arg(example(&newest(), "bigcopy"));
    let rec = output_within(&mut rec, DEADLINE);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert!(
        text(&rec.stderr).contains("preempted at a rep string instruction"),
        "no preemption landed on a string instruction: the test exercised nothing"
    );
    replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
}

/// The number after the first `name=` in `out` (a log field).
fn logged_number(out: &str, name: &str) -> Option<u64> {
    let rest = out.split(&format!("{name}=")).nth(1)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Replays `dir` with logs `log` and checks it reproduced `rec` (exit 0,
/// same output) with every preempted slice re-executed (`jumped=0`).
/// Returns replay's stderr.
fn replay_re_executing(s: &Scratch, dir: &Path, rec: &Output, log: &str) -> String {
    let mut rep = s.cmd();
    rep.env("RRGO_LOG", log).args(["replay", "-a"]).arg(dir);
    let rep = output_within(&mut rep, DEADLINE);
    let err = text(&rep.stderr);
    assert_eq!(
        rep.status.code(),
        Some(0),
        "{}",
        err.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(text(&rep.stdout), text(&rec.stdout));
    assert!(
        err.contains("jumped=0"),
        "some slices were jumped, not re-executed: {}",
        err.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    err
}

/// Preemption points recorded without contents (`RRGO_PREEMPT_HASHES=1`)
/// are verified by registers and the memory written since the previous
/// point, less what other threads' unfinished syscalls may write: in
/// busypoll a netpoll lands in another thread's stack while the spinner is
/// stopped, which replay (one thread at a time) writes later, at that
/// syscall's exit; hashing it made the search run to the stall limit. The
/// select loop keeps its counter in a stack slot across a call, so visits
/// of a point in the callee have equal registers: the stub learns the
/// differing word and compares it in the program (before: a ptrace stop
/// per iteration, ~10 µs each).
#[test]
fn points_in_loops_with_state_on_the_stack_are_found_in_the_program() {
    let s = Scratch::new();
    let dir = s.path().join("t");
    let mut rec = s.cmd();
    rec.env("RRGO_PREEMPT_MS", "2")
        .env("RRGO_PREEMPT_HASHES", "1")
        .args(["record", "-o"])
        .arg(&dir)
        .arg("--")
        .arg(example(&newest(), "busypoll"));
    let rec = output_within(&mut rec, DEADLINE);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    // Every point is verified by registers and memory, but one the
    // interrupt caught in rrgo's page (just past a syscall there: its
    // buffers are in the page, so it is recorded with contents by design).
    let page = 0x7000_0000_0000..0x7000_0000_1000;
    let with_contents: Vec<u64> = TraceReader::open(&dir)
        .unwrap()
        .events()
        .filter_map(|e| match e.unwrap().kind {
            EventKind::Preempt {
                regs,
                verbatim,
                hashes,
                first_visit: false,
                ..
            } if verbatim.is_empty() && hashes.is_empty() => Some(regs.rip),
            _ => None,
        })
        .filter(|rip| !page.contains(rip))
        .collect();
    assert!(
        with_contents.is_empty(),
        "points were recorded with memory contents at {with_contents:x?}"
    );
    let err = replay_re_executing(
        &s,
        &dir,
        &rec,
        "rrgo::replay::preempt=debug,rrgo::commands=info",
    );
    assert!(
        err.contains("the stub compares memory words too"),
        "no point needed a stack word: the test exercised nothing"
    );
}

/// A run of written pages larger than a trace chunk (160 MB filled in one
/// burst) is recorded in pieces (recording failed: `event of … bytes is
/// larger than the 67108864-byte limit of one chunk`), and replays.
#[test]
fn a_preemption_after_a_huge_write_is_recorded_in_pieces() {
    let s = Scratch::new();
    let dir = s.path().join("t");
    let mut rec = s.cmd();
    // Contents, not the live stack: the point is where the pages are written.
    rec.env("RRGO_PREEMPT_MS", "300")
        .env("RRGO_PREEMPT_HASHES", "0")
        .args(["record", "-o"])
        .arg(&dir)
        .arg("--")
        .arg(example(&newest(), "bigcopy"))
        .arg("fill");
    let rec = output_within(&mut rec, DEADLINE);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert_same("fill", &rec, &s.replay(&dir));
}

/// Mechanism: no search-stub patch in code the program reads as data
/// (`goruntime::selfread`). In Go's FIPS mode the init of
/// `crypto/internal/fips140/check` hashes the module's machine code and
/// panics on a mismatch; a preemption point in that code whose slice began
/// before the check was found by patching a `jmp` there, so the replayed
/// check failed (`crypto/tls`'s tests, whose children run FIPS mode,
/// diverged 1 run in 3 with a 2 ms woken bound). `examples/fipsinit`'s
/// children start while the parent wakes every 100 µs; with
/// `RRGO_WAKE_MS=0` they are preempted all through their start-up, and with
/// Go's generic SHA-256 the check lasts long enough to be among them.
#[test]
fn code_the_program_hashes_is_not_patched_while_it_does() {
    let s = Scratch::new();
    let mut unpatched = 0;
    // Whether a point falls in the checked code depends on where the
    // wake-ups land. With SHA-NI the check hashes the module in ~0.2 ms, and
    // 0 of 32 children had a point in it (the CI run of session 37 failed
    // so); with Go's generic SHA-256 (GODEBUG's cpu options) it takes a few
    // ms, and 4 recordings of 8 children had 2 to 7 such points each. Still
    // timing: recordings go on (6 at most) until one has.
    let mut run = 0;
    while run < 3 || (unpatched == 0 && run < 6) {
        run += 1;
        let dir = s.path().join(format!("t{run}"));
        let mut rec = s.cmd();
        rec.env("RRGO_WAKE_MS", "0")
            .env("GODEBUG", "cpu.sha=off,cpu.avx2=off,cpu.avx=off")
            .args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&newest(), "fipsinit"))
            .arg("8");
        let rec = output_within(&mut rec, DEADLINE);
        assert!(rec.status.success(), "{}", text(&rec.stderr));
        assert!(
            text(&rec.stdout).matches("verified signatures: 5").count() == 8,
            "{}",
            text(&rec.stdout)
        );
        let err = replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
        unpatched += logged_number(&err, "unpatched").expect("replay logs its unpatched points");
    }
    assert!(
        unpatched > 0,
        "no point fell in the FIPS code before its check: the test exercised nothing"
    );
}

/// Mechanism: a thread woken from a blocking syscall gets the CPU within a
/// bound (50 ms by default; here `RRGO_WAKE_MS=auto`, which follows what
/// preemptions cost, `record/wake.rs`: a few ms), whatever the running
/// thread does. `examples/handoff`
/// starts a goroutine and spins until it has run (Go hands it to a thread
/// it wakes with a futex); with the other turns made 20 s long, only the
/// wake-up bound lets the 10 rounds finish before the deadline (before it,
/// the woken thread waited for a whole `RRGO_PREEMPT_MS`, and a profiler
/// loop in `runtime/pprof`'s tests never finished). Replay is exact.
#[test]
fn a_woken_thread_is_not_held_up_by_a_spinning_one() {
    // The bound alone: no hand-over at the wakes.
    ten_handoff_rounds_within_a_minute(&[("RRGO_WAKE_MS", "auto"), ("RRGO_HANDOFF", "0")]);
}

/// Mechanism: a thread that spins while another waits for the CPU is
/// looked at and preempted (`record/spin.rs`): interrupted, stepped, run
/// on with a debug breakpoint where it stood; back there with equal
/// registers and top of stack, it spins. With every turn and wait 20 s
/// long and no hand-over at wakes, only the looks let these finish before
/// the deadline: `examples/handoff` (main spins until the goroutine it
/// started has run on a woken thread) and `examples/sweepspin` (Go 1.24's
/// background sweeper loops until the allocating main goroutine, waiting
/// for the CPU, has finished sweeping a span: ~60 turns; natively 0.07 s,
/// recorded 3.1 s with 50 ms turns before, 0.4 s with the looks). Replay
/// is exact. Counting loops (`examples/spinmarks`) are looked at and never
/// taken for spinners.
#[test]
fn a_spinning_thread_gives_the_cpu_to_a_waiting_one() {
    ten_handoff_rounds_within_a_minute(&[("RRGO_WAKE_MS", "20000"), ("RRGO_HANDOFF", "0")]);
    let stat = |err: &str, name: &str| -> u64 {
        let rest = err
            .split(&format!("{name}: "))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in the recording's stats: {err}"));
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().unwrap()
    };
    for version in go_versions() {
        let s = Scratch::new();
        let dir = s.path().join("t");
        let mut rec = s.cmd();
        rec.env("RRGO_PREEMPT_MS", "20000")
            .env("RRGO_SLICE_MS", "20000")
            .env("RRGO_LOG", "rrgo::commands=info")
            .args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&version, "sweepspin"));
        let rec = output_within(&mut rec, Duration::from_secs(60));
        let err = text(&rec.stderr);
        assert!(rec.status.success(), "go{version}: {err}");
        assert!(
            text(&rec.stdout).starts_with("allocated 200000 objects"),
            "go{version}: {}",
            text(&rec.stdout)
        );
        if version.starts_with("1.24") {
            assert!(
                stat(&err, "spin_preemptions") > 0,
                "go{version}: the sweeper never spun: the test exercised nothing"
            );
        }
        replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
    }
    let s = Scratch::new();
    let (rec, _) = s.record_env(
        "m",
        &example(&newest(), "spinmarks"),
        &["27"],
        &[("RRGO_LOG", "rrgo::commands=info")],
    );
    let err = text(&rec.stderr);
    assert!(rec.status.success(), "{err}");
    assert!(stat(&err, "spin_looks") > 0, "never looked: {err}");
    assert_eq!(stat(&err, "spin_preemptions"), 0, "{err}");
}

/// Records `examples/handoff 10` with every other turn 20 s long and the
/// environment `env`: the 10 rounds must end within 60 s; replay is exact.
fn ten_handoff_rounds_within_a_minute(env: &[(&str, &str)]) {
    let s = Scratch::new();
    let dir = s.path().join("t");
    let mut rec = s.cmd();
    rec.env("RRGO_PREEMPT_MS", "20000")
        .env("RRGO_SLICE_MS", "20000")
        .envs(env.iter().copied())
        .args(["record", "-o"])
        .arg(&dir)
        .arg("--")
        .arg(example(&newest(), "handoff"))
        .arg("10");
    let rec = output_within(&mut rec, Duration::from_secs(60));
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert!(
        text(&rec.stdout).starts_with("rounds 10,"),
        "{}",
        text(&rec.stdout)
    );
    replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
}

/// Mechanism (`RRGO_HANDOFF=1`: at every wake; by default only to a thread
/// owed the CPU, next test): a futex wake hands the CPU to the
/// thread it woke, a clone to the new thread (`record/handoff.rs`), and the
/// waker then waits for it as a woken thread does, not a whole turn.
/// `examples/handoff` starts a goroutine and spins until it has run; with
/// every wait and turn made 20 s long (`RRGO_WAKE_MS` fixed too), only the
/// hand-over lets the 10 rounds finish before the deadline: the woken
/// thread takes the new goroutine, runs it and sleeps, and the spinner sees
/// it done. (Without the hand-over to a new thread, to a waiter whose wait
/// had not slept yet, or with a thread handed the CPU barred from handing
/// it on, most recordings waited 20 s at least once.) Replay is exact.
#[test]
fn a_futex_wake_hands_the_cpu_to_the_thread_it_woke() {
    ten_handoff_rounds_within_a_minute(&[("RRGO_HANDOFF", "1"), ("RRGO_WAKE_MS", "20000")]);
}

/// Mechanism (default): a futex wake hands the CPU to the thread it woke
/// when that thread has had less of it than the waker, by more than 10 ms
/// (`record/handoff.rs`). `examples/stwloop` stops the world in a loop
/// (`runtime.ReadMemStats`) while workers need to run: starting the world
/// wakes their threads, and without the hand-over (`RRGO_HANDOFF=0`) the
/// looping thread kept the CPU until it stopped the world again, so the
/// workers never ran and the recording hung (3 of 3 past 20 s; the
/// runtime's `TestLockOSThreadTemplateThreadRace` and `runtime/pprof`'s
/// `TestGoroutineProfileLabelRace` so too). With it: well under a second.
/// Replay is exact.
#[test]
fn threads_woken_by_a_loop_stopping_the_world_get_to_run() {
    for version in go_versions() {
        let s = Scratch::new();
        let dir = s.path().join("t");
        let mut cmd = s.cmd();
        cmd.args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&version, "stwloop"));
        let rec = output_within(&mut cmd, Duration::from_secs(60));
        assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
        assert_eq!(
            text(&rec.stdout),
            "workers 4, sum 4999999\n",
            "go{version}: {}",
            text(&rec.stderr)
        );
        assert_same("stwloop", &rec, &s.replay(&dir));
    }
}

/// Mechanism: a preemption point is settled (run on to an instruction
/// replay's stub can patch, `record/points.rs`) only while that can find
/// one: a thread that comes back to where it was interrupted without
/// passing a site is in a loop with none, and is left there. Go compiles
/// `for {}` to a 2-byte `jmp` to itself; settling stepped such a spinner
/// 64 instructions at each of its preemptions (1 ms each, on the critical
/// path of every stop of the world: a goroutine profile took 440 ms beside
/// it instead of 60). `examples/idlespin` spins so while main stops the
/// world; the spinner's points must take at most one round of its loop,
/// and replay is exact.
#[test]
fn a_spinner_with_nothing_to_patch_is_settled_after_one_round() {
    for version in go_versions() {
        let s = Scratch::new();
        // Where the spinner is interrupted depends on the run: a recording
        // can end (60 ms) before it was ever preempted; up to three.
        let mut attempt = 0;
        let (rec, dir, log, steps) = loop {
            attempt += 1;
            let (rec, dir) = s.record_env(
                &format!("t{attempt}"),
                &example(&version, "idlespin"),
                &["600"],
                &[("RRGO_LOG", "rrgo::record::points=debug")],
            );
            let log = text(&rec.stderr);
            assert!(rec.status.success(), "go{version}: {log}");
            assert_eq!(
                text(&rec.stdout),
                "rounds 600, kept 2884800 bytes\n",
                "go{version}"
            );
            // The spinner's points: settled where they were interrupted.
            let steps: Vec<u64> = log
                .lines()
                .filter(|l| l.contains("settled a point"))
                .filter_map(|l| {
                    let field = |k: &str| l.split(&format!(" {k}=")).nth(1)?.split(' ').next();
                    (field("from")? == field("to")? && field("site")? == "false")
                        .then(|| logged_number(l, "steps"))?
                })
                .collect();
            if !steps.is_empty() || attempt == 3 {
                break (rec, dir, log, steps);
            }
        };
        assert!(
            !steps.is_empty(),
            "go{version}: too few points in the spinner's loop to tell: {steps:?}\n{log}"
        );
        assert!(
            steps.iter().all(|&n| n <= 2),
            "go{version}: a loop with no site was stepped round more than once: {steps:?}"
        );
        replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
    }
}

/// Mechanism: a call that may block but on a regular file returns at once
/// (`syscalls::Blocking::brief`: read, write and their p/v forms on a
/// regular file, opening a path) keeps its thread on the CPU for a grace
/// period (`BRIEF_GRACE`) instead of handing it to another thread at once.
/// Before, each such read let a spinning goroutine's thread run until its
/// next preemption, and the reader waited for it: `examples/idlespin 5 200`
/// (200 preads of its own executable beside a `for {}`) recorded ~200
/// preemptions in 0.7 s, now a handful in 0.06 s. Replay is exact.
#[test]
fn reads_of_a_regular_file_keep_the_cpu() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, dir) = s.record("t", &example(&version, "idlespin"), &["5", "200"]);
        assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
        assert!(
            text(&rec.stdout).ends_with("reads 200, 819200 bytes\n"),
            "go{version}: {}",
            text(&rec.stdout)
        );
        let preempts = TraceReader::open(&dir)
            .unwrap()
            .events()
            .filter(|e| matches!(e.as_ref().unwrap().kind, EventKind::Preempt { .. }))
            .count();
        assert!(
            preempts < 50,
            "go{version}: {preempts} preemptions: the reader gave the CPU to the spinner at its reads"
        );
        assert_same("idlespin", &rec, &s.replay(&dir));
    }
}

/// Mechanism: a spin-wait hands the CPU over where the program says it
/// waits (`record/syscall.rs`, `tracee/clockpage.rs`). A thread's
/// `sched_yield` gives the CPU to another ready thread, and so does the stop
/// at which rrgo's page empties a buffer of clock reads (every 256 reads
/// without another event): Go spins with both (`osyield` in `casgstatus`
/// and `suspendG`, `nanotime` timing its spins), and in gzipsha such spins,
/// waiting for a thread that could not run, made most of the clock reads
/// and trace bytes. `examples/yieldspin` starts a goroutine and spins
/// until it has run, yielding or reading the clock; with every other turn
/// made 20 s long, only the hand-over lets 10 rounds finish before the
/// deadline (without it, each mode ran into a 60 s timeout). Replay is exact.
#[test]
fn a_spin_wait_hands_the_cpu_to_the_thread_it_waits_for() {
    for mode in ["yield", "clock"] {
        let s = Scratch::new();
        let dir = s.path().join("t");
        let mut rec = s.cmd();
        rec.env("RRGO_PREEMPT_MS", "20000")
            .env("RRGO_SLICE_MS", "20000")
            .env("RRGO_WAKE_MS", "20000")
            .args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&newest(), "yieldspin"))
            .args([mode, "10"]);
        let rec = output_within(&mut rec, Duration::from_secs(60));
        assert!(rec.status.success(), "{mode}: {}", text(&rec.stderr));
        assert_eq!(text(&rec.stdout), "rounds 10\n", "{mode}");
        replay_re_executing(&s, &dir, &rec, "rrgo::commands=info");
    }
}

/// Mechanism: a point where an asynchronous signal is delivered is moved on
/// to a patch site first (the signal is taken off, the thread stepped a
/// few instructions, the signal delivered there), so replay's stub finds
/// it and it carries what identifies it rather than memory contents
/// (`RRGO_PREEMPT_HASHES=1`; opt-in: `RRGO_SETTLE_SIGNALS=1`). `examples/cpuprofile` computes under CPU profiling: SIGPROF lands at any
/// instruction of the loop. Without the move, 5–7% of its points were
/// recorded with contents (searched stop by stop, possibly jumped); with it
/// about 1% (a second signal at the handler's first instruction, off any
/// goroutine stack).
#[test]
fn asynchronous_signals_are_delivered_at_patch_sites() {
    let s = Scratch::new();
    let dir = s.path().join("t");
    let mut rec = s.cmd();
    rec.env("RRGO_PREEMPT_HASHES", "1")
        .env("RRGO_SETTLE_SIGNALS", "1")
        .args(["record", "-o"])
        .arg(&dir)
        .arg("--")
        .arg(example(&newest(), "cpuprofile"));
    let rec = output_within(&mut rec, DEADLINE);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let info = s.cmd().args(["info"]).arg(&dir).output().unwrap();
    let info = text(&info.stdout);
    let line = info
        .lines()
        .find(|l| l.starts_with("preemptions:"))
        .unwrap_or_else(|| panic!("no preemptions line: {info}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // total (verified, first arrivals, with contents)
    let (total, contents) = (numbers[0], numbers[3]);
    assert!(total >= 100, "too few points to judge: {line}");
    assert!(
        contents * 100 <= total * 3,
        "too many points recorded with contents: {line}"
    );
    let mut rep = s.cmd();
    rep.args(["replay", "-a"]).arg(&dir);
    let rep = output_within(&mut rep, DEADLINE);
    assert_eq!(rep.status.code(), Some(0), "{}", text(&rep.stderr));
    assert_eq!(text(&rep.stdout), text(&rec.stdout));
}

/// Mechanism: the recorder settles an interrupted thread's point on a patch
/// site of one instruction, whose interior replay need not guard with a
/// debug register (`record/points.rs`): with one enabled, the searched thread ran 4x
/// slower on these VMs, and racecounter replayed in 0.52 s against 0.14 s
/// recorded. Its points fall in `spin`'s loop, where the first site
/// (`INCQ DI; NOPL`) has an instruction starting inside the patch's `jmp`,
/// and a guard-free one is a few instructions on. Only points a signal made
/// stay where it landed, so searches that needed guards are at most those.
#[test]
fn points_the_recorder_chooses_need_no_debug_register() {
    let s = Scratch::new();
    let mut chosen = 0;
    for run in 0..3 {
        let (rec, trace) = s.record(&format!("t{run}"), &example(&newest(), "racecounter"), &[]);
        let err = replay_re_executing(&s, &trace, &rec, "rrgo::commands=info");
        let guarded = logged_number(&err, "guarded").expect("replay logs its guarded searches");
        // Points: `preempt` events; a signal's are followed by its `signal`.
        let dump = text(&s.run(&["dump", trace.to_str().unwrap()]).stdout);
        let lines: Vec<Vec<&str>> = dump
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let mut points = 0;
        let mut by_signal = 0;
        for (i, l) in lines.iter().enumerate() {
            if l.get(3) != Some(&"preempt") {
                continue;
            }
            points += 1;
            if lines
                .get(i + 1)
                .is_some_and(|n| n.get(3) == Some(&"signal") && n.get(2) == l.get(2))
            {
                by_signal += 1;
            }
        }
        assert!(
            guarded <= by_signal as u64,
            "{guarded} searches needed debug registers; {by_signal} of {points} points were made by signals"
        );
        chosen += points - by_signal;
    }
    assert!(
        chosen > 0,
        "no point was made by the recorder: the test exercised nothing"
    );
}

/// Mechanism: a call a signal interrupted is restarted at replay only when
/// the recording did (`replay/step.rs`, `signal_follows`). The kernel ends
/// a sleep a handled signal interrupts with ERESTART_RESTARTBLOCK, which
/// the handler's delivery turns into EINTR; replay delivers the recorded
/// signal where the thread stands, and restarts the call itself only when
/// no signal of that thread comes next. A `Pages` event (another process's
/// stores into a shared file, recorded for a thread inside a blocking
/// call) may come between the exit and the signal: it runs nothing, so it
/// must not hide the signal (the `runtime` row diverged at such a futex
/// wait: replay made it a `restart_syscall`). `examples/eintrsleep` sleeps
/// on the main thread while SIGUSR1s arrive from outside; an empty `Pages`
/// event is put after such an exit, and replay still reproduces the
/// program. Also replayed unedited.
#[test]
fn a_pages_event_between_an_interrupted_sleep_and_its_signal_does_not_restart_it() {
    let s = Scratch::new();
    let trace = s.path().join("t");
    let bg = s.record_until_ready(&["-q"], &trace, &example(&newest(), "eintrsleep"), &[]);
    let rec = bg.usr1s_then_term(20, Duration::from_millis(30));
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert_same("unedited", &rec, &s.replay(&trace));
    // A restart code at an exit whose thread's next event is the signal.
    let events: Vec<_> = TraceReader::open(&trace)
        .unwrap()
        .events()
        .map(|e| e.unwrap())
        .collect();
    let exit = events.iter().enumerate().find_map(|(i, e)| {
        let EventKind::SyscallExit { result: -516, .. } = e.kind else {
            return None;
        };
        let next = events[i + 1..].iter().find(|x| x.tid == e.tid)?;
        matches!(
            next.kind,
            EventKind::Signal {
                point: trace_format::DeliveryPoint::AtLastStop,
                ..
            }
        )
        .then_some((e.time.0, e.tid))
    });
    let Some((at, tid)) = exit else {
        panic!(
            "no sleep ended by a signal in this recording: {}",
            text(&rec.stdout)
        );
    };
    let edited = s.path().join("edited");
    rewrite_trace_with(
        &trace,
        &edited,
        |_| {},
        Some((at, EventKind::Pages { pages: Vec::new() }, tid)),
        |_| false,
    );
    assert_same(
        "with a Pages event after the exit",
        &rec,
        &s.replay(&edited),
    );
}

/// Mechanism: replay's search page lies below the program's whole image
/// (`tracee/searchstub.rs`, `maps::lowest_image_start`). An executable the
/// C linker made position-independent (every cgo program built with
/// `-buildmode=pie`) starts with a read-only segment right below its text;
/// the page, placed below the text alone, could not be mapped there, so
/// every point was searched with a debug register — a counting loop visits
/// its point millions of times, and `spinmarks` built so diverged after 60 s
/// of searching (the runtime row's `TestCgoPprofPIE` child stalled the
/// same way). Now the in-process stub finds them.
#[test]
fn an_externally_linked_pie_is_searched_in_process() {
    let s = Scratch::new();
    let exe = example_pie_linked_externally(&newest(), "spinmarks", s.path());
    let (rec, dir) = s.record("t", &exe, &["27"]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let err = replay_re_executing(&s, &dir, &rec, "info");
    let executed = logged_number(&err, "executed").expect("no executed= in the log");
    let in_process = logged_number(&err, "in_process").expect("no in_process= in the log");
    assert!(executed > 0, "no preemption points: {err}");
    // (A point where the thread already stands needs no search.)
    assert!(
        in_process * 2 > executed,
        "the stub found few points: {err}"
    );
}

/// A new C thread asks for its CPU set at once, by the tid the kernel wrote
/// into its pthread struct (CLONE_PARENT_SETTID) before it ran. Under load
/// the recorder sees that call before its parent's clone3 returns; replay
/// then ran the thread with the live tid there until the parent's exit
/// event wrote the recorded one (the `runtime` row: `expected syscall
/// sched_getaffinity with rdi=0x7696, got rdi=0xe13`). The test moves the
/// parent's clone3 exit after the thread's call, as such a recording has it.
#[test]
fn a_new_thread_sees_its_recorded_tid_before_its_parent_returns() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "cgo"), &[]);
    assert!(rec.status.success(), "recording: {}", text(&rec.stderr));
    assert!(text(&rec.stdout).contains("C thread's affinity status: 0"));
    let moved = s.path().join("moved");
    let mut done = false;
    rewrite_trace_events(
        &trace,
        &moved,
        |_| {},
        |events| {
            const SCHED_GETAFFINITY: i64 = 204;
            const CLONE3: i64 = 435;
            // The C thread's call: sched_getaffinity of its own tid.
            let call = events
                .iter()
                .rposition(|e| {
                    matches!(e.kind, EventKind::SyscallExit { nr, .. } if nr == SCHED_GETAFFINITY)
                        && events.iter().any(|c| {
                            matches!(c.kind, EventKind::SyscallEntry { nr, args, .. }
                                if nr == SCHED_GETAFFINITY && args[0] == e.tid.0 as u64
                                    && c.tid == e.tid)
                        })
                })
                .expect("no sched_getaffinity of a thread's own tid");
            let thread = events[call].tid;
            let created = events
                .iter()
                .position(
                    |e| matches!(e.kind, EventKind::TaskCreate { child, .. } if child == thread),
                )
                .unwrap();
            let EventKind::TaskCreate { parent, .. } = events[created].kind else {
                unreachable!()
            };
            let exit = created
                + events[created..]
                    .iter()
                    .position(|e| {
                        e.tid == parent
                            && matches!(e.kind, EventKind::SyscallExit { nr, .. } if nr == CLONE3)
                    })
                    .unwrap();
            // The parent's events from there to the thread's call follow it
            // (a recording under load can have that order already: then
            // the exit comes after the call and nothing is moved).
            if exit < call {
                let (later, kept): (Vec<_>, Vec<_>) =
                    events.drain(exit..=call).partition(|e| e.tid == parent);
                let at = exit + kept.len();
                events.splice(exit..exit, kept);
                events.splice(at..at, later);
            }
            done = true;
        },
    );
    assert!(done);
    let rep = s.replay(&moved);
    assert_same("parent's clone3 exit after the thread's call", &rec, &rep);
}

/// Bytes a replayed program writes to a socket through rrgo's call buffer
/// (Go's network writes) are checked against a digest the recording kept:
/// here the server reads another request path than it did when recorded
/// (an edited buffered read), so its response carries that path. The
/// client's reads come from the trace and print what was recorded, so
/// without the check the replay passed with exit 0.
#[test]
fn bytes_sent_differently_through_the_call_buffer_are_a_divergence() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&newest(), "httpserver"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert_same("unedited", &rec, &s.replay(&trace));
    let bad = s.path().join("bad");
    let edited = rewrite_trace(&trace, &bad, |k| match k {
        EventKind::BufferedCalls { records } => {
            let needle = b"GET /seq/3 ";
            match records.windows(needle.len()).position(|w| w == needle) {
                Some(at) => {
                    records[at + 9] = b'4';
                    true
                }
                None => false,
            }
        }
        _ => false,
    });
    assert!(edited, "no buffered read of the request for /seq/3");
    let rep = s.replay(&bad);
    let err = text(&rep.stderr);
    assert_eq!(rep.status.code(), Some(4), "{err}");
    assert!(
        err.contains("replay diverged")
            && err.contains("through rrgo's call buffer")
            && err.contains("HTTP/1.1 200 OK"),
        "{err}"
    );
}
