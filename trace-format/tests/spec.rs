//! SPEC.md checked against the bytes. The variant numbers it states — the
//! events table's `#` column and the "Variant numbers" table — are parsed
//! out of SPEC.md itself and compared with what the writer puts on disk, so
//! a wrong spec or a reordered enum fails here. The `match`es naming each
//! variant are exhaustive: a new variant does not compile until it is named
//! here, and then fails until SPEC.md numbers it.

mod common;

use std::collections::BTreeMap;

use common::*;
use trace_format::*;

const SPEC: &str = include_str!("../SPEC.md");

/// The cells of every table row of SPEC.md.
fn table_rows() -> Vec<Vec<&'static str>> {
    SPEC.lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

/// `X` for a cell "`X`".
fn ticked(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?.strip_suffix('`')
}

/// The events table: variant → (number, `name()`), from rows like
/// "| 7 | `Pages` (`pages`) | …".
fn spec_event_kinds() -> BTreeMap<&'static str, (u32, &'static str)> {
    let mut out = BTreeMap::new();
    for row in table_rows() {
        let (Some(n), Some(cell)) = (row.first(), row.get(1)) else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        let Some((variant, name)) = cell.split_once(" (") else {
            continue;
        };
        let (Some(variant), Some(name)) =
            (ticked(variant), name.strip_suffix(')').and_then(ticked))
        else {
            continue;
        };
        assert!(
            out.insert(variant, (n, name)).is_none(),
            "SPEC.md numbers EventKind::{variant} twice"
        );
    }
    out
}

/// The "Variant numbers" table: (enum, variant) → number, from rows like
/// "| `SyscallMode` | 0 | `Emulated` |".
fn spec_enum_variants() -> BTreeMap<(&'static str, &'static str), u32> {
    let mut out = BTreeMap::new();
    for row in table_rows() {
        let [ty, n, variant] = row[..] else { continue };
        let (Some(ty), Ok(n), Some(variant)) = (ticked(ty), n.parse::<u32>(), ticked(variant))
        else {
            continue;
        };
        assert!(
            out.insert((ty, variant), n).is_none(),
            "SPEC.md numbers {ty}::{variant} twice"
        );
    }
    out
}

fn kind_variant(k: &EventKind) -> &'static str {
    match k {
        EventKind::Exec { .. } => "Exec",
        EventKind::SyscallEntry { .. } => "SyscallEntry",
        EventKind::SyscallExit { .. } => "SyscallExit",
        EventKind::Signal { .. } => "Signal",
        EventKind::TaskCreate { .. } => "TaskCreate",
        EventKind::TaskExit { .. } => "TaskExit",
        EventKind::Preempt { .. } => "Preempt",
        EventKind::Pages { .. } => "Pages",
        EventKind::Rdtsc { .. } => "Rdtsc",
        EventKind::FileStored { .. } => "FileStored",
        EventKind::ProcessExit { .. } => "ProcessExit",
        EventKind::ClockReads { .. } => "ClockReads",
        EventKind::BufferedCalls { .. } => "BufferedCalls",
        EventKind::Rdrand { .. } => "Rdrand",
    }
}

fn vdso_variant(v: &VdsoSetup) -> &'static str {
    match v {
        VdsoSetup::Hidden => "Hidden",
        VdsoSetup::Patched { .. } => "Patched",
    }
}

fn mode_variant(m: SyscallMode) -> &'static str {
    match m {
        SyscallMode::Emulated => "Emulated",
        SyscallMode::Executed => "Executed",
    }
}

fn extra_variant(x: &SyscallExtra) -> &'static str {
    match x {
        SyscallExtra::None => "None",
        SyscallExtra::MappedFile { .. } => "MappedFile",
        SyscallExtra::Sent { .. } => "Sent",
        SyscallExtra::ResultNotRecorded => "ResultNotRecorded",
        SyscallExtra::Spliced { .. } => "Spliced",
        SyscallExtra::MappedSharedFile { .. } => "MappedSharedFile",
    }
}

fn stream_variant(s: StdStream) -> &'static str {
    match s {
        StdStream::Stdout => "Stdout",
        StdStream::Stderr => "Stderr",
    }
}

fn point_variant(p: &DeliveryPoint) -> &'static str {
    match p {
        DeliveryPoint::AtLastStop => "AtLastStop",
        DeliveryPoint::Fault => "Fault",
    }
}

fn task_variant(k: TaskKind) -> &'static str {
    match k {
        TaskKind::Thread => "Thread",
        TaskKind::Process => "Process",
    }
}

fn status_variant(s: ExitStatus) -> &'static str {
    match s {
        ExitStatus::Code(_) => "Code",
        ExitStatus::Signal { .. } => "Signal",
    }
}

/// Reads a varint as SPEC.md's "bincode configuration" describes it,
/// returning the value and its length.
fn varint(b: &[u8]) -> (u64, usize) {
    let le = |n: usize| {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&b[1..1 + n]);
        u64::from_le_bytes(v)
    };
    match b[0] {
        251 => (le(2), 3),
        252 => (le(4), 5),
        253 => (le(8), 9),
        x => (x as u64, 1),
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The event records of a written trace, read as SPEC.md's `events`
/// section lays them out (chunk headers, zstd payloads).
fn records_on_disk(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(dir.join("events")).unwrap();
    assert_eq!(&bytes[..8], b"RRGOEVT\0");
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut at = 12;
    let mut out = Vec::new();
    while at < bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"CHNK");
        let (count, unc, comp) = (u32_at(at + 12), u32_at(at + 16), u32_at(at + 20));
        let payload = zstd::bulk::decompress(&bytes[at + 36..at + 36 + comp], unc).unwrap();
        assert_eq!(payload.len(), unc);
        let mut rest = &payload[..];
        for _ in 0..count {
            let (_, _, used) = chunk::decode_event(rest).unwrap();
            out.push(rest[..used].to_vec());
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "bytes after the chunk's last record");
        at += 36 + comp;
    }
    out
}

#[test]
fn spec_states_the_current_format_version() {
    let title = format!("# rrgo trace format, version {FORMAT_VERSION}\n");
    assert!(SPEC.starts_with(&title), "SPEC.md's title is not {title:?}");
    let current = format!("(currently **{FORMAT_VERSION}**;");
    assert!(SPEC.contains(&current), "SPEC.md does not say {current:?}");
}

#[test]
fn event_kind_numbers_in_spec_are_the_bytes_written() {
    let spec = spec_event_kinds();
    let events = every_kind();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = write_trace(tmp.path(), "t", &events, WriterOptions::default());
    let records = records_on_disk(&dir);
    assert_eq!(records.len(), events.len());
    let mut seen = BTreeMap::new();
    for ((kind, tid), rec) in events.iter().zip(&records) {
        let variant = kind_variant(kind);
        let Some(&(n, name)) = spec.get(variant) else {
            panic!("SPEC.md's events table has no row for EventKind::{variant}");
        };
        // The record: the tid (zig-zag varint), then the variant index.
        let (got_tid, len) = varint(rec);
        assert_eq!(got_tid, zigzag(tid.0 as i64), "{variant}: tid bytes");
        let (index, _) = varint(&rec[len..]);
        assert_eq!(
            index, n as u64,
            "SPEC.md says EventKind::{variant} is {n}, the writer wrote {index}"
        );
        assert_eq!(name, kind.name(), "SPEC.md's name() of {variant}");
        seen.insert(variant, n);
    }
    let unwritten: Vec<_> = spec.keys().filter(|v| !seen.contains_key(*v)).collect();
    assert!(
        unwritten.is_empty(),
        "SPEC.md numbers kinds no event here has: {unwritten:?}"
    );
    assert_eq!(
        seen.len(),
        EventKind::NAMES.len(),
        "every_kind() misses a kind"
    );
}

/// One encoded event per variant of each enum inside events, with the
/// enum, the variant, and where its index byte sits in the record. The
/// bytes before it are checked too (`prefix`), as SPEC.md's encoding rules
/// give them: the events are chosen so that every field before is one
/// byte (or the 128-byte siginfo).
struct Sample {
    ty: &'static str,
    variant: &'static str,
    record: Vec<u8>,
    prefix: Vec<u8>,
}

fn samples(kinds: &BTreeMap<&str, (u32, &str)>) -> Vec<Sample> {
    // RecTid(1) is zig-zag 2.
    let head = |variant: &str| {
        let n = kinds.get(variant).map(|k| k.0);
        vec![
            2u8,
            n.expect("SPEC.md's events table numbers every kind") as u8,
        ]
    };
    let rec = |k: &EventKind| chunk::encode_event(RecTid(1), k).unwrap();
    let mut out = Vec::new();
    let mut push = |ty, variant, record: Vec<u8>, prefix: Vec<u8>| {
        out.push(Sample {
            ty,
            variant,
            record,
            prefix,
        })
    };

    for v in [
        VdsoSetup::Hidden,
        VdsoSetup::Patched {
            base: RemoteAddr(0x7fff_0000),
            image: vec![1, 2, 3],
        },
    ] {
        let k = EventKind::Exec {
            exe_path: vec![],
            exe_file: None,
            script_file: None,
            loader_file: None,
            initial_stack: vec![],
            auxv_random: [0; 16],
            regs: Regs::default(),
            vdso: v.clone(),
            code_patches: vec![],
        };
        // Empty path, three Nones, empty stack, 16 raw bytes, 27 zero regs.
        let mut prefix = head("Exec");
        prefix.extend([0u8; 5 + 16 + 27]);
        push("VdsoSetup", vdso_variant(&v), rec(&k), prefix);
    }

    let exit = |mode, extra| EventKind::SyscallExit {
        nr: 0,
        result: 0,
        writes: vec![],
        mode,
        extra,
    };
    // nr 0, result 0, no writes.
    let mut exit_prefix = head("SyscallExit");
    exit_prefix.extend([0, 0, 0]);
    for m in [SyscallMode::Emulated, SyscallMode::Executed] {
        let k = exit(m, SyscallExtra::None);
        push("SyscallMode", mode_variant(m), rec(&k), exit_prefix.clone());
    }
    let mut extra_prefix = exit_prefix.clone();
    extra_prefix.push(0); // Emulated is variant 0 (checked above)
    for x in [
        SyscallExtra::None,
        SyscallExtra::MappedFile { file: FileId(0) },
        SyscallExtra::Sent {
            digest: 0,
            stream: None,
        },
        SyscallExtra::ResultNotRecorded,
        SyscallExtra::Spliced {
            stream: StdStream::Stdout,
            bytes: Vec::new(),
        },
        SyscallExtra::MappedSharedFile {
            file: FileId(0),
            dev: 0,
            ino: 0,
        },
    ] {
        let k = exit(SyscallMode::Emulated, x.clone());
        push(
            "SyscallExtra",
            extra_variant(&x),
            rec(&k),
            extra_prefix.clone(),
        );
    }
    for s in [StdStream::Stdout, StdStream::Stderr] {
        let sent = SyscallExtra::Sent {
            digest: 0,
            stream: Some(s),
        };
        let k = exit(SyscallMode::Emulated, sent);
        let mut prefix = extra_prefix.clone();
        let sent_n = spec_enum_variants()
            .get(&("SyscallExtra", "Sent"))
            .copied()
            .expect("SPEC.md's Variant numbers table has a row for SyscallExtra::Sent")
            as u8;
        prefix.extend([sent_n, 0, 1]); // Sent, digest 0, Some
        push("StdStream", stream_variant(s), rec(&k), prefix);
    }

    for p in [DeliveryPoint::AtLastStop, DeliveryPoint::Fault] {
        let k = EventKind::Signal {
            signo: 0,
            siginfo: SigInfo::default(),
            point: p.clone(),
            time_ns: 0,
        };
        // signo 0, then the siginfo as a 128-byte string.
        let mut prefix = head("Signal");
        prefix.extend([0, 128]);
        prefix.extend([0u8; 128]);
        push("DeliveryPoint", point_variant(&p), rec(&k), prefix);
    }

    for t in [TaskKind::Thread, TaskKind::Process] {
        let k = EventKind::TaskCreate {
            parent: RecTid(0),
            child: RecTid(0),
            kind: t,
            clone_flags: 0,
        };
        let mut prefix = head("TaskCreate");
        prefix.extend([0, 0]);
        push("TaskKind", task_variant(t), rec(&k), prefix);
    }

    for s in [
        ExitStatus::Code(0),
        ExitStatus::Signal {
            signo: 9,
            core_dumped: false,
        },
    ] {
        let k = EventKind::ProcessExit { status: s };
        push(
            "ExitStatus",
            status_variant(s),
            rec(&k),
            head("ProcessExit"),
        );
    }
    out
}

#[test]
fn enum_variant_numbers_in_spec_are_the_bytes_written() {
    let spec = spec_enum_variants();
    let mut unchecked: Vec<_> = spec.keys().copied().collect();
    for s in samples(&spec_event_kinds()) {
        let Some(&n) = spec.get(&(s.ty, s.variant)) else {
            panic!(
                "SPEC.md's Variant numbers table has no row for {}::{}",
                s.ty, s.variant
            );
        };
        let at = s.prefix.len();
        assert_eq!(
            &s.record[..at],
            &s.prefix[..],
            "{}::{}: the bytes before it are not what SPEC.md's encoding rules give",
            s.ty,
            s.variant
        );
        let (index, _) = varint(&s.record[at..]);
        assert_eq!(
            index, n as u64,
            "SPEC.md says {}::{} is {n}, the writer wrote {index}",
            s.ty, s.variant
        );
        unchecked.retain(|k| *k != (s.ty, s.variant));
    }
    assert!(
        unchecked.is_empty(),
        "SPEC.md numbers variants no sample here has: {unchecked:?}"
    );
}
