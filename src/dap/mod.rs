//! Debug Adapter Protocol server (the only module that knows JSON).
//!
//! `rrgo replay --dap ADDR` listens on TCP and serves one client at a time,
//! one debug session per client, until SIGINT/SIGTERM. It speaks like
//! Delve's DAP server so VS Code's Go extension (`"debugAdapter":
//! "dlv-dap"`, attach `mode: remote` or launch `mode: replay`), nvim-dap and
//! other clients work unchanged, plus reverse execution (`stepBack`,
//! `reverseContinue`, `restartFrame`). The engine runs on its own thread
//! (`EngineHandle`); this module runs a current-thread tokio runtime.
//!
//! Map: `framing` (Content-Length codec), `json` (messages, lenient
//! arguments), `session` (the per-connection loop and state), handlers by
//! family (`lifecycle`, `execution`, `inspection`, `breakpoints`, `repl`),
//! `config` (launch settings and `dlv config`), `paths` (substitutePath).

mod breakpoints;
mod config;
mod execution;
mod framing;
mod inspection;
mod json;
mod lifecycle;
mod paths;
mod repl;
mod session;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod schema;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::debugger::handle::EngineHandle;

/// `--dap` addresses: `:2345` (localhost), `HOST:PORT`, `[::1]:PORT`.
pub fn parse_addr(addr: &str) -> anyhow::Result<String> {
    let bad = || {
        anyhow::anyhow!(
            "invalid --dap address {addr:?}: expected HOST:PORT or :PORT, e.g. 127.0.0.1:2345"
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

fn termination_set() -> libc::sigset_t {
    // SAFETY: initialising a sigset_t with libc's own functions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread so that `serve` can wait
/// for them on a thread of its own. Call before spawning the engine thread
/// (threads inherit the mask). Replayed programs start with the mask `main`
/// saved, so they are not affected.
pub fn block_termination_signals() {
    let set = termination_set();
    // SAFETY: changing the calling thread's signal mask with a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Resolves when SIGINT or SIGTERM arrives (they must be blocked in every thread).
fn termination_signal() -> tokio::sync::oneshot::Receiver<i32> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("rrgo-signals".into())
        .spawn(move || {
            let set = termination_set();
            let mut sig = 0;
            // SAFETY: sigwait with a valid set and out-pointer; the signals are blocked.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                let _ = tx.send(sig);
            }
        });
    if let Err(e) = spawned {
        warn!("cannot watch for SIGINT/SIGTERM: {e}");
    }
    rx
}

/// Serves DAP clients on `addr`, one after another, until SIGINT or SIGTERM.
/// Each client gets a fresh session that opens `trace` (None: the latest
/// recording) through `handle` when it attaches.
pub fn serve(addr: &str, trace: Option<PathBuf>, handle: EngineHandle) -> anyhow::Result<()> {
    let addr = parse_addr(addr)?;
    block_termination_signals();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the DAP server's runtime")?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // Tests and scripts parse this line.
        eprintln!("rrgo: DAP server listening on {local}");
        let mut stop = termination_signal();
        tokio::select! {
            r = accept_loop(listener, trace, handle) => r,
            Ok(sig) = &mut stop => {
                info!("signal {sig}: DAP server stopping");
                Ok(())
            }
        }
    })
}

/// Accepts clients forever, serving each to its end before the next.
async fn accept_loop(
    listener: TcpListener,
    trace: Option<PathBuf>,
    handle: EngineHandle,
) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // E.g. out of file descriptors: wait a little, go on.
                warn!("DAP accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        info!("DAP client connected from {peer}");
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        session::run(r, w, handle.clone(), trace.clone()).await;
        info!("DAP client {peer} disconnected");
    }
}
