//! Program times in the goroutine index, the signal timeline and the dump,
//! for every way a clock read is recorded: rrgo's clock page (`ClockReads`
//! events, the default), `RRGO_VDSO=hide` (clock_gettime syscalls answered
//! at their seccomp stop) and `RRGO_SECCOMP=0` (syscalls with entry and
//! exit stops). The times are checked against what sigterm-delay measured
//! itself: the tolerances are about a wrong or stale clock (seconds off,
//! or a value from before the work), not about speed.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

/// How much later than the program's own `start` (read at package init)
/// its first clock read may be: runtime start-up under ptrace, on a loaded
/// machine (CI runs tests side by side on 2 CPUs). Generous: a wrong clock
/// is off by far more (hours, or no time at all).
const STARTUP: f64 = 5.0;
/// What may lie between two points the program and rrgo each time (a
/// goroutine getting a thread, a handful of events), beyond the rounding.
const SLACK: f64 = 0.5;
/// Rounding of the program's printed numbers plus a clock read's distance.
const EPS: f64 = 0.02;

/// What sigterm-delay printed: "SIGTERM received at +A s" (since its
/// `start`, read at package init) and "shutdown took B s" (from that
/// receipt to the state flushed under the mutex).
struct Measured {
    received: f64,
    took: f64,
}

fn measured(stdout: &str) -> Measured {
    let num = |prefix: &str| -> f64 {
        let at = stdout
            .find(prefix)
            .unwrap_or_else(|| panic!("no {prefix:?} in {stdout}"));
        let rest = &stdout[at + prefix.len()..];
        let end = rest.find('s').expect("seconds");
        rest[..end].parse().expect("a number")
    };
    Measured {
        received: num("SIGTERM received at +"),
        took: num("shutdown took "),
    }
}

fn ns(v: &Value) -> Option<f64> {
    v.as_u64().map(|n| n as f64 / 1e9)
}

fn json(s: &Scratch, args: &[&str]) -> Value {
    let out = s.run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Records sigterm-delay (SIGTERM to itself 300 ms after it is ready) with
/// `env`, and checks every time the history commands give against what it
/// printed.
fn times_are_the_programs(env: &[(&str, &str)]) {
    for version in go_versions() {
        let s = Scratch::new();
        let dir = s.path().join("t");
        let mut cmd = s.cmd();
        cmd.envs(env.iter().copied())
            .args(["record", "-o"])
            .arg(&dir)
            .arg("--")
            .arg(example(&version, "sigterm-delay"))
            .args(["-self-term", "300ms", "-work", "1000", "-timeout", "100s"]);
        let before = unix_ns(SystemTime::now());
        let rec = output_within(&mut cmd, DEADLINE);
        let after = unix_ns(SystemTime::now());
        assert_eq!(rec.status.code(), Some(0), "{}", text(&rec.stderr));
        let m = measured(&text(&rec.stdout));
        let t = dir.to_str().unwrap();
        let ctx = format!("go{version} {env:?}");

        // The signal timeline.
        let v = json(&s, &["replay", t, "--signals", "--json"]);
        let sig = &v["signals"][0];
        assert_eq!(sig["signal"], "SIGTERM", "{ctx}: {v}");
        let sig_t = ns(&sig["since_start_ns"]).unwrap_or_else(|| panic!("{ctx}: no time: {sig}"));
        let sig_time = sig["time_ns"].as_u64().expect("time_ns");
        // Sent after a 300 ms sleep that began after start; received by
        // the program after it arrived.
        assert!(
            sig_t >= 0.3 - EPS && sig_t <= m.received + STARTUP,
            "{ctx}: signal at +{sig_t}s; the program received it at +{}s: {sig}",
            m.received
        );
        // The wall clock: the program's CLOCK_REALTIME, while it was recorded.
        let wall = sig["wall_time_ns"].as_u64().expect("wall_time_ns");
        assert!(
            (before..=after).contains(&wall),
            "{ctx}: wall time {wall} not within the recording [{before}, {after}]"
        );
        let steps = sig["steps"].as_array().unwrap();
        let mut last = 0;
        for st in steps {
            let time = st["time_ns"]
                .as_u64()
                .unwrap_or_else(|| panic!("{ctx}: a step without a time: {st}"));
            assert!(time >= last, "{ctx}: time went back at {st}");
            assert_eq!(
                st["since_signal_ns"].as_u64(),
                Some(time - sig_time),
                "{st}"
            );
            last = time;
        }
        let step_t = |needle: &str| {
            steps
                .iter()
                .find(|st| st["what"].as_str().unwrap().contains(needle))
                .and_then(|st| ns(&st["since_signal_ns"]))
                .map(|t| sig_t + t)
                .unwrap_or_else(|| panic!("{ctx}: no {needle:?}: {v}"))
        };
        let (received_t, done_t) = (step_t(" received it "), step_t(" finished, "));
        assert!(
            received_t <= m.received + STARTUP,
            "{ctx}: received at +{received_t}s; the program said +{}s",
            m.received
        );
        // The mutex wait is most of what the program measured (which also
        // covers printing, spinning on the lock and getting a thread after it).
        let wait = steps
            .iter()
            .find(|st| st["what"].as_str().unwrap().contains(": sync.Mutex.Lock"))
            .and_then(|st| ns(&st["duration_ns"]))
            .unwrap_or_else(|| panic!("{ctx}: no timed mutex wait: {v}"));
        assert!(
            wait <= m.took + EPS && wait >= m.took / 2.0,
            "{ctx}: waited {wait}s for the mutex; the program took {}s",
            m.took
        );

        // Who held the mutex: the worker goroutine (not the receiver), since
        // before the wait, locked and unlocked on its loop's lines; it held
        // it at least as long as the wait lasted.
        let lock = steps
            .iter()
            .find_map(|st| st.get("lock"))
            .unwrap_or_else(|| panic!("{ctx}: no lock holder: {v}"));
        let line = |m: &str| format!("main.go:{}", marker_line("sigterm-delay", m));
        assert_eq!(lock["mutex_name"], "main.stateMu", "{ctx}: {lock}");
        assert_eq!(lock["locked_in"], "main.worker", "{ctx}: {lock}");
        assert_eq!(lock["released_in"], "main.worker", "{ctx}: {lock}");
        let ends = |k: &str, m: &str| lock[k].as_str().is_some_and(|l| l.ends_with(&line(m)));
        assert!(ends("locked_at", "worker-lock"), "{ctx}: {lock}");
        assert!(ends("released_at", "worker-unlock"), "{ctx}: {lock}");
        assert_eq!(
            lock["holder_goroutine"], lock["released_by_goroutine"],
            "{ctx}"
        );
        let held = ns(&lock["held_ns"]).unwrap_or_else(|| panic!("{ctx}: {lock}"));
        let (locked, released) = (
            lock["locked_time_ns"].as_u64().unwrap(),
            lock["released_time_ns"].as_u64().unwrap(),
        );
        assert!(
            locked <= sig_time && released > sig_time && held >= wait - EPS,
            "{ctx}: held {held}s, waited {wait}s: {lock}"
        );
        // The handling time, split into parts that add up.
        let total = ns(&sig["handled_ns"]).unwrap_or_else(|| panic!("{ctx}: {sig}"));
        let parts: f64 = sig["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| ns(&p["duration_ns"]).unwrap())
            .sum();
        assert!((parts - total).abs() < 1e-6, "{ctx}: {sig}");
        assert!(total >= wait, "{ctx}: {sig}");

        // The receiving goroutine's history: times everywhere, in order,
        // counted from the SIGTERM after it.
        let goid = steps
            .iter()
            .find_map(|st| {
                let w = st["what"].as_str()?;
                w.strip_prefix("goroutine ")?
                    .split_once(" received it")
                    .map(|(g, _)| g.to_string())
            })
            .unwrap_or_else(|| panic!("{ctx}: no receiver: {v}"));
        let h = json(&s, &["replay", t, "--goroutine", &goid, "--json"]);
        let mut last = 0;
        for e in h["history"].as_array().unwrap() {
            let time = e["time_ns"]
                .as_u64()
                .unwrap_or_else(|| panic!("{ctx}: an entry without a time: {e}"));
            assert!(time >= last, "{ctx}: time went back at {e}");
            last = time;
            if e["event"].as_u64() > sig["event"].as_u64() {
                assert_eq!(e["signal"], "SIGTERM", "{e}");
                assert_eq!(e["since_signal_ns"].as_u64(), Some(time - sig_time), "{e}");
            }
        }
        let dead = h["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["state"] == "dead")
            .unwrap_or_else(|| panic!("{ctx}: never finished: {h}"));
        let at_ns = |e: &Value| ns(&e["since_signal_ns"]).map(|t| sig_t + t);
        assert_eq!(at_ns(dead), Some(done_t), "{ctx}: {dead}");
        // From its first run after the signal (where it read the clock on
        // receipt) to its end (just after the flush) is what the program
        // measured; and that run is at the program's own time, give or take
        // its start-up.
        let ran_t = h["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"].as_u64() > sig["event"].as_u64() && e["state"] == "running")
            .and_then(at_ns)
            .unwrap_or_else(|| panic!("{ctx}: never ran after the signal: {h}"));
        let handled = done_t - ran_t;
        assert!(
            handled >= m.took - EPS && handled <= m.took + SLACK,
            "{ctx}: ran at +{ran_t}s, finished at +{done_t}s; the program took {}s",
            m.took
        );
        // An index time is the latest clock value the process had read (a
        // lower bound): after the signal, and not after the program's own
        // read on receipt by more than start-up. Without rrgo's page the
        // reads are syscalls, sparser: the bound was 46 ms early in about
        // 1 run in 4, with this binary and the previous one alike.
        assert!(
            ran_t >= sig_t - EPS && ran_t <= m.received + STARTUP,
            "{ctx}: ran at +{ran_t}s, signal at +{sig_t}s; the program received it at +{}s",
            m.received
        );
        eprintln!(
            "{ctx}: signal +{sig_t:.3}s, ran +{ran_t:.3}s (program received +{:.3}s), \
             finished +{done_t:.3}s (program took {:.3}s), mutex wait {wait:.3}s",
            m.received, m.took
        );

        // A dump at the signal: the time before it was delivered.
        let at = sig["event"].to_string();
        let d = json(&s, &["replay", t, "--goroutines", "--json", "--at", &at]);
        let (time, start) = (d["time_ns"].as_u64(), d["start_ns"].as_u64());
        let since_start = (time.unwrap() - start.unwrap()) as f64 / 1e9;
        assert!(
            time <= Some(sig_time) && since_start >= 0.3 - EPS,
            "{ctx}: dump at +{since_start}s, the signal at +{sig_t}s"
        );
    }
}

#[test]
fn times_from_the_clock_page() {
    times_are_the_programs(&[]);
}

#[test]
fn times_from_clock_syscalls_answered_at_seccomp_stops() {
    times_are_the_programs(&[("RRGO_VDSO", "hide")]);
}

#[test]
fn times_from_clock_syscalls_without_seccomp() {
    times_are_the_programs(&[("RRGO_SECCOMP", "0")]);
}

/// The index is built once (with progress lines on request) and a second
/// query reads it, times included; a cache of another index version is
/// rebuilt.
#[test]
fn second_query_reads_the_cached_index() {
    let s = Scratch::new();
    let (rec, trace) = s.record(
        "t",
        &example(&go_versions()[0], "sigterm-delay"),
        &["-self-term", "300ms", "-work", "300"],
    );
    assert_eq!(rec.status.code(), Some(0), "{}", text(&rec.stderr));
    let t = trace.to_str().unwrap();
    let query = |progress: &str| {
        let out = output_within(
            s.cmd()
                .env("RRGO_PROGRESS", progress)
                .args(["replay", t, "--signals", "--json"]),
            DEADLINE,
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };
    let first = query("1");
    let err = text(&first.stderr);
    assert!(
        err.contains("rrgo: indexing goroutines") && err.contains("done in"),
        "no progress lines: {err}"
    );
    let v: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(v["signals"][0]["time_ns"].is_u64(), "{v}");
    let second = query("1");
    assert!(
        !text(&second.stderr).contains("indexing"),
        "indexed again: {}",
        text(&second.stderr)
    );
    assert_eq!(text(&second.stdout), text(&first.stdout));
    // Without a terminal and without RRGO_PROGRESS, no progress at all.
    std::fs::remove_file(trace.join("goindex")).unwrap();
    let quiet = query("");
    assert!(!text(&quiet.stderr).contains("indexing"));
    assert_eq!(text(&quiet.stdout), text(&first.stdout));
    // Another version's cache (its version comes first) is not used.
    let path = trace.join("goindex");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = bytes[0].wrapping_add(1);
    std::fs::write(&path, &bytes).unwrap();
    let rebuilt = query("1");
    assert!(text(&rebuilt.stderr).contains("indexing goroutines"));
    assert_eq!(text(&rebuilt.stdout), text(&first.stdout));
}
