//! The replay session: the event queue, the live threads, and the stepping API.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use anyhow::{anyhow, Context};
use trace_format::{Event, EventTime, ExitStatus, RecTid, Regs, StdStream, TraceReader};

use super::divergence::Divergence;
use super::launch::{launch, TempDir};
use crate::error::BadTrace;
use crate::tracee::mem::ProcMem;
use crate::tracee::{ptrace, Tid};
use trace_format::RemoteAddr;

/// Where a replayed program's output goes.
pub enum Output {
    /// `replay -a`: to rrgo's own stdout/stderr, as the program wrote it.
    Passthrough,
    /// Collected (tests, debugger front ends).
    Capture(Vec<(StdStream, Vec<u8>)>),
    Discard,
}

#[derive(Debug, Clone)]
pub(super) struct LiveThread {
    pub live: Tid,
    pub tgid: i32,
    /// Signal to deliver when the thread is next resumed.
    pub inject: i32,
    /// The syscall between its entry and exit events: (nr, args at entry, regs at entry).
    pub syscall: Option<(i64, [u64; 6], Regs)>,
    /// The first stop after launch is the initial execve's exit, which is not an event.
    pub skip_exec_exit: bool,
    /// Inside the kernel with a stop still to collect (resumed at a syscall entry).
    pub in_kernel: bool,
    /// Past its exit event.
    pub exited: bool,
    /// How the thread died, if its death was already collected.
    pub death: Option<ExitStatus>,
    /// The signal event already sent (an event re-applied after a breakpoint must not send it twice).
    pub signalled: Option<EventTime>,
}

pub struct ReplaySession {
    pub(super) reader: TraceReader,
    pub(super) queue: VecDeque<Event>,
    /// Time of the next event to apply.
    pub(super) next: EventTime,
    /// One past the last event loaded into `queue` (while an event is being
    /// applied it is out of the queue but `next` still names it, so neither
    /// tells where loading goes on).
    pub(super) loaded: EventTime,
    pub(super) threads: HashMap<RecTid, LiveThread>,
    pub(super) mems: HashMap<i32, ProcMem>,
    /// Recorded tgid → live tgid.
    pub(super) pids: HashMap<i32, i32>,
    /// New live tids from clone events, by recorded parent, awaiting their TaskCreate.
    pub(super) cloned: HashMap<RecTid, VecDeque<Tid>>,
    pub(super) exit: Option<ExitStatus>,
    pub(super) main_pid: RecTid,
    pub(super) output: Output,
    /// Stops collected while waiting for another thread, by live tid.
    pub(super) stashed: HashMap<Tid, VecDeque<crate::tracee::wait::Waited>>,
    /// The (recorded) process being reaped: its threads, and threads the
    /// trace never announced, are let run to their deaths.
    pub(super) reaping: Option<i32>,
    /// Software breakpoints (int3) in the main process: address → original byte.
    pub(super) breakpoints: HashMap<u64, u8>,
    /// Where the last `step_debug` stopped at a breakpoint.
    pub(super) hit: Option<BreakpointHit>,
    /// Pages recorded with a preemption, written once the thread reached the point.
    pub(super) pending_pages: HashMap<RecTid, Vec<trace_format::MemWrite>>,
    pub(super) preempt_stats: super::PreemptStats,
    /// Watched ranges, in the debug registers of every main-process thread.
    pub(super) watches: Vec<super::WatchRange>,
    /// Each process's search-stub page (`None`: it has none).
    pub(super) stub_pages: HashMap<i32, Option<u64>>,
    /// Each process's function bounds (patch sites' safety).
    pub(super) code_maps: HashMap<i32, crate::tracee::codemap::CodeMap>,
    /// Preemption points whose patched bytes a branch lands in: searched
    /// with a debug register.
    pub(super) unsafe_sites: std::collections::HashSet<(i32, u64)>,
    /// Per process, where signals were delivered so far: code may resume
    /// there (a return from Go's asyncPreempt), so a search stub's patch
    /// over such an instruction is guarded (`preempt::needs_guards`).
    pub(super) landings: HashMap<i32, std::collections::HashSet<u64>>,
    /// Preemption points reached by a jump since the front end last asked
    /// (`take_jumps`): code there ran without stopping at breakpoints.
    pub(super) jumps: Vec<EventTime>,
    /// How long the running thread may run without reaching its next
    /// event (`stall_limit`), computed at the first wait.
    pub(super) stall: Option<Option<std::time::Duration>>,
    /// Stored files whose xxh3 was checked.
    pub(super) verified_files: std::collections::HashSet<trace_format::FileId>,
    /// Siginfo of threads waiting at signal-delivery stops, kept while a checkpoint is made.
    pub(super) saved_siginfo: HashMap<RecTid, [u8; 128]>,
    /// Waiting for a thread to exit: a leader's exit is reported only after
    /// its other threads', so waits poll all threads meanwhile.
    pub(super) awaiting_exit: bool,
    /// Private copies of what the program execs (shared with checkpoints,
    /// which exec from the same directory).
    pub(super) exec_files: std::sync::Arc<std::sync::Mutex<super::exe::ExecFiles>>,
    /// The bytes of an exec's path argument replay overwrote, by recorded
    /// thread: put back into the pre-exec memory (which a vfork child
    /// shares with its parent) once the exec is done.
    pub(super) exec_restore: HashMap<RecTid, (RemoteAddr, Vec<u8>)>,
    /// Logging probes in the main process (the goroutine index's).
    pub(super) probes: Option<super::probes::Placed>,
    /// Each process's copies of the files it maps shared (`shared.rs`).
    pub(super) shared: super::shared::SharedFiles,
    pub(super) _tmp: std::sync::Arc<TempDir>,
}

/// A thread trapped on a breakpoint while running towards its next event;
/// its rip is already moved back to the breakpoint's address. For a
/// watched range (`watch`: its owner), the thread stopped just after the
/// access and `addr` is its rip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakpointHit {
    pub tid: RecTid,
    pub addr: u64,
    pub watch: Option<u32>,
}

impl std::fmt::Display for BreakpointHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.watch {
            Some(w) => write!(
                f,
                "watched range {w} accessed by thread {} (now at {:#x})",
                self.tid.0, self.addr
            ),
            None => write!(
                f,
                "breakpoint at {:#x} hit by thread {}",
                self.addr, self.tid.0
            ),
        }
    }
}

impl std::error::Error for BreakpointHit {}

/// What one `step_debug` did.
#[derive(Debug)]
pub enum Stepped {
    /// Applied this event.
    Event(Box<Event>),
    /// A thread hit a breakpoint before reaching the next event (not applied yet).
    Breakpoint(BreakpointHit),
    /// Executed one instruction of the running thread (`single_step`).
    Instruction(RecTid),
    /// No events left.
    End,
}

impl ReplaySession {
    /// Opens a trace and starts its program, stopped at the first event (its exec).
    pub fn start(dir: &Path, output: Output) -> anyhow::Result<ReplaySession> {
        let reader = TraceReader::open(dir)?;
        let header = reader.header().clone();
        reader
            .verify_stored_file(&header.exe)
            .with_context(|| "the trace's copy of the program is damaged")?;
        let first = reader
            .events()
            .next()
            .ok_or_else(|| anyhow!(BadTrace::no_events(&reader)))??;
        let trace_format::EventKind::Exec {
            exe_path,
            exe_file,
            script_file,
            loader_file,
            ..
        } = &first.kind
        else {
            return Err(anyhow!(BadTrace(format!(
                "the trace does not start with an exec event (event 0 is {})",
                first.kind.name()
            ))));
        };
        let cpu = pin_to(header.host.pinned_cpu as usize);
        // The program starts with the recorded signal state and limits, not this rrgo's.
        let tmp = TempDir(super::launch::private_dir()?);
        let mut exec_files = super::exe::ExecFiles::new(&tmp.0);
        let plan = super::exe::ExecPlan {
            exe: exe_file.unwrap_or(header.exe.id),
            script: *script_file,
            loader: *loader_file,
        };
        let rel = exec_files.prepare(&reader, &plan, exe_path.len(), 0)?;
        let l = launch(
            tmp,
            &rel,
            &header.argv,
            &header.env,
            cpu,
            header.initial_signals,
            &header.initial_rlimits,
        )?;
        let mut s = ReplaySession {
            reader,
            queue: VecDeque::new(),
            next: EventTime(0),
            loaded: EventTime(0),
            threads: HashMap::new(),
            mems: HashMap::new(),
            pids: HashMap::new(),
            cloned: HashMap::new(),
            exit: None,
            main_pid: first.tid,
            output,
            stashed: HashMap::new(),
            reaping: None,
            breakpoints: HashMap::new(),
            hit: None,
            pending_pages: HashMap::new(),
            preempt_stats: Default::default(),
            watches: Vec::new(),
            stub_pages: HashMap::new(),
            code_maps: HashMap::new(),
            unsafe_sites: Default::default(),
            landings: Default::default(),
            jumps: Vec::new(),
            stall: None,
            verified_files: Default::default(),
            saved_siginfo: HashMap::new(),
            awaiting_exit: false,
            exec_files: std::sync::Arc::new(std::sync::Mutex::new(exec_files)),
            exec_restore: HashMap::new(),
            probes: None,
            shared: Default::default(),
            _tmp: std::sync::Arc::new(l.tmp),
        };
        s.pids.insert(first.tid.0, l.tid.0);
        s.threads.insert(
            first.tid,
            LiveThread {
                live: l.tid,
                tgid: first.tid.0,
                inject: 0,
                syscall: None,
                skip_exec_exit: true,
                in_kernel: false,
                exited: false,
                death: None,
                signalled: None,
            },
        );
        s.mems.insert(first.tid.0, ProcMem::open(l.tid.0)?);
        Ok(s)
    }

    /// The time of the next event `step` will apply.
    pub fn next_event(&self) -> EventTime {
        self.next
    }

    pub fn event_count(&self) -> u64 {
        self.reader.event_count()
    }

    pub fn reader(&self) -> &TraceReader {
        &self.reader
    }

    /// How the main process ended, once its exit event was replayed.
    pub fn exit_status(&self) -> Option<&ExitStatus> {
        self.exit.as_ref()
    }

    pub fn take_output(&mut self) -> Vec<(StdStream, Vec<u8>)> {
        match &mut self.output {
            Output::Capture(v) => std::mem::take(v),
            _ => Vec::new(),
        }
    }

    /// The recorded tids of threads alive now.
    pub fn threads(&self) -> Vec<RecTid> {
        let mut v: Vec<RecTid> = self
            .threads
            .iter()
            .filter(|(_, t)| !t.exited)
            .map(|(r, _)| *r)
            .collect();
        v.sort();
        v
    }

    pub fn regs(&self, tid: RecTid) -> anyhow::Result<Regs> {
        let t = self
            .threads
            .get(&tid)
            .ok_or_else(|| anyhow!("no thread {}", tid.0))?;
        Ok(ptrace::get_regs(t.live)?)
    }

    /// The thread's XSAVE area (FPU, SSE, AVX state).
    pub fn xstate(&self, tid: RecTid) -> anyhow::Result<Vec<u8>> {
        let t = self
            .threads
            .get(&tid)
            .ok_or_else(|| anyhow!("no thread {}", tid.0))?;
        Ok(ptrace::get_xstate(t.live)?)
    }

    /// The memory of the process `tid` belongs to.
    pub fn mem(&self, tid: RecTid) -> anyhow::Result<&ProcMem> {
        let t = self
            .threads
            .get(&tid)
            .ok_or_else(|| anyhow!("no thread {}", tid.0))?;
        self.mems
            .get(&t.tgid)
            .ok_or_else(|| anyhow!("no process for thread {}", tid.0))
    }

    /// The next event, without applying it.
    pub(super) fn peek(&mut self) -> anyhow::Result<Option<&Event>> {
        if self.queue.is_empty() {
            self.refill()?;
        }
        Ok(self.queue.front())
    }

    /// Loads the rest of the chunk holding the next unqueued event.
    fn refill(&mut self) -> anyhow::Result<()> {
        // After the queued events (`next` is the in-flight event's successor
        // while one is applied: lookahead may refill during `apply`).
        let from = self.loaded.max(self.next);
        if from.0 >= self.reader.event_count() {
            return Ok(());
        }
        let chunk_end = self
            .reader
            .chunks()
            .iter()
            .find(|c| c.first_event.0 <= from.0 && from.0 < c.end_event().0)
            .map(|c| c.end_event().0)
            .unwrap_or(from.0 + 1);
        for e in self
            .reader
            .events_from(from)
            .take((chunk_end - from.0) as usize)
        {
            let e = e?;
            self.loaded = EventTime(e.time.0 + 1);
            self.queue.push_back(e);
        }
        Ok(())
    }

    /// The next queued event of `tid` satisfying `pred`, looking ahead at most `limit` events.
    pub(super) fn find_ahead(
        &mut self,
        limit: usize,
        pred: impl Fn(&Event) -> bool,
    ) -> anyhow::Result<Option<Event>> {
        let mut i = 0;
        while i < limit {
            if i >= self.queue.len() {
                let before = self.queue.len();
                self.refill_more()?;
                if self.queue.len() == before {
                    return Ok(None);
                }
            }
            if pred(&self.queue[i]) {
                return Ok(Some(self.queue[i].clone()));
            }
            i += 1;
        }
        Ok(None)
    }

    fn refill_more(&mut self) -> anyhow::Result<()> {
        self.refill()
    }

    /// Applies the next event. Returns it, or `None` at the end of the trace.
    pub fn step(&mut self) -> anyhow::Result<Option<Event>> {
        match self.step_debug()? {
            Stepped::Event(e) => Ok(Some(*e)),
            Stepped::End => Ok(None),
            Stepped::Breakpoint(h) => Err(anyhow!("unexpected {h}")),
            Stepped::Instruction(_) => Err(anyhow!("unexpected single step")),
        }
    }

    /// Applies the next event, unless its thread hits a breakpoint on the way
    /// there: then the event stays next, and applying it later resumes the
    /// thread from the breakpoint.
    pub fn step_debug(&mut self) -> anyhow::Result<Stepped> {
        if self.peek()?.is_none() {
            return Ok(Stepped::End);
        }
        let Some(event) = self.queue.pop_front() else {
            return Ok(Stepped::End);
        };
        tracing::trace!(
            time = event.time.0,
            tid = event.tid.0,
            kind = event.kind.name(),
            "replaying"
        );
        self.hit = None;
        // Popped: a refill during `apply` must start after it, not at it.
        self.next = EventTime(event.time.0 + 1);
        if let Err(e) = self.apply(&event) {
            if let Some(hit) = e.downcast_ref::<BreakpointHit>() {
                let hit = *hit;
                self.next = event.time;
                self.queue.push_front(event);
                self.hit = Some(hit);
                return Ok(Stepped::Breakpoint(hit));
            }
            return Err(e);
        }
        Ok(Stepped::Event(Box::new(event)))
    }

    /// Collects the stops still in flight of threads resumed into an
    /// ordinary syscall (to its exit stop) into the stash, so that those
    /// threads are stopped: their registers can be read (ptrace answers only
    /// for a stopped thread, so reading them while the stop was still on
    /// its way gave an error or not by timing alone). The stops are used
    /// where the thread's next event collects them.
    pub fn settle_stops(&mut self) -> anyhow::Result<()> {
        let pending: Vec<Tid> = self
            .threads
            .values()
            .filter(|t| t.in_kernel && !t.exited && t.death.is_none())
            .filter(|t| {
                t.syscall
                    .is_some_and(|(nr, args, _)| ordinary_syscall(nr) && !vfork(nr, &args))
            })
            .map(|t| t.live)
            .collect();
        self.stash_stops_of(pending)
    }

    /// Waits for the next stop of each of `tids` that has none stashed, and
    /// stashes it for the code that will collect it.
    pub(super) fn stash_stops_of(&mut self, tids: Vec<Tid>) -> anyhow::Result<()> {
        for tid in tids {
            if self.stashed.get(&tid).is_some_and(|q| !q.is_empty()) {
                continue;
            }
            let w = self.wait_for(tid)?;
            self.stashed.entry(tid).or_default().push_back(w);
        }
        Ok(())
    }

    /// The next event, if any (without applying it).
    pub fn peek_event(&mut self) -> anyhow::Result<Option<Event>> {
        Ok(self.peek()?.cloned())
    }

    /// Whether all events left before the main process's exit are thread
    /// exits: the process is being torn down (its exit_group was applied).
    pub fn only_exits_ahead(&mut self) -> anyhow::Result<bool> {
        let main = self.main_pid;
        let first_other = self.find_ahead(4096, |x| {
            !matches!(x.kind, trace_format::EventKind::TaskExit { .. })
        })?;
        Ok(matches!(
            first_other,
            Some(Event { kind: trace_format::EventKind::ProcessExit { .. }, tid, .. }) if tid == main
        ))
    }

    pub fn set_output(&mut self, output: Output) {
        self.output = output;
    }

    /// How preemption points were reached so far.
    pub fn preempt_stats(&self) -> super::PreemptStats {
        self.preempt_stats
    }

    /// The events whose preemption points were reached by a jump since the
    /// last call: the slices before them ran without a breakpoint stop.
    pub fn take_jumps(&mut self) -> Vec<EventTime> {
        std::mem::take(&mut self.jumps)
    }

    /// The program's entry point in the replayed main process (auxv
    /// `AT_ENTRY`): where a position-independent executable was loaded.
    pub fn exe_entry(&self) -> Option<u64> {
        let pid = self.mems.get(&self.main_pid.0)?.pid();
        crate::tracee::auxv::entry_of(pid)
    }

    /// The recorded tid of the main process (its first thread).
    pub fn main_pid(&self) -> RecTid {
        self.main_pid
    }

    /// Inserts a software breakpoint in the main process. Refuses a
    /// `syscall` instruction: stepping over it would run the call for real.
    pub fn insert_breakpoint(&mut self, addr: u64) -> anyhow::Result<()> {
        if self.breakpoints.contains_key(&addr) {
            return Ok(());
        }
        let mem = self.main_mem()?;
        let orig = mem.read(RemoteAddr(addr), 2)?;
        if orig == [0x0f, 0x05] {
            return Err(anyhow!(
                "cannot break on a syscall instruction at {addr:#x}"
            ));
        }
        mem.write(RemoteAddr(addr), &[0xcc])?;
        self.breakpoints.insert(addr, orig[0]);
        Ok(())
    }

    pub fn remove_breakpoint(&mut self, addr: u64) -> anyhow::Result<()> {
        if let Some(orig) = self.breakpoints.remove(&addr) {
            // The process may be gone (end of the recording).
            if let Ok(mem) = self.main_mem() {
                let _ = mem.write(RemoteAddr(addr), &[orig]);
            }
        }
        Ok(())
    }

    /// `code` read at `start` with the program's own bytes where rrgo's
    /// breakpoints are.
    pub fn original_code(&self, start: u64, mut code: Vec<u8>) -> Vec<u8> {
        for (&a, &orig) in &self.breakpoints {
            if let Some(b) = a.checked_sub(start).and_then(|i| code.get_mut(i as usize)) {
                *b = orig;
            }
        }
        code
    }

    pub fn breakpoint_addrs(&self) -> Vec<u64> {
        self.breakpoints.keys().copied().collect()
    }

    pub(super) fn main_mem(&self) -> anyhow::Result<&ProcMem> {
        self.mems
            .get(&self.main_pid.0)
            .ok_or_else(|| anyhow!("the program is not running"))
    }

    /// The thread that runs next (towards the next event), if it is
    /// stopped in user code where it could execute an instruction.
    pub fn running_thread(&mut self) -> anyhow::Result<Option<RecTid>> {
        let Some(e) = self.peek()?.cloned() else {
            return Ok(None);
        };
        let runs_user_code = matches!(
            e.kind,
            trace_format::EventKind::SyscallEntry { .. }
                | trace_format::EventKind::Rdtsc { .. }
                | trace_format::EventKind::Rdrand { .. }
                | trace_format::EventKind::Signal {
                    point: trace_format::DeliveryPoint::Fault,
                    ..
                }
        );
        let Some(t) = self.threads.get(&e.tid) else {
            return Ok(None);
        };
        Ok((runs_user_code && !t.in_kernel && !t.skip_exec_exit && !t.exited).then_some(e.tid))
    }

    /// Executes one instruction of the thread running towards the next
    /// event; an instruction that is the event itself (a syscall, a fault)
    /// applies the event instead.
    pub fn single_step(&mut self) -> anyhow::Result<Stepped> {
        use crate::tracee::wait::Stop;
        let Some(tid) = self.running_thread()? else {
            return self.step_debug();
        };
        let t = &self.threads[&tid];
        let (live, inject) = (t.live, t.inject);
        let regs = ptrace::get_regs(live)?;
        let insn = self.mem(tid)?.read_prefix(RemoteAddr(regs.rip), 2);
        if insn == [0x0f, 0x05] || inject != 0 {
            return self.step_debug();
        }
        let stepped_over = self.breakpoints.get(&regs.rip).copied();
        if let Some(orig) = stepped_over {
            self.main_mem()?.write(RemoteAddr(regs.rip), &[orig])?;
        }
        ptrace::resume(live, ptrace::Resume::Step, 0)?;
        let w = self.wait_for(live);
        if stepped_over.is_some() {
            self.main_mem()?.write(RemoteAddr(regs.rip), &[0xcc])?;
        }
        let w = w?;
        if w.stop == Stop::Signal(libc::SIGTRAP) {
            if let Some(hit) = self.watch_trap(tid, live)? {
                return Ok(Stepped::Breakpoint(hit));
            }
            return Ok(Stepped::Instruction(tid));
        }
        // A fault (or RDTSC trap): the event's own stop, collected when it is applied.
        self.stashed.entry(live).or_default().push_front(w);
        if let Some(t) = self.threads.get_mut(&tid) {
            t.in_kernel = true;
        }
        self.step_debug()
    }

    /// The next stop of one live thread. While a thread-group leader waits
    /// for its other threads to be reaped, stops of threads the trace never
    /// announced (created by a clone that exit_group cut short) are
    /// released, and stops of other known threads are kept for later.
    pub(super) fn wait_for(&mut self, tid: Tid) -> anyhow::Result<crate::tracee::wait::Waited> {
        use crate::tracee::wait::{self, Stop};
        if let Some(w) = self.stashed.get_mut(&tid).and_then(|q| q.pop_front()) {
            tracing::trace!(tid = tid.0, stop = ?w.stop, "stashed stop");
            return Ok(w);
        }
        if self.reaping.is_none() && !self.awaiting_exit {
            // One thread runs at a time and nothing blocks for real in
            // replay, so its stop is coming: wait for it alone (one syscall;
            // other threads' stops stay queued in the kernel).
            let w = self.wait_running(tid)?;
            tracing::trace!(tid = tid.0, stop = ?w.stop, "stop");
            return Ok(w);
        }
        let deadline = std::time::Instant::now() + exit_wait();
        loop {
            if let Some(w) = wait::wait_tid_nohang(tid)? {
                tracing::trace!(tid = tid.0, stop = ?w.stop, "stop");
                return Ok(w);
            }
            if std::time::Instant::now() >= deadline {
                return Err(self.no_death(tid));
            }
            match wait::wait_any(Some(std::time::Duration::from_millis(50)))? {
                None => {
                    if let Some(tgid) = self.reaping {
                        // The process is dying (exit_group's SIGKILL is pending):
                        // a thread still held in a ptrace stop we did not see
                        // keeps the leader from being reaped. Let them all go.
                        for t in self.threads.values().filter(|t| t.tgid == tgid) {
                            let _ = ptrace::resume(t.live, ptrace::Resume::Cont, 0);
                        }
                    }
                }
                Some(w) if w.tid == tid => {
                    tracing::trace!(tid = tid.0, stop = ?w.stop, "stop");
                    return Ok(w);
                }
                Some(w) => {
                    tracing::trace!(tid = w.tid.0, stop = ?w.stop, "stashing");
                    if matches!(w.stop, Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXIT)
                    {
                        // Past its exit event a thread can only die; holding it
                        // would keep its leader from ever being reaped.
                        let _ = ptrace::resume(w.tid, ptrace::Resume::Cont, 0);
                    }
                    let owner = self
                        .threads
                        .values()
                        .find(|t| t.live == w.tid)
                        .map(|t| t.tgid);
                    // A thread the trace has not announced yet belongs to the
                    // dying process only if the kernel says so: another
                    // process's new thread (its TaskCreate still to come)
                    // released here would run alongside the replayed one.
                    let dying = self.reaping.is_some()
                        && match owner {
                            Some(_) => owner == self.reaping,
                            None => self.reaping.is_some_and(|r| self.stray_of(w.tid, r)),
                        };
                    let death = matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. });
                    if dying && !death {
                        // A thread of the process being reaped: let it run to its death.
                        let _ = ptrace::resume(w.tid, ptrace::Resume::Cont, 0);
                    } else if !(dying && owner.is_none()) {
                        // A new thread's first stop comes before its TaskCreate: keep it
                        // too (only the death of a thread never announced is nobody's).
                        self.stashed.entry(w.tid).or_default().push_back(w);
                    }
                }
            }
        }
    }

    /// The next stop of the one running thread. It runs code the recording
    /// ran to its next event, so the stop is coming; a thread that runs on
    /// for `stall_limit()` loops on something the recording had and the
    /// replay has not (memory another process changed, a real child's
    /// exit): a divergence naming where it runs, never a hang.
    fn wait_running(&mut self, tid: Tid) -> anyhow::Result<crate::tracee::wait::Waited> {
        use crate::tracee::wait;
        let limit = *self.stall.get_or_insert_with(|| stall_limit(&self.reader));
        let start = std::time::Instant::now();
        let mut warned = false;
        loop {
            let ran = start.elapsed();
            let step = match limit {
                Some(l) => STALL_WARN.min(l.saturating_sub(ran)),
                None => STALL_WARN,
            };
            if let Some(w) = wait::wait_tid_timeout(tid, step)? {
                return Ok(w);
            }
            let ran = start.elapsed();
            if limit.is_some_and(|l| ran >= l) {
                return Err(self.stalled(tid, ran));
            }
            if !warned {
                warned = true;
                let limit = match limit {
                    Some(l) => format!("gives up after {} s", l.as_secs()),
                    None => "waits without a limit".into(),
                };
                eprintln!(
                    "rrgo: thread {} has run {} s without reaching event {}; replay {limit} (RRGO_STALL_S)",
                    self.recorded_tid(tid).0,
                    ran.as_secs(),
                    self.next.0,
                );
            }
        }
    }

    /// The divergence of a running thread that never reached its next event:
    /// interrupts it to say where it runs.
    fn stalled(&mut self, tid: Tid, ran: std::time::Duration) -> anyhow::Error {
        use crate::tracee::wait::{self, Stop};
        let rec = self.recorded_tid(tid);
        let mut at = String::from("at an unknown instruction");
        if ptrace::interrupt(tid).is_ok() {
            if let Ok(Some(w)) = wait::wait_tid_timeout(tid, std::time::Duration::from_secs(2)) {
                if !matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. }) {
                    if let Ok(regs) = ptrace::get_regs(tid) {
                        at = describe_pc(tid, regs.rip);
                    }
                }
            }
        }
        anyhow!(Divergence::new(
            self.next,
            rec,
            "the thread to reach this event",
            format!(
                "it ran {} s without a stop, {at} (raise RRGO_STALL_S if it is only slow)",
                ran.as_secs()
            )
        ))
    }

    /// Whether a live thread the trace has not announced belongs to the
    /// recorded process `tgid` (or is gone already): a new thread of another
    /// process, its TaskCreate still to come, must not be let run.
    pub(super) fn stray_of(&self, live: Tid, tgid: i32) -> bool {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", live.0)) else {
            return true;
        };
        let live_tgid = status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse::<i32>().ok());
        live_tgid.is_none() || live_tgid == self.pids.get(&tgid).copied()
    }

    pub(super) fn recorded_tid(&self, live: Tid) -> RecTid {
        self.threads
            .iter()
            .find(|(_, t)| t.live == live)
            .map(|(r, _)| *r)
            .unwrap_or(RecTid(live.0))
    }

    /// The divergence of a thread that should be dying but is not: nothing
    /// the replay does will end it, so waiting longer would hang.
    fn no_death(&self, tid: Tid) -> anyhow::Error {
        let rec = self
            .threads
            .iter()
            .find(|(_, t)| t.live == tid)
            .map(|(r, _)| *r)
            .unwrap_or(RecTid(tid.0));
        anyhow!(Divergence::new(
            self.next,
            rec,
            "the thread to stop or end, as the recording's process was ending",
            format!("no stop of live thread {} within {:?}", tid.0, exit_wait())
        ))
    }

    pub(super) fn live(&self, event: &Event) -> anyhow::Result<Tid> {
        self.threads.get(&event.tid).map(|t| t.live).ok_or_else(|| {
            anyhow!(Divergence::new(
                event.time,
                event.tid,
                "a known thread",
                "an event for an unknown thread"
            ))
        })
    }
}

impl Drop for ReplaySession {
    fn drop(&mut self) {
        for pid in self.pids.values() {
            // SAFETY: killing our own tracees; EXITKILL would too, once we exit.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        // Collect their deaths now, so a later session in this process (a
        // debugger going backwards) never sees stops of this one. A leader
        // is reported only after its other threads: poll them all.
        use crate::tracee::wait::{self, Stop};
        let mut left: Vec<Tid> = self
            .threads
            .values()
            .filter(|t| t.death.is_none())
            .map(|t| t.live)
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !left.is_empty() && std::time::Instant::now() < deadline {
            left.retain(|&tid| match wait::wait_tid_nohang(tid) {
                Ok(Some(w)) if matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. }) => false,
                Ok(Some(_)) => {
                    let _ = ptrace::resume(tid, ptrace::Resume::Cont, 0);
                    true
                }
                Ok(None) => true,
                Err(_) => false,
            });
            if !left.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// How long a thread whose process is ending may take to report its next
/// stop or death (`RRGO_EXIT_WAIT_MS`, default 10 s). Deaths take
/// milliseconds; past this, nothing the replay does will end the thread.
fn exit_wait() -> std::time::Duration {
    let ms = std::env::var("RRGO_EXIT_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    std::time::Duration::from_millis(ms)
}

/// How often a replay that waits for its running thread says so.
const STALL_WARN: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the running thread may run without reaching its next event
/// (`RRGO_STALL_S`; 0: no limit). A recorded slice ends within the
/// preemption interval whenever another thread is runnable, but a thread
/// that ran alone (a C program computing) may have run for the whole
/// recording: by default the larger of 60 s and twice the recording's wall
/// time (the events file was last written when it ended).
pub(super) fn stall_limit(reader: &TraceReader) -> Option<std::time::Duration> {
    if let Some(s) = std::env::var("RRGO_STALL_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return (s > 0).then(|| std::time::Duration::from_secs(s));
    }
    let recorded = std::fs::metadata(reader.dir().join("events"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|end| {
            end.checked_sub(std::time::Duration::from_millis(
                reader.header().created_unix_ms,
            ))
        })
        .unwrap_or_default();
    Some(std::time::Duration::from_secs(60).max(recorded * 2))
}

/// A syscall whose exit is an ordinary syscall-exit stop: not the thread's
/// end (its exit stop is collected by the code that lets it die) nor an
/// exec (its stops are the exec's).
fn ordinary_syscall(nr: i64) -> bool {
    ![
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_execve,
        libc::SYS_execveat,
    ]
    .contains(&nr)
}

/// A vfork (or a clone3, whose flags are in memory): the parent's stop
/// comes only once the child has exec'd or exited, which replay runs
/// later: waiting for it first would wait forever (the goroutine index
/// of any program using os/exec stalled for 60 s, then failed).
fn vfork(nr: i64, args: &[u64; 6]) -> bool {
    nr == libc::SYS_vfork
        || nr == libc::SYS_clone3
        || (nr == libc::SYS_clone && args[0] & libc::CLONE_VFORK as u64 != 0)
}

/// Where a live thread's pc is: the mapped file and offset, and the Go
/// function and line when the file is a Go binary.
pub(super) fn describe_pc(tid: Tid, pc: u64) -> String {
    let mut out = format!("at rip {pc:#x}");
    let Ok(regions) = crate::tracee::maps::read_maps(tid.0) else {
        return out;
    };
    let Some(r) = regions.iter().find(|r| r.start <= pc && pc < r.end) else {
        return out;
    };
    out.push_str(&format!(" ({}+{:#x})", r.path, pc - r.start + r.offset));
    if r.path.starts_with('/') {
        if let Ok(bin) = crate::gobin::GoBinary::load(std::path::Path::new(&r.path)) {
            // The program's own executable (AT_ENTRY is its entry), as
            // loaded here if it is position independent.
            let exe = std::fs::read_link(format!("/proc/{}/exe", tid.0)).ok();
            let bin = match exe.is_some_and(|e| e == std::path::Path::new(&r.path)) {
                true => bin.loaded_at_entry(crate::tracee::auxv::entry_of(tid.0)),
                false => bin,
            };
            if let Some(f) = bin.function_at(pc) {
                out.push_str(&format!(" in {}", f.name));
                if let Some((file, line)) = bin.line_at(pc) {
                    out.push_str(&format!(" at {file}:{line}"));
                }
            }
        }
    }
    out
}

/// Pins the engine thread (and so the tracee) to the CPU the recording used.
fn pin_to(cpu: usize) -> Option<usize> {
    // SAFETY: sched_getaffinity/setaffinity on this thread with valid sets.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        if cpu >= libc::CPU_SETSIZE as usize || !libc::CPU_ISSET(cpu, &set) {
            crate::say!("warning: CPU {cpu}, which the recording ran on, is not available: a program that reads CPUID may diverge");
            return None;
        }
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
        Some(cpu)
    }
}
