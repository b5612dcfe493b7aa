//! Record each example with every pinned Go version, replay it three times,
//! and require byte-identical output and exit status with no divergence.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn round_trip(name: &str, args: &[&str]) {
    for version in go_versions() {
        let s = Scratch::new();
        let prog = example(&version, name);
        let (rec, trace) = s.record("t", &prog, args);
        assert!(
            !text(&rec.stderr).contains("rrgo: error"),
            "{name} (go{version}): recording failed:\n{}",
            text(&rec.stderr)
        );
        assert!(
            trace.join("index").exists(),
            "{name}: the recording did not finish its trace"
        );
        for i in 0..3 {
            let rep = s.replay(&trace);
            assert_same(&format!("{name} (go{version}) replay {i}"), &rec, &rep);
        }
    }
}

#[test]
fn hello() {
    round_trip("hello", &["one", "two words"]);
}

#[test]
fn goroutines_channels_mutexes_timers() {
    round_trip("goroutines", &[]);
}

#[test]
fn cpu_bound_workers_on_all_ps() {
    round_trip("cpuworkers", &[]);
}

#[test]
fn clock_reads_under_preemption() {
    round_trip("clockspin", &[]);
}

#[test]
fn busy_poller_needs_preemption() {
    round_trip("busypoll", &[]);
}

/// A thread stopped at the registers of its previous stop may still have
/// run: the assembly loop keeps all its state in memory, so the recorder's
/// interrupt often lands at the very registers of the last point. Taken as
/// "did not run", replay resumed it there and printed fewer turns (8 of 8
/// recordings diverged before `Thread::resumed`).
#[test]
fn loops_at_the_same_registers_on_every_turn() {
    round_trip("samespin", &[]);
}

#[test]
fn http_server_and_client_on_loopback() {
    round_trip("httpserver", &[]);
}

#[test]
fn os_exec_child_processes() {
    round_trip("osexec", &[]);
}

/// Also the answers about rrgo's own seccomp filter (PR_GET_NO_NEW_PRIVS 1,
/// PR_GET_SECCOMP 2 while recording; replay installs no filter): replay
/// diverged at their prctl until it emulated them.
#[test]
fn time_random_and_map_order() {
    round_trip("nondet", &[]);
}

#[test]
fn racy_counter() {
    round_trip("racecounter", &[]);
}

#[test]
fn goroutine_panic_exits_2_with_traceback() {
    round_trip("panicker", &[]);
}

/// Also a child forked by glibc's `fork`, which asks for its CPU set by the
/// tid the kernel wrote into its pthread struct (CLONE_CHILD_SETTID): replay
/// diverged at that sched_getaffinity until it wrote the recorded tid there.
#[test]
fn cgo_with_glibc() {
    round_trip("cgo", &[]);
}

#[test]
fn sigterm_delay_self_signal() {
    round_trip("sigterm-delay", &["-self-term", "300ms"]);
}

#[test]
fn goroutines_parked_in_every_wait_state() {
    round_trip("stackdump", &[]);
}

/// A file mapped MAP_SHARED and changed by pwrite and write: the mapping
/// shows the new bytes (fails without the recorder's shared-mapping
/// watch: replay maps a copy taken at mmap and printed the old bytes).
#[test]
fn file_mapped_shared_and_changed_by_syscalls() {
    round_trip("mapshared", &[]);
}

/// Children exec'd by paths replay cannot use: a deleted temporary copy
/// started by a relative path from another directory, a deleted `#!`
/// script, and a path that failed (fails without replay exec'ing the
/// trace's copies: `expected an exec, got a syscall stop`).
#[test]
fn children_exec_temporary_files_and_relative_paths() {
    round_trip("execpaths", &[]);
}

/// A child started with a pidfd: clone writes the pidfd's number into the
/// parent, and replay's kernel hands out another (the files opened before
/// are emulated). Fails without the recorded number written back at the
/// clone's exit (`expected syscall waitid with rsi=0x10, got rsi=0x3`).
#[test]
fn a_pidfd_written_by_clone_is_the_recorded_number() {
    round_trip("pidfd", &[]);
}

/// Bytes the kernel moves to stdout without the program's memory are shown
/// by `replay -a`: Go splices a TCP connection into stdout (stdout a pipe)
/// and uses copy_file_range from a file (stdout a regular file). Replay
/// printed neither (the calls' results alone were recorded). A copy from a
/// file into stdout is refused with EINVAL (Go copies through memory); a
/// splice from a pipe into stdout runs, and the recorder keeps the bytes
/// it moves (`SyscallExtra::Spliced`).
#[test]
fn bytes_copied_to_stdout_by_the_kernel_are_replayed() {
    round_trip("zerocopy", &[]);
    let s = Scratch::new();
    let prog = example(&newest(), "zerocopy");
    let trace = s.path().join("t");
    // `sh` puts rrgo's stdout in a regular file (the helpers pipe it).
    let to_file = |out: &Path, args: Vec<std::ffi::OsString>| {
        let cmd = s.cmd();
        let rrgo = cmd.get_program().to_owned();
        let mut sh = Command::new("sh");
        sh.envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .arg("-c")
            .arg("out=$1; shift; exec \"$@\" > \"$out\"")
            .arg("sh")
            .arg(out)
            .arg(rrgo)
            .args(args);
        let run = output_within(&mut sh, DEADLINE);
        (run, std::fs::read_to_string(out).unwrap_or_default())
    };
    let (rec, recorded) = to_file(
        &s.path().join("rec.out"),
        vec![
            "record".into(),
            "-o".into(),
            trace.clone().into(),
            prog.into(),
        ],
    );
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert!(
        recorded.contains("file line 2\ncopied 36") && recorded.contains("socket line 2"),
        "{recorded}"
    );
    // Splicing a socket works as without rrgo (it was refused with EINVAL:
    // Go fell back to copying, and net's own tests failed), and the bytes
    // spliced from the pipe into stdout are shown by the replay.
    assert!(
        recorded.contains(
            "splice socket->pipe: 16 <nil>\nspliced by hand\nsplice pipe->stdout: 16 <nil>"
        ),
        "{recorded}"
    );
    let (rep, replayed) = to_file(
        &s.path().join("rep.out"),
        vec!["replay".into(), "-a".into(), trace.into()],
    );
    assert!(rep.status.success(), "{}", text(&rep.stderr));
    assert_eq!(replayed, recorded);
}

/// Job control stops a recorded program as it stops one natively: after a
/// SIGSTOP every thread of idleterm stays stopped until SIGCONT (rrgo
/// resumed them at once: a recorded caddy went on serving requests while
/// "stopped"), then it takes its SIGTERM, and the replay is exact.
#[test]
fn a_stop_signal_stops_a_recorded_program_until_sigcont() {
    let s = Scratch::new();
    let trace = s.path().join("t");
    let bg = s.record_until_ready(&[], &trace, &example(&newest(), "idleterm"), &[]);
    let pid = bg.pid;
    let states = || -> Vec<char> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
            .filter_map(|st| st.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
            .collect()
    };
    // SAFETY: signalling the recorded program.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = states();
        if !now.is_empty() && now.iter().all(|c| matches!(c, 't' | 'T')) {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let still = states();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    std::thread::sleep(std::time::Duration::from_millis(100));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let rec = bg.finish();
    assert!(
        !still.is_empty() && still.iter().all(|c| matches!(c, 't' | 'T')),
        "threads after SIGSTOP: {still:?}"
    );
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    assert!(
        text(&rec.stdout).starts_with("SIGTERM after "),
        "{}",
        text(&rec.stdout)
    );
    assert_same("stopped and continued", &rec, &s.replay(&trace));
}

/// Recordings of one program in one trace root share the copy of its
/// executable (a hard link through `<root>/.copies`) instead of copying
/// and hashing it again; a copy that was written to is handed on no more
/// (the traces that share it fail their hash check, clearly), and
/// `RRGO_COPY_CACHE=0` copies as before. Each trace replays.
#[test]
fn recordings_of_one_program_share_its_copy_until_one_is_written_to() {
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new();
    let prog = example(&newest(), "hello");
    let record = |name: &str, env: &[(&str, &str)]| {
        let (out, trace) = s.record_env(name, &prog, &[], env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let r = trace_format::TraceReader::open(&trace).unwrap();
        let exe = r.stored_file_path(&r.header().exe.clone());
        (trace, std::fs::metadata(&exe).unwrap().ino(), exe)
    };
    let replays = |trace: &Path| {
        let out = s.run(&["replay", "-a", trace.to_str().unwrap()]);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (a, a_ino, a_exe) = record("a", &[]);
    let (b, b_ino, _) = record("b", &[]);
    assert_eq!(a_ino, b_ino, "b's copy is a link of a's");
    let (code, out, err) = replays(&b);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("hello, gopher!"), "{out}");
    let (_, off_ino, _) = record("off", &[("RRGO_COPY_CACHE", "0")]);
    assert_ne!(off_ino, a_ino, "with the cache off, a copy of its own");

    // Damage a's copy in place: b shares it and says so; the next
    // recording makes a fresh copy.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut bytes = std::fs::read(&a_exe).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&a_exe, &bytes).unwrap();
    let (code, _, err) = replays(&b);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("rrgo: error:"), "{err}");
    let (c, c_ino, _) = record("c", &[]);
    assert_ne!(
        c_ino, a_ino,
        "a copy that was written to is not linked again"
    );
    let (code, out, err) = replays(&c);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("hello, gopher!"), "{out}");
    drop(a);
}
