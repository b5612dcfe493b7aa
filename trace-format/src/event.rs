//! The events a trace is made of. SPEC.md explains each variant's meaning
//! and ordering invariants; this file is the authoritative type definition.
//! Any change here changes the on-disk format: bump `FORMAT_VERSION`.

use crate::ids::{EventTime, FileId, RecTid, RemoteAddr};
use crate::regs::Regs;
use crate::serde_bytes;
use serde::{Deserialize, Serialize};

/// One recorded event. `time` is its position in the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Global sequence number: event N has time N.
    pub time: EventTime,
    /// The recorded thread the event belongs to.
    pub tid: RecTid,
    /// What happened.
    pub kind: EventKind,
}

/// What happened at an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// execve completed (also the first event of a trace). Replay restores
    /// AT_RANDOM and sets the vDSO up as `vdso` says at this point.
    Exec {
        /// The path execve was given, raw bytes.
        #[serde(with = "serde_bytes::vec")]
        exe_path: Vec<u8>,
        /// The copy of the executable in `files/`, if one was stored (for a
        /// `#!` script: its interpreter, the ELF the kernel ran).
        exe_file: Option<FileId>,
        /// For a `#!` script: the copy of the script the path named.
        script_file: Option<FileId>,
        /// The copy of the ELF interpreter (`PT_INTERP`, the dynamic loader)
        /// the kernel loaded with the executable, if it has one.
        loader_file: Option<FileId>,
        /// The initial stack from rsp to its top (argument and environment
        /// strings, auxv, AT_EXECFN), as the program found it; replay, which
        /// execs copies under other names, writes it back.
        #[serde(with = "serde_bytes::vec")]
        initial_stack: Vec<u8>,
        /// The 16 bytes the kernel put at AT_RANDOM.
        auxv_random: [u8; 16],
        /// Registers right after execve returned.
        regs: Regs,
        /// What the recorder did to the vDSO (replay does the same).
        vdso: VdsoSetup,
        /// Program code the recorder patched (Go's `Syscall6` entry jumps
        /// to rrgo's page); replay writes the same bytes. rrgo's page is
        /// mapped at the execve's return if `vdso` is `Patched` or this is
        /// not empty.
        code_patches: Vec<MemWrite>,
    },
    /// A thread stopped at syscall entry (registers hold nr and args).
    SyscallEntry {
        /// Syscall number (orig_rax).
        nr: i64,
        /// rdi, rsi, rdx, r10, r8, r9.
        args: [u64; 6],
        /// Full registers at the entry stop.
        regs: Regs,
    },
    /// The same thread's syscall returned; `writes` are the bytes the kernel
    /// wrote into tracee memory.
    SyscallExit {
        /// Syscall number, equal to the matching entry's.
        nr: i64,
        /// Return value (rax), negative errno on failure.
        result: i64,
        /// Tracee memory written by the kernel, in the order to apply them.
        writes: Vec<MemWrite>,
        /// How replay reproduces the syscall.
        mode: SyscallMode,
        /// What else replay needs to know about this call.
        extra: SyscallExtra,
    },
    /// A signal delivered to the thread (handler runs / default action) at
    /// `point`.
    Signal {
        /// Signal number.
        signo: i32,
        /// The raw siginfo_t the kernel reported.
        siginfo: SigInfo,
        /// Where in the thread's execution the signal was delivered.
        point: DeliveryPoint,
        /// CLOCK_MONOTONIC (ns) when the recorder saw the thread stop for
        /// it: the signal's time where the program read no clock (an idle
        /// program's last read can be seconds older). 0: not known.
        time_ns: u64,
    },
    /// Thread or process creation (clone/clone3/fork/vfork), emitted for the
    /// child (the event's tid is the child's).
    TaskCreate {
        /// The creating thread.
        parent: RecTid,
        /// The new thread (same as the event's tid).
        child: RecTid,
        /// Thread in the same process, or a new process.
        kind: TaskKind,
        /// clone flags (`CLONE_*`), 0 for fork.
        clone_flags: u64,
    },
    /// A thread exited (exit status as the kernel reports it, i.e. the raw
    /// wait status).
    TaskExit {
        /// Raw wait status.
        status: i32,
    },
    /// The recorder stopped a thread at an arbitrary instruction (timeslice
    /// end, or where an asynchronous signal landed). Replay re-executes the
    /// thread until its registers and memory (`verbatim`, `hashes`) equal
    /// these. When both are empty, the `Pages` events just before hold what
    /// the process wrote since its previous point, and replay may also jump
    /// there (apply them, then these registers) — unless `first_visit`.
    Preempt {
        /// General-purpose registers at the point.
        regs: Regs,
        /// The XSAVE area (FPU/SSE/AVX state), raw as PTRACE_GETREGSET gives it.
        #[serde(with = "serde_bytes::vec")]
        xstate: Vec<u8>,
        /// Memory compared byte for byte: the live part of the thread's
        /// stack from rsp (its first 64 KiB), and what the process wrote
        /// next to the addresses its registers hold (a loop's state).
        verbatim: Vec<MemWrite>,
        /// Hashes of the rest of the live stack and of the memory the
        /// process wrote since its previous point (the thread's dead stack
        /// below rsp included), less what other threads' unfinished
        /// syscalls may have been writing.
        hashes: Vec<PageHash>,
        /// The point is the thread's first arrival at `regs.rip` since its
        /// previous event: the recorder single-stepped it there from a stop
        /// where it had not run (out of rrgo's page, where an asynchronous
        /// signal landed just past a syscall). `verbatim` and `hashes` are
        /// empty and no `Pages` precede it; replay stops at the first
        /// arrival and never jumps.
        first_visit: bool,
    },
    /// Memory contents of the event's process at this point (pages that
    /// changed since the recorder's previous snapshot); replay writes them.
    Pages {
        /// Page-aligned runs of bytes.
        pages: Vec<MemWrite>,
    },
    /// An emulated RDTSC/RDTSCP: values returned in eax/edx (and ecx for
    /// rdtscp).
    Rdtsc {
        /// Address of the instruction.
        rip: RemoteAddr,
        /// The 64-bit counter value (edx:eax).
        value: u64,
        /// ecx for RDTSCP (TSC_AUX), `None` for RDTSC.
        aux: Option<u32>,
    },
    /// A file the tracee mapped or executed, copied into the trace.
    FileStored {
        /// Which copy in `files/`.
        file: FileId,
        /// The path the tracee used, raw bytes.
        #[serde(with = "serde_bytes::vec")]
        original_path: Vec<u8>,
    },
    /// The whole process (thread group) exited.
    ProcessExit {
        /// How it ended.
        status: ExitStatus,
    },
    /// Clock reads the thread made inside the program through rrgo's clock
    /// page (`VdsoSetup::Patched`), in order, since its previous event.
    /// Replay puts them into the page before running the thread to its
    /// next event.
    ClockReads {
        /// `struct timespec`s (16 bytes each, little-endian); stored as
        /// deltas (`clockpack`).
        #[serde(with = "crate::clockpack::serde_entries")]
        entries: Vec<u8>,
    },
    /// Syscalls the thread made through rrgo's page without a stop (Go's
    /// `Syscall6`), in order, since its previous event. Like `ClockReads`,
    /// replay puts them into the page before running the thread on.
    BufferedCalls {
        /// Call records, each `nr: u16, done: u16, len: u32, result: i64`
        /// then `len` output bytes padded to 8 (little-endian; a write's
        /// are the CRC-32C of the bytes it sent). `done` = 0 marks a call
        /// that was traced instead (an ordinary syscall event follows).
        #[serde(with = "serde_bytes::vec")]
        records: Vec<u8>,
    },
    /// An emulated RDRAND/RDSEED: the recorder put an `int3` over the
    /// instruction's first byte (`first`); the trap made it supply `value`
    /// to the destination register (CF set, the other arithmetic flags
    /// clear) and move rip past the instruction.
    Rdrand {
        /// Address of the instruction.
        rip: RemoteAddr,
        /// Its first byte, which the `int3` replaced.
        first: u8,
        /// The value given (truncated to the register's width).
        value: u64,
    },
}

/// How the clock functions of the vDSO were made deterministic at an exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VdsoSetup {
    /// AT_SYSINFO_EHDR was hidden: the program makes real (recorded) syscalls.
    Hidden,
    /// The vDSO's functions were patched: `clock_gettime` jumps to rrgo's
    /// clock page (mapped at the execve's return), the others make real
    /// syscalls. `image` is the patched vDSO as mapped at `base`.
    Patched {
        /// Where the vDSO is mapped.
        base: RemoteAddr,
        /// Its bytes after patching.
        #[serde(with = "serde_bytes::vec")]
        image: Vec<u8>,
    },
}

impl EventKind {
    /// Every value [`EventKind::name`] can return, in [`EventKind::index`]
    /// order, which is not the wire's variant order (SPEC.md numbers those).
    pub const NAMES: [&'static str; 14] = [
        "exec",
        "syscall-entry",
        "syscall-exit",
        "signal",
        "task-create",
        "task-exit",
        "preempt",
        "rdtsc",
        "file-stored",
        "process-exit",
        "pages",
        "clock-reads",
        "buffered-calls",
        "rdrand",
    ];

    /// Short kebab-case name of the variant, for per-kind counts and dumps.
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// Position of the variant in [`EventKind::NAMES`] (handy for counting
    /// into an array); not the variant index bincode writes.
    pub fn index(&self) -> usize {
        match self {
            EventKind::Exec { .. } => 0,
            EventKind::SyscallEntry { .. } => 1,
            EventKind::SyscallExit { .. } => 2,
            EventKind::Signal { .. } => 3,
            EventKind::TaskCreate { .. } => 4,
            EventKind::TaskExit { .. } => 5,
            EventKind::Preempt { .. } => 6,
            EventKind::Rdtsc { .. } => 7,
            EventKind::FileStored { .. } => 8,
            EventKind::ProcessExit { .. } => 9,
            EventKind::Pages { .. } => 10,
            EventKind::ClockReads { .. } => 11,
            EventKind::BufferedCalls { .. } => 12,
            EventKind::Rdrand { .. } => 13,
        }
    }
}

/// The hash of a range of tracee memory at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageHash {
    /// Start address (page-aligned).
    pub addr: RemoteAddr,
    /// Bytes hashed (whole pages, fewer when the end was unmapped).
    pub len: u64,
    /// xxh3-64 of the bytes.
    pub hash: u64,
}

/// Bytes the kernel wrote into tracee memory during a syscall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemWrite {
    /// Start address in the tracee.
    pub addr: RemoteAddr,
    /// The bytes, in address order.
    #[serde(with = "serde_bytes::vec")]
    pub data: Vec<u8>,
}

/// How replay reproduces a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyscallMode {
    /// Replay skips the syscall and injects `result` and `writes`.
    Emulated,
    /// Replay really executes the syscall (e.g. mmap, munmap, brk), and may
    /// check its result against the recorded one.
    Executed,
}

/// A raw `siginfo_t` (128 bytes on x86-64).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SigInfo(#[serde(with = "serde_bytes::array")] pub [u8; 128]);

impl Default for SigInfo {
    fn default() -> Self {
        SigInfo([0; 128])
    }
}

impl SigInfo {
    fn i32_at(&self, off: usize) -> i32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        i32::from_le_bytes(b)
    }

    /// `si_signo` (bytes 0..4).
    pub fn signo(&self) -> i32 {
        self.i32_at(0)
    }

    /// `si_errno` (bytes 4..8).
    pub fn errno(&self) -> i32 {
        self.i32_at(4)
    }

    /// `si_code` (bytes 8..12).
    pub fn code(&self) -> i32 {
        self.i32_at(8)
    }

    /// `si_addr` (bytes 16..24): for a fault, the address that faulted.
    pub fn addr(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[16..24]);
        u64::from_le_bytes(b)
    }
}

/// Where a signal was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeliveryPoint {
    /// At the thread's previous recorded stop (e.g. right after a syscall
    /// exit or a preempt), so replay delivers it when reaching that stop.
    AtLastStop,
    /// Raised by the thread's own next instruction (a fault: SIGSEGV, SIGBUS,
    /// SIGFPE, SIGILL, SIGTRAP), so replay runs the thread until it faults.
    Fault,
}

/// Extra facts about a syscall that replay needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyscallExtra {
    /// Nothing more.
    None,
    /// An mmap of this stored file: replay maps anonymous memory and fills it from the copy.
    MappedFile {
        /// The stored copy.
        file: FileId,
    },
    /// A call that sends bytes from the program (write, pwrite, writev,
    /// sendto, sendmsg, …): replay computes the same digest from its own
    /// memory and diverges on a difference, so a replay that computed other
    /// bytes can never end quietly with other output.
    Sent {
        /// The low 32 bits of the xxh3-64 of the bytes sent, in order.
        digest: u32,
        /// Set if the bytes went to rrgo's own stdout or stderr (`replay -a`
        /// shows them again).
        stream: Option<StdStream>,
    },
    /// The recorder did not stop at this call's exit: `result` and `writes`
    /// are empty, and replay takes the result its own execution gives
    /// (`mode` is `Executed`; calls whose effects depend only on state
    /// replay re-creates, such as signal actions and masks).
    ResultNotRecorded,
    /// splice or tee from a pipe into the recorder's stdout or stderr: the
    /// kernel moved `bytes` there without the program's memory, so they
    /// are carried here for `replay -a` to show again.
    Spliced {
        /// Where they went.
        stream: StdStream,
        /// Exactly the `result` bytes moved.
        bytes: Vec<u8>,
    },
    /// A `MAP_SHARED` mmap of this stored file, which the recording knew by
    /// its device and inode: replay maps every shared mapping of one file in
    /// a process from one copy, so a store through one shows through the
    /// others (a ring buffer mapped twice). Stored copies are shared by
    /// content, so the copy alone cannot tell two files apart.
    MappedSharedFile {
        /// The stored copy (the file's bytes at the mmap).
        file: FileId,
        /// The mapped file's device number.
        dev: u64,
        /// The mapped file's inode number.
        ino: u64,
    },
}

/// One of the recorder's standard output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StdStream {
    /// File descriptor 1 of rrgo.
    Stdout,
    /// File descriptor 2 of rrgo.
    Stderr,
}

/// What a clone created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskKind {
    /// A thread of the same process (CLONE_THREAD).
    Thread,
    /// A new process (fork, vfork, clone without CLONE_THREAD).
    Process,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by a signal.
    Signal {
        /// The signal.
        signo: i32,
        /// Whether a core dump was written.
        core_dumped: bool,
    },
}
