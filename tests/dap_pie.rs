//! Debugging a position-independent executable (`-buildmode=pie`, as
//! distributions build Go programs): linked at one address, loaded at
//! another, so every address the debugger takes from DWARF or symbols must
//! move to where the program was loaded. Breakpoints, the stack and
//! variables are read from the replayed process.

mod common;

use common::dapclient::*;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The next `stopped` event, skipping others.
fn stopped(c: &mut Client, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = c.read(left).expect("no stopped event before the deadline");
        if m["event"] == "stopped" {
            return m;
        }
    }
}

#[test]
fn breakpoint_stack_and_variables_in_a_position_independent_executable() {
    for version in go_versions() {
        let s = Scratch::new();
        let exe = example_pie(&version, "panicker", s.path(), true);
        let (rec, trace) = s.record("t", &exe, &[]);
        assert!(!rec.status.success(), "go{version}: panicker should panic");
        let line = marker_line("panicker", "panic");
        let source = repo().join("examples/panicker/main.go");

        let server = Server::start(&s, "127.0.0.1:0", &[trace.to_str().unwrap()], &[]);
        let mut c = server.connect();
        c.initialize();
        let r = c.request("attach", attach_args(json!({})), LOAD);
        assert_eq!(r["success"], true, "go{version}: attach: {r}");
        let r = c.request(
            "setBreakpoints",
            json!({"source": {"path": source}, "breakpoints": [{"line": line}]}),
            PROMPT,
        );
        assert_eq!(
            r["body"]["breakpoints"][0]["verified"], true,
            "go{version}: breakpoint at main.go:{line}: {r}"
        );
        let r = c.request("configurationDone", json!({}), PROMPT);
        assert_eq!(r["success"], true, "configurationDone: {r}");
        let mut ev = stopped(&mut c, Duration::from_secs(120));
        if ev["body"]["reason"] == "entry" {
            c.send("continue", json!({"threadId": ev["body"]["threadId"]}));
            ev = stopped(&mut c, Duration::from_secs(120));
        }
        assert_eq!(ev["body"]["reason"], "breakpoint", "go{version}: {ev}");
        let tid = ev["body"]["threadId"].clone();
        let r = c.request("stackTrace", json!({"threadId": tid, "levels": 5}), PROMPT);
        let top = &r["body"]["stackFrames"][0];
        assert_eq!(top["name"], "main.checker", "go{version}: {r}");
        assert_eq!(top["line"], line, "go{version}: {r}");
        assert!(
            r["body"]["stackFrames"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["name"] == "runtime.goexit"),
            "go{version}: the stack does not reach runtime.goexit: {r}"
        );
        let r_scopes = c.request("scopes", json!({"frameId": top["id"]}), PROMPT);
        let args = r_scopes["body"]["scopes"][0]["variablesReference"].clone();
        let r = c.request("variables", json!({"variablesReference": args}), PROMPT);
        let vars = r["body"]["variables"].as_array().unwrap();
        // An argument, on the goroutine's stack.
        let id = vars.iter().find(|v| v["name"] == "id").expect("id");
        assert_eq!(id["value"], "7", "go{version}: {r}");
        // A local, from the frame's CFA.
        let locals = r_scopes["body"]["scopes"][1]["variablesReference"].clone();
        let r = c.request("variables", json!({"variablesReference": locals}), PROMPT);
        let err = r["body"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "err")
            .cloned()
            .unwrap_or_default();
        assert!(
            err["value"].as_str().unwrap_or("").contains("worker: 7"),
            "go{version}: err: {r}"
        );
        // A package variable: DW_OP_addr moved to the loaded executable.
        let r = c.request(
            "evaluate",
            json!({"expression": "perTicker[0]", "frameId": top["id"], "context": "watch"}),
            PROMPT,
        );
        assert_eq!(r["success"], true, "go{version}: perTicker[0]: {r}");
        assert!(
            r["body"]["result"].as_str().unwrap_or("").contains("v: "),
            "go{version}: perTicker[0]: {r}"
        );
    }
}
