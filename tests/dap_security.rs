//! Who the DAP server (`rrgo replay --dap`) lets in: a launch may not open a
//! recording the server was not started for, a token is required when set,
//! a second client gets an answer while one is served, a client that starts
//! no session is dropped, and a non-loopback address draws a warning.
//!
//! A small DAP client over std's TcpStream drives the real server on real
//! recordings of examples/dapdemo; every wait has a deadline.

mod common;

use common::dapclient::*;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A recording of dapdemo (the newest Go) at `<s>/<name>`.
fn record_demo(s: &Scratch, name: &str) -> PathBuf {
    let demo = example(&go_versions()[0], "dapdemo.debug");
    let (out, dir) = s.record(name, &demo, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "recording dapdemo: {}",
        text(&out.stderr)
    );
    dir
}

/// The error text of a failed response.
fn error_text(r: &Value) -> String {
    assert_eq!(r["success"], false, "expected a refusal: {r}");
    format!("{} {}", r["message"], r["body"]["error"]["format"])
}

/// A launch that names a recording other than the one served is refused
/// (before the fix, the server opened it and ran its program).
#[test]
fn launch_of_another_trace_is_refused() {
    let s = Scratch::new();
    let served = record_demo(&s, "served");
    let elsewhere = Scratch::new();
    let other = record_demo(&elsewhere, "other");

    // Started for one recording: another is refused, the same one (by any path) is not.
    let server = Server::start(&s, "127.0.0.1:0", &[served.to_str().unwrap()], &[]);
    let mut c = server.connect();
    c.initialize();
    let r = c.request("launch", launch_args(&other), LOAD);
    let e = error_text(&r);
    assert!(
        e.contains("serves only the recording given on its command line")
            && e.contains("--dap-allow-any-trace"),
        "refusal says why and how to allow: {e}"
    );
    let r = c.request("launch", launch_args(&s.path().join("./served")), LOAD);
    assert_eq!(r["success"], true, "launch of the served recording: {r}");
    drop(server);

    // Started without a trace: recordings under the trace directory only,
    // not through a link that leads out of it.
    std::os::unix::fs::symlink(&other, s.path().join("sneaky")).unwrap();
    let server = Server::start(&s, "127.0.0.1:0", &[], &[]);
    let mut c = server.connect();
    c.initialize();
    for refused in [other.clone(), s.path().join("sneaky")] {
        let e = error_text(&c.request("launch", launch_args(&refused), LOAD));
        assert!(
            e.contains("only recordings under the trace directory")
                && e.contains("--dap-allow-any-trace"),
            "{}: {e}",
            refused.display()
        );
    }
    let r = c.request("launch", launch_args(Path::new("served")), LOAD);
    assert_eq!(r["success"], true, "launch of a trace in the root: {r}");
    drop(server);

    // --dap-allow-any-trace allows it.
    let server = Server::start(
        &s,
        "127.0.0.1:0",
        &["--dap-allow-any-trace", served.to_str().unwrap()],
        &[],
    );
    let mut c = server.connect();
    c.initialize();
    let r = c.request("launch", launch_args(&other), LOAD);
    assert_eq!(r["success"], true, "launch with --dap-allow-any-trace: {r}");
}

/// A client that connects while another is served gets an error within
/// seconds and is closed; the first client is still served (before: silence).
#[test]
fn second_client_is_answered_while_one_is_served() {
    let s = Scratch::new();
    let trace = record_demo(&s, "demo");
    let args = ["--accept-multiclient", trace.to_str().unwrap()];
    let server = Server::start(&s, "127.0.0.1:0", &args, &[]);
    let mut first = server.connect();
    first.initialize();
    let r = first.request("attach", attach_args(json!({})), LOAD);
    assert_eq!(r["success"], true, "attach: {r}");

    let started = Instant::now();
    let mut second = server.connect();
    let seq = second.send("initialize", json!({"adapterID": "go"}));
    let seen = second.until_closed(PROMPT);
    let answer = seen
        .iter()
        .find(|m| m["type"] == "response" && m["request_seq"] == seq)
        .unwrap_or_else(|| panic!("no response to the second client's initialize: {seen:?}"));
    assert!(
        error_text(answer).contains("rrgo is serving another client"),
        "{answer}"
    );
    assert!(
        seen.iter().any(|m| m["event"] == "terminated"),
        "no terminated event: {seen:?}"
    );
    assert!(
        started.elapsed() < PROMPT,
        "answered after {:?}",
        started.elapsed()
    );

    let r = first.request("threads", json!({}), PROMPT);
    assert_eq!(r["success"], true, "the first client is still served: {r}");
    let r = first.request("disconnect", json!({}), PROMPT);
    assert_eq!(r["success"], true, "{r}");
    // Once it left, the next client is served.
    let mut third = server.connect();
    third.initialize();
}

/// The processes whose parent is `pid` (any of its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let Ok(task) = task else { continue };
        let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            kids.split_whitespace()
                .filter_map(|k| k.parse::<u32>().ok()),
        );
    }
    out
}

/// Whether process `pid` still exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        st.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// When the client that opened the recording disconnects, the server exits
/// (as `dlv dap` does) and its replayed program, checkpoints and helper go
/// with it (before: it kept serving, and them alive).
#[test]
fn server_exits_when_the_debug_session_ends() {
    let s = Scratch::new();
    let trace = record_demo(&s, "demo");
    let mut server = Server::start(&s, "127.0.0.1:0", &[trace.to_str().unwrap()], &[]);
    let mut c = server.connect();
    c.initialize();
    let r = c.request("attach", attach_args(json!({})), LOAD);
    assert_eq!(r["success"], true, "attach: {r}");
    let r = c.request("configurationDone", json!({}), PROMPT);
    assert_eq!(r["success"], true, "{r}");
    let kids = children_of(server.child.id());
    assert!(!kids.is_empty(), "the server runs no replayed program");
    let r = c.request("disconnect", json!({"terminateDebuggee": true}), PROMPT);
    assert_eq!(r["success"], true, "{r}");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < PROMPT,
            "the server still runs {PROMPT:?} after the disconnect; stderr:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", server.stderr());
    server.wait_stderr("DAP server exiting", PROMPT);
    while kids.iter().any(|&k| alive(k)) {
        assert!(
            start.elapsed() < PROMPT,
            "left running: {:?}",
            kids.iter().filter(|&&k| alive(k)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client that starts no debug session within --dap-handshake-timeout is
/// dropped with a log line, and the next client is served (before: it held
/// the server forever).
#[test]
fn silent_client_is_dropped_and_the_next_served() {
    let s = Scratch::new();
    let trace = record_demo(&s, "demo");
    let args = ["--dap-handshake-timeout", "2", trace.to_str().unwrap()];
    let mut server = Server::start(&s, "127.0.0.1:0", &args, &[]);

    // Sends nothing.
    let started = Instant::now();
    let mut silent = server.connect();
    let seen = silent.until_closed(PROMPT);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "dropped after only {took:?}"
    );
    assert!(
        seen.iter().any(|m| m["event"] == "terminated"),
        "no terminated event: {seen:?}"
    );
    server.wait_stderr("no debug session started within 2 s", PROMPT);

    // Says initialize, then nothing.
    let mut idle = server.connect();
    idle.initialize();
    idle.until_closed(PROMPT);

    let mut next = server.connect();
    next.initialize();
    let r = next.request("attach", attach_args(json!({})), LOAD);
    assert_eq!(r["success"], true, "attach after the silent clients: {r}");
    // Loaded: the handshake limit no longer applies.
    std::thread::sleep(Duration::from_secs(3));
    let r = next.request("threads", json!({}), PROMPT);
    assert_eq!(r["success"], true, "still served: {r}");
}

/// Listening on an address other machines reach prints a warning; loopback does not.
#[test]
fn non_loopback_address_warns() {
    let s = Scratch::new();
    let trace = record_demo(&s, "demo");
    let t = trace.to_str().unwrap();
    let mut server = Server::start(&s, "0.0.0.0:0", &[t], &[]);
    let w = server.wait_stderr("WARNING", PROMPT);
    assert!(
        w.contains("every network interface") && w.contains("RRGO_DAP_TOKEN"),
        "{w}"
    );
    drop(server);
    let server = Server::start(&s, "127.0.0.1:0", &[t], &[]);
    // Whatever it prints comes with the listening line or right after it.
    let mut c = server.connect();
    c.initialize();
    assert!(!server.stderr().contains("WARNING"), "{}", server.stderr());
}

/// With a token set, attach/launch without it (or with another) is refused
/// and the connection closed; with it, the session starts.
#[test]
fn token_is_required_when_set() {
    let s = Scratch::new();
    let trace = record_demo(&s, "demo");
    let t = trace.to_str().unwrap();
    let by_env = Server::start(&s, "127.0.0.1:0", &[t], &[("RRGO_DAP_TOKEN", "tok-3141")]);
    let by_flag = Server::start(&s, "127.0.0.1:0", &["--dap-token", "tok-3141", t], &[]);
    for server in [&by_env, &by_flag] {
        for (command, token) in [
            ("attach", None),
            ("launch", Some("tok-314")),
            ("attach", Some("x")),
        ] {
            let mut c = server.connect();
            c.initialize();
            let mut args = if command == "attach" {
                attach_args(json!({}))
            } else {
                launch_args(&trace)
            };
            if let Some(tok) = token {
                args["rrgoToken"] = tok.into();
            }
            let e = error_text(&c.request(command, args, LOAD));
            assert!(e.contains("rrgoToken"), "{command} with {token:?}: {e}");
            c.until_closed(PROMPT);
        }
        let mut c = server.connect();
        c.initialize();
        let r = c.request(
            "attach",
            attach_args(json!({"rrgoToken": "tok-3141"})),
            LOAD,
        );
        assert_eq!(r["success"], true, "attach with the token: {r}");
        let r = c.request("disconnect", json!({}), PROMPT);
        assert_eq!(r["success"], true, "{r}");
        c.until_closed(PROMPT);
    }
}
