//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;
use trace_format::*;

/// xorshift64*: tiny, deterministic, good enough to pick bytes and offsets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Registers that look like a Go program stopped in a syscall.
pub fn go_regs(rng: &mut Rng) -> Regs {
    let sp = 0xc0_0005_7000 + (rng.below(0x1000) & !7);
    Regs {
        r15: rng.below(64),
        r14: 0xc0_0000_61c0,
        r13: rng.below(16),
        r12: 0xc0_0012_0000 + rng.below(0x100),
        rbp: sp + 0x60,
        rbx: rng.below(1 << 20),
        r11: 0x246,
        r10: 0,
        r9: 0,
        r8: 0,
        rax: 0,
        rcx: 0x0040_3e6e,
        rdx: 64,
        rsi: 0xc0_0012_4000 + rng.below(0x1_0000),
        rdi: 3,
        orig_rax: 0,
        rip: 0x0040_3e6e,
        cs: 0x33,
        eflags: 0x246,
        rsp: sp,
        ss: 0x2b,
        fs_base: 0x0058_e6b0,
        gs_base: 0,
        ds: 0,
        es: 0,
        fs: 0,
        gs: 0,
    }
}

/// Registers where every field is distinct and large, to catch field mix-ups.
pub fn distinct_regs(base: u64) -> Regs {
    let mut v = (0..27u64).map(|i| {
        base.wrapping_mul(0x1_0000_0001)
            .wrapping_add(i * 0x1111_1111_1111)
    });
    let mut n = || v.next().unwrap_or(0);
    Regs {
        r15: n(),
        r14: n(),
        r13: n(),
        r12: n(),
        rbp: n(),
        rbx: n(),
        r11: n(),
        r10: n(),
        r9: n(),
        r8: n(),
        rax: n(),
        rcx: n(),
        rdx: n(),
        rsi: n(),
        rdi: n(),
        orig_rax: n(),
        rip: n(),
        cs: n(),
        eflags: n(),
        rsp: n(),
        ss: n(),
        fs_base: n(),
        gs_base: n(),
        ds: n(),
        es: n(),
        fs: n(),
        gs: n(),
    }
}

/// One event of every kind, with non-trivial values.
pub fn every_kind() -> Vec<(EventKind, RecTid)> {
    let mut siginfo = [0u8; 128];
    for (i, b) in siginfo.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(1);
    }
    siginfo[0..4].copy_from_slice(&11i32.to_le_bytes());
    vec![
        (
            EventKind::Exec {
                exe_path: b"/tmp/\xffnot-utf8/prog".to_vec(),
                exe_file: Some(FileId(0)),
                script_file: Some(FileId(1)),
                loader_file: None,
                initial_stack: b"argv\0env\0".to_vec(),
                auxv_random: *b"0123456789abcdef",
                regs: distinct_regs(1),
                vdso: VdsoSetup::Patched {
                    base: RemoteAddr(0x7fff_f7fc_1000),
                    image: b"\x7fELF vdso".to_vec(),
                },
                code_patches: vec![MemWrite {
                    addr: RemoteAddr(0x40_ee20),
                    data: vec![0x49, 0xbb, 1, 2, 3],
                }],
            },
            RecTid(1000),
        ),
        (
            EventKind::SyscallEntry {
                nr: 0,
                args: [3, 0xc0_0010_0000, 64, u64::MAX, 1 << 63, 7],
                regs: distinct_regs(2),
            },
            RecTid(1000),
        ),
        (
            EventKind::TaskCreate {
                parent: RecTid(1000),
                child: RecTid(1001),
                kind: TaskKind::Thread,
                clone_flags: 0x3d_0f00,
            },
            RecTid(1001),
        ),
        (
            EventKind::SyscallExit {
                nr: 0,
                result: 64,
                writes: vec![
                    MemWrite {
                        addr: RemoteAddr(0xc0_0010_0000),
                        data: (0..64).collect(),
                    },
                    MemWrite {
                        addr: RemoteAddr(u64::MAX - 3),
                        data: vec![],
                    },
                    MemWrite {
                        addr: RemoteAddr(0x7fff_0000),
                        data: vec![0xAA; 5000],
                    },
                ],
                mode: SyscallMode::Emulated,
                extra: SyscallExtra::None,
            },
            RecTid(1000),
        ),
        (
            EventKind::SyscallExit {
                nr: 9,
                result: -12,
                writes: vec![],
                mode: SyscallMode::Executed,
                extra: SyscallExtra::None,
            },
            RecTid(1001),
        ),
        (
            EventKind::Signal {
                signo: 11,
                siginfo: SigInfo(siginfo),
                point: DeliveryPoint::AtLastStop,
                time_ns: 5_000_000_123,
            },
            RecTid(1001),
        ),
        (
            EventKind::Signal {
                signo: 23,
                siginfo: SigInfo([0xFF; 128]),
                point: DeliveryPoint::Fault,
                time_ns: 0,
            },
            RecTid(1000),
        ),
        (
            EventKind::TaskCreate {
                parent: RecTid(1000),
                child: RecTid(2000),
                kind: TaskKind::Process,
                clone_flags: 0,
            },
            RecTid(2000),
        ),
        (
            EventKind::Preempt {
                regs: distinct_regs(4),
                xstate: (0..=255).collect(),
                verbatim: vec![MemWrite {
                    addr: RemoteAddr(0xc000_0000_1f80),
                    data: (0..=255).rev().collect(),
                }],
                first_visit: true,
                hashes: vec![trace_format::PageHash {
                    addr: RemoteAddr(0xc000_0000_2080),
                    len: 0x2000,
                    hash: 0x0123_4567_89ab_cdef,
                }],
            },
            RecTid(1001),
        ),
        (
            EventKind::Pages {
                pages: vec![MemWrite {
                    addr: RemoteAddr(0xc000_000000),
                    data: vec![7; 8192],
                }],
            },
            RecTid(1001),
        ),
        (
            EventKind::SyscallExit {
                nr: 9,
                result: 0x7f00_0000_0000,
                writes: vec![],
                mode: SyscallMode::Executed,
                extra: SyscallExtra::MappedFile { file: FileId(3) },
            },
            RecTid(1001),
        ),
        (
            EventKind::SyscallExit {
                nr: 1,
                result: 5,
                writes: vec![],
                mode: SyscallMode::Emulated,
                extra: SyscallExtra::Sent {
                    digest: 0x1234_5678,
                    stream: Some(StdStream::Stderr),
                },
            },
            RecTid(1001),
        ),
        (
            EventKind::Rdrand {
                rip: RemoteAddr(0x7fff_f7cd_33c8),
                first: 0x48,
                value: 0x97b4_b559_bf6e_bd8a,
            },
            RecTid(1001),
        ),
        (
            EventKind::Rdtsc {
                rip: RemoteAddr(0x45_6789),
                value: 0x1234_5678_9abc_def0,
                aux: None,
            },
            RecTid(1000),
        ),
        (
            EventKind::Rdtsc {
                rip: RemoteAddr(0x45_678b),
                value: u64::MAX,
                aux: Some(0xdead_beef),
            },
            RecTid(1000),
        ),
        (
            EventKind::FileStored {
                file: FileId(u32::MAX),
                original_path: b"/lib/x86_64-linux-gnu/libc.so.6".to_vec(),
            },
            RecTid(1000),
        ),
        (EventKind::TaskExit { status: -1 }, RecTid(1001)),
        (EventKind::TaskExit { status: 0x0b7f }, RecTid(i32::MIN)),
        (
            EventKind::ProcessExit {
                status: ExitStatus::Code(-7),
            },
            RecTid(1000),
        ),
        (
            EventKind::ClockReads {
                // Two clocks' timespecs (stored as deltas) and bytes that
                // are not a time (stored raw).
                entries: [
                    [12_345i64, 999_999_990],
                    [1_780_000_000, 5],
                    [12_346, 20],
                    [1_780_000_000, 70],
                ]
                .iter()
                .flat_map(|t| t.iter().flat_map(|v| v.to_le_bytes()))
                .chain(0..16u8)
                .collect(),
            },
            RecTid(1000),
        ),
        (
            EventKind::BufferedCalls {
                records: (0..40u8).collect(),
            },
            RecTid(1000),
        ),
        (
            EventKind::ProcessExit {
                status: ExitStatus::Signal {
                    signo: 9,
                    core_dumped: true,
                },
            },
            RecTid(2000),
        ),
    ]
}

/// A varied event stream of `n` events (syscall pairs, preempts, ...).
pub fn event_stream(seed: u64, n: usize) -> Vec<(EventKind, RecTid)> {
    let mut rng = Rng::new(seed);
    let kinds = every_kind();
    (0..n)
        .map(|i| {
            let tid = RecTid(1000 + rng.below(4) as i32);
            match rng.below(5) {
                0 => (
                    EventKind::SyscallEntry {
                        nr: rng.below(300) as i64,
                        args: [i as u64, 1, 2, 3, 4, 5],
                        regs: go_regs(&mut rng),
                    },
                    tid,
                ),
                1 => {
                    let len = rng.below(200) as usize;
                    let writes = vec![MemWrite {
                        addr: RemoteAddr(0xc0_0000_0000 + i as u64),
                        data: rng.bytes(len),
                    }];
                    (
                        EventKind::SyscallExit {
                            nr: 0,
                            result: len as i64,
                            writes,
                            mode: SyscallMode::Emulated,
                            extra: SyscallExtra::None,
                        },
                        tid,
                    )
                }
                2 => (
                    EventKind::Preempt {
                        regs: go_regs(&mut rng),
                        xstate: rng.bytes(64),
                        verbatim: Vec::new(),
                        hashes: Vec::new(),
                        first_visit: rng.bytes(1)[0] & 1 == 1,
                    },
                    tid,
                ),
                3 => (
                    EventKind::Rdtsc {
                        rip: RemoteAddr(0x40_0000 + i as u64),
                        value: rng.next_u64(),
                        aux: None,
                    },
                    tid,
                ),
                _ => kinds[i % kinds.len()].clone(),
            }
        })
        .collect()
}

pub fn test_header(exe: StoredFile) -> Header {
    Header {
        rrgo_version: "0.1.0-test".into(),
        created_unix_ms: 1_700_000_000_123,
        argv: vec![b"prog".to_vec(), b"--flag=\xfe".to_vec(), vec![]],
        env: vec![
            b"HOME=/root".to_vec(),
            b"GODEBUG=asyncpreemptoff=1".to_vec(),
        ],
        cwd: b"/work".to_vec(),
        exe,
        go_version: Some("go1.22.3".into()),
        auxv_random: [7; 16],
        host: HostInfo {
            kernel_release: "6.1.0".into(),
            hostname: "box".into(),
            cpu_model: "Test CPU".into(),
            ncpus: 2,
            pinned_cpu: 1,
        },
        initial_signals: InitialSignals {
            blocked: 1 << 16,
            ignored: 1 << 1,
        },
        initial_rlimits: vec![(3, 8 << 20)],
    }
}

/// Writes a fake executable next to the trace and creates a writer whose
/// header refers to the stored copy of it.
pub fn create_writer(parent: &Path, name: &str, options: WriterOptions) -> (TraceWriter, PathBuf) {
    let exe = parent.join(format!("{name}-exe"));
    std::fs::write(&exe, b"\x7fELF fake executable for tests").unwrap();
    let dir = parent.join(name);
    let w = TraceWriter::create_with(&dir, options, |files| {
        let stored = files.store(&exe, Some(vec![0xab, 0xcd]))?;
        Ok::<_, TraceError>(test_header(stored))
    })
    .unwrap();
    (w, dir)
}

/// Writes `events` as a complete trace and returns its directory.
pub fn write_trace(
    parent: &Path,
    name: &str,
    events: &[(EventKind, RecTid)],
    options: WriterOptions,
) -> (PathBuf, TraceSummary) {
    let (mut w, dir) = create_writer(parent, name, options);
    for (i, (kind, tid)) in events.iter().enumerate() {
        assert_eq!(w.append(kind.clone(), *tid).unwrap(), EventTime(i as u64));
    }
    let summary = w.finish().unwrap();
    (dir, summary)
}

pub fn small_chunks(bytes: usize) -> WriterOptions {
    WriterOptions {
        chunk_bytes: bytes,
        chunk_max_age: Duration::from_secs(60),
        ..WriterOptions::default()
    }
}

pub fn expected_events(events: &[(EventKind, RecTid)]) -> Vec<Event> {
    events
        .iter()
        .enumerate()
        .map(|(i, (kind, tid))| Event {
            time: EventTime(i as u64),
            tid: *tid,
            kind: kind.clone(),
        })
        .collect()
}

/// Copies the regular files of a trace directory (recursively).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Opens and fully iterates a trace, returning what could be read.
pub struct ReadOutcome {
    pub events: Vec<Event>,
    pub error: Option<TraceError>,
    pub completeness: Completeness,
    pub event_count: u64,
}

pub fn read_all(dir: &Path) -> Result<ReadOutcome, TraceError> {
    let r = TraceReader::open(dir)?;
    let mut events = Vec::new();
    let mut error = None;
    for ev in r.events() {
        match ev {
            Ok(e) => events.push(e),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Ok(ReadOutcome {
        events,
        error,
        completeness: r.completeness(),
        event_count: r.event_count(),
    })
}
