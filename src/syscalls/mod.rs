//! What rrgo knows about each syscall, as data: how replay reproduces it,
//! whether it may block, and which tracee memory the kernel writes.
//!
//! One file per syscall family holds that family's rows; `table` merges
//! them into a lookup by number. The record and replay engines read the
//! rows and never match on syscall numbers themselves; the few syscalls that
//! need code (mmap of a file, clone, exec, …) name a `Hook` that the engines
//! implement once.

mod files;
pub mod ioctl;
mod memory;
mod net;
mod poll;
mod process;
mod random;
mod signals;
mod sync;
mod table;
mod time;

mod written;

pub use process::CloneArgs;
pub use table::lookup;
pub use written::{entry_lens, in_flight_ranges, ranges, sent_digest, sent_ranges, EntryLens};

/// How replay reproduces a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not executed: replay sets the recorded result and writes the recorded bytes.
    Emulate,
    /// Executed for real (it shapes the process: memory map, threads, signal
    /// state); replay checks the result equals the recorded one.
    Execute,
}

/// Whether the calling thread may sleep in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// Returns promptly: the recorder waits for the exit stop before switching threads.
    Never,
    /// May wait for another thread or the outside world: the recorder runs other threads meanwhile.
    Maybe,
    /// futex: blocks for the wait operations only (decided from the op in arg 1).
    FutexOp,
    /// clone: blocks only with CLONE_VFORK (the parent waits for the child's
    /// exec or exit). A fork must not let the parent's other threads run
    /// meanwhile: the child's copy of memory would depend on when the
    /// kernel made it.
    CloneFlags,
    /// fcntl: blocks only for F_SETLKW and F_OFD_SETLKW (waiting for a
    /// lock another recorded process may hold).
    FcntlCmd,
    /// A sleep for the relative time in the timespec at arg `req`: blocks
    /// unless it is at most `SHORT_SLEEP_NS`. Such a nap is a spin-wait's
    /// pause (Go's scheduler sleeps 3 µs before stealing a goroutine from a
    /// running thread); giving up the CPU there hands it back to the thread
    /// the napper waits for, which then keeps it for a whole turn.
    /// `flags`: the arg holding clock_nanosleep's flags (TIMER_ABSTIME blocks).
    Sleep { req: u8, flags: Option<u8> },
    /// I/O on the descriptor in arg `fd`: blocks on pipes, sockets,
    /// terminals and devices; on a regular file it is brief (`brief`).
    FdIo { fd: u8 },
    /// Opening a path: blocks only on a FIFO or a device; brief otherwise.
    Open,
}

/// The longest sleep the recorder waits out with the thread on the CPU.
pub const SHORT_SLEEP_NS: u64 = 10_000;

/// The kernel's restart through `restart_syscall` (a sleep's remaining time).
pub const ERESTART_RESTARTBLOCK: i64 = -516;

/// The kernel-internal results that ask for a syscall restart (never seen by the program).
pub fn is_restart_code(result: i64) -> bool {
    matches!(result, -512 | -513 | -514 | ERESTART_RESTARTBLOCK)
}

/// prctl options replay emulates (`Hook::Prctl`): PR_GET/SET_KEEPCAPS,
/// PR_CAPBSET_READ/DROP, PR_GET/SET_SECUREBITS, PR_CAP_AMBIENT, and
/// PR_GET_SECCOMP/PR_GET_NO_NEW_PRIVS, which the recorder's seccomp filter
/// sets for the program (2 and 1) and replay, which installs none, does not
/// (a libcap-using child of the runtime's tests diverged: "expected prctl
/// to return 1, got 0").
pub fn prctl_is_emulated(option: u64) -> bool {
    matches!(option, 7 | 8 | 21 | 23 | 24 | 27 | 28 | 39 | 47)
}

impl Blocking {
    pub fn may_block(self, args: &[u64; 6], mem: &crate::tracee::mem::ProcMem) -> bool {
        match self {
            Blocking::Sleep { req, flags } => {
                let absolute =
                    flags.is_some_and(|f| args[f as usize] & libc::TIMER_ABSTIME as u64 != 0);
                let Ok(ts) = mem.read(trace_format::RemoteAddr(args[req as usize]), 16) else {
                    return true;
                };
                let sec = u64::from_le_bytes(ts[..8].try_into().unwrap_or_default());
                let nsec = u64::from_le_bytes(ts[8..].try_into().unwrap_or_default());
                absolute || sec != 0 || nsec > SHORT_SLEEP_NS
            }
            Blocking::Never => false,
            Blocking::Maybe => true,
            Blocking::FutexOp => {
                // FUTEX_CMD_MASK strips PRIVATE and CLOCK_REALTIME flags.
                let cmd = args[1] & 0x7f;
                // WAIT, WAIT_BITSET, LOCK_PI, WAIT_REQUEUE_PI, LOCK_PI2
                matches!(cmd, 0 | 9 | 6 | 11 | 13)
            }
            Blocking::CloneFlags => args[0] & libc::CLONE_VFORK as u64 != 0,
            Blocking::FcntlCmd => matches!(args[1], 7 | 38),
            Blocking::FdIo { .. } | Blocking::Open => true,
        }
    }

    /// Whether a call that may block almost always returns within
    /// microseconds without waiting for another thread: I/O on a regular
    /// file (the page cache, at worst the disk), opening a path. The
    /// recorder keeps such a call's thread on the CPU for a grace period
    /// before it runs others (`BRIEF_GRACE`): switching at it made the
    /// thread wait for the CPU afterwards, a slice of a spinning thread for
    /// every file read (a heap profile beside a spinning goroutine: each of
    /// its reads of /proc/self/maps and the executable, 3–8 ms).
    pub fn brief(self, args: &[u64; 6]) -> Brief {
        match self {
            Blocking::Open => Brief::Yes,
            Blocking::FdIo { fd } => Brief::IfRegularFile(args[fd as usize] as i32),
            _ => Brief::No,
        }
    }
}

/// Whether a call is brief (`Blocking::brief`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brief {
    No,
    Yes,
    /// When this descriptor is a regular file (the recorder looks).
    IfRegularFile(i32),
}

/// How long the recorder waits for a brief call (`Blocking::brief`) to
/// return before it runs other threads: a FUSE file served by the program
/// itself, /proc/kmsg or a cold disk block then costs the CPU that long at
/// most, and nothing waits on it for good.
pub const BRIEF_GRACE: std::time::Duration = std::time::Duration::from_millis(1);

/// A piece of tracee memory the kernel may write, located through the
/// syscall's arguments (by index 0..6) and result. Written only when the
/// result is not an error and the pointer is not null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// `arg[p]` points to `result` bytes (read, getrandom, readlink, …).
    ResultLen(u8),
    /// `arg[p]` points to a fixed-size object.
    Fixed(u8, usize),
    /// `arg[p]` points to `arg[q]` bytes.
    ArgLen(u8, u8),
    /// `arg[p]` points to `result` records of `size` bytes (epoll events).
    ResultCount(u8, usize),
    /// `arg[p]` points to `arg[q]` records of `size` bytes (poll fds).
    ArgCount(u8, u8, usize),
    /// A socket address: `arg[addr]` buffer whose in/out length is the u32 at `arg[len]`.
    SockAddr { addr: u8, len: u8 },
    /// `arg[p]` is an iovec array of `arg[q]` entries, filled with `result` bytes in order.
    IovResult(u8, u8),
    /// `arg[p]` is a `struct msghdr` (recvmsg): name, iovecs, control data, flags.
    MsgHdr(u8),
    /// `arg[p]` is an array of `struct mmsghdr` with `result` entries (recvmmsg).
    MmsgHdr(u8),
    /// `arg[p]` is an array of `struct mmsghdr` of which the kernel sets the
    /// first `result` entries' `msg_len` (sendmmsg: bytes sent).
    MmsgLens(u8),
    /// `arg[p]` is an fd_set sized for `arg[n]` descriptors (select).
    FdSet(u8, u8),
    /// `arg[p]` gets one byte per page of the `arg[len]`-byte range (mincore).
    PageVec(u8, u8),
    /// `arg[p]` is a `struct xattr_args` (getxattrat): its `value` pointer
    /// gets `result` bytes.
    XattrValue(u8),
    /// name_to_handle_at: `arg[handle]` is a `struct file_handle` whose
    /// first u32 (in: the room, out: the handle's size) the kernel writes
    /// even when it fails with EOVERFLOW (how callers learn the size), then
    /// the type and handle; `arg[mount_id]` an int, or a u64 when `arg[flags]`
    /// has AT_HANDLE_MNT_ID_UNIQUE.
    FileHandle { handle: u8, mount_id: u8, flags: u8 },
    /// `arg[ptr]` points to an object whose size depends on the command in
    /// `arg[cmd]` (fcntl's F_GETLK fills a struct flock); commands not in
    /// `sizes` write nothing there.
    ByCommand {
        cmd: u8,
        ptr: u8,
        sizes: &'static [(u64, usize)],
    },
    /// For the commands in `cmds` (the value of `arg[cmd]`), `arg[ptr]`
    /// gets the first `result` bytes, at most `arg[len]`: the result is
    /// the whole object's size, which may be more than the room given
    /// (keyctl's KEYCTL_READ, KEYCTL_DESCRIBE).
    ByCommandCapped {
        cmd: u8,
        ptr: u8,
        len: u8,
        cmds: &'static [u64],
    },
}

/// Behaviour that needs code in the engines, named here so it stays tied to
/// the syscall's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    None,
    /// mmap: a file mapping is replayed as an anonymous one filled from the stored file.
    Mmap,
    /// prctl: executed, except the options about credentials and
    /// capabilities (ambient set, keepcaps, bounding set, securebits),
    /// which are emulated like setuid and capset: replay does not have the
    /// credentials the recording had.
    Prctl,
    /// munmap: the range is no longer mapped (the recorder stops watching
    /// shared file mappings there).
    Unmap,
    /// brk/mremap: the program has new memory (write tracking must cover it).
    NewMemory,
    /// mprotect: memory that becomes writable needs write tracking (a
    /// PROT_NONE reservation is not tracked when mapped).
    Protect,
    /// Executed, never blocks, and its result and written memory depend only
    /// on the process's signal state, which replay re-creates (the trace
    /// holds the initial mask and ignores): the recorder does not stop at
    /// its exit (one ptrace stop instead of two).
    StateOnly,
    /// sigaltstack: `StateOnly`, and the recorder notes the thread's new
    /// signal stack (a preemption point taken there is verified against
    /// it, as one on a goroutine's stack).
    SignalStack,
    /// sched_yield: the thread spin-waits for another one's progress (Go's
    /// `osyield`; rrgo's page with a full clock buffer), which may be waiting
    /// for the one CPU the program's threads share: the recorder gives the
    /// CPU to another ready thread at its exit.
    Yield,
    /// clone/clone3/fork/vfork: a new task; the result is a tid to map.
    Clone,
    /// execve/execveat: a new program image.
    Exec,
    /// sched_getaffinity: the program sees the mask it would have had without rrgo's CPU pinning.
    SchedGetaffinity,
    /// write: bytes to the original stdout/stderr (from `arg[1]`, `result`
    /// long) are shown again by `replay -a`.
    Output,
    /// writev: the same, gathered from the iovec array at `arg[1]` (`arg[2]` entries).
    OutputIov,
    /// ioctl: the output size depends on the request.
    Ioctl,
    /// exit_group: the process ends inside the syscall.
    Exit,
    /// exit: the calling thread ends inside the syscall (the others go on:
    /// it is followed to its death before the next event).
    ExitThread,
    /// rt_sigreturn: restores registers from the signal frame; it has no exit stop result to set.
    Sigreturn,
    /// The result is a live tid or pid (set_tid_address): executed, then given the recorded value.
    TidResult,
    /// clock_gettime: for system-wide clocks the recorder reads the clock
    /// itself at the entry stop and skips the call (one stop, not two).
    ClockAtEntry,
    /// Not executed at record or replay: the program gets this negative errno,
    /// as if the kernel lacked the call (rseq: its per-CPU writes would be
    /// nondeterministic).
    Refuse(i64),
    /// copy_file_range, sendfile, splice, tee: the kernel moves bytes from
    /// the fd at argument `input` to the one at `out` without the program's
    /// memory, so `replay -a` would not have them to show. Where `out` is
    /// rrgo's stdout or stderr: from a pipe (splice, tee; Go splices a
    /// connection into a pipe of its own, then that pipe into stdout) the
    /// recorder copies the bytes first (`record::splice`); from anything
    /// else it refuses the call with EINVAL — "not supported for these
    /// fds" — and Go, like coreutils, copies through memory instead.
    ZeroCopy {
        input: usize,
        out: usize,
        /// The argument with the byte count (cut to what was copied).
        len: usize,
    },
}

/// One syscall's row.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub nr: i64,
    pub replay: Replay,
    pub blocking: Blocking,
    pub outputs: &'static [Out],
    /// The program's memory the call sends (write, sendmsg, …), described
    /// like outputs: its digest is recorded and checked at replay.
    pub sends: &'static [Out],
    /// The call may change a file's contents (replay must show the change
    /// through the program's shared mappings of that file).
    pub alters_file: Alters,
    pub hook: Hook,
}

/// Which file a call may change the contents of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alters {
    Nothing,
    /// The file open as the descriptor in this argument.
    Fd(u8),
    /// A file named by path: which one is not looked up.
    Named,
}

/// Shorthands that keep the family tables to one line per syscall.
/// A call refused with `errno` alike in recording and replay (the program
/// sees a kernel without it).
pub(crate) const fn refused(nr: i64, errno: i32) -> Spec {
    emu(nr, &[]).hook(Hook::Refuse(-(errno as i64)))
}

pub(crate) const fn emu(nr: i64, outputs: &'static [Out]) -> Spec {
    Spec {
        nr,
        replay: Replay::Emulate,
        blocking: Blocking::Never,
        outputs,
        sends: &[],
        alters_file: Alters::Nothing,
        hook: Hook::None,
    }
}

/// A sleep (see `Blocking::Sleep`), emulated.
pub(crate) const fn emu_sleep(
    nr: i64,
    req: u8,
    flags: Option<u8>,
    outputs: &'static [Out],
) -> Spec {
    Spec {
        blocking: Blocking::Sleep { req, flags },
        ..emu_blocking(nr, outputs)
    }
}

/// `emu_blocking` for I/O on the descriptor in arg 0 (`Blocking::FdIo`).
pub(crate) const fn emu_fd_io(nr: i64, outputs: &'static [Out]) -> Spec {
    Spec {
        blocking: Blocking::FdIo { fd: 0 },
        ..emu_blocking(nr, outputs)
    }
}

/// `emu_blocking` for opening a path (`Blocking::Open`).
pub(crate) const fn emu_open(nr: i64) -> Spec {
    Spec {
        blocking: Blocking::Open,
        ..emu_blocking(nr, &[])
    }
}

pub(crate) const fn emu_blocking(nr: i64, outputs: &'static [Out]) -> Spec {
    Spec {
        nr,
        replay: Replay::Emulate,
        blocking: Blocking::Maybe,
        outputs,
        sends: &[],
        alters_file: Alters::Nothing,
        hook: Hook::None,
    }
}

pub(crate) const fn exec(nr: i64, outputs: &'static [Out]) -> Spec {
    Spec {
        nr,
        replay: Replay::Execute,
        blocking: Blocking::Never,
        outputs,
        sends: &[],
        alters_file: Alters::Nothing,
        hook: Hook::None,
    }
}

impl Spec {
    pub(crate) const fn hook(mut self, hook: Hook) -> Spec {
        self.hook = hook;
        self
    }

    pub(crate) const fn blocking(mut self) -> Spec {
        self.blocking = Blocking::Maybe;
        self
    }

    /// The call sends these ranges of the program's memory.
    pub(crate) const fn sends(mut self, sends: &'static [Out]) -> Spec {
        self.sends = sends;
        self
    }

    /// The call may change the contents of the file its first argument names.
    pub(crate) const fn alters_file(self) -> Spec {
        self.alters_file_at(0)
    }

    /// The call may change the contents of the file argument `arg` names.
    pub(crate) const fn alters_file_at(mut self, arg: u8) -> Spec {
        self.alters_file = Alters::Fd(arg);
        self
    }

    /// The call may change a file it names by path.
    pub(crate) const fn alters_named_file(mut self) -> Spec {
        self.alters_file = Alters::Named;
        self
    }
}
