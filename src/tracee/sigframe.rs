//! Signal frames the kernel builds, made the same in record and replay.
//!
//! Why: a frame's `sigcontext` holds the thread's last trap number, error
//! code and fault address (`trapno`, `err`, `cr2`) even for a signal that
//! is not a fault, and those come from whatever trapped last: a page
//! fault of demand paging, a ptrace single step, a breakpoint. They differ
//! between recording and replay, and a preemption point recorded by
//! hashes of the memory written would never match again. For a signal
//! that is not a fault both sides stop the thread at its handler's first
//! instruction and zero them. (A fault's values are the fault's own, and
//! replay re-executes the fault.)

use std::io;

use trace_format::RemoteAddr;

use super::mem::ProcMem;

/// From the handler's rsp (its return address) to `uc_mcontext`: the
/// return address, then `uc_flags`, `uc_link` and `uc_stack` (x86-64).
const MCONTEXT: u64 = 8 + 8 + 8 + 24;
/// `err`, `trapno`, `oldmask` and `cr2` in `struct sigcontext`.
const ERR: u64 = 152;
const TRAPNO: u64 = 160;
const CR2: u64 = 176;

/// Zeroes the trap fields of the frame of a thread stopped at its
/// handler's first instruction with stack pointer `rsp`.
pub fn normalize(mem: &ProcMem, rsp: u64) -> io::Result<()> {
    let base = rsp + MCONTEXT;
    for off in [ERR, TRAPNO, CR2] {
        mem.write(RemoteAddr(base + off), &0u64.to_le_bytes())?;
    }
    Ok(())
}

/// Whether process `tid` has a handler for `sig` (from /proc's SigCgt).
pub fn caught(tid: i32, sig: i32) -> bool {
    status_masks(tid, &["SigCgt:"]).is_some_and(|m| in_mask(m[0], sig))
}

/// Whether thread `tid`, resumed delivering `sig`, has the kernel throw
/// it away: not blocked, and ignored (`SIG_IGN`, or the default action of
/// SIGCHLD, SIGURG, SIGWINCH and SIGCONT: the kernel's
/// `SIG_KERNEL_IGNORE_MASK`). It then resumes where it stood without
/// running a handler, so replay delivers nothing (a step would run one
/// instruction the recording may not have run).
pub fn discarded(tid: i32, sig: i32) -> bool {
    let Some([blocked, ignored, caught]) = status_masks(tid, &["SigBlk:", "SigIgn:", "SigCgt:"])
        .and_then(|m| <[u64; 3]>::try_from(m).ok())
    else {
        return false;
    };
    let default_ignore = matches!(
        sig,
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT
    );
    !in_mask(blocked, sig) && (in_mask(ignored, sig) || (default_ignore && !in_mask(caught, sig)))
}

fn in_mask(mask: u64, sig: i32) -> bool {
    (1..=64).contains(&sig) && mask & (1u64 << (sig - 1)) != 0
}

/// The hexadecimal signal masks named `keys` in /proc/`tid`/status (a
/// thread's own file: SigBlk is per thread), in that order.
fn status_masks(tid: i32, keys: &[&str]) -> Option<Vec<u64>> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    keys.iter()
        .map(|k| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .collect()
}

/// Whether a signal with this siginfo code is a fault of the instruction
/// the thread was at (the kernel's own frame values are then deterministic).
pub fn is_fault(sig: i32, si_code: i32) -> bool {
    const SI_KERNEL: i32 = 0x80;
    si_code > 0
        && si_code != SI_KERNEL
        && matches!(
            sig,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
        )
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    /// A live process's dispositions, read as the kernel sees them.
    #[test]
    fn discarded_follows_the_process_dispositions_and_the_thread_mask() {
        let _turn = crate::tracee::TRACING_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        // SAFETY: async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGUSR1, libc::SIG_IGN);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::sigaddset(&mut set, libc::SIGCHLD);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn sleep");
        let pid = child.id() as i32;
        let got = |sig| super::discarded(pid, sig);
        let (int, term, winch, cont, usr1, chld) = (
            got(libc::SIGINT),
            got(libc::SIGTERM),
            got(libc::SIGWINCH),
            got(libc::SIGCONT),
            got(libc::SIGUSR1),
            got(libc::SIGCHLD),
        );
        let int_caught = super::caught(pid, libc::SIGINT);
        let _ = child.kill();
        let _ = child.wait();
        assert!(int, "SIGINT is SIG_IGN: thrown away");
        assert!(!term, "SIGTERM's default action kills");
        assert!(winch, "SIGWINCH's default action is to ignore it");
        assert!(cont, "SIGCONT to a running thread does nothing more");
        assert!(!usr1, "a blocked signal stays pending, even if ignored");
        assert!(!chld, "a blocked SIGCHLD stays pending");
        assert!(!int_caught, "an ignored signal has no handler");
    }
}
