//! The recorder's view of tracee threads and processes, and the run queue.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use trace_format::Regs;

use super::snapshot::PageHashes;
use crate::syscalls::{EntryLens, Spec};
use crate::tracee::mem::ProcMem;
use crate::tracee::Tid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Stopped by ptrace and ready to run (a syscall, signal or event stop).
    Stopped,
    /// Resumed into a syscall that may block; its next stop is the syscall exit.
    InKernel,
    /// The one thread running user code.
    Running,
    /// Past its exit event; only its death remains to be reaped.
    Exiting,
    /// Created, but its first stop has not been seen yet.
    Starting,
    /// First stop seen, but its parent's clone event (and so its TaskCreate)
    /// not yet: it must not run before it exists in the trace.
    Born,
}

/// A syscall between its entry and exit stops.
#[derive(Debug, Clone)]
pub struct InSyscall {
    pub nr: i64,
    pub args: [u64; 6],
    pub spec: Option<&'static Spec>,
    pub lens: EntryLens,
    /// Not executed: the program gets this errno (`Hook::Refuse`).
    pub refused: Option<i64>,
    /// execve's path, read at entry (the old memory is gone at the exec stop).
    pub exec_path: Option<Vec<u8>>,
    /// The exec that started the recording: its exit is not an event.
    pub initial_exec: bool,
    /// A splice or tee from a pipe into rrgo's stdout or stderr: the bytes
    /// waiting in the pipe at entry (see `record::splice`), and the length
    /// argument's index and value as the program passed it.
    pub spliced: Option<Spliced>,
}

#[derive(Debug, Clone)]
pub struct Spliced {
    pub stream: trace_format::StdStream,
    pub bytes: Vec<u8>,
    pub len_arg: usize,
    pub len: u64,
}

#[derive(Debug)]
pub struct Thread {
    pub tgid: i32,
    pub state: State,
    /// In a group-stop (job control), left there with PTRACE_LISTEN: the
    /// state it had before, restored when the stop ends.
    pub group_stopped: Option<State>,
    pub syscall: Option<InSyscall>,
    /// Signal to deliver when the thread is next resumed.
    pub inject: i32,
    /// Registers at the thread's last stop, to tell whether it ran since.
    pub last_regs: Option<Regs>,
    /// Resumed into its own code since that stop. Equal registers do not
    /// prove it stood still: a loop whose counter lives on the stack
    /// (`select` with `default`, built -N -l) is at the same registers on
    /// every turn (busypoll: a signal so taken "at the last stop" was
    /// delivered half a million turns early on replay).
    pub resumed: bool,
    /// Memory its syscall, answered at the entry stop (`Hook::StateOnly`),
    /// writes once the thread is resumed: the trace already holds the
    /// call, which replay runs at its place (sigaltstack's old stack), but
    /// the kernel writes only when the thread next gets the CPU. Another
    /// thread's point taken meanwhile must not compare it (fipsinit).
    pub unrun: Vec<(u64, u64)>,
    /// Its TaskCreate is in the trace (the initial thread counts as announced).
    pub announced: bool,
    /// Signals that arrived while it was stepped out of rrgo's page, sent
    /// again with tgkill: the siginfo each had (the kernel's, not tgkill's).
    pub requeued: Vec<(i32, [u8; 128])>,
    /// When it last became ready to run (joined the run queue).
    pub queued_at: Option<Instant>,
    /// It became ready by returning from a syscall that blocked (woken),
    /// not by being descheduled.
    pub woke: bool,
    /// The thread whose futex wake ended its last wait, until it makes its
    /// next syscall: while that waker runs on, this thread is due sooner
    /// (`WakeWait::due_behind_waker`).
    pub woken_by: Option<Tid>,
    /// Its last syscall was a sleep (not counted as woken).
    pub slept: bool,
    /// It became ready by the end of a sleep (sysmon's naps): it was handed
    /// no work, and a spinner is not preempted for it (`spin.rs`).
    pub napped: bool,
    /// The time it has held the CPU (its turns, from resume to the stop
    /// that ended them): what `handoff` weighs a futex wake by.
    pub cpu: Duration,
    /// Its signal stack [lo, hi), as its last `sigaltstack` set it: a
    /// point taken while a handler runs there (Go's gsignal stack) is
    /// verified against that stack as one taken on a goroutine's is.
    pub altstack: Option<(u64, u64)>,
}

#[derive(Debug)]
pub struct Process {
    pub mem: ProcMem,
    /// Content hashes: the fallback where write tracking is unavailable.
    pub pages: PageHashes,
    /// Write tracking (userfaultfd), set up at the exec's syscall exit.
    pub dirty: Option<super::dirty::DirtyTracker>,
    /// rrgo's clock page is mapped (`tracee::clockpage`).
    pub clock: bool,
    /// The vDSO was patched at exec; the page is mapped at the execve's exit.
    pub clock_pending: bool,
    /// Its `MAP_SHARED` file mappings, watched for changes by syscalls.
    pub shared: super::shared::SharedMaps,
    /// RDRAND/RDSEED instructions covered by an `int3`: address → the
    /// byte it replaced.
    pub rand_sites: std::collections::HashMap<u64, u8>,
    /// Its functions' bounds, read at its first preemption.
    pub code: Option<crate::tracee::codemap::CodeMap>,
}

#[derive(Debug, Default)]
pub struct Threads {
    pub threads: HashMap<Tid, Thread>,
    pub procs: HashMap<i32, Process>,
    /// Round-robin order of runnable threads (may hold stale entries; checked on pop).
    queue: VecDeque<Tid>,
    pub running: Option<Tid>,
    pub slice_start: Option<Instant>,
}

impl Thread {
    /// The thread stopped at `regs`, an event's position replay reaches too.
    pub fn stopped_at(&mut self, regs: Regs) {
        self.last_regs = Some(regs);
        self.resumed = false;
    }

    /// Whether it may have run its own code since its last stop, stopped
    /// now at `regs`.
    pub fn ran_to(&self, regs: &Regs) -> bool {
        self.resumed || self.last_regs.as_ref() != Some(regs)
    }
}

impl Threads {
    pub fn add(&mut self, tid: Tid, tgid: i32, state: State) {
        self.threads.insert(
            tid,
            Thread {
                tgid,
                state,
                group_stopped: None,
                syscall: None,
                inject: 0,
                last_regs: None,
                resumed: false,
                unrun: Vec::new(),
                announced: state == State::Stopped,
                requeued: Vec::new(),
                queued_at: (state == State::Stopped).then(Instant::now),
                woke: false,
                woken_by: None,
                slept: false,
                napped: false,
                cpu: Duration::ZERO,
                altstack: None,
            },
        );
        if state == State::Stopped {
            self.queue.push_back(tid);
        }
    }

    pub fn get(&mut self, tid: Tid) -> Option<&mut Thread> {
        self.threads.get_mut(&tid)
    }

    /// Marks a thread ready to run (appends it to the run queue).
    pub fn set_stopped(&mut self, tid: Tid) {
        if let Some(t) = self.threads.get_mut(&tid) {
            let slept = std::mem::take(&mut t.slept);
            t.woke = t.state == State::InKernel && !slept;
            t.napped = t.state == State::InKernel && slept;
            t.state = State::Stopped;
            t.queued_at = Some(Instant::now());
            self.queue.push_back(tid);
        }
        self.stop_running(tid);
    }

    /// `tid` no longer holds the CPU (if it did): its turn so far is
    /// charged to it.
    pub fn stop_running(&mut self, tid: Tid) {
        if self.running != Some(tid) {
            return;
        }
        self.running = None;
        if let (Some(start), Some(t)) = (self.slice_start, self.threads.get_mut(&tid)) {
            t.cpu += start.elapsed();
        }
    }

    /// The CPU time `tid` has had, its current turn included.
    pub fn cpu_now(&self, tid: Tid) -> Duration {
        let t = self.threads.get(&tid).map_or(Duration::ZERO, |t| t.cpu);
        match (self.running, self.slice_start) {
            (Some(r), Some(start)) if r == tid => t + start.elapsed(),
            _ => t,
        }
    }

    pub fn proc_of(&self, tid: Tid) -> Option<&Process> {
        self.threads.get(&tid).and_then(|t| self.procs.get(&t.tgid))
    }

    pub fn proc_of_mut(&mut self, tid: Tid) -> Option<&mut Process> {
        let tgid = self.threads.get(&tid)?.tgid;
        self.procs.get_mut(&tgid)
    }

    /// The next thread to run, round robin.
    pub fn pop_runnable(&mut self) -> Option<Tid> {
        while let Some(tid) = self.queue.pop_front() {
            if self
                .threads
                .get(&tid)
                .is_some_and(|t| t.state == State::Stopped)
            {
                return Some(tid);
            }
        }
        None
    }

    /// When `tid` (running since `since`) is due to give up the CPU to a
    /// waiting thread: when `woken` says for a thread that woke from a
    /// blocking syscall (work handed to it, as by a futex wake, is not held
    /// up, within `turn` too; sooner still behind the thread that woke it),
    /// `turn`
    /// after one that was descheduled; counted from when it became ready,
    /// or from `since` if later (each thread gets its turn).
    pub fn turn_due(
        &self,
        tid: Tid,
        since: Instant,
        woken: &super::wake::WakeWait,
        turn: Duration,
    ) -> Option<Instant> {
        self.queue
            .iter()
            .filter(|&&t| t != tid)
            .filter_map(|t| self.threads.get(t))
            .filter(|t| t.state == State::Stopped)
            .filter_map(|t| {
                let at = t.queued_at?.max(since);
                Some(match t.woke {
                    true if t.woken_by == Some(tid) => woken.due_behind_waker(at, turn),
                    true => woken.due(at, turn),
                    false => at + turn,
                })
            })
            .min()
    }

    /// Since when the longest-waiting thread other than `tid` has been
    /// ready to run, back from a sleep not counted.
    pub fn waiting_since(&self, tid: Tid) -> Option<Instant> {
        self.queue
            .iter()
            .filter(|&&t| t != tid)
            .filter_map(|t| self.threads.get(t))
            .filter(|t| t.state == State::Stopped && !t.napped)
            .filter_map(|t| t.queued_at)
            .min()
    }

    pub fn any_runnable_besides(&self, tid: Tid) -> bool {
        self.queue.iter().any(|&t| {
            t != tid
                && self
                    .threads
                    .get(&t)
                    .is_some_and(|t| t.state == State::Stopped)
        })
    }
}
