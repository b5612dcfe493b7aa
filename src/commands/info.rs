//! `rrgo info [TRACE]`: what a trace holds.

use std::collections::BTreeMap;
use std::path::Path;

use trace_format::{Completeness, EventKind, StoredFile, TraceReader};

use crate::cli::InfoArgs;
use crate::error::{Failure, Result, RrgoError};
use crate::{describe, progress::Progress, trace_dir};

pub fn run(args: &InfoArgs) -> Result<i32> {
    let dir = trace_dir::resolve(args.trace.as_deref())?;
    let reader = TraceReader::open(&dir)?;
    let h = reader.header();
    let shown_dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    println!("trace:        {}", shown_dir.display());
    if let Ok(owner) = trace_dir::Owner::of(&dir) {
        let private = if owner.exposed() {
            format!("OPEN TO OTHER USERS (mode {:04o})", owner.mode)
        } else {
            format!("private (mode {:04o})", owner.mode)
        };
        println!("owner:        {owner}, {private}");
        if let Some(w) = trace_dir::exposure_warning(&shown_dir, &owner) {
            crate::say!("{w}");
        }
    }
    println!(
        "format:       {} (recorded by rrgo {})",
        trace_format::FORMAT_VERSION,
        h.rrgo_version
    );
    println!("recorded:     {}", describe::unix_ms(h.created_unix_ms));
    // The events file was last written when the recording ended.
    let ended_ms = std::fs::metadata(dir.join("events"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    if let Some(end) = ended_ms.filter(|&e| e >= h.created_unix_ms) {
        println!(
            "duration:     {:.2}s (wall clock, while recording)",
            (end - h.created_unix_ms) as f64 / 1000.0
        );
    }
    println!("command:      {}", describe::argv(&h.argv));
    println!("cwd:          {}", String::from_utf8_lossy(&h.cwd));
    let redacted = crate::record::redact::redacted_names(&h.env);
    if !redacted.is_empty() {
        println!(
            "redacted env: {} (placeholders instead of the values)",
            redacted.join(", ")
        );
    }
    println!(
        "executable:   {} ({} bytes{}; copy: files/{})",
        String::from_utf8_lossy(&h.exe.original_path),
        h.exe.size,
        h.exe
            .build_id
            .as_ref()
            .map(|b| format!(", build-id {}", describe::hex(b)))
            .unwrap_or_default(),
        h.exe.stored_name
    );
    println!(
        "go version:   {}",
        h.go_version.as_deref().unwrap_or("unknown")
    );
    println!("AT_RANDOM:    {}", describe::hex(&h.auxv_random));
    println!(
        "host:         {} ({}), {} CPUs, {}",
        h.host.hostname, h.host.kernel_release, h.host.ncpus, h.host.cpu_model
    );
    match reader.completeness() {
        Completeness::Complete => println!("status:       complete"),
        Completeness::Truncated {
            events_readable,
            reason,
        } => {
            println!("status:       INCOMPLETE: {events_readable} events readable ({reason})")
        }
    }
    let damage = file_damage(&reader);
    match &damage[..] {
        [] => println!(
            "files:        {} stored copies, intact",
            stored_copies(&reader).len()
        ),
        problems => {
            for p in problems {
                println!("files:        DAMAGED: {p}");
            }
        }
    }

    // Events and their encoded bytes (before compression) per kind: where
    // a trace's size goes.
    let mut per_kind: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let mut per_tid: BTreeMap<i32, u64> = BTreeMap::new();
    let mut preemptions = 0u64;
    // Recorded with the written memory's contents (replay may jump there).
    let mut with_contents = 0u64;
    let mut first_visits = 0u64;
    // Answered inside the program by rrgo's page (no ptrace stop each).
    let (mut clock_reads, mut buffered) = (0u64, BTreeMap::<i64, u64>::new());
    let mut exit = None;
    let total = reader.event_count();
    let mut progress = Progress::new("reading events", total);
    let mut read = 0u64;
    let mut error = None;
    for event in reader.events_from(trace_format::EventTime(0)) {
        match event {
            Ok(event) => {
                let bytes = trace_format::chunk::encode_event(event.tid, &event.kind)
                    .map_or(0, |e| e.len() as u64);
                let k = per_kind.entry(event.kind.name()).or_default();
                *k = (k.0 + 1, k.1 + bytes);
                *per_tid.entry(event.tid.0).or_default() += 1;
                match &event.kind {
                    EventKind::Preempt {
                        verbatim,
                        hashes,
                        first_visit,
                        ..
                    } => {
                        preemptions += 1;
                        first_visits += u64::from(*first_visit);
                        with_contents +=
                            u64::from(verbatim.is_empty() && hashes.is_empty() && !first_visit);
                    }
                    EventKind::ProcessExit { status } => exit = Some(*status),
                    EventKind::ClockReads { entries } => clock_reads += entries.len() as u64 / 16,
                    EventKind::BufferedCalls { records } => {
                        for r in crate::tracee::clockpage::call_records(records) {
                            if r.done {
                                *buffered.entry(r.nr).or_default() += 1;
                            }
                        }
                    }
                    _ => {}
                }
                read += 1;
                progress.set(read);
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    progress.finish();

    let (compressed, uncompressed) = reader.chunks().iter().fold((0u64, 0u64), |(c, u), ch| {
        (c + ch.compressed_len as u64, u + ch.uncompressed_len as u64)
    });
    println!("events:       {read} in {} chunks", reader.chunks().len());
    // Tests parse these lines as a kind and its count.
    for (kind, (n, _)) in &per_kind {
        println!("  {kind:<16} {n}");
    }
    let encoded: u64 = per_kind.values().map(|(_, b)| b).sum();
    let mut by_bytes: Vec<_> = per_kind.iter().map(|(k, (_, b))| (*b, *k)).collect();
    by_bytes.sort_unstable_by(|a, b| b.cmp(a));
    let shares: Vec<String> = by_bytes
        .iter()
        .take_while(|(b, _)| *b > 0)
        .map(|(b, k)| {
            format!(
                "{k} {b} ({:.0} %)",
                100.0 * *b as f64 / encoded.max(1) as f64
            )
        })
        .collect();
    println!(
        "bytes:        {} before compression by kind: {}",
        encoded,
        shares.join(", ")
    );
    println!("threads:      {}", per_tid.len());
    for (tid, n) in &per_tid {
        println!("  tid {tid:<12} {n} events");
    }
    // The bench and tests parse the count at the start of this line.
    println!(
        "preemptions:  {preemptions} ({} verified by registers and memory, {first_visits} first arrivals stepped to, {with_contents} with memory contents: replay may jump there)",
        preemptions - with_contents - first_visits
    );
    if clock_reads > 0 || !buffered.is_empty() {
        let calls: Vec<String> = buffered
            .iter()
            .map(|(nr, n)| format!("{} {n}", crate::syscall_names::name(*nr)))
            .collect();
        let total: u64 = buffered.values().sum();
        println!(
            "in-process:   {clock_reads} clock reads, {total} syscalls{}{} (no ptrace stop)",
            if calls.is_empty() { "" } else { ": " },
            calls.join(", ")
        );
    }
    if let Some(status) = exit {
        println!("exit:         {}", describe::exit_status(&status));
    }
    println!(
        "size:         {} compressed event bytes ({} uncompressed{}), {} in stored files, {} on disk",
        compressed,
        uncompressed,
        if read > 0 {
            format!(", {:.1} B/event compressed", compressed as f64 / read as f64)
        } else {
            String::new()
        },
        dir_size(&dir.join("files")),
        dir_size(&dir)
    );
    if let Some(e) = error {
        return Err(e.into());
    }
    if let Some(first) = damage.first() {
        return Err(RrgoError::new(
            Failure::Trace,
            anyhow::anyhow!("the trace is damaged: {first}"),
        ));
    }
    Ok(0)
}

/// The executable's copy and every file in the manifest, once each.
fn stored_copies(reader: &TraceReader) -> Vec<&StoredFile> {
    let mut seen = std::collections::HashSet::new();
    std::iter::once(&reader.header().exe)
        .chain(reader.stored_files())
        .filter(|f| seen.insert(&f.stored_name))
        .collect()
}

/// What is wrong with the manifest and the stored copies (missing, not a
/// regular file, another size or hash than recorded): replay needs them.
fn file_damage(reader: &TraceReader) -> Vec<String> {
    let mut problems: Vec<String> = reader
        .manifest_problem()
        .map(|p| format!("manifest: {p}"))
        .into_iter()
        .collect();
    for f in stored_copies(reader) {
        if let Err(e) = reader.verify_stored_file(f) {
            problems.push(e.to_string());
        }
    }
    problems
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
