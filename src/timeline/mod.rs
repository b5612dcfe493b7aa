//! The timeline of a replay, in the spirit of rr's `ReplayTimeline`: the
//! one `ReplaySession` the debugger drives, where it stands (a mark,
//! `Pos`), the checkpoints going back starts from, seeking to a mark, the
//! backward scans that collect candidate moments, the breakpoints and
//! watchpoints as applied to the replay, and the cancel token every long
//! motion polls. It knows nothing of the user's breakpoints, conditions or
//! goroutines: the debugger (`debugger::Engine`) decides which moments
//! count, through the callbacks of the scans, and moves only through this
//! API. Breakpoints' and watchpoints' hit counts are defined by position
//! here too (`counts`): the hits from the start up to the moment.

mod applied;
mod cancel;
mod checkpoints;
mod counts;
mod mark;
mod scan;
mod seek;

use std::path::{Path, PathBuf};

use trace_format::{RecTid, Regs, StdStream};

pub use applied::{Anchor, ANCHOR_OWNER};
pub use cancel::{is_cancelled, Cancel, Cancelled};
pub use checkpoints::Checkpoints;
pub use counts::{bases_at, counts_here, CountKey, Counted, HitCounts};
pub use mark::{same_regs, Pos};
use mark::{state_key, Pass};
pub use scan::{scan, Moment};

use crate::replay::{BreakpointHit, Output, ReplaySession, Stepped};

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

/// The debugger above a timeline: scans call back into it to decide which
/// moments count (conditions, goroutines), and it gives the timeline back.
pub trait Host {
    fn timeline(&mut self) -> &mut Timeline;
}

pub struct Timeline {
    dir: PathBuf,
    session: ReplaySession,
    pub checkpoints: Checkpoints,
    cancel: Cancel,
    applied: applied::Applied,
    /// The thread the replay stands in, inside its run towards the next
    /// event (a breakpoint hit or a step); None at an event boundary.
    stop_tid: Option<RecTid>,
    /// The main process entered exit_group: the recording ends here.
    exiting: bool,
    /// The thread of the last applied event (the focus at the end).
    last_tid: Option<RecTid>,
    /// The program's output since the debugger last took it.
    output: Vec<(StdStream, Vec<u8>)>,
    /// Counts the replay's moves: what was read at one moment is stale
    /// once it changes.
    moves: u64,
    /// Breakpoints' and watchpoints' hit counts, by position.
    pub counts: HitCounts,
    /// The passes that name where the replay stands inside a run (see
    /// `mark`), closed so far; empty between runs.
    route: Vec<Pass>,
    /// The stops since the route's last pass (or the event), counted by
    /// thread and `state_key`, and whether they were single steps.
    since: crate::fasthash::AddrMap<(RecTid, u64), u32>,
    since_by_instruction: bool,
}

impl Timeline {
    /// A replay of the recording in `dir`, just past the program's exec
    /// (its memory exists, breakpoints can go in).
    pub fn open(dir: &Path, cancel: Cancel) -> anyhow::Result<Timeline> {
        let session = ReplaySession::start(dir, Output::Capture(Vec::new()))?;
        let mut tl = Timeline {
            dir: dir.to_path_buf(),
            checkpoints: Checkpoints::new(0),
            session,
            cancel,
            applied: Default::default(),
            stop_tid: None,
            exiting: false,
            last_tid: None,
            output: Vec::new(),
            moves: 0,
            counts: HitCounts::default(),
            route: Vec::new(),
            since: Default::default(),
            since_by_instruction: false,
        };
        tl.session.step()?;
        tl.checkpoints = Checkpoints::new(tl.session.event_count());
        Ok(tl)
    }

    /// The replay, for reading its threads, registers and memory.
    pub fn session(&self) -> &ReplaySession {
        &self.session
    }

    /// The thread of the next event to be applied (None between runs).
    pub fn running_thread(&mut self) -> anyhow::Result<Option<RecTid>> {
        self.session.running_thread()
    }

    /// The recorded slices the replay jumped over since the last call.
    pub fn take_jumps(&mut self) -> Vec<trace_format::EventTime> {
        self.session.take_jumps()
    }

    /// The program's output since the last call.
    pub fn take_output(&mut self) -> Vec<(StdStream, Vec<u8>)> {
        std::mem::take(&mut self.output)
    }

    /// The thread the replay stands in, inside its run to the next event.
    pub fn stop_tid(&self) -> Option<RecTid> {
        self.stop_tid
    }

    /// Counts the replay's moves (ticks, restarts): equal counts, same moment.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    /// Where the replay stands now.
    pub fn here(&self) -> anyhow::Result<Pos> {
        let event = self.session.next_event().0;
        match self.stop_tid {
            None => Ok(Pos::at_event(event)),
            Some(tid) => Ok(self.here_at(tid, self.session.regs(tid)?)),
        }
    }

    /// Where the replay stands, stopped in thread `tid` with `regs`.
    fn here_at(&self, tid: RecTid, regs: Regs) -> Pos {
        let mut route = self.route.clone();
        route.extend(self.open_pass(tid, regs));
        Pos::routed(self.session.next_event().0, route)
    }

    /// The pass to thread `tid` standing at `regs`, counted over the stops
    /// since the route's last pass (None: it ends there already).
    fn open_pass(&self, tid: RecTid, regs: Regs) -> Option<Pass> {
        if self.since.is_empty() {
            if let Some(last) = self.route.last() {
                if last.tid == tid && same_regs(&last.regs, &regs) {
                    return None;
                }
            }
        }
        let key = (tid, state_key(&regs));
        let nth = self.since.get(&key).copied().unwrap_or(0).max(1);
        Some(Pass { tid, regs, nth })
    }

    /// Closes the route's pass to where the replay stands: what the next
    /// stops see changes (breakpoints, watchpoints, single steps), so
    /// arrivals here must not be counted together with those before.
    fn close_pass(&mut self) -> anyhow::Result<()> {
        // (A thread that cannot be read has no moment to close.)
        if let Some(tid) = self.stop_tid {
            if let Ok(regs) = self.session.regs(tid) {
                self.route.extend(self.open_pass(tid, regs));
            }
        }
        self.since.clear();
        Ok(())
    }

    /// Forgets the route: the replay is between runs (an event, a restart).
    fn forget_route(&mut self) {
        self.route.clear();
        self.since.clear();
    }

    /// One step of the replay: an event, a breakpoint hit, or (with
    /// `instruction`) one instruction of the running thread. Fails with
    /// `Cancelled` if the user asked the motion to stop.
    pub fn tick(&mut self, instruction: bool) -> anyhow::Result<Tick> {
        if self.exiting || self.at_exit()? {
            self.exiting = true;
            self.stop_tid = None;
            self.forget_route();
            return Ok(Tick::End);
        }
        // Every motion ticks: a pause stops it between two steps, where
        // the replay stands (`Cancelled`).
        if self.cancel.requested() {
            return Err(anyhow::Error::new(Cancelled));
        }
        if instruction != self.since_by_instruction {
            self.close_pass()?;
            self.since_by_instruction = instruction;
        }
        self.moves += 1;
        let stepped = loop {
            let stepped = if instruction {
                self.session.single_step()?
            } else {
                self.session.step_debug()?
            };
            // Every thread stopped: what the user is shown next reads them all.
            self.session.settle_stops()?;
            match stepped {
                // A watched stack moved: its ranges follow it.
                Stepped::Breakpoint(h) if h.watch == Some(ANCHOR_OWNER) => {
                    self.apply_watches()?;
                    if instruction {
                        break Stepped::Instruction(h.tid);
                    }
                }
                s => break s,
            }
        };
        Ok(match stepped {
            Stepped::Event(e) => {
                self.stop_tid = None;
                self.forget_route();
                self.last_tid = Some(e.tid);
                let out = self.session.take_output();
                self.output.extend(out);
                if !self.exiting {
                    if let Some(at) = self.checkpoints.maybe_take(&mut self.session) {
                        self.counts.at_checkpoint(at);
                    }
                }
                Tick::Event
            }
            Stepped::Breakpoint(h) => {
                self.stop_tid = Some(h.tid);
                self.note_stop(h.tid)?;
                if h.watch.is_some() {
                    Tick::Watch(h)
                } else {
                    Tick::Hit(h)
                }
            }
            Stepped::Instruction(t) => {
                self.stop_tid = Some(t);
                self.note_stop(t)?;
                Tick::Instruction(t)
            }
            Stepped::End => {
                self.exiting = true;
                self.stop_tid = None;
                self.forget_route();
                Tick::End
            }
        })
    }

    /// Counts a stop inside a run towards the pass it may close.
    fn note_stop(&mut self, tid: RecTid) -> anyhow::Result<()> {
        let regs = self.session.regs(tid)?;
        let n = self.since.entry((tid, state_key(&regs))).or_insert(0);
        *n = n.saturating_add(1);
        Ok(())
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
    pub fn focus_thread(&self) -> Option<RecTid> {
        self.stop_tid
            .or(self.last_tid)
            .filter(|t| self.session.threads().contains(t))
    }
}
