//! Ending rrgo the way the recorded program ended.

use trace_format::ExitStatus;

use crate::error::Result;

/// Returns the program's exit code, or for a signal death kills rrgo with
/// the same signal (so a shell sees the same `$?` and message), without a core dump.
pub fn exit_like(status: &ExitStatus) -> Result<i32> {
    match *status {
        ExitStatus::Code(code) => Ok(code),
        ExitStatus::Signal { signo, .. } => {
            // SAFETY: resetting our own signal state and raising a signal at ourselves.
            unsafe {
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                libc::signal(signo, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, signo);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(signo);
            }
            // Signals that do not kill by default (or could not be raised).
            Ok(128 + signo)
        }
    }
}
