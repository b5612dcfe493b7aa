//! Go-aware replay: goroutine dumps read from the replayed process.

mod common;

use common::*;

/// The first frame of user code (`main.`) in a Go traceback section.
fn first_main_frame(text: &str, goid: &str) -> Option<(String, String)> {
    let start = text.find(&format!("goroutine {goid} ["))?;
    let mut lines = text[start..].lines().skip(1);
    while let Some(l) = lines.next() {
        if l.starts_with("main.") {
            let func = l.split('(').next()?.to_string();
            let loc = lines.next()?.trim().split(' ').next()?.to_string();
            return Some((func, loc));
        }
        if l.is_empty() {
            break;
        }
    }
    None
}

/// At the moment the panic message is written, the dump names the same
/// goroutine, function and file:line as Go's own traceback.
#[test]
fn dump_at_the_panic_matches_gos_traceback() {
    for version in go_versions() {
        let s = Scratch::new();
        dump_at_the_panic(&version, &s, &example(&version, "panicker"));
    }
}

/// The same from a position-independent executable (loaded at another
/// address than it was linked at); its goroutine history too.
#[test]
fn goroutines_of_a_position_independent_executable() {
    for version in go_versions() {
        let s = Scratch::new();
        let exe = example_pie(&version, "panicker", s.path(), false);
        let trace = dump_at_the_panic(&version, &s, &exe);
        let out = s.run(&["replay", trace.to_str().unwrap(), "--goroutine", "1"]);
        let hist = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "go{version}: {}",
            text(&out.stderr)
        );
        assert!(
            hist.starts_with("goroutine 1: the main goroutine")
                && hist.contains("running on thread"),
            "go{version}: goroutine 1's history:\n{hist}"
        );
    }
}

/// Records `exe` (examples/panicker), checks the dump at its panic against
/// Go's traceback, and returns the trace.
fn dump_at_the_panic(version: &str, s: &Scratch, exe: &std::path::Path) -> std::path::PathBuf {
    {
        let (rec, trace) = s.record("t", exe, &[]);
        let go_says = program_stderr(&rec);
        let goid = go_says
            .lines()
            .find_map(|l| {
                l.strip_prefix("goroutine ")
                    .and_then(|r| r.split(' ').next())
            })
            .expect("a goroutine header in the traceback")
            .to_string();
        let expected = first_main_frame(&go_says, &goid).expect("a main.* frame in Go's traceback");
        let at = event_with(s, &trace, "to Stderr", false);
        let out = dump_at(s, &trace, &at);
        let ours = text(&out.stdout);
        assert!(
            ours.contains(&format!("goroutine {goid} [running]:")),
            "go{version}: goroutine {goid} not running in:\n{ours}"
        );
        let got = first_main_frame(&ours, &goid);
        assert_eq!(
            got,
            Some(expected.clone()),
            "go{version}: Go said {expected:?}; rrgo printed:\n{ours}"
        );
        assert!(
            expected
                .1
                .ends_with(&format!(":{}", marker_line("panicker", "panic"))),
            "{expected:?}"
        );
        trace
    }
}

#[test]
fn json_dump_lists_goroutines_with_states() {
    let s = Scratch::new();
    let (_, trace) = s.record("t", &example(&go_versions()[0], "goroutines"), &[]);
    let out = s.run(&["replay", trace.to_str().unwrap(), "--goroutines", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gs = v["goroutines"].as_array().unwrap();
    let main = gs.iter().find(|g| g["goid"] == 1).expect("goroutine 1");
    assert!(
        main["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["function"] == "main.main"),
        "{main}"
    );
    assert!(gs.iter().all(|g| g["status"] != "dead"));
}

/// A dump asked for past the program's exit_group (its memory being torn
/// down: one of two read errors, an empty dump or a garbage frame, run to
/// run) is the dump at the exit_group, the same every time, and says so;
/// one before the runtime made a goroutine says that.
#[test]
fn a_dump_past_the_exit_is_the_one_at_the_exit_and_one_before_the_start_says_so() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&go_versions()[0], "goroutines"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let exit = dump_at(&s, &trace, "999999999");
    assert!(
        text(&exit.stderr).contains("after the program's exit_group"),
        "{}",
        text(&exit.stderr)
    );
    let plain = s.run(&["replay", trace.to_str().unwrap(), "--goroutines"]);
    assert_eq!(text(&exit.stdout), text(&plain.stdout));
    assert!(
        text(&exit.stdout).contains("main.main"),
        "{}",
        text(&exit.stdout)
    );
    for _ in 0..3 {
        assert_eq!(
            text(&dump_at(&s, &trace, "999999999").stdout),
            text(&exit.stdout)
        );
    }
    let start = text(&dump_at(&s, &trace, "0").stdout);
    assert!(
        start.contains("before the program read any clock") && start.contains("none yet"),
        "{start}"
    );
}

/// `rrgo replay --goroutines --at EVENT`, which must succeed.
fn dump_at(s: &Scratch, trace: &std::path::Path, at: &str) -> std::process::Output {
    let out = s.run(&[
        "replay",
        trace.to_str().unwrap(),
        "--goroutines",
        "--at",
        at,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    out
}

/// `(goid, state)` of every goroutine header in a dump, except `skip`.
fn headers(dump: &str, skip: &str) -> std::collections::BTreeSet<(u64, String)> {
    dump.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("goroutine ")?;
            let (id, state) = rest.split_once(" [")?;
            let state = state.strip_suffix("]:")?;
            (id != skip)
                .then(|| (id.parse().ok(), state.to_string()))
                .and_then(|(id, s)| Some((id?, s)))
        })
        .collect()
}

/// The dump at the moment the program printed `runtime.Stack(all)` lists the
/// same goroutines in the same wait states (reasons read from the binary's
/// own table, so version differences in their numbering do not matter).
#[test]
fn dump_matches_runtime_stack_all() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "stackdump"), &[]);
        let go_says = headers(&text(&rec.stdout), "1");
        assert!(go_says.len() >= 17, "go{version}: {go_says:?}");
        let at = event_with(&s, &trace, "to Stdout", false);
        let out = dump_at(&s, &trace, &at);
        let ours = headers(&text(&out.stdout), "1");
        // The goroutine that had not run when Go dumped may have run (and
        // parked at once, on the same line) before the dump was written,
        // when main was preempted in between: its state is Go's or that.
        let not_run = go_says
            .iter()
            .find(|(_, state)| state == "runnable")
            .cloned();
        let differ: Vec<_> = ours.symmetric_difference(&go_says).collect();
        assert!(
            differ.is_empty()
                || not_run.as_ref().is_some_and(|(id, _)| {
                    differ.len() == 2
                        && differ.contains(&&(*id, "chan receive".to_string()))
                        && differ.iter().all(|(g, _)| g == id)
                }),
            "go{version}: rrgo's dump differs from Go's: {ours:?} against {go_says:?}"
        );
        // Each one is blocked at its marked line in main; the one that has
        // not run yet is at its function's first line (its saved pc is the
        // entry, which the walk once looked up one byte before: no frame).
        let dump_text = text(&out.stdout);
        for marker in [
            "recv", "send", "select", "lock", "rlock", "cond", "wait", "sleep", "neverran",
        ] {
            let line = format!(
                "examples/stackdump/main.go:{}",
                marker_line("stackdump", marker)
            );
            assert!(
                dump_text.contains(&line),
                "go{version}: no frame at {line} in:\n{dump_text}"
            );
        }
    }
}

/// sigterm-delay sending itself SIGTERM after 300 ms, recorded (asserted to
/// succeed). Its own timeout is generous: on a loaded machine a pass of its
/// worker can outlast the default 10 s.
fn record_sigterm_delay(s: &Scratch) -> std::path::PathBuf {
    let (rec, trace) = s.record(
        "t",
        &example(&go_versions()[0], "sigterm-delay"),
        &["-self-term", "300ms", "-work", "500", "-timeout", "100s"],
    );
    assert!(rec.status.success(), "recording: {}", text(&rec.stderr));
    trace
}

/// The demo's question: the SIGTERM handler goroutine waits in chan receive,
/// is woken after the SIGTERM arrives, then waits for the mutex, then runs.
#[test]
fn sigterm_handler_history() {
    let s = Scratch::new();
    let trace = record_sigterm_delay(&s);
    let t = trace.to_str().unwrap();
    let dump = text(&s.run(&["dump", t]).stdout);
    let sigterm: u64 = dump
        .lines()
        .find(|l| l.contains("signal 15 "))
        .and_then(|l| {
            l.trim_start_matches('#')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .expect("a SIGTERM event");
    let out = s.run(&[
        "replay",
        t,
        "--goroutines",
        "--json",
        "--at",
        &sigterm.to_string(),
    ]);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)));
    let handler = v["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| {
            g["frames"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["function"] == "main.handleSignals")
        })
        .expect("the handler goroutine")["goid"]
        .as_u64()
        .unwrap();
    let out = s.run(&["replay", t, "--goroutine", &handler.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = h["history"].as_array().unwrap();
    let events: Vec<u64> = entries
        .iter()
        .map(|e| e["event"].as_u64().unwrap())
        .collect();
    // Several transitions can happen before one event (casgstatus breakpoints).
    assert!(events.windows(2).all(|w| w[0] <= w[1]), "{events:?}");
    let find = |state: &str, after: u64| {
        entries
            .iter()
            .find(|e| e["state"] == state && e["event"].as_u64().unwrap() > after)
            .map(|e| e["event"].as_u64().unwrap())
    };
    let recv = find("waiting: chan receive", 0).unwrap_or_else(|| panic!("no chan receive: {h}"));
    assert!(recv < sigterm, "{h}");
    // The goroutine ran before it first blocked, although no event falls
    // between the two (only the casgstatus breakpoint sees that).
    let first_wait = entries
        .iter()
        .position(|e| e["state"] == "waiting: chan receive")
        .unwrap();
    assert!(
        entries[..first_wait]
            .iter()
            .any(|e| e["state"] == "running"),
        "{h}"
    );
    let lock = find("waiting: sync.Mutex.Lock", sigterm)
        .unwrap_or_else(|| panic!("no mutex wait after the SIGTERM: {h}"));
    // The wait names the mutex and its holder: another goroutine, the worker.
    let wait = entries
        .iter()
        .find(|e| e["event"].as_u64() == Some(lock) && e["state"] == "waiting: sync.Mutex.Lock")
        .unwrap();
    assert_eq!(wait["lock"]["mutex_name"], "main.stateMu", "{wait}");
    let holder = wait["lock"]["holder"]["goid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no holder: {h}"));
    assert_ne!(holder, handler, "{wait}");
    assert_eq!(wait["lock"]["holder"]["function"], "main.worker", "{wait}");
    find("running", lock).unwrap_or_else(|| panic!("never ran after the mutex: {h}"));
    // --reverse lists the same entries newest first.
    let out = s.run(&[
        "replay",
        t,
        "--goroutine",
        &handler.to_string(),
        "--json",
        "--reverse",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rev: Vec<u64> = r["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_u64().unwrap())
        .collect();
    rev.reverse();
    assert_eq!(rev, events);
}

/// The signal timeline explains sigterm-delay: the handler goroutine gets
/// the signal, then waits for the mutex while the worker runs.
#[test]
fn signal_timeline_explains_the_delay() {
    let s = Scratch::new();
    let trace = record_sigterm_delay(&s);
    let out = s.run(&["replay", trace.to_str().unwrap(), "--signals"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.starts_with("SIGTERM at event "), "{t}");
    // Through the runtime's handler, in order, before the os/signal loop woke.
    let handler = t.find("runtime.sighandler) ran on thread").expect(&t);
    let queued = t.find("runtime.sigsend queued it").expect(&t);
    let woke = t.find("os/signal loop").expect(&t);
    assert!(handler < queued && queued < woke, "{t}");
    assert!(
        t.contains("received it") && t.contains("main.handleSignals"),
        "{t}"
    );
    // Who held the mutex: the worker, locked where its loop locks it, and
    // its unlock.
    let lock = format!("main.go:{}", marker_line("sigterm-delay", "worker-lock"));
    let unlock = format!("main.go:{}", marker_line("sigterm-delay", "worker-unlock"));
    let wait = t
        .lines()
        .find(|l| l.contains(": sync.Mutex.Lock for mutex main.stateMu"))
        .unwrap_or_else(|| panic!("no wait for main.stateMu: {t}"));
    assert!(
        wait.contains(", which locked it in main.worker at ") && wait.contains(&lock),
        "{t}"
    );
    assert!(
        t.lines().any(
            |l| l.contains("unlocked mutex main.stateMu in main.worker") && l.contains(&unlock)
        ),
        "{t}"
    );
    assert!(t.contains("finished"), "{t}");
    assert!(t.contains("\n  handled in "), "{t}");
    // The index is cached next to the trace for the next query.
    assert!(trace.join("goindex").exists());
}

/// Who held the mutex, on a program the index was not written for: a cache
/// whose refresh sleeps holding a heap object's mutex (unlocked by a
/// defer), and a global mutex held across a CPU-bound pass. The waiter's
/// history names each holder, where it locked and unlocked, and how long it
/// held the mutex — at least as long as the waiter measured its wait.
#[test]
fn mutex_waits_name_the_holder_where_and_how_long() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "lockholders"), &[]);
        assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
        let out = text(&rec.stdout);
        // "get waited 0.301s (answer 42)", "register waited 0.152s (2 entries)"
        let waited = |what: &str| program_measured(&out, what);
        let h = serde_json::json!({ "history": h_of(&s, &trace, 1) });
        let locks: Vec<&serde_json::Value> = h["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.get("lock"))
            .collect();
        let line = |m: &str| format!("main.go:{}", marker_line("lockholders", m));
        for (lock, holder_fn, release_fn, (at, unlock), measured, name) in [
            (
                locks.first(),
                "main.(*cache).refresh",
                "main.(*cache).refresh.deferwrap1",
                ("refresh-lock", "refresh-unlock"),
                waited("get"),
                None,
            ),
            (
                locks.last(),
                "main.rehash",
                "main.rehash",
                ("rehash-lock", "rehash-unlock"),
                waited("register"),
                Some("main.registryMu"),
            ),
        ] {
            let lock = lock.unwrap_or_else(|| panic!("go{version}: no mutex waits: {h}"));
            let ctx = format!("go{version}: {lock}");
            let (holder, released) = (&lock["holder"], &lock["released"]);
            assert_eq!(holder["function"], holder_fn, "{ctx}");
            assert!(
                holder["location"].as_str().unwrap().ends_with(&line(at)),
                "{ctx}"
            );
            assert_eq!(released["function"], release_fn, "{ctx}");
            assert!(
                released["location"]
                    .as_str()
                    .unwrap()
                    .ends_with(&line(unlock)),
                "{ctx}"
            );
            assert_eq!(holder["goid"], released["goid"], "{ctx}");
            assert_ne!(holder["goid"], 1, "{ctx}");
            if let Some(name) = name {
                assert_eq!(lock["mutex_name"], name, "{ctx}");
            }
            let ns = |v: &serde_json::Value| v["time_ns"].as_u64().unwrap();
            let held = (ns(released) - ns(holder)) as f64 / 1e9;
            let wait = (ns(released) - ns(lock)) as f64 / 1e9;
            // Locked before the wait, released after it began; the wait
            // until the release is most of what the program measured (which
            // also covers spinning first and getting a thread after).
            assert!(
                ns(holder) <= ns(lock) && wait <= measured + 0.02 && wait + 0.02 >= measured * 0.5,
                "{ctx}: waited {wait}s until the release, held {held}s; the program waited {measured}s"
            );
        }
        assert_eq!(locks.len(), 2, "go{version}: {h}");
        let history = h["history"].as_array().unwrap();
        // A channel wait names the goroutine and line whose close ended it.
        let recv = history
            .iter()
            .position(|e| {
                e["state"] == "waiting: chan receive"
                    && e["location"]
                        .as_str()
                        .is_some_and(|l| l.ends_with(&line("main-waits-rehash")))
            })
            .unwrap_or_else(|| panic!("go{version}: no wait for rehash to start: {h}"));
        let woke = history[recv..]
            .iter()
            .find(|e| e["state"] == "runnable")
            .unwrap_or_else(|| panic!("go{version}: {h}"));
        assert_eq!(
            woke["woken_by"]["function"], "main.rehash",
            "go{version}: {woke}"
        );
        assert!(
            woke["woken_by"]["location"]
                .as_str()
                .is_some_and(|l| l.ends_with(&line("rehash-started"))),
            "go{version}: {woke}"
        );
        // Each wait ended with the holder's unlock waking the waiter.
        for lock in &locks {
            let woke = history
                .iter()
                .find(|e| e["event"].as_u64() >= lock["event"].as_u64() && e["state"] == "runnable")
                .unwrap_or_else(|| panic!("go{version}: never runnable after {lock}: {h}"));
            assert_eq!(
                woke["woken_by"]["goid"], lock["holder"]["goid"],
                "go{version}: {woke}"
            );
        }
    }
}

/// What stalled a goroutine, beyond a plain mutex, on a second program
/// (`examples/stalls`): a slow channel sender, a stuck WaitGroup worker, a
/// reader holding a RWMutex a writer waits for and a writer holding it
/// against a reader. Each wait names the goroutine and line that ended it,
/// the RWMutex waits also where the holder locked it; the waits last about
/// what the program measured. Optimized and `-N -l` builds (where the
/// RWMutex's atomics are not inlined). And where waits are placed (see
/// `waits_are_placed_in_the_programs_own_package_and_at_the_blocking_syscall`).
#[test]
fn waits_name_the_slow_sender_the_stuck_worker_and_the_rwmutex_holders() {
    let line = |m: &str| format!("main.go:{}", marker_line("stalls", m));
    for version in go_versions() {
        for build in ["stalls", "stalls.debug"] {
            let s = Scratch::new();
            let (rec, trace) = s.record("t", &example(&version, build), &[]);
            assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
            let out = text(&rec.stdout);
            // "recv waited 0.201s (got 42)"
            let measured = |what: &str| program_measured(&out, what);
            let history = h_of(&s, &trace, 1);
            waits_are_placed_in_the_programs_own_package_and_at_the_blocking_syscall(
                &format!("go{version} {build}"),
                &history,
                &out,
            );
            let h = serde_json::json!({ "history": history });
            let ns = |v: &serde_json::Value| v["time_ns"].as_u64().unwrap();
            for (state, at, waker_fn, woke_at, what) in [
                (
                    "waiting: chan receive",
                    "main-recv",
                    "main.slowProducer",
                    "slow-send",
                    "recv",
                ),
                (
                    "waiting: sync.WaitGroup.Wait",
                    "main-wait",
                    "main.stuckWorker",
                    "worker-done",
                    "wait",
                ),
                (
                    "waiting: sync.RWMutex.Lock",
                    "main-lock",
                    "main.reader",
                    "reader-runlock",
                    "write-lock",
                ),
                (
                    "waiting: sync.RWMutex.RLock",
                    "main-rlock",
                    "main.writer",
                    "writer-unlock",
                    "read-lock",
                ),
                // The program's cancel() call, not the context package's
                // line that closed the channel.
                (
                    "waiting: chan receive",
                    "main-done",
                    "main.canceller",
                    "cancel-call",
                    "ctx-done",
                ),
            ] {
                let ctx = format!("go{version} {build} {state}");
                let i = history
                    .iter()
                    .position(|e| {
                        e["state"] == state
                            && e["location"]
                                .as_str()
                                .is_some_and(|l| l.ends_with(&line(at)))
                    })
                    .unwrap_or_else(|| panic!("{ctx}: no such wait: {h}"));
                let wait = &history[i];
                let woke = history[i..]
                    .iter()
                    .find(|e| e["state"] == "runnable")
                    .unwrap_or_else(|| panic!("{ctx}: never woken: {h}"));
                let by = &woke["woken_by"];
                assert_eq!(by["function"], waker_fn, "{ctx}: {woke}");
                assert_ne!(by["goid"], 1, "{ctx}: {woke}");
                assert!(
                    by["location"]
                        .as_str()
                        .is_some_and(|l| l.ends_with(&line(woke_at))),
                    "{ctx}: {woke}"
                );
                let waited = (ns(woke) - ns(wait)) as f64 / 1e9;
                let measured = measured(what);
                assert!(
                    waited <= measured + 0.02 && waited + 0.02 >= measured * 0.5,
                    "{ctx}: waited {waited}s in the index, the program measured {measured}s"
                );
                if what == "recv" {
                    // The sender slept 200 ms: its sleep names the deadline.
                    let sleep = h_of(&s, &trace, by["goid"].as_u64().unwrap())
                        .into_iter()
                        .find(|e| e["state"] == "waiting: sleep")
                        .unwrap_or_else(|| panic!("{ctx}: the sender never slept"));
                    let (start, until) = (ns(&sleep), sleep["until_ns"].as_u64().unwrap());
                    assert!(
                        (until - start).abs_diff(200_000_000) < 5_000_000 && until <= ns(woke),
                        "{ctx}: {sleep}"
                    );
                }
                let Some(lock) = wait.get("lock") else {
                    assert!(!state.contains("RWMutex"), "{ctx}: no holder: {wait}");
                    continue;
                };
                let (kind, locked_at, holder_fn) = if state.ends_with(".RLock") {
                    ("rwmutex-read", "writer-lock", "main.writer")
                } else {
                    ("rwmutex-write", "reader-rlock", "main.reader")
                };
                assert_eq!(lock["kind"], kind, "{ctx}: {lock}");
                assert_eq!(lock["mutex_name"], "main.config", "{ctx}: {lock}");
                let (holder, released) = (&lock["holder"], &lock["released"]);
                assert_eq!(holder["function"], holder_fn, "{ctx}: {lock}");
                assert!(
                    holder["location"]
                        .as_str()
                        .is_some_and(|l| l.ends_with(&line(locked_at))),
                    "{ctx}: {lock}"
                );
                assert_eq!(holder["goid"], by["goid"], "{ctx}: {lock}");
                assert_eq!(released["goid"], by["goid"], "{ctx}: {lock}");
                assert!(
                    released["location"]
                        .as_str()
                        .is_some_and(|l| l.ends_with(&line(woke_at))),
                    "{ctx}: {lock}"
                );
                // Held from before the wait to the release that ended it.
                assert!(
                    ns(holder) <= ns(wait) && ns(released) <= ns(woke),
                    "{ctx}: {lock}"
                );
            }
        }
    }
}

/// Where a wait is placed (asserted on `stalls`' histories of goroutine 1,
/// `out` its output): in the program's own package that blocked (its
/// `ledger`, a package of its module; it was placed at the line of main
/// that called into it), and at the syscall it blocks in (a read(2) right
/// after a Println's write(2): under Go 1.26+ no event falls between the
/// two, and the 150 ms read was placed at the Println).
fn waits_are_placed_in_the_programs_own_package_and_at_the_blocking_syscall(
    ctx: &str,
    history: &[serde_json::Value],
    out: &str,
) {
    let main_line = |m: &str| format!("examples/stalls/main.go:{}", marker_line("stalls", m));
    let ledger_line = |m: &str| {
        format!(
            "examples/stalls/ledger/ledger.go:{}",
            marker_line_in("stalls/ledger/ledger.go", m)
        )
    };
    let h = serde_json::json!({ "history": history });
    let at =
        |e: &serde_json::Value, l: &str| e["location"].as_str().is_some_and(|x| x.ends_with(l));
    let ns = |v: &serde_json::Value| v["time_ns"].as_u64().unwrap();
    let post = history
        .iter()
        .find(|e| e["state"] == "waiting: sync.Mutex.Lock" && at(e, &ledger_line("ledger-post")))
        .unwrap_or_else(|| panic!("{ctx}: no wait in ledger.(*Book).Post: {h}"));
    assert_eq!(
        post["function"], "rrgo.dev/examples/stalls/ledger.(*Book).Post",
        "{ctx}: {post}"
    );
    assert!(
        at(&post["lock"]["holder"], &ledger_line("ledger-hold")),
        "{ctx}: {post}"
    );
    let i = history
        .iter()
        .position(|e| e["state"] == "syscall" && at(e, &main_line("main-read")))
        .unwrap_or_else(|| panic!("{ctx}: no syscall at the pipe read: {h}"));
    let blocked = (ns(&history[i + 1]) - ns(&history[i])) as f64 / 1e9;
    let measured = program_measured(out, "pipe-read");
    assert!(
        blocked <= measured + 0.02 && blocked + 0.02 >= measured,
        "{ctx}: in read(2) {blocked}s in the index, the program measured {measured}s: {h}"
    );
    // The Println before it is a short syscall of its own.
    if let Some(j) = history
        .iter()
        .position(|e| e["state"] == "syscall" && at(e, &main_line("main-print")))
    {
        let short = (ns(&history[j + 1]) - ns(&history[j])) as f64 / 1e9;
        assert!(
            short < 0.05,
            "{ctx}: the Println's write took {short}s: {h}"
        );
    }
}

/// What the program printed it waited for `what`: "WHAT waited 0.301s …".
fn program_measured(out: &str, what: &str) -> f64 {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{what} waited "))?
                .split('s')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no \"{what} waited\" line: {out}"))
}

/// Goroutine `goid`'s history entries (`--goroutine N --json`).
fn h_of(s: &Scratch, trace: &std::path::Path, goid: u64) -> Vec<serde_json::Value> {
    h_if_any(s, trace, goid).unwrap_or_else(|| panic!("goroutine {goid} never existed"))
}

/// `h_of`, or None for a goroutine id the recording never had (ids are
/// handed out in batches per P, and how many goroutines a server starts
/// depends on scheduling).
fn h_if_any(s: &Scratch, trace: &std::path::Path, goid: u64) -> Option<Vec<serde_json::Value>> {
    let id = goid.to_string();
    let h = s.run(&[
        "replay",
        trace.to_str().unwrap(),
        "--goroutine",
        &id,
        "--json",
    ]);
    if h.status.code() == Some(2) && text(&h.stderr).contains("never existed") {
        return None;
    }
    assert_eq!(h.status.code(), Some(0), "{}", text(&h.stderr));
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    Some(h["history"].as_array().unwrap().clone())
}

/// A goroutine waiting on the network is woken by the poller, which names
/// the file descriptor and what it became ready for: in `httpserver`, the
/// client's and the server's connections.
#[test]
fn network_waits_name_the_ready_descriptor() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "httpserver"), &[]);
        assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
        let mut woken = Vec::new();
        for goid in 1..=40 {
            let Some(h) = h_if_any(&s, &trace, goid) else {
                continue;
            };
            for pair in h.windows(2) {
                if pair[0]["state"] == "waiting: IO wait" {
                    woken.push(pair[1]["woken_by"]["io"].clone());
                }
            }
        }
        assert!(woken.len() >= 5, "go{version}: {woken:?}");
        let by_poller: Vec<_> = woken.iter().filter(|io| !io.is_null()).collect();
        // Most network waits end by the poller (a deadline's timer or a
        // close may end some).
        assert!(by_poller.len() * 2 >= woken.len(), "go{version}: {woken:?}");
        for io in by_poller {
            assert!(io["fd"].as_i64().unwrap() >= 3, "go{version}: {io}");
            assert!(
                ["read", "write"].contains(&io["ready_for"].as_str().unwrap()),
                "go{version}: {io}"
            );
        }
    }
}

/// The goroutine index is the same however often it is built: threads
/// resumed into a skipped syscall are collected at their stop before
/// registers are read (before, a running goroutine's frames were missing
/// whenever its thread's stop had not arrived yet: 1 build in 4 on
/// `httpserver`).
#[test]
fn the_goroutine_index_is_built_the_same_every_time() {
    let version = go_versions().pop().unwrap();
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&version, "httpserver"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let mut first: Option<Vec<serde_json::Value>> = None;
    for build in 0..6 {
        let _ = std::fs::remove_file(trace.join("goindex"));
        let h = h_of(&s, &trace, 1);
        match &first {
            None => first = Some(h),
            Some(f) => {
                let at = f.iter().zip(&h).position(|(a, b)| a != b);
                assert!(
                    at.is_none() && f.len() == h.len(),
                    "build {build} differs from the first: {:?} vs {:?}",
                    at.map(|i| &f[i]),
                    at.map(|i| &h[i])
                );
            }
        }
    }
}

/// The browser `scripts/setup.sh` installs (Debian's chromium).
fn chromium() -> String {
    for name in ["chromium", "chromium-browser"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return name.to_string();
        }
    }
    panic!("no chromium on PATH: scripts/setup.sh installs it (apt-get install chromium)");
}

/// `--timeline FILE.html` writes a page that renders in a real (headless)
/// browser without errors: a row per goroutine, the SIGTERM, and the edge
/// from the handler waiting for the mutex to the worker holding it.
/// `--timeline FILE.json` is Chrome's trace-event format.
#[test]
fn timeline_page_renders_goroutines_signal_and_lock_edge() {
    let s = Scratch::new();
    let trace = record_sigterm_delay(&s);
    let t = trace.to_str().unwrap();
    let page = s.path().join("timeline.html");
    let out = s.run(&["replay", t, "--timeline", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Who the handler and the worker are, from the index.
    let v: serde_json::Value =
        serde_json::from_slice(&s.run(&["replay", t, "--signals", "--json"]).stdout).unwrap();
    let lock = v["signals"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|st| st.get("lock"))
        .unwrap_or_else(|| panic!("no mutex wait: {v}"))
        .clone();
    let holder = lock["holder_goroutine"].as_u64().unwrap();

    let dom = output_within(
        std::process::Command::new(chromium())
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
            .arg(format!("file://{}", page.display()))
            .stdin(std::process::Stdio::null()),
        DEADLINE,
    );
    let dom = text(&dom.stdout);
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "the page did not render: {dom}"
    );
    assert!(
        !dom.contains("data-error="),
        "the page reported an error: {dom}"
    );
    assert!(
        dom.contains("class=\"signal\" data-name=\"SIGTERM\""),
        "{dom}"
    );
    assert!(dom.contains(&format!("data-goid=\"{holder}\"")), "{dom}");
    assert!(
        dom.contains(&format!("data-holder=\"{holder}\"")),
        "no lock edge: {dom}"
    );
    assert!(
        dom.contains("main.handleSignals") && dom.contains("main.worker"),
        "{dom}"
    );
    // No network: nothing in the page loads from anywhere.
    let html = std::fs::read_to_string(&page).unwrap();
    for loads in ["src=\"http", "href=\"http", "https://", "@import", "fetch("] {
        assert!(!html.contains(loads), "the page loads something ({loads})");
    }

    let json = s.path().join("timeline.json");
    let out = s.run(&["replay", t, "--timeline", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let events = ev["traceEvents"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["ph"] == "i" && e["name"] == "SIGTERM"));
    assert!(events.iter().any(|e| e["ph"] == "X" && e["tid"] == holder));
    assert!(events.iter().any(|e| e["ph"] == "f" && e["tid"] == holder));
}

/// The timeline page of `trace` built with index probes (`probes` "1") or
/// breakpoints only ("0"), with the index's debug log; `log_kb`: the
/// probe log's size. Returns the page's bytes followed by the histories
/// (`--goroutine N --json`: their wakers too, which the page does not
/// show) of goroutine 1 and the server's connections (`go c.serve()`:
/// woken by the network poller), and rrgo's stderr.
fn timeline_built(
    s: &Scratch,
    trace: &std::path::Path,
    probes: &str,
    log_kb: Option<&str>,
) -> (Vec<u8>, String) {
    let _ = std::fs::remove_file(trace.join("goindex"));
    let file = s.path().join(format!("timeline-{probes}.json"));
    let mut cmd = s.cmd();
    cmd.env("RRGO_INDEX_PROBES", probes)
        .env("RRGO_LOG", "rrgo::commands::goindex=debug");
    if let Some(kb) = log_kb {
        cmd.env("RRGO_PROBE_LOG_KB", kb);
    }
    cmd.arg("replay")
        .arg(trace)
        .args(["--timeline", file.to_str().unwrap()]);
    let o = output_within(&mut cmd, DEADLINE);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut built = std::fs::read(&file).unwrap();
    let page: serde_json::Value = serde_json::from_slice(&built).unwrap();
    let readers = page["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter(|e| {
            e["args"]["name"]
                .as_str()
                .unwrap()
                .ends_with("(*conn).serve")
        })
        .map(|e| e["tid"].as_u64().unwrap());
    for goid in std::iter::once(1).chain(readers) {
        let mut cmd = s.cmd();
        cmd.arg("replay")
            .arg(trace)
            .args(["--goroutine", &goid.to_string(), "--json"]);
        built.extend(output_within(&mut cmd, DEADLINE).stdout);
    }
    (built, text(&o.stderr))
}

/// From an index's debug log: (probes placed, sites offered).
fn probes_placed(log: &str) -> (u64, u64) {
    let placed = log
        .lines()
        .find_map(|l| l.split("index probes placed=").nth(1))
        .unwrap_or_else(|| panic!("no probes placed:\n{log}"));
    let (n, of) = placed.split_once(" of=").unwrap();
    (n.trim().parse().unwrap(), of.trim().parse().unwrap())
}

/// The index's probes (logging trampolines in place of breakpoints at the
/// runtime's hot functions and the locks' atomics) see what breakpoints
/// see: the timeline of a loaded web server — every goroutine's states
/// and lock holders — and goroutines' histories with their wakers (the
/// network poller's too) are the same byte for byte built either way
/// (`RRGO_INDEX_PROBES=0`: breakpoints only), on both Go versions, and
/// the probes were placed. Their log is the smallest (64 KiB): when full,
/// its writer stops to have it drained (the `time` package's tests filled
/// the 64 MiB one between two events and lost 67,953 visits).
#[test]
fn index_probes_see_what_breakpoints_see() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "httpserver"), &["-load", "300"]);
        assert!(rec.status.success(), "{}", text(&rec.stderr));
        // The smallest log: it fills many times over.
        let (with, log) = timeline_built(&s, &trace, "1", Some("64"));
        let (without, _) = timeline_built(&s, &trace, "0", None);
        let (n, of) = probes_placed(&log);
        assert!(n > 100 && n == of, "{version}: {n} of {of} probes placed");
        // A full log stopped its writer to be drained: nothing was lost.
        let full: u64 = log
            .split("log_full=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{version}: no log_full in\n{log}"));
        assert!(full > 0, "{version}: the 64 KiB log never filled");
        assert!(!log.contains("overflowed"), "{version}: {log}");
        // The network poller's wakings (seen by a probe at netpollready).
        assert!(
            text(&with).contains("\"ready_for\""),
            "{version}: no goroutine woken by the network poller"
        );
        assert!(
            with == without,
            "{version}: the timelines differ ({} vs {} bytes)",
            with.len(),
            without.len()
        );
    }
}

/// A program that faults at a mutex's own atomic (Lock on a nil struct's
/// mutex field, recovered, 40 times): the index moves that instruction
/// into a probe's trampoline, where the fault comes at the trampoline's
/// address. Replay hands it to the program as its own fault at the
/// original instruction, so Go's handler recovers as recorded; before,
/// the handler saw an unknown pc, the replay diverged and the index was
/// built again with breakpoints (a warning), and probes were kept off
/// every site that could fault whenever a trace had any fault.
#[test]
fn a_fault_in_a_probed_instruction_is_the_programs_own() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "nilfaults"), &[]);
        assert!(rec.status.success(), "{}", text(&rec.stderr));
        assert!(
            text(&rec.stdout).contains("recovered 40 nil-mutex faults"),
            "{}",
            text(&rec.stdout)
        );
        let (with, log) = timeline_built(&s, &trace, "1", None);
        let (without, _) = timeline_built(&s, &trace, "0", None);
        assert!(
            !log.contains("diverged"),
            "{version}: the index diverged with probes:\n{log}"
        );
        let (n, of) = probes_placed(&log);
        assert!(n == of && n > 0, "{version}: {n} of {of} probes placed");
        // The faulting site is among them, visited once per fault (when
        // the log's most-visited list reaches it).
        let visits = log
            .lines()
            .find(|l| l.contains("index visits"))
            .unwrap_or_default();
        for v in visits.split(',').filter(|v| v.contains("(main.lockNil)")) {
            assert!(
                v.trim().trim_start_matches("most: ").starts_with("40 at "),
                "{version}: {visits}"
            );
        }
        assert!(with == without, "{version}: the timelines differ");
    }
}

/// The goroutine index of a program that runs children (os/exec, which
/// forks with CLONE_VFORK): the parent's stop in the clone comes only once
/// the child has exec'd, which replay runs later. The index waited for it
/// at the fork and stalled for 60 s, then failed; it now shows main's
/// history through `cmd.Run`.
#[test]
fn the_index_of_a_program_running_children_does_not_wait_at_the_vfork() {
    let version = go_versions().pop().unwrap();
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&version, "osexec"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let t = trace.to_str().unwrap();
    let out = output_within(
        s.cmd().args(["replay", t, "--goroutine", "1"]),
        std::time::Duration::from_secs(50),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = marker_line("osexec", "run-shell");
    let at = format!("osexec/main.go:{run}");
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains("in main.runShell at ") && l.contains(&at)),
        "no state in runShell ({at}):\n{}",
        text(&out.stdout)
    );
}

/// A signal's time is when it came, also where the program read no clock
/// for long before it: idleterm waits idle for a SIGTERM sent 600 ms after
/// it is ready. The index gave the signal the time of the program's last
/// clock read (its start), about 600 ms early, and every step after it a
/// made-up delay; the recorder now notes the clock at the signal.
#[test]
fn an_idle_programs_signal_has_the_time_it_came() {
    let s = Scratch::new();
    let trace = s.path().join("t");
    let bg = s.record_until_ready(&[], &trace, &example(&newest(), "idleterm"), &[]);
    std::thread::sleep(std::time::Duration::from_millis(600));
    // SAFETY: signalling the recorded program.
    unsafe { libc::kill(bg.pid, libc::SIGTERM) };
    let rec = bg.finish();
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let printed: f64 = text(&rec.stdout)
        .trim()
        .strip_prefix("SIGTERM after ")
        .and_then(|r| r.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", text(&rec.stdout)));
    assert!(printed >= 600.0, "{printed}");
    let out = s.run(&["replay", trace.to_str().unwrap(), "--signals", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = &v["signals"][0];
    assert_eq!(sig["signal"], "SIGTERM", "{v}");
    // From the runtime's first clock read, a few ms before main's start,
    // to the signal, a little before the program read the clock for it.
    let since_ms = sig["since_start_ns"].as_u64().expect("a time") as f64 / 1e6;
    assert!(
        (printed - 100.0..printed + 100.0).contains(&since_ms),
        "rrgo says the signal came {since_ms} ms after the start, the program {printed} ms"
    );
}

/// A program built without DWARF (release builds are stripped): the
/// goroutine views cannot read the runtime's structures. `--signals`
/// printed "no signals" (exit 0) although the program took a SIGTERM, and
/// `--timeline` wrote a page of 0 goroutines; they now refuse as
/// `--goroutines` does, before replaying anything.
#[test]
fn goroutine_views_of_a_stripped_program_refuse_instead_of_showing_nothing() {
    let s = Scratch::new();
    let exe = s.path().join("sigterm-delay.stripped");
    let st = std::process::Command::new("strip")
        .arg("-o")
        .arg(&exe)
        .arg(example(&newest(), "sigterm-delay"))
        .status()
        .expect("strip (binutils) runs");
    assert!(st.success());
    let (rec, trace) = s.record(
        "t",
        &exe,
        &["-self-term", "100ms", "-work", "50", "-timeout", "100s"],
    );
    assert!(rec.status.success(), "recording: {}", text(&rec.stderr));
    let page = s.path().join("t.html");
    for args in [
        vec!["--signals"],
        vec!["--goroutines"],
        vec!["--goroutine", "1"],
        vec!["--timeline", page.to_str().unwrap()],
    ] {
        let out = output_within(s.cmd().arg("replay").arg(&trace).args(&args), DEADLINE);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stderr).contains("built without DWARF"),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).is_empty(), "{args:?}");
    }
    assert!(!page.exists());
    // The replay itself needs no DWARF.
    assert!(s.replay(&trace).status.success());
}

/// `examples/stalls`' last phase: main write-locks a RWMutex that two
/// readers hold and waits for both; a late reader queues behind main. The
/// writer's wait names the reader that left last (it was told the first
/// one, which left 140 ms earlier), the other as also holding; the late
/// reader's names main as the writer, with when main got the lock (the
/// last reader's unlock): main held it 80 ms, not the 280 ms since it asked.
/// Then main waits on time.After: the timer woke it; and on a mutex passed
/// on while it waits: the wait names both holders and the second's unlock
/// (it named the first holder's, which let another goroutine in).
#[test]
fn a_writer_waiting_for_readers_names_the_last_and_whoever_queued_behind_it_when_it_held() {
    let line = |m: &str| format!("main.go:{}", marker_line("stalls", m));
    let at = |e: &serde_json::Value, m: &str| {
        e["location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&line(m)))
    };
    let ns = |v: &serde_json::Value| v["time_ns"].as_u64().unwrap();
    for version in go_versions() {
        for build in ["stalls", "stalls.debug"] {
            let ctx = format!("go{version} {build}");
            let s = Scratch::new();
            let (rec, trace) = s.record("t", &example(&version, build), &[]);
            assert!(rec.status.success(), "{ctx}: {}", text(&rec.stderr));
            let out = text(&rec.stdout);
            let main = h_of(&s, &trace, 1);
            let wait = main
                .iter()
                .find(|e| e["state"] == "waiting: sync.RWMutex.Lock" && at(e, "main-lock-readers"))
                .unwrap_or_else(|| panic!("{ctx}: no wait: {main:?}"));
            let lock = &wait["lock"];
            let (holder, released) = (&lock["holder"], &lock["released"]);
            assert_eq!(lock["kind"], "rwmutex-write", "{ctx}: {lock}");
            assert_eq!(holder["function"], "main.longReader", "{ctx}: {lock}");
            assert!(
                at(holder, "long-rlock") && at(released, "long-runlock"),
                "{ctx}: {lock}"
            );
            assert_eq!(released["goid"], holder["goid"], "{ctx}: {lock}");
            let others = lock["other_holders"].as_array().unwrap();
            assert!(
                others.iter().any(|o| o["function"] == "main.shortReader"),
                "{ctx}: {lock}"
            );
            // The late reader: found by its wait (goroutine ids are the runtime's).
            let late = (2..64)
                .filter_map(|g| h_if_any(&s, &trace, g))
                .flatten()
                .find(|e| e["state"] == "waiting: sync.RWMutex.RLock" && at(e, "late-rlock"))
                .unwrap_or_else(|| panic!("{ctx}: no late reader's wait"));
            let lock = &late["lock"];
            assert_eq!(lock["kind"], "rwmutex-read", "{ctx}: {lock}");
            assert_eq!(lock["holder"]["goid"], 1, "{ctx}: {lock}");
            assert!(at(&lock["holder"], "main-lock-readers"), "{ctx}: {lock}");
            let got = &lock["holder_got"];
            assert_eq!(got["event"], released["event"], "{ctx}: {lock}");
            assert_eq!(lock["released"]["goid"], 1, "{ctx}: {lock}");
            assert!(
                at(&lock["released"], "main-unlock-readers"),
                "{ctx}: {lock}"
            );
            // Held from getting it: main slept 80 ms, within what the late
            // reader measured it waited for main (a loaded machine stretches
            // both: 0.57 s once in CI).
            let held = (ns(&lock["released"]) - ns(got)) as f64 / 1e9;
            let asked = (ns(&lock["released"]) - ns(&lock["holder"])) as f64 / 1e9;
            let late_waited = program_measured(&out, "late-read-lock");
            assert!(
                held >= 0.075 && held <= late_waited + 0.001,
                "{ctx}: held {held}s, the late reader waited {late_waited}s: {lock}"
            );
            let measured = program_measured(&out, "readers-lock");
            // time.After: woken by the timer's send, not "the runtime in runtime.send".
            let i = main
                .iter()
                .position(|e| e["state"] == "waiting: chan receive" && at(e, "main-after"))
                .unwrap_or_else(|| panic!("{ctx}: no time.After wait"));
            let woke = main[i..].iter().find(|e| e["state"] == "runnable").unwrap();
            assert_eq!(
                woke["woken_by"]["function"], "time.sendTime",
                "{ctx}: {woke}"
            );
            // A mutex passed on during the wait: the first holder, then the
            // one queued before main, whose unlock let main in.
            let i = main
                .iter()
                .position(|e| e["state"] == "waiting: sync.Mutex.Lock" && at(e, "main-handed"))
                .unwrap_or_else(|| panic!("{ctx}: no handed-on wait"));
            let lock = &main[i]["lock"];
            assert_eq!(
                lock["holder"]["function"], "main.firstHolder",
                "{ctx}: {lock}"
            );
            let later = lock["later_holders"].as_array().unwrap();
            assert_eq!(later.len(), 1, "{ctx}: {lock}");
            assert!(at(&later[0], "second-lock"), "{ctx}: {lock}");
            assert_eq!(lock["released"]["goid"], later[0]["goid"], "{ctx}: {lock}");
            assert!(at(&lock["released"], "second-unlock"), "{ctx}: {lock}");
            let woke = main[i..].iter().find(|e| e["state"] == "runnable").unwrap();
            assert_eq!(woke["woken_by"]["goid"], later[0]["goid"], "{ctx}: {woke}");
            let told = s.run(&["replay", trace.to_str().unwrap(), "--goroutine", "1"]);
            assert!(
                text(&told.stdout).contains("woken by a timer sending on its channel"),
                "{ctx}: {}",
                text(&told.stdout)
            );
            assert!(
                asked >= measured,
                "{ctx}: asked {asked}s, waited {measured}s"
            );
        }
    }
}

/// Signals whose handling passes through another goroutine first
/// (`examples/sighandoff`, sent by the program to itself):
/// `signal.NotifyContext`'s goroutine receives SIGINT and cancels the
/// context, and the story follows main from `ctx.Done()` to the RWMutex a
/// reader holds (it said "woke no receiver: none was waiting"); SIGUSR1
/// comes while the SIGHUP handler is busy and waits in the channel: SIGHUP's
/// handling has no total (it was given both sleeps) and SIGUSR1 names the
/// busy handler (it said nobody was waiting, or stopped at the loop).
#[test]
fn signals_handed_on_by_notify_context_or_queued_behind_a_busy_handler() {
    let line = |m: &str| format!("main.go:{}", marker_line("sighandoff", m));
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "sighandoff"), &[]);
        assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
        let measured = program_measured(&text(&rec.stdout), "ctx-lock");
        let out = s.run(&["replay", trace.to_str().unwrap(), "--signals", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let story = |sig: &str| {
            v["signals"]
                .as_array()
                .unwrap()
                .iter()
                .find(|st| st["signal"] == sig)
                .unwrap_or_else(|| panic!("go{version}: no {sig}: {v}"))
                .clone()
        };
        let step = |st: &serde_json::Value, what: &str| {
            st["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["what"].as_str().unwrap_or("").contains(what))
                .cloned()
        };

        let int = story("SIGINT");
        let ctx = format!("go{version} SIGINT: {int}");
        // Sent by the program itself, handled by main (from ctx.Done()).
        let pid = int["sender_pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("{ctx}"));
        assert_eq!(int["sender"], format!("kill() from pid {pid}"), "{ctx}");
        assert_eq!(int["si_code"], 0, "{ctx}");
        assert_eq!(int["handler_goroutine"], 1, "{ctx}");
        let woke = step(&int, "(signal.NotifyContext's)").unwrap_or_else(|| panic!("{ctx}"));
        let what = woke["what"].as_str().unwrap();
        assert!(
            what.contains("cancelled the context: goroutine 1 woke from ctx.Done() in main.main")
                && what.ends_with(&line("ctx-done")),
            "{ctx}"
        );
        let wait = step(&int, "sync.RWMutex.Lock").unwrap_or_else(|| panic!("{ctx}"));
        assert!(
            wait["what"].as_str().unwrap().contains(&line("ctx-lock")),
            "{ctx}"
        );
        let lock = &wait["lock"];
        assert_eq!(lock["locked_in"], "main.reader", "{ctx}");
        assert!(
            lock["locked_at"]
                .as_str()
                .is_some_and(|l| l.ends_with(&line("reader-rlock"))),
            "{ctx}"
        );
        let waited = wait["duration_ns"].as_u64().unwrap() as f64 / 1e9;
        assert!(
            (waited - measured).abs() < 0.02,
            "{ctx}: waited {waited}s, the program measured {measured}s"
        );

        let hup = story("SIGHUP");
        let ctx = format!("go{version} SIGHUP: {hup}");
        assert_eq!(hup["sender_pid"], pid, "{ctx}");
        let got = step(&hup, "received it in main.handle").unwrap_or_else(|| panic!("{ctx}"));
        assert!(
            got["what"]
                .as_str()
                .unwrap()
                .ends_with(&line("handler-recv")),
            "{ctx}"
        );
        let handler = got["what"]
            .as_str()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .to_string();
        assert!(step(&hup, &line("hup-sleep")).is_some(), "{ctx}");
        assert_eq!(hup["handler_goroutine"].to_string(), handler, "{ctx}");
        assert!(step(&hup, "SIGUSR1 came").is_some(), "{ctx}");
        assert!(hup["handled_ns"].is_null(), "{ctx}");

        let usr = story("SIGUSR1");
        assert!(
            step(
                &usr,
                &format!("woke no receiver: goroutine {handler}, still handling SIGHUP")
            )
            .is_some(),
            "go{version} SIGUSR1: {usr}"
        );
    }
}

/// Signals nobody was waiting for (`examples/signalburst`: two SIGHUPs
/// while its channel is not received from; the second is dropped) have no
/// receiver: each was said to be "received" by the goroutine that later
/// took a SIGUSR1, the next goroutine the os/signal loop woke.
#[test]
fn a_signal_nobody_waited_for_names_no_receiver() {
    for version in go_versions() {
        let s = Scratch::new();
        let (rec, trace) = s.record("t", &example(&version, "signalburst"), &[]);
        assert!(rec.status.success(), "go{version}: {}", text(&rec.stderr));
        assert!(
            text(&rec.stdout).contains("second hup dropped"),
            "{}",
            text(&rec.stdout)
        );
        let out = s.run(&["replay", trace.to_str().unwrap(), "--signals", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let stories = v["signals"].as_array().unwrap();
        let says = |st: &serde_json::Value, what: &str| {
            st["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["what"].as_str().unwrap_or("").contains(what))
        };
        let hups: Vec<_> = stories
            .iter()
            .filter(|st| st["signal"] == "SIGHUP")
            .collect();
        assert_eq!(hups.len(), 2, "go{version}: {v}");
        for st in hups {
            assert!(!says(st, "received it"), "go{version}: {st}");
        }
        let usr = stories.iter().find(|st| st["signal"] == "SIGUSR1").unwrap();
        assert!(
            says(usr, "received it in main.main.func1"),
            "go{version}: {usr}"
        );
    }
}
