//! End-to-end tests of the DAP server (`rrgo replay --dap`): records the programs,
//! then runs the node test suite in tests/dap/ (DebugClient from
//! @vscode/debugadapter-testsupport, every server message validated against the DAP
//! schema) once per tested Go version (the newest and the oldest pinned one).
//!
//! Needs Node.js >= 20 and `npm ci --prefix tests/dap` (scripts/setup.sh does it).
//! DAP_TEST_DEADLINE_SECS (default 300) bounds one node run; DAP_TIMEOUT_SCALE
//! (passed through) scales the per-request and per-scenario limits in the suite.

mod common;

use common::*;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One node run at a time: each starts rrgo servers that replay on a pinned CPU.
static SERIAL: Mutex<()> = Mutex::new(());

fn dap_dir() -> PathBuf {
    repo().join("tests").join("dap")
}

/// `node` (or $NODE), checked to be >= 20; panics with what to do otherwise.
/// Returns the binary and whether it knows `--test-force-exit` (>= 20.14).
fn node() -> (String, bool) {
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_string());
    let out = Command::new(&node)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the DAP tests need Node.js >= 20 ({node}: {e}); install it \
             (e.g. `apt-get install nodejs npm`) and run scripts/setup.sh"
            )
        });
    let v = text(&out.stdout);
    let nums: Vec<u32> = v
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let (major, minor) = (
        nums.first().copied().unwrap_or(0),
        nums.get(1).copied().unwrap_or(0),
    );
    assert!(
        out.status.success() && major >= 20,
        "the DAP tests need Node.js >= 20, {node} is {:?}",
        v.trim()
    );
    let installed = dap_dir().join("node_modules/@vscode/debugadapter-testsupport/package.json");
    assert!(
        installed.exists(),
        "{} is missing: run scripts/setup.sh (it runs `npm ci --prefix tests/dap`)",
        installed.display()
    );
    (node, (major, minor) >= (20, 14))
}

fn deadline() -> Duration {
    let secs = std::env::var("DAP_TEST_DEADLINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Runs `cmd` in its own process group; past `limit` the whole group (node and the
/// rrgo servers it started) is killed. Returns (success, combined stdout + stderr, timed out).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String, bool) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let e = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > limit {
            timed_out = true;
            // SAFETY: killing the process group this test created.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Stragglers of the group (servers node failed to stop) must not outlive the test.
    // SAFETY: as above; ESRCH when the group is already gone.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let mut all = text(&o.join().unwrap());
    let stderr = text(&e.join().unwrap());
    if !stderr.trim().is_empty() {
        all.push_str("\n--- node stderr ---\n");
        all.push_str(&stderr);
    }
    (status.success() && !timed_out, all, timed_out)
}

fn record_ok(
    s: &Scratch,
    name: &str,
    prog: &Path,
    args: &[&str],
    status: i32,
) -> (String, PathBuf) {
    let (out, dir) = s.record(name, prog, args);
    assert_eq!(
        out.status.code(),
        Some(status),
        "recording {} {args:?} exited with {:?}; stderr:\n{}",
        prog.display(),
        out.status,
        text(&out.stderr)
    );
    (text(&out.stdout), dir)
}

fn dap_suite(version: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (node, force_exit) = node();
    let s = Scratch::new();
    // dapdemo as IDEs build it (-gcflags=all=-N -l); racecounter optimized.
    let demo = example(version, "dapdemo.debug");
    let race = example(version, "racecounter");
    let (_, demo_trace) = record_ok(&s, "dapdemo", &demo, &[], 0);
    let (_, panic_trace) = record_ok(&s, "dapdemo-panic", &demo, &["-panic"], 2);
    let (race_output, race_trace) = record_ok(&s, "racecounter", &race, &[], 0);
    let locks = example(version, "lockholders");
    let (_, lock_trace) = record_ok(&s, "lockholders", &locks, &[], 0);
    let watched = example(version, "watched.debug");
    let (_, watch_trace) = record_ok(&s, "watched", &watched, &[], 0);
    let watched_opt = example(version, "watched");
    let (_, watch_opt_trace) = record_ok(&s, "watched-opt", &watched_opt, &[], 0);
    // An inlined function's breakpoints and steps: optimized, and as IDEs build it.
    let inlined = example(version, "inlined");
    let (_, inl_trace) = record_ok(&s, "inlined", &inlined, &[], 0);
    let inlined_debug = example(version, "inlined.debug");
    let (_, inl_debug_trace) = record_ok(&s, "inlined-debug", &inlined_debug, &[], 0);
    let generics = example(version, "generics.debug");
    let (_, generics_trace) = record_ok(&s, "generics", &generics, &[], 0);
    let debugvars = example(version, "debugvars.debug");
    let (_, debugvars_trace) = record_ok(&s, "debugvars", &debugvars, &[], 0);
    assert!(
        race_output.contains("counter = "),
        "racecounter printed no counter:\n{race_output}"
    );

    let env: Vec<(&str, String)> = vec![
        ("RRGO", rrgo().display().to_string()),
        ("RRGO_TRACE_DIR", s.path().display().to_string()),
        ("DAPDEMO_TRACE", demo_trace.display().to_string()),
        ("DAPDEMO_PANIC_TRACE", panic_trace.display().to_string()),
        ("RACE_TRACE", race_trace.display().to_string()),
        ("RACE_OUTPUT", race_output),
        ("LOCK_TRACE", lock_trace.display().to_string()),
        ("WATCH_TRACE", watch_trace.display().to_string()),
        ("WATCH_OPT_TRACE", watch_opt_trace.display().to_string()),
        ("INLINED_TRACE", inl_trace.display().to_string()),
        ("INLINED_DEBUG_TRACE", inl_debug_trace.display().to_string()),
        ("GENERICS_TRACE", generics_trace.display().to_string()),
        ("DEBUGVARS_TRACE", debugvars_trace.display().to_string()),
        (
            "EXAMPLES_DIR",
            repo().join("examples").display().to_string(),
        ),
        ("GO_VERSION", version.to_string()),
    ];
    let mut cmd = Command::new(&node);
    cmd.current_dir(dap_dir())
        .arg("--test")
        .arg("--test-reporter=spec");
    if force_exit {
        cmd.arg("--test-force-exit");
    }
    cmd.arg("harness.test.js").arg("dap.test.js");
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let limit = deadline();
    let started = Instant::now();
    let (ok, output, timed_out) = run_bounded(&mut cmd, limit);
    if ok {
        eprintln!("{output}");
        return;
    }
    // Keep the recordings so the suite can be rerun by hand.
    let kept = s.dir.keep();
    let rerun: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}='{}'", v.replace('\'', r"'\''")))
        .collect();
    let rerun = format!(
        "cd {} && {} {node} --test dap.test.js   # traces kept in {}",
        dap_dir().display(),
        rerun.join(" "),
        kept.display()
    );
    if timed_out {
        panic!(
            "the DAP suite (go{version}) did not finish within {limit:?} and was killed \
             (DAP_TEST_DEADLINE_SECS raises the limit); its output so far:\n{output}\n\
             rerun: {rerun}"
        );
    }
    panic!(
        "the DAP suite (go{version}) failed after {:.1?}; node's output:\n{output}\nrerun: {rerun}",
        started.elapsed()
    );
}

#[test]
fn dap_newest_go() {
    let versions = go_versions();
    dap_suite(&versions[0]);
}

#[test]
fn dap_oldest_go() {
    let versions = go_versions();
    assert!(
        versions.len() > 1,
        "scripts/go-versions pins one version only"
    );
    dap_suite(versions.last().unwrap());
}
