//! The trace's goroutine index in the DAP server: the `dlv history`,
//! `blocked-by` and `signals` answers and the lock holders named in the
//! threads view. It is built by a helper process (`rrgo replay TRACE
//! --build-index`), in the background from the moment a recording is
//! opened: a replay of its own, which in this process would share the
//! engine thread's tracee notifications (SIGCHLD goes to the process).

use std::path::PathBuf;
use std::sync::Arc;

use crate::commands::goindex::{self, GoIndex};

/// The index once built; locked while it is being built.
pub type IndexSlot = Arc<tokio::sync::Mutex<Option<Arc<GoIndex>>>>;

/// The index of the trace in `dir`: the one built already, the cached one,
/// or a new one from the helper (`background`: only on an idle CPU).
pub async fn get(slot: &IndexSlot, dir: PathBuf, background: bool) -> Result<Arc<GoIndex>, String> {
    let mut held = slot.lock().await;
    if let Some(idx) = &*held {
        return Ok(idx.clone());
    }
    let idx = tokio::task::spawn_blocking(move || build(&dir, background))
        .await
        .map_err(|e| format!("the goroutine index failed: {e}"))??;
    let idx = Arc::new(idx);
    *held = Some(idx.clone());
    Ok(idx)
}

/// The index now, if it is built and not being built.
pub fn ready(slot: &IndexSlot) -> Option<Arc<GoIndex>> {
    slot.try_lock().ok()?.clone()
}

fn build(dir: &std::path::Path, background: bool) -> Result<GoIndex, String> {
    if let Some(idx) = goindex::load_cached(dir) {
        return Ok(idx);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find rrgo itself: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("-q")
        .arg("replay")
        .arg(dir)
        .args(["--build-index", "--allow-any-go"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // Gone with the server (the thread waiting for it).
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if background {
                // Only when the CPU is idle: its replay is pinned to the
                // recording's CPU like the debugger's own, and must never
                // slow the user's motions (at nice 10 the first
                // reverse-continue took 4 s instead of 0.3 s).
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
            }
            Ok(())
        });
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start the goroutine index's replay: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "the goroutine index's replay failed ({}): {}",
            out.status,
            err.trim()
        ));
    }
    goindex::load_cached(dir).ok_or_else(|| {
        "the goroutine index was built but could not be read back (is the trace directory writable?)"
            .to_string()
    })
}
