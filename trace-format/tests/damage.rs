//! Damaged, truncated, forged and foreign input: the reader must return a
//! clean prefix or a clear error, never panic, and never allocate beyond
//! its caps.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use trace_format::chunk::{build_chunk, ChunkHeader, CHUNK_HEADER_LEN};
use trace_format::*;

/// Records the largest single allocation made by the current thread, so
/// tests can check that forged lengths never turn into big allocations.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(|l| l.get()))
}

/// No reader allocation on these small traces comes near a real cap; serde
/// preallocates at most 1 MiB for a sequence, the rest is file-sized.
const SMALL_ALLOC_LIMIT: usize = 2 << 20;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    events: Vec<Event>,
    chunks: Vec<ChunkInfo>,
    files: Vec<(&'static str, Vec<u8>)>,
}

/// A small complete trace with several chunks.
fn fixture(n: usize, chunk_bytes: usize) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let stream = event_stream(1234, n);
    let (dir, summary) = write_trace(tmp.path(), "t", &stream, small_chunks(chunk_bytes));
    assert!(
        summary.chunks >= 4,
        "fixture wants several chunks, got {}",
        summary.chunks
    );
    let r = TraceReader::open(&dir).unwrap();
    let chunks = r.chunks().to_vec();
    let files = ["header", "events", "index", "manifest"]
        .iter()
        .map(|f| (*f, std::fs::read(dir.join(f)).unwrap()))
        .collect();
    Fixture {
        _tmp: tmp,
        dir,
        events: expected_events(&stream),
        chunks,
        files,
    }
}

impl Fixture {
    fn original(&self, name: &str) -> &[u8] {
        &self.files.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// A scratch copy of the trace whose files tests overwrite.
    fn scratch(&self, name: &str) -> PathBuf {
        let d = self._tmp.path().join(name);
        copy_dir(&self.dir, &d);
        d
    }

    fn restore(&self, scratch: &Path) {
        for (n, b) in &self.files {
            std::fs::write(scratch.join(n), b).unwrap();
        }
    }

    /// Events in chunks that end at or before byte `cut` of `events`.
    fn events_within(&self, cut: u64) -> u64 {
        self.chunks
            .iter()
            .filter(|c| c.offset + CHUNK_HEADER_LEN as u64 + c.compressed_len as u64 <= cut)
            .map(|c| c.event_count as u64)
            .sum()
    }
}

/// Reads everything and checks invariants that hold for any damage: what
/// is returned as Ok is a prefix of the real events (checksums catch the
/// rest), and no allocation is large.
fn check_damaged(dir: &Path, fx: &Fixture, ctx: &str) -> Result<ReadOutcome, TraceError> {
    let (out, largest) = largest_alloc(|| read_all(dir));
    assert!(
        largest <= SMALL_ALLOC_LIMIT,
        "{ctx}: allocated {largest} bytes at once"
    );
    if let Ok(o) = &out {
        assert!(o.events.len() as u64 <= o.event_count, "{ctx}");
        assert_eq!(
            o.events[..],
            fx.events[..o.events.len()],
            "{ctx}: wrong events returned"
        );
        if let Completeness::Truncated {
            events_readable, ..
        } = &o.completeness
        {
            assert_eq!(*events_readable, o.event_count, "{ctx}");
        }
    }
    out
}

#[test]
fn truncating_events_at_every_byte_gives_the_complete_chunks() {
    let fx = fixture(40, 350);
    let full = fx.original("events").to_vec();
    let with_index = fx.scratch("with-index");
    let without_index = fx.scratch("without-index");
    std::fs::remove_file(without_index.join("index")).unwrap();
    for cut in 0..=full.len() {
        for dir in [&with_index, &without_index] {
            std::fs::write(dir.join("events"), &full[..cut]).unwrap();
            let ctx = format!("events cut at {cut} in {}", dir.display());
            let out = check_damaged(dir, &fx, &ctx).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let want = fx.events_within(cut as u64);
            assert_eq!(out.event_count, want, "{ctx}");
            assert_eq!(out.events.len() as u64, want, "{ctx}: {:?}", out.error);
            assert!(out.error.is_none(), "{ctx}: {:?}", out.error);
            let complete = cut == full.len() && dir == &with_index;
            match &out.completeness {
                Completeness::Complete => assert!(complete, "{ctx}: claims complete"),
                Completeness::Truncated { reason, .. } => {
                    assert!(!complete, "{ctx}: {reason}");
                    assert!(
                        reason.contains(&format!("{want} events")),
                        "{ctx}: {reason}"
                    );
                }
            }
        }
    }
}

#[test]
fn truncating_header_at_every_byte_is_a_clear_error() {
    let fx = fixture(60, 500);
    let full = fx.original("header").to_vec();
    let dir = fx.scratch("s");
    for cut in 0..full.len() {
        std::fs::write(dir.join("header"), &full[..cut]).unwrap();
        let ctx = format!("header cut at {cut}");
        match check_damaged(&dir, &fx, &ctx) {
            Err(TraceError::NotATrace { .. }) => assert!(cut < 8, "{ctx}"),
            Err(TraceError::Corrupt { file, .. }) => {
                assert!(cut >= 8, "{ctx}");
                assert!(file.ends_with("header"), "{ctx}");
            }
            Err(e) => panic!("{ctx}: unexpected error {e}"),
            Ok(_) => panic!("{ctx}: opened a truncated header"),
        }
    }
    std::fs::write(dir.join("header"), &full).unwrap();
    assert!(read_all(&dir).is_ok());
}

#[test]
fn truncating_index_at_every_byte_falls_back_to_scanning() {
    let fx = fixture(60, 500);
    let full = fx.original("index").to_vec();
    let dir = fx.scratch("s");
    for cut in 0..full.len() {
        std::fs::write(dir.join("index"), &full[..cut]).unwrap();
        let ctx = format!("index cut at {cut}");
        let out = check_damaged(&dir, &fx, &ctx).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(out.events, fx.events, "{ctx}");
        match &out.completeness {
            Completeness::Truncated {
                events_readable,
                reason,
            } => {
                assert_eq!(*events_readable, fx.events.len() as u64);
                assert!(reason.contains("index is damaged"), "{ctx}: {reason}");
            }
            c => panic!("{ctx}: {c:?}"),
        }
    }
}

#[test]
fn random_corruption_never_panics() {
    let fx = fixture(80, 600);
    let dir = fx.scratch("s");
    let targets = [
        "events", "events", "events", "events", "header", "index", "manifest",
    ];
    for seed in 0..500u64 {
        let mut rng = Rng::new(seed);
        fx.restore(&dir);
        let target = targets[rng.below(targets.len() as u64) as usize];
        let mut bytes = fx.original(target).to_vec();
        let what = mutate(&mut rng, &mut bytes);
        std::fs::write(dir.join(target), &bytes).unwrap();
        let ctx = format!("seed {seed}: {target}: {what}");
        let outcome = check_damaged(&dir, &fx, &ctx);
        if let Ok(o) = outcome {
            // Also seek into the damaged trace.
            if o.event_count > 0 {
                let r = TraceReader::open(&dir).unwrap();
                let n = rng.below(o.event_count);
                let (_, largest) = largest_alloc(|| r.events_from(EventTime(n)).take(5).count());
                assert!(largest <= SMALL_ALLOC_LIMIT, "{ctx}");
            }
        }
    }
}

/// Applies one random kind of damage and says which.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    if b.is_empty() {
        return "empty".into();
    }
    let at = rng.below(b.len() as u64) as usize;
    match rng.below(6) {
        0 => {
            let flips = 1 + rng.below(4);
            for _ in 0..flips {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            format!("{flips} bit flips")
        }
        1 => {
            let len = (1 + rng.below(64) as usize).min(b.len() - at);
            let junk = rng.bytes(len);
            b[at..at + len].copy_from_slice(&junk);
            format!("{len} random bytes at {at}")
        }
        2 => {
            let v: u32 =
                [0xFFFF_FFF0, 0x7FFF_FFFF, 0x8000_0000, 0x0400_0001, 0][rng.below(5) as usize];
            let len = 4.min(b.len() - at);
            b[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
            format!("u32 {v:#x} forged at {at}")
        }
        3 => {
            b.truncate(at);
            format!("truncated at {at}")
        }
        4 => {
            let n = 1 + rng.below(40) as usize;
            let junk = rng.bytes(n);
            b.splice(at..at, junk.iter().copied());
            format!("{} bytes inserted at {at}", junk.len())
        }
        _ => {
            let len = (1 + rng.below(100) as usize).min(b.len() - at);
            b.drain(at..at + len);
            format!("{len} bytes removed at {at}")
        }
    }
}

/// A change to a chunk header.
type Forge = fn(&mut ChunkHeader);

/// Rewrites the chunk header at `offset` of the scratch trace's `events`
/// with a valid header checksum, so only the caps can stop it.
fn forge_chunk_header(dir: &Path, offset: u64, f: impl FnOnce(&mut ChunkHeader)) {
    let path = dir.join("events");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = offset as usize;
    let raw: [u8; CHUNK_HEADER_LEN] = bytes[at..at + CHUNK_HEADER_LEN].try_into().unwrap();
    let mut h = ChunkHeader::decode(&raw).unwrap();
    f(&mut h);
    bytes[at..at + CHUNK_HEADER_LEN].copy_from_slice(&h.encode());
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn forged_chunk_lengths_hit_the_caps() {
    let fx = fixture(80, 600);
    let dir = fx.scratch("s");
    let second = fx.chunks[1];
    let cases: [(&str, Forge); 5] = [
        ("compressed_len 0xFFFF_FFF0", |h| {
            h.compressed_len = 0xFFFF_FFF0
        }),
        ("uncompressed_len 0xFFFF_FFF0", |h| {
            h.uncompressed_len = 0xFFFF_FFF0
        }),
        ("compressed_len past end of file", |h| {
            h.compressed_len = 60 << 20
        }),
        ("event_count huge", |h| h.event_count = u32::MAX),
        ("first_event out of sequence", |h| h.first_event += 1),
    ];
    for (name, f) in cases {
        fx.restore(&dir);
        std::fs::remove_file(dir.join("index")).unwrap();
        forge_chunk_header(&dir, second.offset, f);
        let out = check_damaged(&dir, &fx, name).unwrap();
        // The first chunk is still readable; the forged one ends the prefix.
        assert_eq!(out.event_count, fx.chunks[0].event_count as u64, "{name}");
        let Completeness::Truncated { reason, .. } = &out.completeness else {
            panic!("{name}")
        };
        assert!(
            reason.contains(&format!("at byte {}", second.offset)),
            "{name}: {reason}"
        );
        if name.contains("0xFFFF_FFF0") {
            assert!(reason.contains("exceeds"), "{name}: {reason}");
        }
    }

    // A plausible (under-cap) uncompressed length with a valid header
    // checksum: the payload checksum passes, decompression must not
    // allocate the forged size, and the size check reports it.
    fx.restore(&dir);
    forge_chunk_header(&dir, second.offset, |h| h.uncompressed_len = 60 << 20);
    std::fs::remove_file(dir.join("index")).unwrap();
    let out = check_damaged(&dir, &fx, "uncompressed_len 60 MiB").unwrap();
    assert_eq!(out.events.len() as u32, fx.chunks[0].event_count);
    match out.error {
        Some(TraceError::Corrupt { offset, .. }) => {
            assert_eq!(offset, second.offset + CHUNK_HEADER_LEN as u64)
        }
        e => panic!("expected Corrupt, got {e:?}"),
    }
}

#[test]
fn forged_lengths_inside_a_valid_chunk_are_clean_errors() {
    let fx = fixture(80, 600);
    let dir = fx.scratch("s");
    // Hand-made payloads, framed with correct checksums, replacing the
    // first chunk: bincode of (tid, EventKind) with absurd lengths.
    let varint_u64 = |v: u64| {
        let mut b = vec![253u8];
        b.extend_from_slice(&v.to_le_bytes());
        b
    };
    let mut exit_huge_writes = vec![10u8, 2, 0, 0];
    exit_huge_writes.extend(varint_u64(1 << 60)); // writes.len()
    let mut exit_huge_data = vec![10u8, 2, 0, 0, 1, 0];
    exit_huge_data.extend(varint_u64(1 << 40)); // data.len()
    let mut exec_huge_path = vec![10u8, 0];
    exec_huge_path.extend(varint_u64(u64::MAX)); // exe_path.len()
    let bad_variant = vec![10u8, 200, 0, 0, 0, 0];
    let payloads = [
        ("huge writes count", exit_huge_writes),
        ("huge data length", exit_huge_data),
        ("huge path", exec_huge_path),
        ("bad variant", bad_variant),
    ];
    for (name, mut payload) in payloads {
        payload.resize(payload.len() + 16, 0);
        let (_, framed) = build_chunk(0, 1, &payload, 3).unwrap();
        fx.restore(&dir);
        std::fs::remove_file(dir.join("index")).unwrap();
        let mut events = fx.original("events")[..12].to_vec();
        events.extend_from_slice(&framed);
        std::fs::write(dir.join("events"), &events).unwrap();
        let out = check_damaged(&dir, &fx, name).unwrap();
        assert_eq!(out.event_count, 1, "{name}");
        assert!(out.events.is_empty(), "{name}");
        match out.error {
            Some(TraceError::Corrupt { what, .. }) => {
                assert!(what.contains("event 0"), "{name}: {what}")
            }
            e => panic!("{name}: expected Corrupt, got {e:?}"),
        }
    }
}

#[test]
fn version_mismatch_names_both_versions_and_the_recorder() {
    let fx = fixture(40, 500);
    let dir = fx.scratch("s");
    let mut header = fx.original("header").to_vec();
    header[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(dir.join("header"), &header).unwrap();
    let err = TraceReader::open(&dir).unwrap_err();
    assert!(
        matches!(&err, TraceError::VersionMismatch { found, supported: FORMAT_VERSION, recorded_by } if *found == FORMAT_VERSION + 1 && recorded_by == "0.1.0-test"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "trace format {}, this rrgo reads {FORMAT_VERSION}: re-record the program with this rrgo, or replay it with the rrgo \
             version that recorded it (rrgo 0.1.0-test)",
            FORMAT_VERSION + 1
        )
    );

    // A header from a future format: only the frozen preamble is
    // meaningful to us, the rest is opaque.
    let mut future = b"RRGOTRC\0".to_vec();
    let next = FORMAT_VERSION + 1;
    future.extend_from_slice(&next.to_le_bytes());
    future.extend_from_slice(&5u16.to_le_bytes());
    future.extend_from_slice(b"9.9.9");
    future.extend_from_slice(&[0xEE; 5000]);
    std::fs::write(dir.join("header"), &future).unwrap();
    let err = TraceReader::open(&dir).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "trace format {next}, this rrgo reads {FORMAT_VERSION}"
        )),
        "{err}"
    );
    assert!(err.to_string().contains("(rrgo 9.9.9)"), "{err}");

    // Even a huge future header is still recognised by its preamble.
    future.resize(20 << 20, 0);
    std::fs::write(dir.join("header"), &future).unwrap();
    assert!(matches!(
        TraceReader::open(&dir),
        Err(TraceError::VersionMismatch { found, .. }) if found == next
    ));

    // Version field present but version string cut off.
    std::fs::write(dir.join("header"), &future[..13]).unwrap();
    let err = TraceReader::open(&dir).unwrap_err();
    assert!(
        err.to_string().contains("(rrgo of unknown version)"),
        "{err}"
    );

    // The events file carries the version too.
    fx.restore(&dir);
    let mut events = fx.original("events").to_vec();
    events[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(dir.join("events"), &events).unwrap();
    assert!(matches!(
        TraceReader::open(&dir),
        Err(TraceError::VersionMismatch {
            found,
            supported: FORMAT_VERSION,
            ..
        }) if found == FORMAT_VERSION + 1
    ));
}

#[test]
fn not_a_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = TraceReader::open(&missing).unwrap_err();
    assert!(
        matches!(&err, TraceError::NotFound { path } if path == &missing),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"));

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        TraceReader::open(&empty),
        Err(TraceError::NotATrace { .. })
    ));

    let file = tmp.path().join("file");
    std::fs::write(&file, b"hello").unwrap();
    assert!(matches!(
        TraceReader::open(&file),
        Err(TraceError::NotATrace { .. })
    ));

    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(
        other.join("header"),
        b"#!/bin/sh\necho this is not a trace header\n",
    )
    .unwrap();
    let err = TraceReader::open(&other).unwrap_err();
    assert!(matches!(err, TraceError::NotATrace { .. }), "{err}");
    assert!(err.to_string().contains("is not an rrgo trace"));
}

#[test]
fn missing_or_foreign_events_file() {
    let fx = fixture(40, 500);
    let dir = fx.scratch("s");
    std::fs::remove_file(dir.join("events")).unwrap();
    let out = read_all(&dir).unwrap();
    assert!(matches!(
        out.completeness,
        Completeness::Truncated {
            events_readable: 0,
            ..
        }
    ));
    std::fs::write(dir.join("events"), b"not events at all").unwrap();
    assert!(matches!(
        TraceReader::open(&dir),
        Err(TraceError::Corrupt { .. })
    ));
}

#[test]
fn damaged_manifest_is_reported_not_fatal() {
    let fx = fixture(40, 500);
    let dir = fx.scratch("s");
    let m = fx.original("manifest");
    std::fs::write(dir.join("manifest"), &m[..m.len() - 3]).unwrap();
    let r = TraceReader::open(&dir).unwrap();
    assert!(r.stored_files().is_empty());
    assert!(
        r.manifest_problem().unwrap().contains("truncated"),
        "{:?}",
        r.manifest_problem()
    );
    // The executable is still known from the header.
    assert_eq!(r.stored_file(FileId(0)).unwrap(), &r.header().exe);
    assert!(r
        .stored_file(FileId(1))
        .unwrap_err()
        .to_string()
        .contains("manifest problem"));
}

/// Bytes after a chunk's last event are an error before that event is
/// returned: a reader that takes exactly the chunk's events (replay loads
/// one chunk at a time) rejects the chunk as one that reads on does.
#[test]
fn leftover_bytes_fail_at_the_chunks_last_event() {
    let fx = fixture(80, 600);
    let dir = fx.scratch("s");
    std::fs::remove_file(dir.join("index")).unwrap();
    let first = fx.chunks[0];
    let n = first.event_count as usize;
    let mut payload = Vec::new();
    for e in &fx.events[..n] {
        payload.extend(chunk::encode_event(e.tid, &e.kind).unwrap());
    }
    payload.extend([0, 0, 0]);
    let (_, framed) = build_chunk(0, n as u32, &payload, 3).unwrap();
    let mut events = fx.original("events")[..12].to_vec();
    events.extend_from_slice(&framed);
    std::fs::write(dir.join("events"), &events).unwrap();
    let r = TraceReader::open(&dir).unwrap();
    let got: Vec<_> = r.events().take(n).collect();
    assert!(got[..n - 1].iter().all(|e| e.is_ok()));
    match &got[n - 1] {
        Err(TraceError::Corrupt { what, offset, .. }) => {
            assert_eq!(*offset, 12);
            assert!(
                what.contains(&format!("chunk of events 0-{}: 3 bytes left", n - 1)),
                "{what}"
            );
        }
        e => panic!("expected Corrupt, got {e:?}"),
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Files of a trace that are not regular files (a FIFO blocks an open
/// forever, `/dev/zero` never ends) are `Corrupt`, at once.
#[test]
fn non_regular_files_are_refused_without_blocking() {
    let fx = fixture(40, 500);
    let start = std::time::Instant::now();
    for name in ["header", "events"] {
        let dir = fx.scratch(&format!("fifo-{name}"));
        std::fs::remove_file(dir.join(name)).unwrap();
        mkfifo(&dir.join(name));
        match TraceReader::open(&dir) {
            Err(TraceError::Corrupt { what, .. }) => assert!(what.contains("a FIFO"), "{what}"),
            r => panic!("{name}: expected Corrupt, got {r:?}"),
        }
    }
    // A FIFO index or manifest: no index (scan), a manifest problem.
    let dir = fx.scratch("fifo-index");
    for name in ["index", "manifest"] {
        std::fs::remove_file(dir.join(name)).unwrap();
        mkfifo(&dir.join(name));
    }
    let r = TraceReader::open(&dir).unwrap();
    assert!(
        matches!(r.completeness(), Completeness::Truncated { reason, .. } if reason.contains("a FIFO"))
    );
    assert!(r.manifest_problem().unwrap().contains("a FIFO"));

    let dir = fx.scratch("stored");
    let r = TraceReader::open(&dir).unwrap();
    let exe = r.header().exe.clone();
    let path = r.stored_file_path(&exe);
    r.verify_stored_file(&exe).unwrap();
    let refused = |what: &str| match r.verify_stored_file(&exe) {
        Err(TraceError::Corrupt { what: w, .. }) => assert!(w.contains(what), "{w}"),
        e => panic!("expected Corrupt saying {what:?}, got {e:?}"),
    };
    std::fs::remove_file(&path).unwrap();
    refused("missing");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    refused("a symbolic link");
    std::fs::remove_file(&path).unwrap();
    mkfifo(&path);
    refused("a FIFO");
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"short").unwrap();
    refused("5 bytes, the recording stored");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

/// An I/O error's message holds the OS error, which is not also its
/// `source()`: chain printers (anyhow's `{:#}`) would say it twice.
#[test]
fn io_errors_say_the_os_error_once() {
    use std::error::Error;
    let e = TraceError::Io {
        path: "t/events".into(),
        error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    assert!(e.source().is_none());
    assert_eq!(e.to_string(), "t/events: permission denied");
}
