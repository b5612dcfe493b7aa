//! rrgo's clock page: `clock_gettime` answered inside the program.
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
/// The data pages (header, then the entries), right after the code.
pub const DATA: u64 = CODE + 0x1000;
const DATA_LEN: u64 = 64 << 10;
/// End of the whole mapping.
pub const END: u64 = DATA + DATA_LEN;

const MODE: u64 = DATA;
const IDX: u64 = DATA + 8;
const LIMIT: u64 = DATA + 16;
const ENTRIES: u64 = DATA + 64;
/// A `struct timespec`.
pub const ENTRY_LEN: usize = 16;
/// Entries the buffer holds.
pub const CAPACITY: u64 = (DATA_LEN - 64) / ENTRY_LEN as u64;

/// Offsets of labels in [`CODE_BYTES`] (from `scripts/clockpage-asm.sh`).
const UNTRACED: u64 = 0x43;
const FLUSH: u64 = 0x6f;
const TRACED: u64 = 0x78;

/// The instruction pointer the kernel reports for the untraced
/// `clock_gettime` (just past its `syscall`): the seccomp filter allows
/// exactly this call site.
pub const UNTRACED_END: u64 = CODE + UNTRACED + 2;

/// `clockpage.S`, assembled.
const CODE_BYTES: [u8; 0x7b] = [
    0x48, 0x83, 0xff, 0x07, 0x77, 0x6d, 0xb8, 0xf3, 0x00, 0x00, 0x00, 0x0f, 0xa3, 0xf8, 0x73, 0x63,
    0x48, 0x8b, 0x15, 0xf1, 0x0f, 0x00, 0x00, 0x48, 0x3b, 0x15, 0xf2, 0x0f, 0x00, 0x00, 0x73, 0x4a,
    0x48, 0xc1, 0xe2, 0x04, 0x48, 0x8d, 0x0d, 0x15, 0x10, 0x00, 0x00, 0x48, 0x01, 0xca, 0x48, 0x83,
    0x3d, 0xca, 0x0f, 0x00, 0x00, 0x00, 0x75, 0x10, 0x49, 0x89, 0xf0, 0x48, 0x89, 0xd6, 0xb8, 0xe4,
    0x00, 0x00, 0x00, 0x0f, 0x05, 0x4c, 0x89, 0xc6, 0x48, 0x8b, 0x02, 0x48, 0x8b, 0x4a, 0x08, 0x48,
    0x89, 0x06, 0x48, 0x89, 0x4e, 0x08, 0x48, 0xff, 0x05, 0xab, 0x0f, 0x00, 0x00, 0x31, 0xc0, 0x31,
    0xc9, 0x31, 0xd2, 0x45, 0x31, 0xc0, 0x45, 0x31, 0xdb, 0xc3, 0xb8, 0x18, 0x00, 0x00, 0x00, 0x0f,
    0x05, 0xeb, 0x9d, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3,
];

/// Whether `rip` is inside the clock page's code.
pub fn in_code(rip: u64) -> bool {
    (CODE..CODE + CODE_BYTES.len() as u64).contains(&rip)
}

/// Whether a thread at `rip` may be stopped for an event: outside the code,
/// at its entry, or at one of its recorded syscalls (where no buffer state
/// is held in registers and both paths meet).
pub fn safe_point(rip: u64) -> bool {
    !in_code(rip) || rip == CODE || rip == CODE + FLUSH || rip == CODE + TRACED
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
    mem.write_u64(RemoteAddr(MODE), mode as u64)?;
    mem.write_u64(RemoteAddr(IDX), 0)?;
    let limit = match mode {
        Mode::Record => CAPACITY,
        Mode::Replay => 0,
    };
    mem.write_u64(RemoteAddr(LIMIT), limit)?;
    let prot_rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    let r = inject::syscall(tid, insn, libc::SYS_mprotect, &[CODE, 0x1000, prot_rx])?;
    if r != 0 {
        return Err(io::Error::from_raw_os_error(-r as i32));
    }
    Ok(())
}

/// Recording: the entries used since the last call (possibly none), and an
/// empty buffer again. The thread that used them must be stopped at a
/// [`safe_point`].
pub fn take_entries(mem: &ProcMem) -> io::Result<Vec<u8>> {
    let used = mem.read_u64(RemoteAddr(IDX))?;
    if used == 0 {
        return Ok(Vec::new());
    }
    if used > CAPACITY {
        return Err(io::Error::other(format!(
            "the clock page's buffer claims {used} entries (capacity {CAPACITY})"
        )));
    }
    let mut out = vec![0u8; used as usize * ENTRY_LEN];
    mem.read_exact(RemoteAddr(ENTRIES), &mut out)?;
    mem.write_u64(RemoteAddr(IDX), 0)?;
    Ok(out)
}

/// Replaying: a previous batch that the thread did not use up.
#[derive(Debug)]
pub struct Unused {
    pub used: u64,
    pub provided: u64,
}

/// Replaying: hands `entries` to the next thread that runs. Fails if the
/// previous batch was not used up (the replay read the clock less often
/// than the recording did).
pub fn provide(mem: &ProcMem, entries: &[u8]) -> io::Result<Result<(), Unused>> {
    let used = mem.read_u64(RemoteAddr(IDX))?;
    let provided = mem.read_u64(RemoteAddr(LIMIT))?;
    if used != provided {
        return Ok(Err(Unused { used, provided }));
    }
    let n = (entries.len() / ENTRY_LEN) as u64;
    if n > CAPACITY || entries.len() % ENTRY_LEN != 0 {
        return Err(io::Error::other(format!(
            "a ClockReads event of {} bytes does not fit the clock page",
            entries.len()
        )));
    }
    mem.write(RemoteAddr(ENTRIES), entries)?;
    mem.write_u64(RemoteAddr(IDX), 0)?;
    mem.write_u64(RemoteAddr(LIMIT), n)?;
    Ok(Ok(()))
}

/// Replaying: the thread has reached a recorded point by which it had made
/// all the clock reads provided (a preemption point reached by a jump or at
/// an earlier visit with equal registers). No-op without a clock page.
pub fn mark_used(mem: &ProcMem) {
    if let Ok(provided) = mem.read_u64(RemoteAddr(LIMIT)) {
        let _ = mem.write_u64(RemoteAddr(IDX), provided);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_point_at_the_instructions_they_name() {
        let at = |off: u64| &CODE_BYTES[off as usize..off as usize + 2];
        assert_eq!(at(UNTRACED), [0x0f, 0x05]);
        assert_eq!(at(FLUSH), [0x0f, 0x05]);
        assert_eq!(at(TRACED), [0x0f, 0x05]);
        // The untraced call is clock_gettime (mov eax, 228 right before it).
        assert_eq!(
            &CODE_BYTES[UNTRACED as usize - 5..UNTRACED as usize],
            [0xb8, 0xe4, 0, 0, 0]
        );
        assert!(safe_point(CODE) && safe_point(CODE + FLUSH) && !safe_point(CODE + 0x20));
        assert!(safe_point(CODE + 0x1000));
    }
}
