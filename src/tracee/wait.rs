//! Waiting for tracee stops, with an optional timeout.
//!
//! waitpid has no timeout, so the engine thread keeps SIGCHLD blocked and
//! sleeps in sigtimedwait: the kernel sends the tracer SIGCHLD for every
//! tracee stop, and a pending SIGCHLD makes the wait return at once, so no
//! stop is ever missed between the WNOHANG poll and the sleep.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use super::Tid;

/// Why a thread stopped (or ended), decoded from the raw wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Syscall entry or exit (PTRACE_O_TRACESYSGOOD); the caller knows which.
    Syscall,
    /// Signal-delivery-stop: the signal is about to be delivered.
    Signal(i32),
    /// A PTRACE_EVENT_* stop (`sig` is the stop signal, e.g. SIGTRAP, or
    /// the group-stop signal for PTRACE_EVENT_STOP).
    Event { event: i32, sig: i32 },
    /// The thread exited with this code (the whole process if it was the last).
    Exited(i32),
    /// The thread was killed by a signal.
    Killed { sig: i32, core_dumped: bool },
}

#[derive(Debug, Clone, Copy)]
pub struct Waited {
    pub tid: Tid,
    pub stop: Stop,
}

/// Blocks SIGCHLD in the calling thread; call it in `main` before any thread
/// is spawned so every thread inherits the mask and SIGCHLD stays pending
/// for `wait_any`. Returns the previous mask, which a recorded program gets
/// (a replayed one gets the recorded mask).
pub fn block_sigchld() -> u64 {
    // Raw, so the returned mask keeps signals 32 and 33 (glibc hides them).
    super::spawn::raw_sigmask(libc::SIG_BLOCK, Some(1 << (libc::SIGCHLD - 1)))
}

/// Signals that `rrgo record` passes on to the program instead of dying
/// from them (SIGINT only when it does not come from the terminal).
const FORWARDED: [i32; 3] = [libc::SIGTERM, libc::SIGHUP, libc::SIGINT];
/// si_code of a signal the kernel sent, e.g. the terminal's SIGINT for Ctrl-C.
const SI_KERNEL: i32 = 0x80;
static FORWARDING: AtomicBool = AtomicBool::new(false);
static PENDING: AtomicI32 = AtomicI32::new(0);
static ORIGINAL_IGNORED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// The signals rrgo's caller had ignored: the recorded program starts with these.
pub fn original_ignored() -> u64 {
    *ORIGINAL_IGNORED.get_or_init(super::spawn::ignored_signals)
}

/// From now on SIGTERM, SIGHUP and SIGINT sent to rrgo are caught by the
/// waits and handed out by `take_forwarded`, so the program dies from them
/// (or handles them) and rrgo then exits like it. A SIGINT from the
/// terminal (Ctrl-C) is not passed on: the terminal sent it to the program
/// too. Call before spawning threads.
pub fn start_forwarding() {
    ORIGINAL_IGNORED.get_or_init(super::spawn::ignored_signals);
    // SAFETY: a signal mask change with a valid set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    FORWARDING.store(true, Ordering::Relaxed);
}

/// A signal rrgo received that should go to the program (0 if none).
pub fn take_forwarded() -> i32 {
    PENDING.swap(0, Ordering::Relaxed)
}

pub fn decode(tid: i32, status: i32) -> Waited {
    let stop = if libc::WIFEXITED(status) {
        Stop::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Stop::Killed {
            sig: libc::WTERMSIG(status),
            core_dumped: libc::WCOREDUMP(status),
        }
    } else {
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        if sig == libc::SIGTRAP | 0x80 {
            Stop::Syscall
        } else if event != 0 {
            Stop::Event { event, sig }
        } else {
            Stop::Signal(sig)
        }
    };
    Waited {
        tid: Tid(tid),
        stop,
    }
}

fn waitpid(pid: i32, flags: i32) -> io::Result<Option<Waited>> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        // __WNOTHREAD: only this thread's tracees (ptrace runs from one
        // thread; another thread's child, e.g. the DAP server's index
        // builder, is not ours to reap).
        let r =
            unsafe { libc::waitpid(pid, &mut status, flags | libc::__WALL | libc::__WNOTHREAD) };
        if r > 0 {
            return Ok(Some(decode(r, status)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits for the next stop of any tracee. `None` timeout waits forever;
/// returns `Ok(None)` when the timeout passed with no stop, or early when a
/// signal to forward arrived (see `take_forwarded`): an idle program must
/// still get it.
pub fn wait_any(timeout: Option<Duration>) -> io::Result<Option<Waited>> {
    loop {
        if let Some(w) = waitpid(-1, libc::WNOHANG)? {
            return Ok(Some(w));
        }
        if PENDING.load(Ordering::Relaxed) != 0 {
            return Ok(None);
        }
        match timeout {
            Some(t) if t.is_zero() => return Ok(None),
            Some(t) => {
                if !sigtimedwait_chld(Some(t))? {
                    return waitpid(-1, libc::WNOHANG);
                }
            }
            None => {
                sigtimedwait_chld(None)?;
            }
        }
    }
}

/// Waits for the next stop of one thread, forever.
pub fn wait_tid(tid: Tid) -> io::Result<Waited> {
    loop {
        if let Some(w) = waitpid(tid.0, 0)? {
            return Ok(w);
        }
    }
}

/// Waits for the next stop of one thread for at most `timeout`; `None` when
/// it passed without one. Sleeps in sigtimedwait like `wait_any` (a stop of
/// another tracee only wakes it early).
pub fn wait_tid_timeout(tid: Tid, timeout: Duration) -> io::Result<Option<Waited>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(w) = waitpid(tid.0, libc::WNOHANG)? {
            return Ok(Some(w));
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        sigtimedwait_chld(Some(left))?;
    }
}

/// The next stop of one thread if there is one already.
pub fn wait_tid_nohang(tid: Tid) -> io::Result<Option<Waited>> {
    waitpid(tid.0, libc::WNOHANG)
}

/// Sleeps until SIGCHLD is pending (true) or the timeout passes (false).
fn sigtimedwait_chld(timeout: Option<Duration>) -> io::Result<bool> {
    // SAFETY: libc calls with valid pointers; SIGCHLD is blocked (block_sigchld).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        if FORWARDING.load(Ordering::Relaxed) {
            for sig in FORWARDED {
                libc::sigaddset(&mut set, sig);
            }
        }
        let ts;
        let tsp = match timeout {
            Some(t) => {
                ts = libc::timespec {
                    tv_sec: t.as_secs() as libc::time_t,
                    tv_nsec: t.subsec_nanos() as libc::c_long,
                };
                &ts as *const libc::timespec
            }
            None => std::ptr::null(),
        };
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::sigtimedwait(&set, &mut info, tsp);
        if r >= 0 {
            let from_terminal = r == libc::SIGINT && info.si_code == SI_KERNEL;
            if r != libc::SIGCHLD && !from_terminal {
                PENDING.store(r, Ordering::Relaxed);
            }
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(false),
            Some(libc::EINTR) => Ok(true),
            _ => Err(e),
        }
    }
}
