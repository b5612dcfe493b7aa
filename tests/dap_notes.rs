//! What the replay could not do is said, never silent: preempted slices
//! reached by a jump (no branch counter on these machines: the slice's code
//! did not run, so a breakpoint there could not be hit) are announced by
//! `replay -a` on stderr and to a debugger as a DAP `output` event.

mod common;

use common::dapclient::*;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn slices_reached_by_a_jump_are_announced() {
    let s = Scratch::new();
    let prog = example(&go_versions()[0], "cpuworkers");
    // Points recorded with memory contents (not hashes) are the ones
    // replay may jump to.
    let dir = s.path().join("t");
    let mut cmd = s.cmd();
    cmd.env("RRGO_PREEMPT_HASHES", "0")
        .args(["record", "-o"])
        .arg(&dir)
        .arg("--")
        .arg(&prog);
    let (rec, trace) = (output_within(&mut cmd, DEADLINE), dir);
    assert!(rec.status.success(), "recording: {}", text(&rec.stderr));
    // Panics unless the recording has a preemption.
    event_with(&s, &trace, " preempt ", false);

    // `replay -a` with the search off: every preempted slice is a jump.
    let rep = output_within(
        s.cmd()
            .env("RRGO_PREEMPT_SEARCH", "0")
            .args(["replay", "-a"])
            .arg(&trace),
        DEADLINE,
    );
    assert_same("replay -a", &rec, &rep);
    assert!(
        text(&rep.stderr).contains("were reached by jumping"),
        "no note on stderr: {}",
        text(&rep.stderr)
    );

    // The same over DAP: continue to the end, an output event names the slices.
    let server = Server::start(
        &s,
        "127.0.0.1:0",
        &[trace.to_str().unwrap()],
        &[("RRGO_PREEMPT_SEARCH", "0")],
    );
    let mut c = server.connect();
    c.initialize();
    let r = c.request("attach", attach_args(json!({})), LOAD);
    assert_eq!(r["success"], true, "attach: {r}");
    let r = c.request("configurationDone", json!({}), PROMPT);
    assert_eq!(r["success"], true, "configurationDone: {r}");
    c.send("continue", json!({"threadId": 1}));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut notes = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(m) = c.read(left) else { break };
        if m["event"] == "output" {
            let out = m["body"]["output"].as_str().unwrap_or("").to_string();
            if out.contains("jumped over") {
                notes.push(out);
            }
        }
        // The end of the recording is a stop (reverse motions go on from there).
        if m["event"] == "stopped" || m["event"] == "terminated" || m["event"] == "exited" {
            break;
        }
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("preempted slice") && n.contains("event")),
        "no DAP output event named the jumped slices: {notes:?}"
    );
}
