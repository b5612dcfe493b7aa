//! Signals and rrgo's clock page: a goroutine reads the clock thousands of
//! times between two syscalls (through the page, filling its buffer) while
//! signals arrive. Recording never fails because of where a signal landed,
//! and replay re-runs the program to the same output.

mod common;

use std::process::Output;
use std::time::Duration;

use common::*;

/// The newest and the oldest supported Go.
fn versions() -> Vec<String> {
    let all = go_versions();
    let mut v = vec![all[0].clone()];
    if all.len() > 1 {
        v.push(all[all.len() - 1].clone());
    }
    v
}

/// Clock reads the spinner makes at least (`-min`): more than two whole
/// buffers of the clock page.
const MIN_READS: u64 = 10_000;
const MIN_ARG: &str = "10000";

/// The clock reads the program says it made (`reads=N ...`).
fn reads(out: &Output) -> u64 {
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("reads="))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reads= line in {:?}", text(&out.stdout)))
}

/// Replays `trace` and checks it reproduced `rec`: no divergence, same
/// stdout (the count and checksum of clock reads, printed by the replayed
/// program), same exit status.
fn check_replay(s: &Scratch, what: &str, rec: &Output, trace: &std::path::Path) {
    assert!(
        rec.status.success(),
        "{what}: recording failed:\n{}",
        text(&rec.stderr)
    );
    let n = reads(rec);
    // Past a whole buffer of clock reads (4092 entries; the recorder
    // empties it every 256) between two syscalls: `MIN_READS` makes the
    // program go on until it has made them, however loaded the machine.
    assert!(n >= MIN_READS, "{what}: only {n} clock reads");
    let rep = s.replay(trace);
    assert!(
        !text(&rep.stderr).contains("diverged"),
        "{what}: replay diverged:\n{}",
        text(&rep.stderr)
    );
    assert_eq!(
        text(&rec.stdout),
        text(&rep.stdout),
        "{what}: replay printed other output; its stderr:\n{}",
        text(&rep.stderr)
    );
    assert_eq!(reads(&rep), n);
    assert_eq!(
        rec.status.code(),
        rep.status.code(),
        "{what}: exit status differs:\n{}",
        text(&rep.stderr)
    );
}

/// A record run with a deadline well below the hang the bug caused.
fn record(s: &Scratch, trace: &std::path::Path, prog: &std::path::Path, mode: &str) -> Output {
    output_within(
        s.cmd()
            .args(["record", "-q", "-o"])
            .arg(trace)
            .arg("--")
            .arg(prog)
            .args(["-min", MIN_ARG, mode]),
        Duration::from_secs(30),
    )
}

/// SIGUSR1 sent by the program to itself every 200 µs while a goroutine
/// spins on time.Now: syscalls the signals interrupt are restarted, which
/// made replay look ahead and apply one batch of clock reads twice.
#[test]
fn self_sent_signals_while_spinning_on_the_clock() {
    let s = Scratch::new();
    for v in versions() {
        let trace = s.path().join(format!("usr1-{v}"));
        let rec = record(&s, &trace, &example(&v, "clocksignals"), "usr1");
        check_replay(&s, &format!("usr1 go{v}"), &rec, &trace);
    }
}

/// CPU profiling (SIGPROF from a per-thread CPU timer) while a goroutine
/// spins on time.Now: SIGPROF lands inside the page's code, and again
/// while the recorder steps the thread out, which must not loop. In `pipe`
/// mode, reads and writes buffered by the page's `sys6` run too (a signal
/// lands in the middle of copying a read's bytes).
#[test]
fn profiling_signals_while_spinning_on_the_clock() {
    let s = Scratch::new();
    for v in versions() {
        for mode in ["prof", "pipe"] {
            let trace = s.path().join(format!("{mode}-{v}"));
            let rec = record(&s, &trace, &example(&v, "clocksignals"), mode);
            check_replay(&s, &format!("{mode} go{v}"), &rec, &trace);
        }
    }
}

/// Preemption points recorded without memory contents
/// (`RRGO_PREEMPT_HASHES=1`) while a goroutine spins on the clock and
/// buffered pipe calls: a point in `runtime.netpoll` has equal registers
/// and stack at every call. With the stack alone as the point's memory,
/// replay diverged in 6 of 8 runs (`expected the previous 68 clock reads to
/// have been used, got 66 used`); the heap's hashes and the check that
/// rrgo's page buffers are used up each tell those visits apart.
#[test]
fn points_recorded_without_contents_wait_for_the_pages_buffers() {
    let s = Scratch::new();
    let v = versions()[0].clone();
    for run in 0..3 {
        let trace = s.path().join(format!("hashes-{run}"));
        let rec = output_within(
            s.cmd()
                .env("RRGO_PREEMPT_HASHES", "1")
                .args(["record", "-q", "-o"])
                .arg(&trace)
                .arg("--")
                .arg(example(&v, "clocksignals"))
                .args(["-min", MIN_ARG, "pipe"]),
            Duration::from_secs(30),
        );
        check_replay(
            &s,
            &format!("pipe go{v} with hashes, run {run}"),
            &rec,
            &trace,
        );
    }
}

/// SIGUSR1s then SIGTERM from outside the program while it spins on
/// time.Now: they land wherever the spinning thread is, often in the page.
#[test]
fn outside_signals_while_spinning_on_the_clock() {
    let s = Scratch::new();
    for v in versions() {
        let trace = s.path().join(format!("term-{v}"));
        let bg = s.record_until_ready(
            &["-q"],
            &trace,
            &example(&v, "clocksignals"),
            &["-ms", "20000", "-min", MIN_ARG, "term"],
        );
        let rec = bg.usr1s_then_term(20, Duration::from_millis(50));
        check_replay(&s, &format!("term go{v}"), &rec, &trace);
    }
}
