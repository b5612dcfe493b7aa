//! syscall.Exec in a multi-threaded program (Go's syscall TestExec): the
//! kernel kills the other threads and waits until the tracer has collected
//! them before the new image runs. Recording and replay must collect those
//! deaths while the execve is in the kernel — waiting for the exec'ing
//! thread alone hangs — also when the exec'ing thread is not the leader and
//! takes the process id. Each run has a deadline: a hang fails the test.

mod common;

use std::time::Duration;

use common::*;

/// Natively the program runs in ~20 ms; recorded or replayed well under 2 s.
const RUN_DEADLINE: Duration = Duration::from_secs(20);

/// Trials per case: which threads are where at the exec varies.
const TRIALS: usize = 3;

fn exec_from(from: &str) {
    exec_with(from, &[], TRIALS);
}

fn exec_with(from: &str, extra: &[&str], trials: usize) {
    let s = Scratch::new();
    for version in go_versions() {
        let prog = example(&version, "execthreads");
        for i in 0..trials {
            let trace = s.path().join(format!("{version}-{from}-{i}"));
            let mut cmd = s.cmd();
            cmd.arg("record")
                .arg("-o")
                .arg(&trace)
                .arg("--")
                .arg(&prog)
                .arg("-from")
                .arg(from)
                .args(extra);
            let rec = output_within(&mut cmd, RUN_DEADLINE);
            assert!(
                rec.status.success(),
                "go{version} {from} trial {i}: recording failed: {}",
                text(&rec.stderr)
            );
            assert_eq!(
                text(&rec.stdout),
                format!("exec from {from}\nchild running, args: [from-{from}]\n"),
                "go{version} {from} trial {i}: recorded output"
            );
            let mut cmd = s.cmd();
            cmd.arg("replay").arg("-a").arg(&trace);
            let rep = output_within(&mut cmd, RUN_DEADLINE);
            assert_same(&format!("go{version} {from} trial {i}"), &rec, &rep);
        }
    }
}

#[test]
fn exec_from_the_leader_thread() {
    exec_from("main");
}

#[test]
fn exec_from_another_thread() {
    exec_from("other");
}

/// The leader runs its own code (reads the clock in a loop) when another
/// thread's exec kills it: a SIGKILL'd thread stops at no exit stop, so the
/// first stop replay sees on the leader's id is the exec'ing thread's exec
/// stop, which must be kept for the `Exec` event. Replay resumed it instead:
/// the new image ran without rrgo, and replay waited for a death that never
/// came (3 of 4 replays; Go's own `syscall` tests, `TestExec`).
#[test]
fn exec_from_another_thread_while_the_leader_runs() {
    exec_with("other", &["-leader-spins"], 4);
}
