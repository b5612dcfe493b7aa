//! Writer → finish → reader round trips, seeking, stored files.

mod common;

use common::*;
use trace_format::*;

#[test]
fn every_event_kind_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let events = every_kind();
    // Every variant must be covered.
    let mut seen = [false; EventKind::NAMES.len()];
    for (k, _) in &events {
        seen[k.index()] = true;
        assert_eq!(EventKind::NAMES[k.index()], k.name());
    }
    assert!(seen.iter().all(|s| *s), "every_kind() misses a variant");

    let (dir, summary) = write_trace(tmp.path(), "t", &events, WriterOptions::default());
    assert_eq!(summary.events, events.len() as u64);
    assert_eq!(summary.chunks, 1);

    let r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.completeness(), Completeness::Complete);
    assert_eq!(r.event_count(), events.len() as u64);
    assert_eq!(r.header(), &test_header(r.header().exe.clone()));
    assert_eq!(r.header().exe.build_id, Some(vec![0xab, 0xcd]));
    let got: Vec<Event> = r.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, expected_events(&events));
    // Random access agrees.
    for (i, want) in expected_events(&events).iter().enumerate() {
        assert_eq!(&r.event(EventTime(i as u64)).unwrap(), want);
    }
    assert!(matches!(
        r.event(EventTime(events.len() as u64)),
        Err(TraceError::EventOutOfRange { count, .. }) if count == events.len() as u64
    ));
    assert_eq!(r.events_from(EventTime(u64::MAX)).count(), 0);
}

#[test]
fn seeking_matches_full_scan_across_many_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let events = event_stream(42, 3000);
    let (dir, summary) = write_trace(tmp.path(), "t", &events, small_chunks(4096));
    assert!(
        summary.chunks >= 20,
        "want many chunks, got {}",
        summary.chunks
    );

    let r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.completeness(), Completeness::Complete);
    assert_eq!(r.chunks().len() as u32, summary.chunks);
    let full: Vec<Event> = r.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(full, expected_events(&events));

    // Chunk list is contiguous.
    let mut next = 0;
    for c in r.chunks() {
        assert_eq!(c.first_event.0, next);
        next += c.event_count as u64;
    }
    assert_eq!(next, events.len() as u64);

    // Chunk boundaries and their neighbours, plus pseudo-random points.
    let mut points: Vec<u64> = r
        .chunks()
        .iter()
        .flat_map(|c| {
            [
                c.first_event.0.saturating_sub(1),
                c.first_event.0,
                c.first_event.0 + 1,
            ]
        })
        .collect();
    let mut rng = Rng::new(7);
    points.extend((0..50).map(|_| rng.below(events.len() as u64)));
    points.push(events.len() as u64 - 1);
    for n in points {
        let seeked: Vec<Event> = r
            .events_from(EventTime(n))
            .take(300)
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<Event> = full.iter().skip(n as usize).take(300).cloned().collect();
        assert_eq!(seeked, want, "events_from({n})");
    }
}

#[test]
fn empty_trace_is_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, summary) = write_trace(tmp.path(), "t", &[], WriterOptions::default());
    assert_eq!(summary, TraceSummary::default());
    let r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.completeness(), Completeness::Complete);
    assert_eq!(r.event_count(), 0);
    assert_eq!(r.events().count(), 0);
}

#[test]
fn stored_files_are_deduplicated_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut w, dir) = create_writer(tmp.path(), "t", WriterOptions::default());
    let lib = tmp.path().join("libfoo.so.1");
    std::fs::write(&lib, vec![0x5a; 300_000]).unwrap();
    let same = tmp.path().join("weird name\n");
    std::fs::write(&same, vec![0x5a; 300_000]).unwrap();
    let a = w.store_file(&lib, None).unwrap();
    let b = w.store_file(&same, None).unwrap();
    assert_eq!(a, b, "same content is stored once");
    assert_eq!(a.id, FileId(1));
    assert_eq!(a.size, 300_000);
    assert!(a.stored_name.ends_with("-libfoo.so.1"));
    assert_eq!(a.stored_name.len(), 16 + 1 + "libfoo.so.1".len());
    w.append(
        EventKind::FileStored {
            file: a.id,
            original_path: b"libfoo.so.1".to_vec(),
        },
        RecTid(1),
    )
    .unwrap();
    assert!(w.store_file(&tmp.path().join("missing"), None).is_err());
    w.finish().unwrap();

    let r = TraceReader::open(&dir).unwrap();
    assert_eq!(r.stored_files().len(), 2);
    assert_eq!(r.stored_file(FileId(0)).unwrap(), &r.header().exe);
    assert_eq!(r.stored_file(FileId(1)).unwrap(), &a);
    assert!(r.stored_file(FileId(2)).is_err());
    let path = r.stored_file_path(&a);
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 300_000]);
    r.verify_stored_file(&a).unwrap();
    r.verify_stored_file(&r.header().exe).unwrap();
    std::fs::write(&path, b"tampered").unwrap();
    assert!(matches!(
        r.verify_stored_file(&a),
        Err(TraceError::Corrupt { .. })
    ));
    // Only the copies live in files/ (no leftover temporaries).
    assert_eq!(std::fs::read_dir(dir.join("files")).unwrap().count(), 2);
}

#[test]
fn create_refuses_non_empty_dir_and_cleans_up_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("something"), b"x").unwrap();
    let err = TraceWriter::create_with(
        &dir,
        WriterOptions::default(),
        |_| -> Result<Header, TraceError> { unreachable!() },
    )
    .unwrap_err();
    assert!(matches!(err, TraceError::AlreadyExists { .. }), "{err}");

    // A failing header callback removes the directory it caused to exist.
    let dir2 = tmp.path().join("t2");
    let err = TraceWriter::create_with(&dir2, WriterOptions::default(), |files| {
        files.store(&tmp.path().join("no-such-exe"), None)?;
        unreachable!()
    })
    .unwrap_err();
    assert!(matches!(err, TraceError::Io { .. }), "{err}");
    assert!(!dir2.exists());

    // An existing empty directory is fine.
    let dir3 = tmp.path().join("t3");
    std::fs::create_dir(&dir3).unwrap();
    let exe = tmp.path().join("exe");
    std::fs::write(&exe, b"x").unwrap();
    let w = TraceWriter::create_with(&dir3, WriterOptions::default(), |files| {
        let s = files.store(&exe, None)?;
        Ok::<_, TraceError>(test_header(s))
    })
    .unwrap();
    w.finish().unwrap();
    assert_eq!(
        TraceReader::open(&dir3).unwrap().completeness(),
        Completeness::Complete
    );
}

#[test]
fn oversized_event_is_rejected_without_breaking_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut w, dir) = create_writer(tmp.path(), "t", WriterOptions::default());
    let big = EventKind::SyscallExit {
        nr: 0,
        result: 0,
        writes: vec![MemWrite {
            addr: RemoteAddr(0),
            data: vec![0; MAX_CHUNK_UNCOMPRESSED + 1],
        }],
        mode: SyscallMode::Emulated,
        extra: SyscallExtra::None,
    };
    assert!(matches!(
        w.append(big, RecTid(1)),
        Err(TraceError::EventTooLarge { .. })
    ));
    assert_eq!(
        w.append(EventKind::TaskExit { status: 0 }, RecTid(1))
            .unwrap(),
        EventTime(0)
    );
    w.finish().unwrap();
    assert_eq!(TraceReader::open(&dir).unwrap().event_count(), 1);
}

#[test]
fn big_events_make_their_own_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(3);
    let events: Vec<(EventKind, RecTid)> = (0..6)
        .map(|i| {
            let writes = vec![MemWrite {
                addr: RemoteAddr(i),
                data: rng.bytes(700_000),
            }];
            (
                EventKind::SyscallExit {
                    nr: 0,
                    result: 700_000,
                    writes,
                    mode: SyscallMode::Emulated,
                    extra: SyscallExtra::None,
                },
                RecTid(5),
            )
        })
        .collect();
    let (dir, summary) = write_trace(tmp.path(), "t", &events, WriterOptions::default());
    assert_eq!(summary.chunks, 3);
    let out = read_all(&dir).unwrap();
    assert!(out.error.is_none());
    assert_eq!(out.events, expected_events(&events));
}

#[test]
fn summary_counts_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let events = event_stream(9, 500);
    let (dir, summary) = write_trace(tmp.path(), "t", &events, small_chunks(2000));
    let r = TraceReader::open(&dir).unwrap();
    let unc: u64 = r.chunks().iter().map(|c| c.uncompressed_len as u64).sum();
    let comp: u64 = r.chunks().iter().map(|c| c.compressed_len as u64).sum();
    assert_eq!(summary.bytes_uncompressed, unc);
    assert_eq!(summary.bytes_compressed, comp);
    assert_eq!(summary.events, 500);
}
