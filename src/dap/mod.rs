//! Debug Adapter Protocol server (the only module that knows JSON).
//!
//! `rrgo replay --dap ADDR` listens on TCP and serves one client at a time,
//! one debug session per client, until SIGINT/SIGTERM. A client that comes
//! while another is served is told so and closed; one that starts no debug
//! session within the handshake timeout is dropped (`access`). It speaks like
//! Delve's DAP server so VS Code's Go extension (`"debugAdapter":
//! "dlv-dap"`, attach `mode: remote` or launch `mode: replay`), nvim-dap and
//! other clients work unchanged, plus reverse execution (`stepBack`,
//! `reverseContinue`, `restartFrame`). The engine runs on its own thread
//! (`EngineHandle`); this module runs a current-thread tokio runtime.
//!
//! Map: `framing` (Content-Length codec), `json` (messages, lenient
//! arguments), `session` (the per-connection loop and state), handlers by
//! family (`lifecycle`, `execution`, `inspection`, `breakpoints`, `repl`),
//! `config` (launch settings and `dlv config`), `paths` (substitutePath),
//! `access` (token, which recordings a client may open, turning clients away).

mod access;
mod breakpoints;
mod config;
mod data;
mod execution;
mod framing;
mod index;
mod inspection;
mod json;
mod lifecycle;
mod memory;
mod paths;
mod repl;
mod session;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod schema;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use access::Busy;
pub use access::ServeOptions;

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
/// Each client gets a fresh session that opens `opts.trace` (None: the
/// latest recording) through `handle` when it attaches.
pub fn serve(addr: &str, opts: ServeOptions, handle: EngineHandle) -> anyhow::Result<()> {
    let addr = parse_addr(addr)?;
    block_termination_signals();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the DAP server's runtime")?;
    let served = rt.block_on(async move {
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // Tests and scripts parse this line.
        eprintln!("rrgo: DAP server listening on {local}");
        if !access::is_loopback(local.ip()) {
            // Not silenced by --quiet: the user must know.
            eprintln!("{}", access::exposure_warning(local, opts.token.is_some()));
        }
        let mut stop = termination_signal();
        tokio::select! {
            r = accept_loop(listener, Arc::new(opts), handle) => r,
            Ok(sig) = &mut stop => {
                info!("signal {sig}: DAP server stopping");
                Ok(())
            }
        }
    });
    // Not waiting for blocking tasks (a goroutine index being built): the
    // helper process dies with the server (PR_SET_PDEATHSIG).
    rt.shutdown_background();
    served
}

/// The session being served.
struct Current {
    busy: Busy,
    /// True once it ends if it opened the recording.
    task: JoinHandle<bool>,
}

enum Arrival {
    /// A new connection; `retried` if it already waited for the server to be free.
    Client(TcpStream, SocketAddr, bool),
    /// The session ended; true if it had opened the recording.
    SessionEnded(bool),
}

/// Resolves when the current session's task ends; never without one.
async fn session_end(current: &mut Option<Current>) -> bool {
    match current {
        Some(c) => (&mut c.task).await.unwrap_or(false),
        None => std::future::pending().await,
    }
}

/// Accepts clients forever: serves one at a time and turns the others away
/// (after a short grace, so that one arriving as the last leaves is served).
async fn accept_loop(
    listener: TcpListener,
    opts: Arc<ServeOptions>,
    handle: EngineHandle,
) -> anyhow::Result<()> {
    let (free_tx, free_rx) = watch::channel(true);
    let (back_tx, mut back_rx) = mpsc::unbounded_channel();
    let turning_away = Arc::new(AtomicUsize::new(0));
    let mut current: Option<Current> = None;
    loop {
        let arrival = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => Arrival::Client(stream, peer, false),
                Err(e) => {
                    // E.g. out of file descriptors: wait a little, go on.
                    warn!("DAP accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some((stream, peer)) = back_rx.recv() => Arrival::Client(stream, peer, true),
            loaded = session_end(&mut current) => Arrival::SessionEnded(loaded),
        };
        match arrival {
            Arrival::SessionEnded(loaded) => {
                if let Some(c) = current.take() {
                    info!("DAP client {} disconnected", c.busy.peer);
                }
                if loaded && !opts.accept_multiclient {
                    // As `dlv dap`: the debug session is over, and with the
                    // server go the replayed program and its checkpoints.
                    crate::say!(
                        "the debug session ended; DAP server exiting (--accept-multiclient keeps it serving)"
                    );
                    return Ok(());
                }
                let _ = free_tx.send(true);
            }
            Arrival::Client(stream, peer, retried) => match &current {
                None => {
                    current = Some(start_session(stream, peer, &opts, &handle));
                    let _ = free_tx.send(false);
                }
                Some(c) => {
                    let grace = (!retried).then_some(access::FREE_GRACE);
                    let waiter = Waiter {
                        free: free_rx.clone(),
                        back: back_tx.clone(),
                        count: turning_away.clone(),
                    };
                    waiter.spawn(stream, peer, c.busy, grace);
                }
            },
        }
    }
}

fn start_session(
    stream: TcpStream,
    peer: SocketAddr,
    opts: &Arc<ServeOptions>,
    handle: &EngineHandle,
) -> Current {
    info!("DAP client connected from {peer}");
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let task = tokio::spawn(session::run(
        r,
        w,
        handle.clone(),
        opts.clone(),
        peer.to_string(),
    ));
    Current {
        busy: Busy {
            peer,
            since: Instant::now(),
        },
        task,
    }
}

/// What a client that arrived while the server was busy needs.
struct Waiter {
    free: watch::Receiver<bool>,
    back: mpsc::UnboundedSender<(TcpStream, SocketAddr)>,
    /// Clients being turned away right now (bounded: each holds a socket).
    count: Arc<AtomicUsize>,
}

impl Waiter {
    /// Waits up to `grace` for the server to be free (then hands the client
    /// back to be served), else turns the client away, on a task of its own.
    fn spawn(
        mut self,
        stream: TcpStream,
        peer: SocketAddr,
        busy: Busy,
        grace: Option<std::time::Duration>,
    ) {
        if self.count.fetch_add(1, Ordering::Relaxed) >= access::MAX_TURNING_AWAY {
            self.count.fetch_sub(1, Ordering::Relaxed);
            warn!("DAP client {peer} closed at once: too many clients waiting");
            return;
        }
        tokio::spawn(async move {
            if let Some(g) = grace {
                let freed = tokio::time::timeout(g, self.free.wait_for(|f| *f))
                    .await
                    .is_ok_and(|r| r.is_ok());
                if freed {
                    self.count.fetch_sub(1, Ordering::Relaxed);
                    let _ = self.back.send((stream, peer));
                    return;
                }
            }
            access::turn_away(stream, peer, busy).await;
            self.count.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
