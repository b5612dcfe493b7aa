//! Preempted slices are re-executed, not jumped over: a breakpoint in
//! CPU-bound code (two goroutines spinning for seconds without a syscall,
//! preempted by the recorder dozens of times) is hit exactly as often as
//! the program says it called the function, forwards, and
//! reverse-continue visits the same hits backwards with the same values.

mod common;

use common::dapclient::*;
use common::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The bar: a recording with at least this many preemptions.
const MIN_PREEMPTIONS: usize = 50;

/// (goroutine, loop counter) at the current stop, read from the replayed
/// process's `mark` frame.
fn mark_args(c: &mut Client, thread: &Value) -> (i64, i64) {
    let r = c.request(
        "stackTrace",
        json!({"threadId": thread, "levels": 1}),
        PROMPT,
    );
    assert_eq!(r["success"], true, "stackTrace: {r}");
    let frame = &r["body"]["stackFrames"][0];
    assert!(
        frame["name"].as_str().unwrap_or("").ends_with("mark"),
        "stopped outside mark: {frame}"
    );
    let mut get = |name: &str| {
        let r = c.request(
            "evaluate",
            json!({"expression": name, "frameId": frame["id"], "context": "watch"}),
            PROMPT,
        );
        assert_eq!(r["success"], true, "evaluate {name}: {r}");
        r["body"]["result"]
            .as_str()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("{name} is not a number: {r}"))
    };
    (get("g"), get("i"))
}

/// Waits for the next stop; None at the end of the recording.
fn next_stop(c: &mut Client, deadline: Instant) -> Option<Value> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = c.read(left).expect("the server closed the connection");
        if m["event"] == "terminated" || m["event"] == "exited" {
            return None;
        }
        if m["event"] == "stopped" {
            if m["body"]["reason"] == "breakpoint" {
                return Some(m["body"]["threadId"].clone());
            }
            // The end of the recording is a stop of its own.
            return None;
        }
    }
}

/// The number of mark() calls spinmarks printed.
fn recorded_calls(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("marks: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no call count in {stdout}"))
}

/// `log2` iterations per goroutine (a mark every 2^22): enough CPU time
/// for MIN_PREEMPTIONS slices of this build. Slices of 40 ms, not the
/// default 50: the optimized build's 2.4–2.5 s made 48–53 of 50 ms.
fn check(build: &Path, log2: &str) {
    let s = Scratch::new();
    let (rec, trace) = s.record_env("t", build, &[log2], &[("RRGO_PREEMPT_MS", "40")]);
    assert!(rec.status.success(), "recording: {}", text(&rec.stderr));
    let calls = recorded_calls(&text(&rec.stdout));
    let info = text(&s.run(&["info", trace.to_str().unwrap()]).stdout);
    let preempts: usize = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("preempt "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        preempts >= MIN_PREEMPTIONS,
        "only {preempts} preemptions recorded:\n{info}"
    );

    let server = Server::start(&s, "127.0.0.1:0", &[trace.to_str().unwrap()], &[]);
    let mut c = server.connect();
    c.initialize();
    let r = c.request("attach", attach_args(json!({})), LOAD);
    assert_eq!(r["success"], true, "attach: {r}");
    let src = repo().join("examples/spinmarks/main.go");
    let line = marker_line("spinmarks", "mark");
    let r = c.request(
        "setBreakpoints",
        json!({"source": {"path": src}, "breakpoints": [{"line": line}]}),
        PROMPT,
    );
    assert_eq!(r["body"]["breakpoints"][0]["verified"], true, "{r}");
    let r = c.request("configurationDone", json!({}), PROMPT);
    assert_eq!(r["success"], true, "configurationDone: {r}");

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut hits = Vec::new();
    let mut thread = next_stop(&mut c, deadline);
    while let Some(t) = thread {
        hits.push(mark_args(&mut c, &t));
        c.send("continue", json!({"threadId": t}));
        thread = next_stop(&mut c, deadline);
    }
    assert_eq!(
        hits.len(),
        calls,
        "breakpoint hits over the replay vs calls the program made; server: {}",
        server.stderr()
    );
    // Every call once: each goroutine's counters 0, 2^22, 2^23, ...
    let distinct: HashSet<_> = hits.iter().collect();
    assert_eq!(distinct.len(), hits.len(), "a call was stopped at twice");
    assert!(hits
        .iter()
        .all(|(g, i)| (0..2).contains(g) && i % (1 << 22) == 0));

    // Backwards from the end: the last hits again, newest first.
    for want in hits.iter().rev().take(3) {
        c.send("reverseContinue", json!({"threadId": 1}));
        let t = next_stop(&mut c, deadline).expect("reverse-continue stopped at no breakpoint");
        assert_eq!(&mark_args(&mut c, &t), want, "reverse-continue's stop");
    }

    // Without breakpoints, reverse-continue replays every segment back to
    // the start (seconds here): a pause stops it midway, and the session
    // goes on from there.
    let r = c.request(
        "setBreakpoints",
        json!({"source": {"path": src}, "breakpoints": []}),
        PROMPT,
    );
    assert_eq!(r["success"], true, "{r}");
    c.send("reverseContinue", json!({"threadId": 1}));
    std::thread::sleep(Duration::from_millis(300));
    c.send("pause", json!({"threadId": 1}));
    let (reason, _, text) = any_stop(&mut c, deadline);
    assert_eq!(reason, "pause", "reverse-continue was not paused: {text}");
    c.send("continue", json!({"threadId": 1}));
    let (reason, ..) = any_stop(&mut c, deadline);
    assert_eq!(
        reason, "pause",
        "continue after the paused reverse-continue"
    );

    // Step back from main's line after the spinning: its history goes
    // back to main's entry, across every segment (seconds): a pause stops
    // it too, at a moment the session goes on from.
    let print = marker_line("spinmarks", "print-marks");
    let r = c.request(
        "setBreakpoints",
        json!({"source": {"path": src}, "breakpoints": [{"line": print}]}),
        PROMPT,
    );
    assert_eq!(r["body"]["breakpoints"][0]["verified"], true, "{r}");
    c.send("reverseContinue", json!({"threadId": 1}));
    let (reason, thread, text) = any_stop(&mut c, deadline);
    assert_eq!(
        reason, "breakpoint",
        "reverse-continue to print-marks: {text}"
    );
    let r = c.request(
        "setBreakpoints",
        json!({"source": {"path": src}, "breakpoints": []}),
        PROMPT,
    );
    assert_eq!(r["success"], true, "{r}");
    c.send("stepBack", json!({"threadId": thread}));
    std::thread::sleep(Duration::from_millis(300));
    c.send("pause", json!({"threadId": 1}));
    let (reason, _, text) = any_stop(&mut c, deadline);
    assert_eq!(reason, "pause", "step back was not paused: {text}");
    c.send("continue", json!({"threadId": 1}));
    let (reason, _, text) = any_stop(&mut c, deadline);
    assert_eq!(
        reason, "pause",
        "continue after the paused step back: {text}"
    );
}

#[test]
fn every_breakpoint_hit_in_cpu_bound_code_is_seen_optimized() {
    check(&example(&go_versions()[0], "spinmarks"), "30");
}

#[test]
fn every_breakpoint_hit_in_cpu_bound_code_is_seen_without_optimization() {
    check(&example(&go_versions()[0], "spinmarks.debug"), "30");
}

/// Waits for the next stop of any reason: (reason, threadId, text).
fn any_stop(c: &mut Client, deadline: Instant) -> (String, Value, String) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = c.read(left).expect("the server closed the connection");
        if m["event"] == "stopped" {
            let b = &m["body"];
            return (
                b["reason"].as_str().unwrap_or("").to_string(),
                b["threadId"].clone(),
                b["text"].as_str().unwrap_or("").to_string(),
            );
        }
    }
}

/// `last[0]` as the replayed process holds it now.
fn last0(c: &mut Client) -> i64 {
    let r = c.request(
        "evaluate",
        json!({"expression": "main.last[0]", "context": "watch"}),
        PROMPT,
    );
    assert_eq!(r["success"], true, "evaluate: {r}");
    r["body"]["result"].as_str().unwrap().parse().unwrap()
}

/// A watchpoint in CPU-bound code sees every write, also inside slices the
/// recorder preempted (the search for a preemption point shares the debug
/// registers with it), and reverse-continue finds the last write.
#[test]
fn a_watchpoint_in_cpu_bound_code_sees_every_write() {
    let s = Scratch::new();
    let build = example(&go_versions()[0], "spinmarks");
    let (rec, trace) = s.record("t", &build, &["28"]);
    assert!(rec.status.success(), "recording: {}", text(&rec.stderr));
    let calls = recorded_calls(&text(&rec.stdout)) as i64;
    let server = Server::start(&s, "127.0.0.1:0", &[trace.to_str().unwrap()], &[]);
    let mut c = server.connect();
    c.initialize();
    let r = c.request("attach", attach_args(json!({})), LOAD);
    assert_eq!(r["success"], true, "attach: {r}");
    let src = repo().join("examples/spinmarks/main.go");
    let line = marker_line("spinmarks", "mark");
    let bp = |c: &mut Client, lines: &[usize]| {
        let bps: Vec<Value> = lines.iter().map(|l| json!({"line": l})).collect();
        c.request(
            "setBreakpoints",
            json!({"source": {"path": src}, "breakpoints": bps}),
            PROMPT,
        )
    };
    bp(&mut c, &[line]);
    c.request("configurationDone", json!({}), PROMPT);
    let deadline = Instant::now() + Duration::from_secs(300);
    // The first call of either goroutine: goroutine 0 has not written yet.
    let (reason, ..) = any_stop(&mut c, deadline);
    assert_eq!(reason, "breakpoint");
    let info = c.request(
        "dataBreakpointInfo",
        json!({"name": "main.last[0]"}),
        PROMPT,
    );
    let id = info["body"]["dataId"].clone();
    assert!(id.is_string(), "cannot watch last[0]: {info}");
    bp(&mut c, &[]);
    let r = c.request(
        "setDataBreakpoints",
        json!({"breakpoints": [{"dataId": id, "accessType": "write"}]}),
        PROMPT,
    );
    assert_eq!(r["body"]["breakpoints"][0]["verified"], true, "{r}");
    let mut values = Vec::new();
    loop {
        c.send("continue", json!({"threadId": 1}));
        let (reason, _, text) = any_stop(&mut c, deadline);
        if reason != "data breakpoint" {
            break;
        }
        let v = last0(&mut c);
        assert!(
            text.contains(&format!("→ {v} "))
                || text.contains(&format!("= {v} (written, unchanged")),
            "stop text {text:?} vs value {v}"
        );
        values.push(v);
    }
    let want: Vec<i64> = (0..calls / 2).map(|k| k << 22).collect();
    assert_eq!(
        values, want,
        "goroutine 0's writes of last[0] seen by the watchpoint (the program made {calls} calls); server: {}",
        server.stderr()
    );
    // From the end: just before the last write, then before the one before.
    for k in [calls / 2 - 1, calls / 2 - 2] {
        c.send("reverseContinue", json!({"threadId": 1}));
        let (reason, _, text) = any_stop(&mut c, deadline);
        assert_eq!(reason, "data breakpoint", "{text}");
        assert_eq!(last0(&mut c), (k - 1) << 22, "before write {k}: {text}");
        assert!(text.contains(&format!("→ {} ", k << 22)), "{text}");
    }
}
