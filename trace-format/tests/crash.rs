//! Crash safety: what a reader sees of a recording that never finished.

mod common;

use common::*;
use std::time::{Duration, Instant};
use trace_format::*;

#[test]
fn stale_chunk_is_closed_by_time_and_survives_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let options = WriterOptions {
        chunk_bytes: 1 << 20,
        chunk_max_age: Duration::from_millis(100),
        // Every event goes to the background thread at once: this test is
        // about the chunk timer, not the caller's batching.
        batch_bytes: 0,
        ..WriterOptions::default()
    };
    let (mut w, dir) = create_writer(tmp.path(), "t", options);
    let events = event_stream(5, 7);
    for (kind, tid) in &events {
        w.append(kind.clone(), *tid).unwrap();
    }
    // Far below chunk_bytes: only the age limit can close this chunk. Wait
    // for it (bounded), then snapshot the directory while the writer is
    // still alive, as a SIGKILL would leave it.
    let start = Instant::now();
    let snapshot = tmp.path().join("snapshot");
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let _ = std::fs::remove_dir_all(&snapshot);
        copy_dir(&dir, &snapshot);
        let out = read_all(&snapshot).unwrap();
        if out.event_count == 7 || start.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let out = read_all(&snapshot).unwrap();
    assert!(out.error.is_none());
    assert_eq!(out.events, expected_events(&events));
    match &out.completeness {
        Completeness::Truncated {
            events_readable,
            reason,
        } => {
            assert_eq!(*events_readable, 7);
            assert!(reason.contains("no index"), "{reason}");
            assert!(reason.contains("7 events in 1 complete chunks"), "{reason}");
        }
        c => panic!("expected Truncated, got {c:?}"),
    }

    // The writer keeps going after the timed close.
    w.append(EventKind::TaskExit { status: 0 }, RecTid(1))
        .unwrap();
    let summary = w.finish().unwrap();
    assert_eq!(summary.events, 8);
    assert_eq!(summary.chunks, 2);
    let r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.completeness(), Completeness::Complete);
    assert_eq!(r.event_count(), 8);
}

#[test]
fn forgotten_writer_keeps_timed_out_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let options = WriterOptions {
        chunk_max_age: Duration::from_millis(50),
        batch_bytes: 0,
        ..WriterOptions::default()
    };
    let (mut w, dir) = create_writer(tmp.path(), "t", options);
    for i in 0..3 {
        w.append(EventKind::TaskExit { status: i }, RecTid(i))
            .unwrap();
    }
    // Neither finish nor Drop runs: the closest a test gets to SIGKILL. The
    // leaked background thread idles on its channel until the test exits.
    std::mem::forget(w);
    let start = Instant::now();
    while read_all(&dir).unwrap().event_count < 3 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = read_all(&dir).unwrap();
    assert_eq!(out.events.len(), 3);
    assert!(matches!(
        out.completeness,
        Completeness::Truncated {
            events_readable: 3,
            ..
        }
    ));
}

#[test]
fn dropped_writer_flushes_but_is_not_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut w, dir) = create_writer(tmp.path(), "t", small_chunks(1000));
    let events = event_stream(11, 100);
    for (kind, tid) in &events {
        w.append(kind.clone(), *tid).unwrap();
    }
    drop(w);
    let out = read_all(&dir).unwrap();
    assert!(out.error.is_none());
    assert_eq!(out.events, expected_events(&events));
    assert!(
        matches!(
            out.completeness,
            Completeness::Truncated {
                events_readable: 100,
                ..
            }
        ),
        "{:?}",
        out.completeness
    );
    assert!(!dir.join("index").exists());
}

#[test]
fn reader_can_follow_a_live_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut w, dir) = create_writer(tmp.path(), "t", small_chunks(500));
    let events = event_stream(12, 200);
    for (kind, tid) in &events {
        w.append(kind.clone(), *tid).unwrap();
    }
    // Whatever has reached the file so far is a clean prefix.
    let out = read_all(&dir).unwrap();
    assert!(out.error.is_none());
    assert_eq!(out.events[..], expected_events(&events)[..out.events.len()]);
    w.finish().unwrap();
}

#[test]
fn a_held_back_batch_reaches_the_file_once_the_caller_flushes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let options = WriterOptions {
        chunk_max_age: Duration::from_millis(50),
        batch_max_age: Duration::from_millis(20),
        ..WriterOptions::default()
    };
    let (mut w, dir) = create_writer(tmp.path(), "t", options);
    for i in 0..3 {
        w.append(EventKind::TaskExit { status: i }, RecTid(i))
            .unwrap();
    }
    // Small and young: the batch is still held by the caller.
    let deadline = w.batch_deadline().expect("a batch is held back");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(read_all(&dir).unwrap().event_count, 0);
    assert!(Instant::now() >= deadline);
    // What an idle recorder does once the deadline has passed.
    w.flush_batch().unwrap();
    assert!(w.batch_deadline().is_none());
    std::mem::forget(w);
    let start = Instant::now();
    while read_all(&dir).unwrap().event_count < 3 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_all(&dir).unwrap().events.len(), 3);
}
