//! The engine: one replay of the recording, the user's breakpoints, and
//! where the replay stands. Positions inside the replay are `Pos`es; going
//! backwards replays to a `Pos` from the nearest checkpoint before it (the
//! start if there is none; replay is deterministic, so the state there is
//! the state reached forwards).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use trace_format::{RecTid, Regs, StdStream};

use super::api::*;
use super::breakpoints::Breakpoints;
use super::inspect::StopCache;
use crate::gobin::GoBinary;
use crate::govalue::DebugInfo;
use crate::replay::{BreakpointHit, Output, ReplaySession, Stepped};

/// A moment of the replay: before event `event` is applied, and, if `at`
/// is set, inside the run of thread `at.0` towards it, at the instruction
/// where its registers were `at.1` (the first such moment: equal registers
/// at the same place in one run are equal states for the debugger).
#[derive(Debug, Clone, PartialEq)]
pub struct Pos {
    pub event: u64,
    pub at: Option<(RecTid, Regs)>,
}

/// What one replay step did, as the motions see it.
pub enum Tick {
    Event,
    Hit(BreakpointHit),
    /// A watched range was accessed (the thread is just past the access).
    Watch(BreakpointHit),
    Instruction(RecTid),
    /// The end of the recording: the program is about to exit (still
    /// inspectable), or the trace has no more events.
    End,
}

pub struct Engine {
    pub(super) dir: PathBuf,
    pub(super) bin: GoBinary,
    pub(super) info: DebugInfo,
    pub(super) session: ReplaySession,
    pub(super) bps: Breakpoints,
    /// Exception breakpoints: address → kind.
    pub(super) exceptions: Vec<(u64, ExceptionKind)>,
    pub(super) stop_panics: bool,
    pub(super) stop_fatal: bool,
    pub(super) interrupt: Arc<AtomicBool>,
    /// The thread the current stop is in (a breakpoint hit or a step).
    pub(super) stop_tid: Option<RecTid>,
    pub(super) selected: Option<Goid>,
    pub(super) last_reason: Option<StopReason>,
    pub(super) output: Vec<OutputChunk>,
    /// The main process entered exit_group: the recording ends here.
    exiting: bool,
    /// The thread of the last applied event (the focus at the end).
    last_tid: Option<RecTid>,
    /// Copies of the replay at event boundaries, by event: going back
    /// replays from the nearest one (see replay::checkpoint).
    pub(super) checkpoints: Vec<(u64, ReplaySession)>,
    pub(super) checkpoint_every: u64,
    /// Replays started from a checkpoint rather than the start.
    pub(super) resumed_from_checkpoints: u64,
    /// No new checkpoint before this event (a failed attempt waits a little).
    pub(super) next_checkpoint: u64,
    /// Replay time since the last checkpoint (taken or resumed from): CPU-bound
    /// stretches have few events but cost seconds to replay again.
    pub(super) since_checkpoint: std::time::Instant,
    pub(super) cache: StopCache,
    pub(super) watch: super::watch::Watches,
}

/// The error a backward scan ends with when the user pauses it (the
/// motion then stops where the scan's replay stands).
pub(super) const INTERRUPTED: &str = "interrupted by a pause request";

/// Replay time after which a checkpoint is due whatever the event count:
/// going back costs at most about this much re-execution.
const CHECKPOINT_WALL: std::time::Duration = std::time::Duration::from_millis(250);

/// Opens a recording for debugging (the `EngineHandle` factory).
pub fn open_target(
    trace: Option<PathBuf>,
    progress: &dyn Fn(u64, u64),
    interrupt: Arc<AtomicBool>,
) -> anyhow::Result<Box<dyn DebugTarget>> {
    let dir = crate::trace_dir::resolve(trace.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Box::new(Engine::open(&dir, progress, interrupt)?))
}

impl Engine {
    pub fn open(
        dir: &Path,
        progress: &dyn Fn(u64, u64),
        interrupt: Arc<AtomicBool>,
    ) -> anyhow::Result<Engine> {
        let session = ReplaySession::start(dir, Output::Capture(Vec::new()))?;
        let exe = session
            .reader()
            .stored_file_path(&session.reader().header().exe);
        progress(0, 2);
        let bin = GoBinary::load(&exe).context("cannot read the recorded program")?;
        if !bin.has_dwarf {
            anyhow::bail!(
                "the recorded program has no DWARF debug information (built with -ldflags=-w or -s): \
                 rebuild it without them and record again to debug it; `rrgo replay -a` and \
                 `rrgo dump` still work on this recording"
            );
        }
        let info = DebugInfo::load(&exe).context("cannot read the recorded program's DWARF")?;
        progress(1, 2);
        let mut exceptions = Vec::new();
        for (name, kind) in [
            ("runtime.fatalpanic", ExceptionKind::Panic),
            ("runtime.throw", ExceptionKind::FatalError),
            ("runtime.fatal", ExceptionKind::FatalError),
        ] {
            if let Some(f) = bin.functions_named(name).first() {
                exceptions.push((f.entry, kind));
            }
        }
        let mut e = Engine {
            dir: dir.to_path_buf(),
            bin,
            info,
            session,
            bps: Breakpoints::default(),
            exceptions,
            stop_panics: true,
            stop_fatal: true,
            interrupt,
            stop_tid: None,
            selected: None,
            last_reason: None,
            output: Vec::new(),
            exiting: false,
            last_tid: None,
            checkpoints: Vec::new(),
            checkpoint_every: 0,
            resumed_from_checkpoints: 0,
            next_checkpoint: 0,
            since_checkpoint: std::time::Instant::now(),
            cache: StopCache::default(),
            watch: Default::default(),
        };
        // Past the exec: the program's memory exists, breakpoints can go in.
        e.session.step()?;
        let total = e.session.event_count();
        e.checkpoint_every = std::env::var("RRGO_CHECKPOINT_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or((total / 32).max(5_000));
        e.next_checkpoint = e.checkpoint_every;
        progress(2, 2);
        Ok(e)
    }

    /// Where the replay stands now.
    pub(super) fn here(&mut self) -> anyhow::Result<Pos> {
        let event = self.session.next_event().0;
        Ok(match self.stop_tid {
            Some(tid) => Pos {
                event,
                at: Some((tid, self.session.regs(tid)?)),
            },
            None => Pos { event, at: None },
        })
    }

    /// The exception breakpoints the user's filters turn on.
    pub(super) fn enabled_exceptions(&self) -> Vec<(u64, ExceptionKind)> {
        self.exceptions
            .iter()
            .filter(|(_, k)| match k {
                ExceptionKind::Panic => self.stop_panics,
                ExceptionKind::FatalError => self.stop_fatal,
            })
            .copied()
            .collect()
    }

    /// The addresses that must hold breakpoints: the user's, the enabled
    /// exception ones, and `temp` (a motion's own).
    pub(super) fn sync_breakpoints(&mut self, temp: &[u64]) -> anyhow::Result<()> {
        let mut want: Vec<u64> = self.bps.addrs().collect();
        want.extend(self.enabled_exceptions().iter().map(|(a, _)| *a));
        want.extend(self.watch_scope_addrs());
        want.extend_from_slice(temp);
        self.place_exactly(&want)
    }

    /// Breakpoints at exactly `want` (an address that cannot hold one, e.g.
    /// a syscall instruction, is left out and logged).
    pub(super) fn place_exactly(&mut self, want: &[u64]) -> anyhow::Result<()> {
        let mut want = want.to_vec();
        want.sort_unstable();
        want.dedup();
        for a in self.session.breakpoint_addrs() {
            if want.binary_search(&a).is_err() {
                self.session.remove_breakpoint(a)?;
            }
        }
        for a in want {
            if let Err(e) = self.session.insert_breakpoint(a) {
                tracing::debug!("breakpoint at {a:#x} not inserted: {e:#}");
            }
        }
        Ok(())
    }

    /// One step of the replay: an event, a breakpoint hit, or (with
    /// `instruction`) one instruction of the running thread.
    pub(super) fn tick(&mut self, instruction: bool) -> anyhow::Result<Tick> {
        if self.exiting || self.at_exit()? {
            self.exiting = true;
            self.stop_tid = None;
            return Ok(Tick::End);
        }
        let stepped = if instruction {
            self.session.single_step()?
        } else {
            self.session.step_debug()?
        };
        // Every thread stopped: what the user is shown next reads them all.
        self.session.settle_stops()?;
        self.cache.clear();
        Ok(match stepped {
            Stepped::Event(e) => {
                self.stop_tid = None;
                self.last_tid = Some(e.tid);
                for (stream, bytes) in self.session.take_output() {
                    self.output.push(match stream {
                        StdStream::Stdout => OutputChunk::Stdout(bytes),
                        StdStream::Stderr => OutputChunk::Stderr(bytes),
                    });
                }
                self.maybe_checkpoint();
                Tick::Event
            }
            Stepped::Breakpoint(h) => {
                self.stop_tid = Some(h.tid);
                if h.watch.is_some() {
                    Tick::Watch(h)
                } else {
                    Tick::Hit(h)
                }
            }
            Stepped::Instruction(t) => {
                self.stop_tid = Some(t);
                Tick::Instruction(t)
            }
            Stepped::End => {
                self.exiting = true;
                self.stop_tid = None;
                Tick::End
            }
        })
    }

    /// The main process is being torn down (all that is left is its
    /// threads' exits and its own): stopping here keeps it inspectable.
    fn at_exit(&mut self) -> anyhow::Result<bool> {
        if self.session.peek_event()?.is_none() {
            return Ok(true);
        }
        self.session.only_exits_ahead()
    }

    /// The thread to show at a stop between events.
    pub(super) fn focus_thread(&self) -> Option<RecTid> {
        self.stop_tid
            .or(self.last_tid)
            .filter(|t| self.session.threads().contains(t))
    }

    pub(super) fn interrupted(&self) -> bool {
        self.interrupt.swap(false, Ordering::SeqCst)
    }

    /// Takes a checkpoint here when the last one is far enough behind.
    fn maybe_checkpoint(&mut self) {
        let at = self.session.next_event().0;
        let slow = self.since_checkpoint.elapsed() >= CHECKPOINT_WALL;
        if (at < self.next_checkpoint && !slow) || self.exiting {
            return;
        }
        let near = if slow { 1 } else { self.checkpoint_every };
        if self.checkpoints.iter().any(|(e, _)| e.abs_diff(at) < near) {
            self.next_checkpoint = at + self.checkpoint_every / 4;
            return;
        }
        match self.session.checkpoint() {
            Ok(cp) => {
                tracing::debug!(event = at, slow, "checkpoint");
                self.since_checkpoint = std::time::Instant::now();
                let i = self.checkpoints.partition_point(|(e, _)| *e < at);
                self.checkpoints.insert(i, (at, cp));
                if self.checkpoints.len() > 32 {
                    // Keep them spread out: drop every other one.
                    let mut k = 0;
                    self.checkpoints.retain(|_| {
                        k += 1;
                        k % 2 == 0
                    });
                }
                self.next_checkpoint = at + self.checkpoint_every;
            }
            Err(e) => {
                tracing::debug!(event = at, "no checkpoint here: {e:#}");
                self.next_checkpoint = at + 100;
            }
        }
    }

    /// The events replays can start from at or before `event`, latest first
    /// (checkpoints, then the start, event 1).
    pub(super) fn starts_before(&self, event: u64) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .checkpoints
            .iter()
            .map(|(e, _)| *e)
            .filter(|e| *e <= event)
            .collect();
        v.reverse();
        v.push(1);
        v
    }

    /// Starts the replay over at `from` (a checkpoint's event, or 1: just
    /// after the program's exec).
    pub(super) fn restart_at(&mut self, from: u64) -> anyhow::Result<()> {
        let copy = match self.checkpoints.iter_mut().find(|(e, _)| *e == from) {
            Some((_, cp)) => match cp.checkpoint() {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::debug!("cannot copy checkpoint {from}: {e:#}");
                    None
                }
            },
            None => None,
        };
        let s = match copy {
            Some(s) => {
                self.resumed_from_checkpoints += 1;
                s
            }
            None => {
                let mut s = ReplaySession::start(&self.dir, Output::Discard)?;
                s.step()?;
                s
            }
        };
        self.session = s;
        self.since_checkpoint = std::time::Instant::now();
        // A copy carries the checkpoint's breakpoints: start clean. (It has
        // no watchpoints: a fork loses debug registers; the caller sets them.)
        self.place_exactly(&[])?;
        self.exiting = false;
        self.stop_tid = None;
        self.cache.clear();
        Ok(())
    }

    /// Replays to `pos` from the nearest checkpoint before it, or the start
    /// (output already shown is not repeated).
    pub(super) fn seek(&mut self, pos: &Pos) -> anyhow::Result<()> {
        let from = self.starts_before(pos.event)[0];
        self.restart_at(from)?;
        self.session
            .run_to(trace_format::EventTime(pos.event))
            .with_context(|| format!("cannot replay to event {}", pos.event))?;
        self.sync_watches()?;
        if let Some((tid, regs)) = &pos.at {
            self.place_exactly(&[regs.rip])?;
            loop {
                match self.tick(false)? {
                    Tick::Hit(h) | Tick::Watch(h)
                        if h.tid == *tid && same_regs(&self.session.regs(h.tid)?, regs) =>
                    {
                        break
                    }
                    Tick::Hit(_) | Tick::Watch(_) | Tick::Instruction(_) => {}
                    Tick::Event | Tick::End => {
                        anyhow::bail!(
                            "replay did not reach the same place again (event {}): please report this",
                            pos.event
                        )
                    }
                }
            }
        }
        self.sync_breakpoints(&[])?;
        self.session.set_output(Output::Capture(Vec::new()));
        Ok(())
    }
}

/// Registers that identify a moment at one address (flags and the syscall
/// number are bookkeeping, not program state).
pub(super) use crate::replay::same_state as same_regs;
