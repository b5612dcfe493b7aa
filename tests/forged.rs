//! Forged and damaged traces: every reader path (info, dump, replay -a,
//! --goroutines) gives a clear error with the README's exit code (3: the
//! trace cannot be read; 4: replay diverged), each within a deadline —
//! never a hang, never a silent success. The traces are recorded from
//! examples/ and then damaged here, byte by byte, the way an attacker or a
//! bad disk would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use trace_format::chunk::{build_chunk, decode_event, encode_event, ChunkHeader, CHUNK_HEADER_LEN};
use trace_format::index::{Index, IndexEntry};
use trace_format::{EventKind, RecTid};

/// No run on these small traces takes near this long; a replay that waits
/// for something a forged trace will never give must end well before.
const RUN_DEADLINE: Duration = Duration::from_secs(30);

fn hello() -> PathBuf {
    example(&go_versions()[0], "hello")
}

/// Records `hello` into a fresh trace.
fn recorded(s: &Scratch, name: &str) -> PathBuf {
    let (out, dir) = s.record(name, &hello(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir
}

/// `rrgo ARGS TRACE`, within the deadline; also returns how long it took.
fn run_on(s: &Scratch, args: &[&str], trace: &Path) -> (Output, Duration) {
    let start = Instant::now();
    let mut cmd = s.cmd();
    cmd.args(args).arg(trace);
    let out = output_within(&mut cmd, RUN_DEADLINE);
    (out, start.elapsed())
}

/// Asserts the exit code and that rrgo's error message says `needle`.
fn assert_fails(what: &str, out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: stderr:\n{err}");
    assert!(
        err.contains("rrgo: error:") && err.contains(needle),
        "{what}: expected an error saying {needle:?}, got:\n{err}"
    );
}

/// One chunk of `events`: where it starts and its events, decoded.
struct Chunk {
    first_event: u64,
    events: Vec<(RecTid, EventKind)>,
    /// Bytes after the last event (a forgery adds some).
    tail: Vec<u8>,
}

/// The chunks of a (complete, undamaged) trace.
fn read_chunks(trace: &Path) -> Vec<Chunk> {
    let bytes = std::fs::read(trace.join("events")).unwrap();
    let mut at = 12;
    let mut chunks = Vec::new();
    while at < bytes.len() {
        let hb: [u8; CHUNK_HEADER_LEN] = bytes[at..at + CHUNK_HEADER_LEN].try_into().unwrap();
        let h = ChunkHeader::decode(&hb).unwrap();
        let payload_at = at + CHUNK_HEADER_LEN;
        let compressed = &bytes[payload_at..payload_at + h.compressed_len as usize];
        let payload =
            trace_format::chunk::decompress_payload(&h, compressed, Path::new("events"), 0)
                .unwrap();
        let mut pos = 0;
        let mut events = Vec::new();
        for _ in 0..h.event_count {
            let (tid, kind, used) = decode_event(&payload[pos..]).unwrap();
            events.push((tid, kind));
            pos += used;
        }
        assert_eq!(pos, payload.len());
        chunks.push(Chunk {
            first_event: h.first_event,
            events,
            tail: Vec::new(),
        });
        at = payload_at + h.compressed_len as usize;
    }
    chunks
}

/// Writes `chunks` as the trace's `events`, with a valid `index` for them:
/// the forgery passes every checksum.
fn write_chunks(trace: &Path, chunks: &[Chunk]) {
    let mut bytes = trace_format::chunk::events_preamble().to_vec();
    let mut entries = Vec::new();
    let mut first = 0u64;
    for c in chunks {
        assert_eq!(c.first_event, first, "chunks must stay contiguous");
        let mut payload = Vec::new();
        for (tid, kind) in &c.events {
            payload.extend(encode_event(*tid, kind).unwrap());
        }
        payload.extend_from_slice(&c.tail);
        let (_, framed) = build_chunk(first, c.events.len() as u32, &payload, 3).unwrap();
        entries.push(IndexEntry {
            first_event: first,
            offset: bytes.len() as u64,
            event_count: c.events.len() as u32,
        });
        bytes.extend(framed);
        first += c.events.len() as u64;
    }
    let index = Index {
        entries,
        total_events: first,
        events_len: bytes.len() as u64,
    };
    std::fs::write(trace.join("events"), &bytes).unwrap();
    std::fs::write(trace.join("index"), index.encode()).unwrap();
}

/// The copy of the executable in the trace's `files/`.
fn stored_exe(trace: &Path) -> PathBuf {
    let r = trace_format::TraceReader::open(trace).unwrap();
    r.stored_file_path(&r.header().exe.clone())
}

/// Bytes after the last event of a chunk (its checksums and lengths all
/// valid): `info` used to reject it while `replay -a` accepted it and
/// `--goroutines` exited 2. Every reader now rejects the chunk alike.
#[test]
fn leftover_bytes_in_a_chunk_are_rejected_by_every_reader() {
    let s = Scratch::new();
    let trace = recorded(&s, "t");
    let mut chunks = read_chunks(&trace);
    chunks.last_mut().unwrap().tail = vec![0, 0, 0];
    write_chunks(&trace, &chunks);
    let mut messages = Vec::new();
    for args in [
        &["info"][..],
        &["dump"],
        &["replay", "-a"],
        &["replay", "--goroutines"],
    ] {
        let (out, _) = run_on(&s, args, &trace);
        let what = args.join(" ");
        assert_fails(&what, &out, 3, "3 bytes left after the chunk's last event");
        let err = text(&out.stderr);
        let line = err.lines().find(|l| l.starts_with("rrgo: error:")).unwrap();
        messages.push(line.to_string());
    }
    assert!(
        messages.iter().all(|m| m == &messages[0]),
        "the readers disagree: {messages:#?}"
    );
}

/// The trace's copy of the executable replaced by `make`, under its name.
fn replace_exe(trace: &Path, make: impl FnOnce(&Path)) {
    let exe = stored_exe(trace);
    std::fs::remove_file(&exe).unwrap();
    make(&exe);
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Every command that reads the executable's copy refuses `trace` with
/// exit 3 and a message saying `needle`, well within the deadline.
fn assert_exe_refused(s: &Scratch, trace: &Path, needle: &str) {
    for args in [
        &["replay", "-a"][..],
        &["replay", "--goroutines"],
        &["info"],
    ] {
        let (out, took) = run_on(s, args, trace);
        let what = args.join(" ");
        assert_fails(&what, &out, 3, needle);
        assert!(took < Duration::from_secs(10), "{what} took {took:?}");
    }
}

/// A stored executable that is a link to `/dev/zero` was hashed forever.
#[test]
fn stored_executable_linked_to_dev_zero_is_refused() {
    let s = Scratch::new();
    let trace = recorded(&s, "t");
    replace_exe(&trace, |exe| {
        std::os::unix::fs::symlink("/dev/zero", exe).unwrap()
    });
    assert_exe_refused(&s, &trace, "a symbolic link, not a regular file");
}

/// A FIFO in place of the stored executable blocked the open forever; so
/// did one in place of `events`.
#[test]
fn stored_executable_or_events_replaced_by_a_fifo_is_refused() {
    let s = Scratch::new();
    let trace = recorded(&s, "t");
    replace_exe(&trace, mkfifo);
    assert_exe_refused(&s, &trace, "a FIFO, not a regular file");

    let trace = recorded(&s, "t2");
    std::fs::remove_file(trace.join("events")).unwrap();
    mkfifo(&trace.join("events"));
    for args in [&["replay", "-a"][..], &["info"], &["dump"]] {
        let (out, took) = run_on(&s, args, &trace);
        assert_fails(&args.join(" "), &out, 3, "events at byte 0: a FIFO");
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
    }
}

/// A missing copy of the executable gave exit 1 (an I/O error) and said
/// the OS error twice.
#[test]
fn missing_executable_copy_is_a_trace_error() {
    let s = Scratch::new();
    let trace = recorded(&s, "t");
    std::fs::remove_file(stored_exe(&trace)).unwrap();
    assert_exe_refused(&s, &trace, "the stored copy is missing");
}

/// A trace without events (the recorder killed at once; or a forged,
/// complete one with no chunk) gave exit 1.
#[test]
fn trace_with_no_events_is_a_trace_error() {
    let s = Scratch::new();
    let trace = recorded(&s, "cut");
    std::fs::remove_file(trace.join("index")).unwrap();
    let events = std::fs::OpenOptions::new()
        .write(true)
        .open(trace.join("events"))
        .unwrap();
    events.set_len(12).unwrap();
    let empty = recorded(&s, "empty");
    write_chunks(&empty, &[]);
    for (trace, why) in [(&trace, "(recording did not finish"), (&empty, "")] {
        for args in [&["replay", "-a"][..], &["replay", "--goroutines"]] {
            let (out, _) = run_on(&s, args, trace);
            let needle = format!("the trace has no events to replay {why}");
            assert_fails(&args.join(" "), &out, 3, needle.trim_end());
        }
    }
}

/// A manifest cut short was never reported: `info` now says so (exit 3);
/// `replay -a` warns, and fails only if it needs a file the damage hides
/// (`hello`'s executable is also named by the header).
#[test]
fn damaged_manifest_is_reported() {
    let s = Scratch::new();
    let trace = recorded(&s, "t");
    let manifest = trace.join("manifest");
    let len = std::fs::metadata(&manifest).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&manifest)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (out, _) = run_on(&s, &["info"], &trace);
    assert_fails("info", &out, 3, "the trace is damaged: manifest: ");
    assert!(
        text(&out.stdout).contains("files:        DAMAGED: manifest:"),
        "{}",
        text(&out.stdout)
    );
    let (out, _) = run_on(&s, &["replay", "-a"], &trace);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: the trace's manifest is damaged"),
        "{}",
        text(&out.stderr)
    );
}

/// Events of a complete trace, with their times.
fn all_events(chunks: &[Chunk]) -> Vec<(u64, RecTid, EventKind)> {
    chunks
        .iter()
        .flat_map(|c| {
            c.events
                .iter()
                .enumerate()
                .map(move |(i, (t, k))| (c.first_event + i as u64, *t, k.clone()))
        })
        .collect()
}

/// A `TaskExit` forged over an event of a thread that lives on: replay
/// must end as a divergence within a deadline. A plain status left the
/// thread running free (bounded by RRGO_EXIT_WAIT_MS); a SIGKILL status
/// killed the process and the next event's resume failed with exit 1.
#[test]
fn forged_exit_of_a_live_thread_is_a_divergence() {
    let s = Scratch::new();
    let trace = recorded(&s, "t");
    let events = all_events(&read_chunks(&trace));
    let main = events[0].1;
    // A syscall entry of the main thread and one of another thread, late
    // enough that the program is running.
    let pick = |other: bool| {
        events
            .iter()
            .skip(events.len() / 2)
            .find(|(_, tid, k)| {
                (*tid != main) == other && matches!(k, EventKind::SyscallEntry { .. })
            })
            .unwrap()
            .0
    };
    for (name, at, status) in [
        ("main thread, exit 0", pick(false), 0),
        ("other thread, killed", pick(true), libc::SIGKILL),
    ] {
        let forged = s.path().join(format!("forged-{at}-{status}"));
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(&trace)
            .arg(&forged)
            .status()
            .unwrap();
        assert!(copied.success());
        let mut chunks = read_chunks(&forged);
        for c in &mut chunks {
            if let Some(e) = c.events.get_mut(at.wrapping_sub(c.first_event) as usize) {
                e.1 = EventKind::TaskExit { status };
            }
        }
        write_chunks(&forged, &chunks);
        let (out, took) = run_on(&s, &["replay", "-a"], &forged);
        assert_fails(name, &out, 4, "replay diverged");
        eprintln!("{name}: diverged in {took:?}");
    }
}

/// A recording killed with SIGKILL leaves a readable prefix: `replay -a`
/// replays it and then exits 3 saying the trace is incomplete (it exited
/// 0, as if the program had succeeded); `info` reports it (exit 0: an
/// incomplete trace is not a damaged one).
#[test]
fn incomplete_trace_replays_its_prefix_and_exits_3() {
    let s = Scratch::new();
    let trace = s.path().join("t");
    let deaths = example(&go_versions()[0], "deaths");
    let mut bg = s.record_until_ready(&[], &trace, &deaths, &["block"]);
    // Longer than a chunk's maximum age: a chunk is on disk.
    std::thread::sleep(Duration::from_millis(1500));
    bg.child.kill().unwrap();
    bg.child.wait().unwrap();
    let (out, _) = run_on(&s, &["info"], &trace);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("INCOMPLETE"),
        "{}",
        text(&out.stdout)
    );
    let (out, _) = run_on(&s, &["replay", "-a"], &trace);
    assert_fails(
        "replay -a",
        &out,
        3,
        "the trace is incomplete (recording did not finish (no index)",
    );
    assert!(
        text(&out.stderr).contains("how the program ended was not recorded"),
        "{}",
        text(&out.stderr)
    );
}

/// An OS error is said once, not once per level of the error chain.
#[test]
fn os_errors_are_said_once() {
    let s = Scratch::new();
    let script = s.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let (out, _) = s.record("t", &script, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("Permission denied").count(), 1, "{err}");
}
