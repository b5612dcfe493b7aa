//! rrgo's page: clock reads and a few never-blocking syscalls answered
//! inside the program, without a ptrace stop.
//!
//! Why: Go reads the clock constantly (every `time.Now()`, the scheduler,
//! timers, netpoll). With the vDSO hidden each read was a syscall and a
//! ptrace stop (~15 µs): 76,000 of the 92,000 syscalls of an HTTP load test.
//! Instead the vDSO's `clock_gettime` is patched to jump to this page, which
//! keeps every value it returns in a buffer. Recording, a `clock_gettime`
//! syscall that the seccomp filter lets through (no stop) produces each
//! value; the recorder empties the buffer into a `ClockReads` event before
//! the thread's next event. Replaying, rrgo fills the buffer from that event
//! before running the thread, and the same code hands the values out.
//!
//! The same idea serves Go's `Syscall6` (every `syscall.Syscall` of the
//! standard library), whose entry the recorder patches (`record::syscall6`)
//! to jump to the page's `sys6`, which takes Go's argument registers:
//! read/write on non-blocking fds (Go's network connections and pipes),
//! epoll_pwait with a zero timeout, setsockopt and epoll_ctl run untraced
//! while recording and keep their result and output bytes in a second
//! buffer (`BufferedCalls` events); replay copies them back. A call rrgo
//! must trace (a blocking fd, too much output) leaves a marker record, so
//! replay takes the same path.
//!
//! The code (`clockpage.S`, assembled with `scripts/clockpage-asm.sh`) leaves
//! the same registers and flags on both paths. Only one tracee thread runs
//! at a time, so one buffer per process serves all threads. A stop inside
//! the code is never recorded (the two paths differ there): the recorder
//! steps the thread to a [`safe_point`] first.

use std::io;

use trace_format::RemoteAddr;

use super::inject;
use super::mem::ProcMem;
use super::Tid;

/// Where the code page is mapped (the same in every process, record and
/// replay; far from Go's heap hints and the mmap area).
pub const CODE: u64 = 0x7000_0000_0000;
/// The data pages (header, clock entries, call records), right after the code.
pub const DATA: u64 = CODE + 0x1000;
const CLOCK_LEN: u64 = 64 << 10;
const SYSBUF: u64 = DATA + CLOCK_LEN;
const SYSBUF_LEN: u64 = 1 << 20;
/// End of the whole mapping.
pub const END: u64 = SYSBUF + SYSBUF_LEN;

const MODE: u64 = DATA;
const IDX: u64 = DATA + 8;
const LIMIT: u64 = DATA + 16;
const SYS_POS: u64 = DATA + 24;
const SYS_LIM: u64 = DATA + 32;
const ENTRIES: u64 = DATA + 64;
/// A `struct timespec`.
pub const ENTRY_LEN: usize = 16;
/// Entries the buffer holds.
pub const CAPACITY: u64 = (CLOCK_LEN - 64) / ENTRY_LEN as u64;
/// Recording: clock reads before the page stops the thread to empty the
/// buffer. Go code that reads the clock this often with no syscall is
/// nearly always spin-waiting for another thread (the scheduler's
/// `casgstatus`/`suspendG` loops, a background sweeper yielding while the
/// GC waits for it): that stop is where the recorder hands the CPU to the
/// thread waited for (a `sched_yield`). With the whole buffer (4092) one
/// such spin made 80 % of gzipsha's clock reads and trace bytes.
const RECORD_LIMIT: u64 = 256;

/// Offsets of labels in [`CODE_BYTES`] (from `scripts/clockpage-asm.sh`).
const CLOCK_FLUSH: u64 = 0x72;
const CLOCK_TRACED: u64 = 0x7b;
/// Where the patched `Syscall6` jumps.
pub const SYS6: u64 = CODE + 0x7e;
const SYS_TRACED: u64 = 0x320;
const SYS_CONVERT: u64 = 0x322;
const SYS_FLUSH: u64 = 0x358;
/// Replaying: the `syscall` that reports a write whose bytes differ from
/// the recorded digest (number [`SENT_DIFFERS`]).
const SENT_STOP: u64 = 0x307;
/// The digest loop, and its end (a stop inside runs there: one step per
/// 8 bytes sent otherwise).
const DIGEST: u64 = 0x362;
const DIGEST_DONE: u64 = 0x392;
/// The untraced `syscall` instructions all sit in [UNTRACED, UNTRACED_END).
const UNTRACED: u64 = 0x400;

/// The instruction pointers the kernel reports for the page's untraced
/// syscalls (just past each `syscall`) lie in (`UNTRACED_LO`,
/// `UNTRACED_HI`]: the seccomp filter lets exactly those through.
pub const UNTRACED_LO: u64 = CODE + UNTRACED;
pub const UNTRACED_HI: u64 = CODE + 0x415;

/// `clockpage.S`, assembled.
pub(crate) const CODE_BYTES: [u8; 0x415] = [
    0x48, 0x83, 0xff, 0x07, 0x77, 0x70, 0xb8, 0xf3, 0x00, 0x00, 0x00, 0x0f, 0xa3, 0xf8, 0x73, 0x66,
    0x48, 0x8b, 0x15, 0xf1, 0x0f, 0x00, 0x00, 0x48, 0x3b, 0x15, 0xf2, 0x0f, 0x00, 0x00, 0x73, 0x4d,
    0x48, 0xc1, 0xe2, 0x04, 0x48, 0x8d, 0x0d, 0x15, 0x10, 0x00, 0x00, 0x48, 0x01, 0xca, 0x48, 0x83,
    0x3d, 0xca, 0x0f, 0x00, 0x00, 0x00, 0x75, 0x13, 0x49, 0x89, 0xf0, 0x48, 0x89, 0xd6, 0xb8, 0xe4,
    0x00, 0x00, 0x00, 0xe9, 0xb8, 0x03, 0x00, 0x00, 0x4c, 0x89, 0xc6, 0x48, 0x8b, 0x02, 0x48, 0x8b,
    0x4a, 0x08, 0x48, 0x89, 0x06, 0x48, 0x89, 0x4e, 0x08, 0x48, 0xff, 0x05, 0xa8, 0x0f, 0x00, 0x00,
    0x31, 0xc0, 0x31, 0xc9, 0x31, 0xd2, 0x45, 0x31, 0xc0, 0x45, 0x31, 0xdb, 0xc3, 0xb8, 0x18, 0x00,
    0x00, 0x00, 0x0f, 0x05, 0xeb, 0x9a, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3, 0x49, 0x89,
    0xf2, 0x48, 0x89, 0xfa, 0x48, 0x89, 0xce, 0x48, 0x89, 0xdf, 0x48, 0x83, 0xf8, 0x00, 0x74, 0x21,
    0x48, 0x83, 0xf8, 0x01, 0x74, 0x43, 0x48, 0x3d, 0x19, 0x01, 0x00, 0x00, 0x74, 0x25, 0x48, 0x83,
    0xf8, 0x36, 0x74, 0x4a, 0x48, 0x3d, 0xe9, 0x00, 0x00, 0x00, 0x74, 0x42, 0xe9, 0x6f, 0x02, 0x00,
    0x00, 0x48, 0x83, 0xff, 0x02, 0x0f, 0x86, 0x65, 0x02, 0x00, 0x00, 0x49, 0x89, 0xc4, 0x49, 0x89,
    0xd5, 0xeb, 0x31, 0x4d, 0x85, 0xd2, 0x0f, 0x85, 0x54, 0x02, 0x00, 0x00, 0x49, 0x89, 0xc4, 0x4c,
    0x8d, 0x2c, 0x52, 0x49, 0xc1, 0xe5, 0x02, 0xeb, 0x1b, 0x48, 0x83, 0xff, 0x02, 0x0f, 0x86, 0x3d,
    0x02, 0x00, 0x00, 0x49, 0x89, 0xc4, 0x41, 0xbd, 0x08, 0x00, 0x00, 0x00, 0xeb, 0x06, 0x49, 0x89,
    0xc4, 0x45, 0x31, 0xed, 0x49, 0x8d, 0x4d, 0x17, 0x48, 0x83, 0xe1, 0xf8, 0x4c, 0x8b, 0x1d, 0x15,
    0x0f, 0x00, 0x00, 0x48, 0x83, 0x3d, 0xf5, 0x0e, 0x00, 0x00, 0x00, 0x0f, 0x85, 0x59, 0x01, 0x00,
    0x00, 0x48, 0x81, 0xf9, 0x00, 0x00, 0x10, 0x00, 0x0f, 0x87, 0x04, 0x01, 0x00, 0x00, 0x49, 0x8d,
    0x1c, 0x0b, 0x48, 0x3b, 0x1d, 0xf7, 0x0e, 0x00, 0x00, 0x0f, 0x87, 0x1d, 0x02, 0x00, 0x00, 0x49,
    0x83, 0xfc, 0x01, 0x77, 0x29, 0x48, 0x89, 0xf3, 0xbe, 0x03, 0x00, 0x00, 0x00, 0xb8, 0x48, 0x00,
    0x00, 0x00, 0xe9, 0xc0, 0x02, 0x00, 0x00, 0x48, 0x89, 0xde, 0x48, 0x85, 0xc0, 0x0f, 0x88, 0xe0,
    0x00, 0x00, 0x00, 0xa9, 0x00, 0x08, 0x00, 0x00, 0x0f, 0x84, 0xd5, 0x00, 0x00, 0x00, 0x4c, 0x89,
    0xe0, 0xe9, 0xa8, 0x02, 0x00, 0x00, 0x49, 0x83, 0xfc, 0x01, 0x74, 0x6d, 0x31, 0xc9, 0x48, 0x85,
    0xc0, 0x7e, 0x1b, 0x49, 0x81, 0xfc, 0x19, 0x01, 0x00, 0x00, 0x74, 0x0a, 0x4d, 0x85, 0xe4, 0x75,
    0x0d, 0x48, 0x89, 0xc1, 0xeb, 0x08, 0x48, 0x8d, 0x0c, 0x40, 0x48, 0xc1, 0xe1, 0x02, 0x4c, 0x8b,
    0x1d, 0x83, 0x0e, 0x00, 0x00, 0x48, 0x8d, 0x1d, 0x64, 0x0e, 0x01, 0x00, 0x4c, 0x01, 0xdb, 0x66,
    0x44, 0x89, 0x23, 0x66, 0xc7, 0x43, 0x02, 0x01, 0x00, 0x89, 0x4b, 0x04, 0x48, 0x89, 0x43, 0x08,
    0x49, 0x89, 0xfd, 0x49, 0x89, 0xf3, 0x48, 0x8d, 0x7b, 0x10, 0xf3, 0xa4, 0x4c, 0x89, 0xef, 0x4c,
    0x89, 0xde, 0x8b, 0x4b, 0x04, 0x48, 0x83, 0xc1, 0x17, 0x48, 0x83, 0xe1, 0xf8, 0x48, 0x01, 0x0d,
    0x44, 0x0e, 0x00, 0x00, 0xe9, 0x67, 0x01, 0x00, 0x00, 0x49, 0x89, 0xf3, 0x49, 0x89, 0xc5, 0x48,
    0x8d, 0x0d, 0x05, 0x00, 0x00, 0x00, 0xe9, 0x77, 0x01, 0x00, 0x00, 0x4c, 0x8b, 0x1d, 0x26, 0x0e,
    0x00, 0x00, 0x48, 0x8d, 0x0d, 0x07, 0x0e, 0x01, 0x00, 0x4c, 0x01, 0xd9, 0x66, 0x44, 0x89, 0x21,
    0x66, 0xc7, 0x41, 0x02, 0x01, 0x00, 0xc7, 0x41, 0x04, 0x08, 0x00, 0x00, 0x00, 0x48, 0x89, 0x41,
    0x08, 0x48, 0x89, 0x59, 0x10, 0x48, 0x83, 0x05, 0xfb, 0x0d, 0x00, 0x00, 0x18, 0xe9, 0x1e, 0x01,
    0x00, 0x00, 0x49, 0x8d, 0x5b, 0x10, 0x48, 0x3b, 0x1d, 0xf3, 0x0d, 0x00, 0x00, 0x0f, 0x87, 0x19,
    0x01, 0x00, 0x00, 0x4c, 0x8b, 0x1d, 0xde, 0x0d, 0x00, 0x00, 0x48, 0x8d, 0x1d, 0xbf, 0x0d, 0x01,
    0x00, 0x4c, 0x01, 0xdb, 0x66, 0x44, 0x89, 0x23, 0x66, 0xc7, 0x43, 0x02, 0x00, 0x00, 0xc7, 0x43,
    0x04, 0x00, 0x00, 0x00, 0x00, 0x48, 0xc7, 0x43, 0x08, 0x00, 0x00, 0x00, 0x00, 0x48, 0x83, 0x05,
    0xb3, 0x0d, 0x00, 0x00, 0x10, 0xe9, 0xa9, 0x00, 0x00, 0x00, 0x4c, 0x3b, 0x1d, 0xaf, 0x0d, 0x00,
    0x00, 0x0f, 0x83, 0xd5, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x1d, 0x82, 0x0d, 0x01, 0x00, 0x4c, 0x01,
    0xdb, 0x0f, 0xb7, 0x0b, 0x4c, 0x39, 0xe1, 0x0f, 0x85, 0x86, 0x00, 0x00, 0x00, 0x66, 0x83, 0x7b,
    0x02, 0x00, 0x74, 0x77, 0x49, 0x83, 0xfc, 0x01, 0x74, 0x30, 0x8b, 0x4b, 0x04, 0x49, 0x89, 0xfd,
    0x49, 0x89, 0xf3, 0x48, 0x89, 0xf7, 0x48, 0x8d, 0x73, 0x10, 0xf3, 0xa4, 0x4c, 0x89, 0xef, 0x4c,
    0x89, 0xde, 0x48, 0x8b, 0x43, 0x08, 0x8b, 0x4b, 0x04, 0x48, 0x83, 0xc1, 0x17, 0x48, 0x83, 0xe1,
    0xf8, 0x48, 0x01, 0x0d, 0x50, 0x0d, 0x00, 0x00, 0xeb, 0x76, 0x49, 0x89, 0xf3, 0x4c, 0x8b, 0x6b,
    0x08, 0x49, 0x39, 0xd5, 0x4c, 0x0f, 0x4f, 0xea, 0x48, 0x89, 0xd8, 0x48, 0x8d, 0x0d, 0x02, 0x00,
    0x00, 0x00, 0xeb, 0x7e, 0x3b, 0x58, 0x10, 0x75, 0x0e, 0x48, 0x8b, 0x40, 0x08, 0x48, 0x83, 0x05,
    0x23, 0x0d, 0x00, 0x00, 0x18, 0xeb, 0x49, 0x44, 0x8b, 0x40, 0x10, 0x41, 0x89, 0xd9, 0x4c, 0x8b,
    0x50, 0x08, 0xb8, 0x01, 0x67, 0x72, 0x72, 0x0f, 0x05, 0xeb, 0x08, 0x48, 0x83, 0x05, 0x05, 0x0d,
    0x00, 0x00, 0x10, 0x31, 0xdb, 0x31, 0xc9, 0x45, 0x31, 0xdb, 0x45, 0x31, 0xed, 0x4c, 0x89, 0xe0,
    0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x76, 0x10, 0x48, 0xf7, 0xd8, 0x48, 0x89, 0xc1,
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, 0x31, 0xdb, 0xc3, 0x48, 0x89, 0xd3, 0x31, 0xc9, 0xc3,
    0x31, 0xdb, 0x31, 0xc9, 0x45, 0x31, 0xdb, 0x45, 0x31, 0xed, 0xeb, 0xd6, 0x31, 0xdb, 0x31, 0xc9,
    0x45, 0x31, 0xdb, 0xb8, 0x18, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x4c, 0x89, 0xe0, 0xe9, 0x92, 0xfd,
    0xff, 0xff, 0x31, 0xdb, 0x4d, 0x85, 0xed, 0x7e, 0x29, 0x49, 0x83, 0xfd, 0x08, 0x72, 0x10, 0xf2,
    0x49, 0x0f, 0x38, 0xf1, 0x1b, 0x49, 0x83, 0xc3, 0x08, 0x49, 0x83, 0xed, 0x08, 0xeb, 0xea, 0x4d,
    0x85, 0xed, 0x74, 0x0e, 0xf2, 0x41, 0x0f, 0x38, 0xf0, 0x1b, 0x49, 0xff, 0xc3, 0x49, 0xff, 0xcd,
    0xeb, 0xed, 0xff, 0xe1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0f, 0x05, 0xe9, 0x41, 0xfc, 0xff, 0xff, 0x0f, 0x05, 0xe9, 0x39, 0xfd, 0xff, 0xff, 0x0f, 0x05,
    0xe9, 0x51, 0xfd, 0xff, 0xff,
];

/// Whether `rip` is inside the clock page's code.
pub fn in_code(rip: u64) -> bool {
    (CODE..CODE + CODE_BYTES.len() as u64).contains(&rip)
}

/// Whether a thread at `rip` may be stopped for an event: outside the code,
/// at an entry, at one of its recorded syscalls or just past one, or where
/// a call's result is converted (no buffer state is held in registers
/// there, and the recording and replaying paths meet).
pub fn safe_point(rip: u64) -> bool {
    const SAFE: [u64; 10] = [
        0,
        CLOCK_FLUSH,
        CLOCK_FLUSH + 2,
        CLOCK_TRACED,
        CLOCK_TRACED + 2,
        SYS6 - CODE,
        SYS_TRACED,
        SYS_CONVERT,
        SYS_FLUSH,
        SYS_FLUSH + 2,
    ];
    !in_code(rip) || SAFE.contains(&(rip - CODE))
}

/// Whether a signal handler may be entered with the thread at `rip`: a
/// safe point, but not just past one of the page's syscalls. There the
/// handler would see a pc in rrgo's page, which the program never had —
/// Go's traceback of a crash says `unknown pc` (the runtime's `TestSegv`:
/// a `kill` of itself through the patched `Syscall6`) — while a few steps
/// on, the page returns to the program's code (or reaches another syscall).
pub fn handler_safe(rip: u64) -> bool {
    const PAST_SYSCALL: [u64; 4] = [
        CLOCK_FLUSH + 2,
        CLOCK_TRACED + 2,
        SYS_CONVERT,
        SYS_FLUSH + 2,
    ];
    safe_point(rip) && !(in_code(rip) && PAST_SYSCALL.contains(&(rip - CODE)))
}

/// Whether the instruction at `rip` is one of the code's `rep movsb`
/// (copies of a call's output: one single-step per byte).
pub fn at_rep_movsb(rip: u64) -> bool {
    in_code(rip)
        && CODE_BYTES.get((rip - CODE) as usize..(rip - CODE) as usize + 2) == Some(&[0xf3, 0xa4])
}

/// Where a thread stopped at `rip` inside one of the code's loops over a
/// call's bytes (a `rep movsb`, the write digest's loop) is best run to with
/// a hardware breakpoint, not stepped (a step per byte or per 8 bytes).
pub fn run_over(rip: u64) -> Option<u64> {
    if at_rep_movsb(rip) {
        return Some(rip + 2);
    }
    (CODE + DIGEST..CODE + DIGEST_DONE)
        .contains(&rip)
        .then_some(CODE + DIGEST_DONE)
}

/// The syscall number the page's replaying code stops at when a buffered
/// write is about to send other bytes than the recording did (no kernel
/// has it).
pub const SENT_DIFFERS: u64 = 0x7272_6701;

/// A buffered write that sent other bytes in replay than when recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentDiffers {
    pub fd: u64,
    /// The program's buffer and the bytes the recording sent from it.
    pub buf: u64,
    pub len: u64,
    pub recorded: u32,
    pub replayed: u32,
}

/// Replaying: whether a thread at a syscall-entry stop with `regs` is the
/// page reporting a buffered write whose bytes differ from the recording's.
pub fn sent_differs(regs: &trace_format::Regs) -> Option<SentDiffers> {
    (regs.orig_rax == SENT_DIFFERS && regs.rip == CODE + SENT_STOP + 2).then_some(SentDiffers {
        fd: regs.rdi,
        buf: regs.rsi,
        len: regs.r10,
        recorded: regs.r8 as u32,
        replayed: regs.r9 as u32,
    })
}

/// Who fills the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Record = 0,
    Replay = 1,
}

/// Maps the page into a process whose thread `tid` is at a syscall-exit
/// stop (its execve's) and writes the code and an empty buffer.
pub fn install(tid: Tid, mem: &ProcMem, mode: Mode) -> io::Result<()> {
    let insn = inject::find_syscall_insn(mem)?
        .ok_or_else(|| io::Error::other("no syscall instruction to map the clock page with"))?;
    let prot_rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
    let got = inject::syscall(
        tid,
        insn,
        libc::SYS_mmap,
        &[CODE, END - CODE, prot_rw, flags, u64::MAX, 0],
    )?;
    if got as u64 != CODE {
        return Err(io::Error::other(format!(
            "cannot map the clock page at {CODE:#x} (mmap returned {got:#x})"
        )));
    }
    mem.write(RemoteAddr(CODE), &CODE_BYTES)?;
    let (limit, sys_limit) = match mode {
        Mode::Record => (RECORD_LIMIT, SYSBUF_LEN),
        Mode::Replay => (0, 0),
    };
    let mut header = Vec::with_capacity(40);
    for v in [mode as u64, 0, limit, 0, sys_limit] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    mem.write(RemoteAddr(MODE), &header)?;
    let prot_rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    let r = inject::syscall(tid, insn, libc::SYS_mprotect, &[CODE, 0x1000, prot_rx])?;
    if r != 0 {
        return Err(io::Error::from_raw_os_error(-r as i32));
    }
    Ok(())
}

/// What the program did through the page since rrgo last looked.
#[derive(Debug, Default)]
pub struct Taken {
    /// Clock entries (`struct timespec`s).
    pub clock: Vec<u8>,
    /// Call records.
    pub calls: Vec<u8>,
}

/// Recording: the clock entries and call records used since the last call,
/// and empty buffers again. The thread that used them must be stopped at a
/// [`safe_point`].
pub fn take(mem: &ProcMem) -> io::Result<Taken> {
    let mut header = [0u8; 32];
    mem.read_exact(RemoteAddr(IDX), &mut header)?;
    let word =
        |i: usize| u64::from_le_bytes(header[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let (used, pos) = (word(0), word(2));
    let mut out = Taken::default();
    if used == 0 && pos == 0 {
        return Ok(out);
    }
    if used > CAPACITY || pos > SYSBUF_LEN {
        return Err(io::Error::other(format!(
            "rrgo's page claims {used} clock entries and {pos} bytes of calls"
        )));
    }
    if used > 0 {
        out.clock = vec![0u8; used as usize * ENTRY_LEN];
        mem.read_exact(RemoteAddr(ENTRIES), &mut out.clock)?;
        mem.write_u64(RemoteAddr(IDX), 0)?;
    }
    if pos > 0 {
        out.calls = vec![0u8; pos as usize];
        mem.read_exact(RemoteAddr(SYSBUF), &mut out.calls)?;
        mem.write_u64(RemoteAddr(SYS_POS), 0)?;
    }
    Ok(out)
}

/// Recording: whether anything was put in the buffers since they were last emptied.
pub fn in_use(mem: &ProcMem) -> io::Result<bool> {
    let mut header = [0u8; 24];
    mem.read_exact(RemoteAddr(IDX), &mut header)?;
    Ok(header[..8] != [0; 8] || header[16..] != [0; 8])
}

/// The page's two buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    /// Clock entries (`ClockReads`), counted in entries.
    Clock,
    /// Call records (`BufferedCalls`), counted in bytes.
    Calls,
}

impl Buffer {
    /// (position, limit, data) addresses, the unit of position and limit in
    /// bytes, and the capacity in units.
    fn layout(self) -> (u64, u64, u64, usize, u64) {
        match self {
            Buffer::Clock => (IDX, LIMIT, ENTRIES, ENTRY_LEN, CAPACITY),
            Buffer::Calls => (SYS_POS, SYS_LIM, SYSBUF, 1, SYSBUF_LEN),
        }
    }
}

/// Replaying: a previous batch that the thread did not use up (in the
/// buffer's units).
#[derive(Debug)]
pub struct Unused {
    pub used: u64,
    pub provided: u64,
}

/// Replaying: hands `data` (an event's contents) to the next thread that
/// runs. Fails with `Unused` if the previous batch was not used up (the
/// replay made fewer clock reads or buffered calls than the recording).
pub fn provide(mem: &ProcMem, buffer: Buffer, data: &[u8]) -> io::Result<Result<(), Unused>> {
    let (pos_at, limit_at, data_at, unit, capacity) = buffer.layout();
    let n = (data.len() / unit) as u64;
    if n > capacity || data.len() % unit != 0 {
        return Err(io::Error::other(format!(
            "{} bytes of {buffer:?} contents do not fit rrgo's page",
            data.len()
        )));
    }
    let used = mem.read_u64(RemoteAddr(pos_at))?;
    let provided = mem.read_u64(RemoteAddr(limit_at))?;
    if used != provided {
        return Ok(Err(Unused { used, provided }));
    }
    mem.write(RemoteAddr(data_at), data)?;
    mem.write_u64(RemoteAddr(pos_at), 0)?;
    mem.write_u64(RemoteAddr(limit_at), n)?;
    Ok(Ok(()))
}

/// Replaying: the thread has reached a recorded point by which it had used
/// everything provided (a preemption point reached by a jump or at an
/// earlier visit with equal registers). No-op without the page.
pub fn mark_used(mem: &ProcMem) {
    for buffer in [Buffer::Clock, Buffer::Calls] {
        let (pos, limit, ..) = buffer.layout();
        if let Ok(provided) = mem.read_u64(RemoteAddr(limit)) {
            let _ = mem.write_u64(RemoteAddr(pos), provided);
        }
    }
}

/// Replaying: the position words of the buffers the thread has not used up
/// (address, the limit it must reach). At a recorded preemption point
/// every batch provided before it was used: the recorder flushed both
/// buffers there. Empty without the page.
pub fn unused(mem: &ProcMem) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for buffer in [Buffer::Clock, Buffer::Calls] {
        let (pos, limit, ..) = buffer.layout();
        if let (Ok(used), Ok(provided)) = (
            mem.read_u64(RemoteAddr(pos)),
            mem.read_u64(RemoteAddr(limit)),
        ) {
            if used != provided {
                out.push((pos, provided));
            }
        }
    }
    out
}

/// One call record of a `BufferedCalls` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord<'a> {
    pub nr: i64,
    /// false: a marker for a call that was traced instead.
    pub done: bool,
    pub result: i64,
    pub out: &'a [u8],
}

/// The records of a `BufferedCalls` event (stops at a malformed one).
pub fn call_records(records: &[u8]) -> Vec<CallRecord<'_>> {
    call_record_spans(records)
        .into_iter()
        .map(|(at, data)| {
            let h = &records[at..at + 16];
            CallRecord {
                nr: u16::from_le_bytes([h[0], h[1]]) as i64,
                done: u16::from_le_bytes([h[2], h[3]]) != 0,
                result: i64::from_le_bytes(h[8..16].try_into().unwrap_or_default()),
                out: &records[data],
            }
        })
        .collect()
}

/// Where each record's output bytes are in `records` (what the kernel wrote:
/// the only program data in them; a write's digest is not).
pub fn call_record_outputs(records: &[u8]) -> Vec<std::ops::Range<usize>> {
    call_record_spans(records)
        .into_iter()
        .filter(|(at, _)| records[*at..*at + 2] != [1, 0])
        .map(|(_, data)| data)
        .collect()
}

/// (header offset, output range) of each whole record.
fn call_record_spans(records: &[u8]) -> Vec<(usize, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= records.len() {
        let h = &records[at..at + 16];
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let data = at + 16..at + 16 + len;
        if data.end > records.len() {
            break;
        }
        out.push((at, data));
        at += 16 + len.div_ceil(8) * 8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_point_at_the_instructions_they_name() {
        let at = |off: u64| &CODE_BYTES[off as usize..off as usize + 2];
        for site in [CLOCK_FLUSH, CLOCK_TRACED, SYS_TRACED, SYS_FLUSH, SENT_STOP] {
            assert_eq!(at(site), [0x0f, 0x05], "{site:#x}");
        }
        // The untraced window holds exactly three `syscall; jmp back` stubs.
        for off in [UNTRACED, UNTRACED + 7, UNTRACED + 14] {
            assert_eq!(at(off), [0x0f, 0x05], "{off:#x}");
        }
        assert_eq!(UNTRACED_HI - CODE, CODE_BYTES.len() as u64);
        assert!(safe_point(CODE) && safe_point(SYS6) && !safe_point(CODE + 0x20));
        assert!(safe_point(CODE + 0x1000));
        assert!(safe_point(CODE + SYS_CONVERT) && !handler_safe(CODE + SYS_CONVERT));
        assert!(handler_safe(CODE + SYS_TRACED) && handler_safe(CODE + 0x1000));
        let reps = (CODE..CODE + CODE_BYTES.len() as u64)
            .filter(|&rip| at_rep_movsb(rip))
            .count();
        assert_eq!(
            reps, 2,
            "one copy out when recording, one in when replaying"
        );
        // The digest loop: `cmp r13, 8; jb` at its 8-byte loop, `jmp rcx` at its end.
        assert_eq!(
            &CODE_BYTES[DIGEST as usize + 7..DIGEST as usize + 12],
            [0x49, 0x83, 0xfd, 0x08, 0x72]
        );
        assert_eq!(&CODE_BYTES[DIGEST_DONE as usize..][..2], [0xff, 0xe1]);
        assert_eq!(run_over(CODE + DIGEST + 4), Some(CODE + DIGEST_DONE));
    }

    #[test]
    fn call_records_are_read_back_as_written() {
        let mut raw = Vec::new();
        for (nr, done, result, out) in [(0u16, 1u16, 5i64, &b"hello"[..]), (1, 0, 0, &b""[..])] {
            raw.extend_from_slice(&nr.to_le_bytes());
            raw.extend_from_slice(&done.to_le_bytes());
            raw.extend_from_slice(&(out.len() as u32).to_le_bytes());
            raw.extend_from_slice(&result.to_le_bytes());
            raw.extend_from_slice(out);
            raw.resize(raw.len().div_ceil(8) * 8, 0);
        }
        let recs = call_records(&raw);
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].nr, recs[0].done, recs[0].result), (0, true, 5));
        assert_eq!(recs[0].out, b"hello");
        assert!(!recs[1].done);
    }
}
