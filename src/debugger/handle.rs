//! The bridge between async front ends (the DAP server on tokio) and the
//! engine, which must stay on one OS thread: ptrace only accepts requests
//! from the thread that attached. Front ends send closures to that thread
//! and await their results.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use super::api::{DebugTarget, EResult, EngineError};

/// Progress while a recording loads: (done, total).
pub type ProgressFn<'a> = &'a dyn Fn(u64, u64);

/// Opens a recording (None: the latest) on the engine thread.
pub type Factory = Box<
    dyn Fn(Option<PathBuf>, ProgressFn<'_>, Arc<AtomicBool>) -> anyhow::Result<Box<dyn DebugTarget>>
        + Send,
>;

type Job = Box<dyn FnOnce(&mut Slot) + Send>;

struct Slot {
    target: Option<Box<dyn DebugTarget>>,
    factory: Factory,
    interrupt: Arc<AtomicBool>,
}

#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Job>,
    interrupt: Arc<AtomicBool>,
}

impl EngineHandle {
    /// Starts the engine thread. Nothing is loaded until `open`.
    pub fn spawn(factory: Factory) -> EngineHandle {
        let (tx, rx) = mpsc::channel::<Job>();
        let interrupt = Arc::new(AtomicBool::new(false));
        let flag = interrupt.clone();
        std::thread::Builder::new()
            .name("rrgo-engine".into())
            .spawn(move || {
                let mut slot = Slot {
                    target: None,
                    factory,
                    interrupt: flag,
                };
                while let Ok(job) = rx.recv() {
                    job(&mut slot);
                }
            })
            .expect("cannot start the engine thread");
        EngineHandle { tx, interrupt }
    }

    /// Loads a recording (replacing any loaded one). `progress` receives
    /// (done, total) while it loads.
    pub async fn open(
        &self,
        trace: Option<PathBuf>,
        progress: tokio::sync::mpsc::UnboundedSender<(u64, u64)>,
    ) -> EResult<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |slot: &mut Slot| {
            slot.target = None;
            let report = |done: u64, total: u64| {
                let _ = progress.send((done, total));
            };
            let r = (slot.factory)(trace, &report, slot.interrupt.clone());
            let r = match r {
                Ok(t) => {
                    slot.target = Some(t);
                    Ok(())
                }
                Err(e) => Err(EngineError::from(e)),
            };
            let _ = tx.send(r);
        });
        self.send(job)?;
        rx.await
            .map_err(|_| EngineError("the replay engine stopped".into()))?
    }

    /// Runs `f` on the engine thread against the loaded recording.
    pub async fn call<R, F>(&self, f: F) -> EResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn DebugTarget) -> EResult<R> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |slot: &mut Slot| {
            let r = match slot.target.as_deref_mut() {
                Some(t) => {
                    // A pause sent before this request started is stale.
                    slot.interrupt.store(false, Ordering::SeqCst);
                    f(t)
                }
                None => Err(EngineError("no recording is loaded".into())),
            };
            let _ = tx.send(r);
        });
        self.send(job)?;
        rx.await
            .map_err(|_| EngineError("the replay engine stopped".into()))?
    }

    /// Asks a running motion to stop (DAP `pause`); it ends with `StopReason::Pause`.
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
    }

    fn send(&self, job: Job) -> EResult<()> {
        self.tx
            .send(job)
            .map_err(|_| EngineError("the replay engine stopped".into()))
    }
}
