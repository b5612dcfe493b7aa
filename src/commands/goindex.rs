//! The goroutine index of a trace: every goroutine state change, plus where
//! each signal landed. Built in one replay pass and cached next to the
//! trace (`goindex`), so later history and signal queries do not replay
//! again. State changes come from a breakpoint on `runtime.casgstatus`
//! (every transition, also those between two events: its arguments say
//! which g and which new status) and from reading every g after each event
//! (which catches what bypasses casgstatus, e.g. Go 1.26's syscall fast path).
//! Each entry carries the program's own time (`ProgramClock`): the latest
//! CLOCK_MONOTONIC value its process had read at that point.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use trace_format::{EventKind, RecTid, RemoteAddr};

use crate::error::{Failure, Result, RrgoError};
use crate::fasthash::AddrMap;
use crate::gobin::GoBinary;
use crate::goruntime::locks::{self, LockEffect, MutexSites};
use crate::goruntime::probes::ProbeAt;
use crate::goruntime::{stack, GoReader, StateKey};
use crate::progress::Progress;
use crate::replay::{Output, ReplaySession, Stepped};
use crate::tracee::mem::MemRead;
use crate::tracee::probelog;

/// Bump when the cached layout changes; a stale cache is rebuilt.
/// 5: times from every clock mechanism, `start_ns`, signals' `wall_time_ns`.
/// 6: `lock_waits`: who held the mutex a goroutine waited for.
/// 7: `woken_by` on transitions out of a wait.
/// 8: RWMutex waits: `LockWait::kind`, `other_holders`.
/// 9: `Transition::until_ns` (sleeps), `Waker::io` (the network poller).
/// 10: `goroutines_unreadable`.
/// 11: transitions' strings in a table (`interned`).
/// 12: `LockWait::holder_got`; a writer waiting for readers names the last;
/// a timer waking a goroutine is named by its function (`TIMER_FUNCTIONS`).
/// A lock wait lasts until its waiter is readied: `later_holders`, and
/// `released` is the last unlock before then.
const INDEX_VERSION: u32 = 13;
const INDEX_FILE: &str = "goindex";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    pub event: u64,
    /// The program's CLOCK_MONOTONIC at that point (ns), if it had read it yet.
    pub time_ns: Option<u64>,
    pub goid: u64,
    /// "runnable", "running", "syscall", "waiting: chan receive", "dead", …
    pub state: String,
    pub thread: Option<i32>,
    pub function: Option<String>,
    pub location: Option<String>,
    /// Leaving a wait: what made it runnable (`runtime.ready`'s caller).
    /// (Always serialized: the cache's bincode is not self-describing.)
    pub woken_by: Option<Waker>,
    /// Entering "waiting: sleep": the deadline (CLOCK_MONOTONIC, ns).
    pub until_ns: Option<u64>,
}

/// What woke a goroutine: the goroutine whose send, close, unlock or Done
/// readied it, where; or, with no goroutine, the runtime's part that did
/// (a timer, the network poller).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waker {
    pub goid: Option<u64>,
    pub function: Option<String>,
    pub location: Option<String>,
    /// The network poller readied it: the file descriptor and what it is
    /// ready for.
    pub io: Option<IoReady>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IoReady {
    pub fd: i32,
    /// "read" or "write".
    pub ready_for: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub goid: u64,
    /// The function the goroutine started in.
    pub entry: String,
    pub event: u64,
    pub parent: Option<u64>,
    pub by: String,
    pub system: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalSeen {
    pub event: u64,
    /// The receiving process's CLOCK_MONOTONIC (ns).
    pub time_ns: Option<u64>,
    /// Its CLOCK_REALTIME (ns since the epoch), estimated from its latest
    /// REALTIME read and the monotonic time since.
    pub wall_time_ns: Option<u64>,
    pub signo: i32,
    pub si_code: i32,
    pub sender_pid: i32,
    pub thread: i32,
    /// The goroutine that was running on the thread when the signal was delivered.
    pub goroutine: Option<u64>,
}

/// A signal passing through the Go runtime's handler, seen at a breakpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalStep {
    pub event: u64,
    pub time_ns: Option<u64>,
    pub signo: i32,
    pub thread: i32,
    /// "sighandler" (the runtime's handler ran), "sigsend" (queued for
    /// os/signal), "dieFromSignal" (the runtime dies from it).
    pub function: String,
}

/// A goroutine doing something to a mutex: where and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockStep {
    pub goid: u64,
    pub event: u64,
    pub time_ns: Option<u64>,
    /// The innermost frame outside sync and the runtime: where the program
    /// called Lock or Unlock.
    pub function: Option<String>,
    pub location: Option<String>,
}

/// What a goroutine waits for in a lock wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockKind {
    /// `sync.Mutex.Lock` (also a RWMutex's writer queued behind another).
    Mutex,
    /// `sync.RWMutex.Lock`: a writer waiting for the readers to leave.
    RwmutexWrite,
    /// `sync.RWMutex.RLock`: a reader waiting for the writer.
    RwmutexRead,
}

impl LockKind {
    /// The lock wait a goroutine state is, if it is one.
    pub fn of_state(state: &str) -> Option<LockKind> {
        Some(match state.strip_prefix("waiting: ")? {
            "sync.Mutex.Lock" => LockKind::Mutex,
            "sync.RWMutex.Lock" => LockKind::RwmutexWrite,
            "sync.RWMutex.RLock" => LockKind::RwmutexRead,
            _ => return None,
        })
    }
}

/// A goroutine parked in `sync.Mutex.Lock` or `sync.RWMutex`'s Lock or
/// RLock, with the goroutine that held the lock then (`goruntime::locks`
/// says how they are seen).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockWait {
    pub waiter: u64,
    pub kind: LockKind,
    /// The event of the waiter's "waiting: sync.Mutex.Lock" transition.
    pub event: u64,
    pub time_ns: Option<u64>,
    /// The lock's address, and the global it is or is in (`main.stateMu`).
    pub mutex: u64,
    pub mutex_name: Option<String>,
    /// Who held it when the waiter parked: their acquisition (a writer
    /// waiting for readers: the last of them to leave once known, else the
    /// one that has held it longest).
    pub holder: Option<LockStep>,
    /// The other readers holding it then, for a writer waiting for readers.
    pub other_holders: Vec<LockStep>,
    /// A reader waiting behind a writer that itself waited for readers:
    /// the release that gave the writer the lock (its `holder` step is
    /// when it asked). The writer held it only from then.
    #[serde(default)]
    pub holder_got: Option<LockStep>,
    /// A mutex handed on while the waiter waited: the goroutines that
    /// locked it after `holder`, in order (the last of them, if any, is
    /// the one whose unlock let the waiter in).
    #[serde(default)]
    pub later_holders: Vec<LockStep>,
    /// The release that let the waiter go: the last unlock before it was
    /// readied; for a writer waiting for readers, the last reader's.
    pub released: Option<LockStep>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GoIndex {
    pub version: u32,
    /// The main process's first CLOCK_MONOTONIC read: times are printed from it.
    pub start_ns: Option<u64>,
    #[serde(with = "super::interned")]
    pub transitions: Vec<Transition>,
    pub created: Vec<Created>,
    pub signals: Vec<SignalSeen>,
    pub signal_steps: Vec<SignalStep>,
    pub lock_waits: Vec<LockWait>,
    /// Why the goroutines could not be read (no DWARF, an unreadable
    /// goroutine list), when no goroutine was: a goroutine missing from the
    /// index is then unknown, not "never existed".
    #[serde(default)]
    pub goroutines_unreadable: Option<String>,
}

/// Signals that are the Go runtime's own business, not "the signal" times
/// are counted from: SIGURG (preemption requests) and SIGPROF (profiling ticks).
pub fn runtime_signal(signo: i32) -> bool {
    signo == libc::SIGURG || signo == libc::SIGPROF
}

impl GoIndex {
    /// An error if the goroutines could not be read (no DWARF): the
    /// signal stories and the timeline would be empty, not true.
    pub fn require_goroutines(&self) -> Result<()> {
        match &self.goroutines_unreadable {
            Some(why) => Err(RrgoError::new(
                Failure::Usage,
                anyhow::anyhow!("cannot read goroutines in this recording: {why}"),
            )),
            None => Ok(()),
        }
    }

    /// The program's first clock read: times are printed relative to it.
    pub fn start(&self) -> Option<u64> {
        self.start_ns
            .or_else(|| self.transitions.iter().filter_map(|t| t.time_ns).min())
    }

    /// The latest signal at or before `event` other than the runtime's own
    /// (`runtime_signal`): the one a time "after the signal" counts from.
    pub fn signal_before(&self, event: u64) -> Option<&SignalSeen> {
        self.signals
            .iter()
            .rev()
            .find(|s| s.event <= event && !runtime_signal(s.signo))
    }

    pub fn history(&self, goid: u64) -> Vec<&Transition> {
        self.transitions.iter().filter(|t| t.goid == goid).collect()
    }

    /// Every goroutine's `history` at once: asking for each in turn reads
    /// all transitions per goroutine (net/http's tests: 19,363 goroutines
    /// × 78,093 transitions, 28 s for the timeline page).
    pub fn histories(&self) -> HashMap<u64, Vec<&Transition>> {
        let mut out: HashMap<u64, Vec<&Transition>> = HashMap::new();
        for t in &self.transitions {
            out.entry(t.goid).or_default().push(t);
        }
        out
    }

    /// The lock wait goroutine `goid` is in just before `event`: parked,
    /// and not yet let go by the release.
    pub fn lock_wait_at(&self, goid: u64, event: u64) -> Option<&LockWait> {
        self.lock_waits.iter().rev().find(|w| {
            w.waiter == goid
                && w.event <= event
                && w.released.as_ref().is_none_or(|r| event <= r.event)
        })
    }

    /// The lock wait that `t` (a "waiting: sync.Mutex.Lock" or RWMutex
    /// transition) began.
    pub fn lock_wait(&self, t: &Transition) -> Option<&LockWait> {
        LockKind::of_state(&t.state)?;
        self.lock_waits
            .iter()
            .find(|w| w.waiter == t.goid && w.event == t.event)
    }
}

/// The index cached next to the trace, if there is a current one.
pub fn load_cached(dir: &Path) -> Option<GoIndex> {
    let bytes = std::fs::read(dir.join(INDEX_FILE)).ok()?;
    let (idx, _) =
        bincode::serde::decode_from_slice::<GoIndex, _>(&bytes, bincode::config::standard())
            .ok()?;
    (idx.version == INDEX_VERSION).then_some(idx)
}

/// The cached index, or a new one built by replaying the trace.
pub fn load_or_build(dir: &Path) -> Result<GoIndex> {
    let path = dir.join(INDEX_FILE);
    if let Some(idx) = load_cached(dir) {
        return Ok(idx);
    }
    let idx = match build(dir, true) {
        // The probes run rrgo's code inside the program: if the replay
        // diverged with them, the index is built again with breakpoints
        // only (a divergence of the recording itself fails twice).
        Err(e) if e.failure == Failure::Divergence && probes_allowed() => {
            crate::say!(
                "warning: the goroutine index's replay diverged with probes ({:#}); \
                 building it again with breakpoints",
                e.error
            );
            build(dir, false)?
        }
        built => built?,
    };
    // A read-only trace just means no cache.
    if let Ok(bytes) = bincode::serde::encode_to_vec(&idx, bincode::config::standard()) {
        // Private (0600), and through a per-process temporary file: two queries
        // building at once do not mix their bytes.
        let _ = crate::trace_dir::write_private(&path, &bytes);
    }
    Ok(idx)
}

/// From this many seconds on, an in-process clock read is taken as
/// CLOCK_REALTIME (September 2001): `ClockReads` entries do not say which
/// clock was read, and a boot-based clock would need 31 years of uptime to
/// get there.
const REALTIME_FROM_S: u64 = 1_000_000_000;

/// The program's own clock, followed through a trace's events: whatever
/// carries a clock value — `ClockReads` (the clock page), `clock_gettime`
/// syscalls' recorded results (`RRGO_VDSO=hide`: answered at the seccomp
/// stop; `RRGO_SECCOMP=0`: entry and exit stops), `gettimeofday` and
/// `time` — per process.
///
/// Program time is CLOCK_MONOTONIC: the latest (highest) value the process
/// read at or before the event. CLOCK_REALTIME can step (NTP,
/// settimeofday), so it is never program time; the latest REALTIME read,
/// carried forward by the monotonic time since, gives wall-clock times
/// for correlating with logs. A `ClockReads` value is told apart by its
/// size (the boot-based clocks, MONOTONIC_RAW and BOOTTIME, count as
/// monotonic there: Go reads only MONOTONIC and REALTIME); a syscall's by
/// its clock id.
#[derive(Debug, Default)]
pub struct ProgramClock {
    /// Thread → its process (the thread that started it).
    process: HashMap<RecTid, RecTid>,
    /// A clock syscall in progress: its number and arguments.
    calls: HashMap<RecTid, (i64, [u64; 6])>,
    known: HashMap<RecTid, Known>,
}

/// What one process has read of the clocks so far.
#[derive(Debug, Default, Clone, Copy)]
struct Known {
    /// Its first CLOCK_MONOTONIC read (a fork's: its parent's).
    first: Option<u64>,
    /// The highest CLOCK_MONOTONIC read.
    mono: Option<u64>,
    /// The latest CLOCK_REALTIME read, and the monotonic time then.
    wall: Option<(u64, Option<u64>)>,
}

impl Known {
    fn monotonic(&mut self, ns: u64) {
        self.first.get_or_insert(ns);
        self.mono = Some(self.mono.map_or(ns, |m| m.max(ns)));
    }

    /// A REALTIME read; `mono_then`: the monotonic time read with it, if known.
    fn realtime(&mut self, ns: u64, mono_then: Option<u64>) {
        self.wall = Some((ns, mono_then.or(self.mono)));
    }
}

/// Two little-endian 64-bit fields (seconds, then a fraction), both >= 0.
fn two_fields(b: &[u8]) -> Option<(u64, u64)> {
    let a = i64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let b = i64::from_le_bytes(b.get(8..16)?.try_into().ok()?);
    Some((u64::try_from(a).ok()?, u64::try_from(b).ok()?))
}

/// A `struct timespec` in ns.
fn timespec_ns(b: &[u8]) -> Option<u64> {
    let (sec, nsec) = two_fields(b).filter(|(_, n)| *n < 1_000_000_000)?;
    sec.checked_mul(1_000_000_000)?.checked_add(nsec)
}

/// A `struct timeval` in ns.
fn timeval_ns(b: &[u8]) -> Option<u64> {
    let (sec, usec) = two_fields(b).filter(|(_, u)| *u < 1_000_000)?;
    sec.checked_mul(1_000_000_000)?.checked_add(usec * 1000)
}

/// The bytes a syscall wrote at `addr`, if it wrote there.
fn written_at(writes: &[trace_format::MemWrite], addr: u64) -> Option<&[u8]> {
    writes
        .iter()
        .find(|w| w.addr.0 == addr)
        .map(|w| w.data.as_slice())
}

impl ProgramClock {
    fn process_of(&self, tid: RecTid) -> RecTid {
        self.process.get(&tid).copied().unwrap_or(tid)
    }

    fn known_mut(&mut self, tid: RecTid) -> &mut Known {
        let p = self.process_of(tid);
        self.known.entry(p).or_default()
    }

    /// Takes in the clock values event `ev` carries (call before or after
    /// applying it: an event's own values are known at it).
    pub fn observe(&mut self, ev: &trace_format::Event) {
        match &ev.kind {
            EventKind::TaskCreate {
                parent,
                child,
                kind,
                ..
            } => {
                let parent_proc = self.process_of(*parent);
                if *kind == trace_format::TaskKind::Thread {
                    self.process.insert(*child, parent_proc);
                } else {
                    // A new process: what its parent knew is still true.
                    self.process.insert(*child, *child);
                    let inherited = self.known.get(&parent_proc).copied().unwrap_or_default();
                    self.known.insert(*child, inherited);
                }
            }
            EventKind::ClockReads { entries } => self.clock_reads(ev.tid, entries),
            // The recorder's reading of the same clock as the signal came:
            // an idle program read none for seconds before it.
            EventKind::Signal { time_ns, .. } if *time_ns != 0 => {
                self.known_mut(ev.tid).monotonic(*time_ns)
            }
            EventKind::SyscallEntry { nr, args, .. }
                if [
                    libc::SYS_clock_gettime,
                    libc::SYS_gettimeofday,
                    libc::SYS_time,
                ]
                .contains(nr) =>
            {
                self.calls.insert(ev.tid, (*nr, *args));
            }
            EventKind::SyscallExit {
                nr, result, writes, ..
            } => {
                if let Some((call, args)) = self.calls.remove(&ev.tid) {
                    if call == *nr && *result >= 0 {
                        self.syscall_result(ev.tid, *nr, *result, &args, writes);
                    }
                }
            }
            _ => {}
        }
    }

    /// The clock page's values: in order, REALTIME and MONOTONIC mixed.
    fn clock_reads(&mut self, tid: RecTid, entries: &[u8]) {
        let values: Vec<u64> = entries
            .chunks_exact(crate::tracee::clockpage::ENTRY_LEN)
            .filter_map(timespec_ns)
            .collect();
        let known = self.known_mut(tid);
        for (i, &ns) in values.iter().enumerate() {
            if ns / 1_000_000_000 < REALTIME_FROM_S {
                known.monotonic(ns);
            } else {
                // Go's time.Now reads REALTIME, then MONOTONIC right away.
                let next = values
                    .get(i + 1)
                    .copied()
                    .filter(|n| n / 1_000_000_000 < REALTIME_FROM_S);
                known.realtime(ns, next);
            }
        }
    }

    fn syscall_result(
        &mut self,
        tid: RecTid,
        nr: i64,
        result: i64,
        args: &[u64; 6],
        writes: &[trace_format::MemWrite],
    ) {
        let known = self.known_mut(tid);
        match nr {
            libc::SYS_clock_gettime => {
                let Some(ns) = written_at(writes, args[1]).and_then(timespec_ns) else {
                    return;
                };
                match args[0] as libc::clockid_t {
                    libc::CLOCK_MONOTONIC | libc::CLOCK_MONOTONIC_COARSE => known.monotonic(ns),
                    libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE => known.realtime(ns, None),
                    // CPU-time clocks, BOOTTIME, MONOTONIC_RAW, TAI: not the program's time.
                    _ => {}
                }
            }
            libc::SYS_gettimeofday => {
                if let Some(ns) = written_at(writes, args[0]).and_then(timeval_ns) {
                    known.realtime(ns, None);
                }
            }
            // Whole seconds: only when nothing finer is known.
            libc::SYS_time if known.wall.is_none() => {
                known.realtime(result as u64 * 1_000_000_000, None);
            }
            _ => {}
        }
    }

    /// The latest CLOCK_MONOTONIC time `tid`'s process knew, in ns.
    pub fn monotonic(&self, tid: RecTid) -> Option<u64> {
        self.known.get(&self.process_of(tid))?.mono
    }

    /// The first CLOCK_MONOTONIC value `tid`'s process read.
    pub fn first(&self, tid: RecTid) -> Option<u64> {
        self.known.get(&self.process_of(tid))?.first
    }

    /// `tid`'s process's wall-clock time now (CLOCK_REALTIME, ns since
    /// the epoch): its latest REALTIME read plus the monotonic time since.
    pub fn wall(&self, tid: RecTid) -> Option<u64> {
        let k = self.known.get(&self.process_of(tid))?;
        let (wall, then) = k.wall?;
        let since = match (then, k.mono) {
            (Some(then), Some(now)) => now.saturating_sub(then),
            _ => 0,
        };
        Some(wall + since)
    }
}

/// `probes`: observe the hot sites with probes where they can go
/// (`place_probes`), else with breakpoints only.
fn build(dir: &Path, probes: bool) -> Result<GoIndex> {
    let classify = super::replay::classify;
    // The binary loads (mostly DWARF) while the replay starts (the
    // executable's copy and hash check, the process); its tables' cache
    // file is written while the pass runs.
    let (session, loaded, caching) = std::thread::scope(|scope| {
        let loading = trace_format::TraceReader::open(dir).ok().map(|r| {
            let exe = r.stored_file_path(&r.header().exe);
            let cache = dir.join(crate::trace_dir::DWARF_TABLES);
            scope.spawn(move || GoBinary::load_deferring_cache(&exe, Some(&cache)))
        });
        let session = ReplaySession::start(dir, Output::Discard);
        let loaded = loading.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        let (loaded, write) = match loaded {
            Some(Ok((bin, write))) => (Some(Ok(bin)), write),
            Some(Err(e)) => (Some(Err(e)), None),
            None => (None, None),
        };
        (
            session,
            loaded,
            write.map(|w| std::thread::spawn(move || w.write())),
        )
    });
    // Joined when the pass is done, however it ends.
    struct Join(Option<std::thread::JoinHandle<()>>);
    impl Drop for Join {
        fn drop(&mut self) {
            if let Some(h) = self.0.take() {
                let _ = h.join();
            }
        }
    }
    let _caching = Join(caching);
    let mut session = session.map_err(classify)?;
    let bin = match loaded {
        Some(bin) => bin?,
        None => GoBinary::load_cached(
            &session
                .reader()
                .stored_file_path(&session.reader().header().exe.clone()),
            Some(&dir.join(crate::trace_dir::DWARF_TABLES)),
        )?,
    };
    // A position-independent executable: its addresses as loaded.
    let bin = bin.loaded_at_entry(session.exe_entry());
    let main = session.threads().first().copied().ok_or_else(|| {
        RrgoError::new(Failure::Usage, anyhow::anyhow!("the trace has no process"))
    })?;
    let mut pass = Pass {
        bin: &bin,
        main,
        idx: GoIndex {
            version: INDEX_VERSION,
            ..Default::default()
        },
        last: AddrMap::default(),
        thread_exits: AddrMap::default(),
        syscall_noted: AddrMap::default(),
        places: Places::default(),
        wakers: AddrMap::default(),
        locks: Locks::default(),
        mutex_sites: MutexSites::find(&bin),
        clock: ProgramClock::default(),
    };
    let mut reader: Option<GoReader> = None;
    // Each g's state key (`GoReader::state_key`) at the previous event's
    // scan, with what `last` said of its goid after it.
    let mut scanned: AddrMap<u64, (StateKey, Option<String>)> = AddrMap::default();
    // The gs the scan need not read (`GoReader::changes_only_by_casgstatus`)
    // until a casgstatus names them, while every casgstatus is seen.
    let mut scan_set = crate::goruntime::ScanSet::default();
    let mut casgstatus_seen = false;
    let mut allgs = crate::goruntime::AllGs::default();
    let mut progress = Progress::new("indexing goroutines", session.event_count());
    let first = |name: &str| bin.functions_named(name).first().map(|f| f.entry);
    // The sites, by address: casgstatus(gp *g, oldval, newval uint32) (RAX,
    // RBX, RCX at entry); ready(gp, …) (the g made runnable in RAX, called
    // by the waker); netpollready(toRun, pd *pollDesc, mode) (the network
    // poller readies the goroutines parked on pd (RBX) for mode (RCX)); the
    // signal path's functions (the signal number first, RAX); the locks'
    // atomics.
    let mut sites: Vec<(u64, Site)> = Vec::new();
    sites.extend(first("runtime.casgstatus").map(|a| (a, Site::Casgstatus)));
    sites.extend(first("runtime.ready").map(|a| (a, Site::Ready)));
    sites.extend(first("runtime.netpollready").map(|a| (a, Site::NetpollReady)));
    for f in ["sighandler", "sigsend", "dieFromSignal"] {
        sites.extend(first(&format!("runtime.{f}")).map(|a| (a, Site::Signal(f))));
    }
    sites.extend(pass.mutex_sites.addresses().map(|a| (a, Site::Lock)));
    tracing::debug!("{} sites to observe", sites.len());
    let site_at: AddrMap<u64, Site> = sites.iter().copied().collect();
    // The sites observed by probes (`place_probes`), by the probe's index
    // (None: not placed, a breakpoint instead).
    let mut probed: Vec<Option<(u64, Site)>> = Vec::new();
    let mut dropped = 0u64;
    // Stops of a writer that found the probe log full.
    let mut log_full = 0u64;
    // Of the visits, those that were breakpoint stops (not probe records).
    let mut breakpoint_stops = 0u64;
    // The probe log's bytes read at the stops.
    let mut log_bytes = 0u64;
    let mut armed = false;
    // Breakpoint stops per address (the index pass's cost; logged at the end).
    let mut stops: AddrMap<u64, u64> = AddrMap::default();
    // Where the pass's time goes (logged at the end): replaying (with the
    // breakpoint stops' ptrace round trips), reading at stops, and the
    // per-event scan of every g.
    let mut spent = Spent::default();
    let mut phase = Phase::Scan;
    // Why the goroutine list could not be read, if it never could.
    let mut unreadable: Option<String> = None;
    loop {
        spent.charge(phase);
        if !armed && session.next_event().0 >= 1 {
            // Past the exec, the program's code is there to break in.
            armed = true;
            if probes {
                probed = place_probes(&mut session, &bin, &sites);
            }
            let by_probe: std::collections::HashSet<u64> =
                probed.iter().flatten().map(|(a, _)| *a).collect();
            casgstatus_seen = probed
                .iter()
                .flatten()
                .any(|(_, s)| matches!(s, Site::Casgstatus));
            for (addr, site) in sites.iter().filter(|(a, _)| !by_probe.contains(a)) {
                match session.insert_breakpoint(*addr) {
                    Ok(()) => casgstatus_seen |= matches!(site, Site::Casgstatus),
                    Err(e) => tracing::debug!("no breakpoint at {addr:#x}: {e:#}"),
                }
            }
        }
        let stepped = session.step_debug().map_err(classify)?;
        spent.charge(Phase::Replay);
        phase = Phase::Stop;
        if !probed.is_empty() {
            // What the probes logged before this stop comes first.
            let event = match &stepped {
                Stepped::Event(ev) => ev.time.0,
                _ => session.next_event().0,
            };
            let drained = session.drain_probes();
            log_bytes += drained.log.len() as u64;
            if drained.dropped > 0 {
                dropped += drained.dropped;
                // Unseen casgstatus calls: every g is read again, and
                // walked again.
                scan_set.wake_all();
                pass.places.forget();
                tracing::debug!(event, dropped = drained.dropped, "probe records dropped");
            }
            if let Ok(live) = session.mem(main) {
                let fixed = session.probe_fixed_ranges();
                let parsed = probelog::parse(&drained.log);
                for record in parsed.records() {
                    let record = &record;
                    let Some((addr, site)) =
                        session.probe_index(record).and_then(|i| *probed.get(i)?)
                    else {
                        continue;
                    };
                    *stops.entry(addr).or_default() += 1;
                    let mem = probelog::Overlay {
                        record,
                        live,
                        fixed,
                    };
                    let mut regs = record.regs;
                    regs.rip = addr;
                    let tid = reader
                        .as_ref()
                        .and_then(|r| r.thread_id(&mem, regs.fs_base))
                        .map_or(main, RecTid);
                    if matches!(site, Site::Casgstatus) {
                        scan_set.wake(regs.rax);
                    }
                    pass.visit(reader.as_ref(), site, &regs, &mem, tid, event);
                }
            }
        }
        let ev = match stepped {
            Stepped::Event(ev) => ev,
            Stepped::End => break,
            Stepped::Instruction(_) => continue,
            Stepped::Breakpoint(hit) => {
                if session.is_probe_log_trap(hit.addr) {
                    // The log was full: drained above, its writer goes on.
                    log_full += 1;
                    continue;
                }
                *stops.entry(hit.addr).or_default() += 1;
                breakpoint_stops += 1;
                let Some(&site) = site_at.get(&hit.addr) else {
                    continue;
                };
                let Ok(regs) = session.regs(hit.tid) else {
                    scan_set.wake_all();
                    continue;
                };
                if matches!(site, Site::Casgstatus) {
                    scan_set.wake(regs.rax);
                }
                // casgstatus reads the g through the main process.
                let mem = match site {
                    Site::Casgstatus => session.mem(main),
                    _ => session.mem(hit.tid),
                };
                let Ok(mem) = mem else { continue };
                let event = session.next_event().0;
                pass.visit(reader.as_ref(), site, &regs, mem, hit.tid, event);
                continue;
            }
        };
        // The probe records' visits above were the stop's.
        spent.charge(Phase::Stop);
        phase = Phase::Scan;
        progress.set(ev.time.0);
        // Every thread stopped, so the running ones' registers can be read.
        session.settle_stops().map_err(classify)?;
        spent.charge(Phase::Settle);
        pass.clock.observe(&ev);
        if pass.idx.start_ns.is_none() {
            pass.idx.start_ns = pass.clock.first(main);
        }
        if matches!(ev.kind, EventKind::ProcessExit { .. }) && ev.tid == main {
            break;
        }
        if !session.threads().contains(&main) || session.mem(main).is_err() {
            // The main process is gone: nothing after this is its. Anything
            // but its teardown ahead means states are missing: say so.
            if !session.only_exits_ahead().unwrap_or(false) {
                crate::say!(
                    "warning: the goroutine index ends at event {} of {}: the main process's \
                     thread {} is {}; later goroutine states are missing",
                    ev.time.0,
                    session.event_count(),
                    main.0,
                    if session.threads().contains(&main) {
                        "unreadable"
                    } else {
                        "gone"
                    }
                );
            }
            break;
        }
        let Ok(mem) = session.mem(main) else { break };
        if reader.is_none() {
            // No DWARF layouts: signals are still indexed, and the reason
            // goroutines are not is kept.
            match GoReader::new(&bin) {
                Ok(r) => {
                    r.preload(mem);
                    reader = Some(r)
                }
                Err(e) => {
                    unreadable.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        let Some(r) = &reader else { continue };
        // (Not a call the kernel restarts: it was never left.)
        if let EventKind::SyscallExit { result, .. } = &ev.kind {
            if !(-516..=-512).contains(result) {
                pass.thread_exits.insert(ev.tid.0, ev.time.0);
            }
        }
        if let EventKind::Signal { signo, siginfo, .. } = &ev.kind {
            // The goroutine on the thread: g from TLS (fs_base-8); on g0 or gsignal, m.curg.
            let goroutine = session
                .regs(ev.tid)
                .ok()
                .and_then(|regs| r.on_thread(mem, regs.fs_base))
                .map(|g| g.goid);
            let sender_pid = i32::from_le_bytes(siginfo.0[16..20].try_into().unwrap_or([0; 4]));
            pass.idx.signals.push(SignalSeen {
                event: ev.time.0,
                time_ns: pass.clock.monotonic(ev.tid),
                wall_time_ns: pass.clock.wall(ev.tid),
                signo: *signo,
                si_code: siginfo.code(),
                sender_pid,
                thread: ev.tid.0,
                goroutine,
            });
        }
        if let Err(e) = r.sync_all_gs(mem, &mut allgs) {
            unreadable.get_or_insert_with(|| format!("{e:#}"));
            continue;
        }
        scan_set.sync(&allgs);
        let gs = scan_set.active();
        let raws = r.raw_gs(mem, &gs);
        for (addr, raw) in gs.into_iter().zip(raws) {
            let Some(raw) = raw else { continue };
            // A g whose state is as the previous scan saw it, with nothing
            // noted for it since, would be noted again for nothing: skip
            // the stack walk and reads that noting it costs.
            let key = r.state_key(&raw);
            if casgstatus_seen && r.changes_only_by_casgstatus(mem, key) {
                scan_set.set_aside(addr);
            }
            let unchanged = scanned
                .get(&addr)
                .is_some_and(|(k, seen)| *k == key && seen.as_ref() == pass.last.get(&key.0));
            // Unless it may be in another syscall (see `note`): its thread
            // enters one.
            let entry = matches!(ev.kind, EventKind::SyscallEntry { .. });
            if unchanged && !(entry && crate::goruntime::status_name(key.1) == "syscall") {
                continue;
            }
            let g = r.g_from(mem, addr, &raw);
            if unchanged && g.thread != Some(ev.tid.0) {
                continue;
            }
            let new_syscall = entry
                && g.status == "syscall"
                && g.thread == Some(ev.tid.0)
                && pass.thread_exits.get(&ev.tid.0).is_some_and(|&exit| {
                    pass.syscall_noted
                        .get(&g.goid)
                        .is_some_and(|&noted| exit > noted)
                });
            let state = g
                .wait_reason
                .clone()
                .map(|w| format!("waiting: {w}"))
                .unwrap_or_else(|| g.status.to_string());
            // The event's own thread at a syscall entry: the registers the
            // event recorded (for exit_group, the live ones race with the
            // kernel's teardown: sometimes there, sometimes not).
            let regs = g
                .thread
                .and_then(|t| match &ev.kind {
                    EventKind::SyscallEntry { regs, .. } if t == ev.tid.0 => Some(*regs),
                    _ => session.regs(RecTid(t)).ok(),
                })
                .filter(|_| g.status == "running");
            // A wait first seen here (its casgstatus was not) gets its
            // mutex and holder too.
            let lock_wait = LockKind::of_state(&state);
            let now = pass.clock.monotonic(main);
            if note(
                &mut pass.idx,
                (&mut pass.last, &mut pass.syscall_noted),
                (&mut pass.places, false),
                &bin,
                r,
                mem,
                &g,
                (state, new_syscall),
                g.thread,
                regs.as_ref(),
                ev.time.0,
                now,
            ) {
                if let Some(kind) = lock_wait {
                    pass.locks
                        .parked(&mut pass.idx, &bin, g.goid, kind, ev.time.0, now);
                }
                if g.status == "runnable" {
                    pass.locks.woken(&pass.idx, g.goid);
                }
            }
            scanned.insert(addr, (key, pass.last.get(&key.0).cloned()));
        }
    }
    spent.charge(phase);
    progress.finish();
    if dropped > 0 {
        crate::say!(
            "warning: the goroutine index's probe log overflowed: {dropped} visits of the \
             runtime's functions were not seen; goroutine states there come from the reads \
             at each event"
        );
    }
    let mut idx = pass.idx;
    if idx.created.is_empty() {
        // Not one goroutine read: an empty list would say none existed.
        idx.goroutines_unreadable = unreadable;
    }
    let mut by_count: Vec<_> = stops.into_iter().collect();
    by_count.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let named: Vec<String> = by_count
        .iter()
        .take(8)
        .map(|(a, n)| {
            let f = bin.function_at(*a).map_or("?", |f| f.name.as_str());
            format!("{n} at {a:#x} ({f})")
        })
        .collect();
    tracing::debug!(
        visits = by_count.iter().map(|(_, n)| n).sum::<u64>(),
        probed = probed.iter().flatten().count(),
        log_full,
        breakpoint_stops,
        log_bytes,
        "index visits (probes and breakpoint stops), most: {}",
        named.join(", ")
    );
    tracing::debug!(
        replay_ms = spent.replay.as_millis() as u64,
        stops_ms = spent.stops.as_millis() as u64,
        settles_ms = spent.settles.as_millis() as u64,
        scans_ms = spent.scans.as_millis() as u64,
        "index pass time"
    );
    Ok(idx)
}

/// What a site (a breakpoint or a probe) stands for in the index pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Casgstatus,
    Ready,
    NetpollReady,
    Signal(&'static str),
    Lock,
}

/// Whether probes may be used: the machine has `rdfsbase` and
/// `RRGO_INDEX_PROBES` is not 0.
fn probes_allowed() -> bool {
    !std::env::var("RRGO_INDEX_PROBES").is_ok_and(|v| v == "0") && probelog::supported()
}

/// Probes (`tracee::probelog`) in place of breakpoints at the hot sites
/// (casgstatus, ready, the locks' atomics), where they can go: the sites
/// they observe, by probe index. None when the machine or the program does
/// not allow them (`RRGO_INDEX_PROBES=0` turns them off: every site a
/// breakpoint, as a check of the probes).
fn place_probes(
    session: &mut ReplaySession,
    bin: &GoBinary,
    sites: &[(u64, Site)],
) -> Vec<Option<(u64, Site)>> {
    if !probes_allowed() {
        tracing::debug!("no index probes: turned off, or no rdfsbase");
        return Vec::new();
    }
    let Some(layout) = crate::goruntime::probes::usable(bin) else {
        tracing::debug!("no index probes: g is not at fs:-8, or no runtime layouts");
        return Vec::new();
    };
    // Where the recording stopped threads at arbitrary instructions: a
    // probe's jmp over one would hide it from replay's search. A fault
    // in a relocated instruction is delivered as the program's own
    // (`ReplaySession::unrelocated`), and the capture follows no pointer
    // into the never-mapped low pages (`probelog::NULL_GUARD`: nil plus
    // an offset). A fault anywhere else — a wild pointer the capture may
    // have read first — leaves probes only at sites whose instructions
    // cannot fault (memory only through the g register or the stack
    // pointer: a function's stack check).
    let mut points = std::collections::HashSet::new();
    let mut faults = false;
    for ev in session.reader().events() {
        let Ok(ev) = ev else { return Vec::new() };
        match &ev.kind {
            EventKind::Preempt { regs, .. } => {
                points.insert(regs.rip);
            }
            EventKind::Signal {
                point: trace_format::DeliveryPoint::Fault,
                siginfo,
                ..
            } if siginfo.addr() >= probelog::NULL_GUARD => faults = true,
            _ => {}
        }
    }
    let cannot_fault = |i: &iced_x86::Instruction| {
        (0..i.op_count()).all(|n| {
            i.op_kind(n) != iced_x86::OpKind::Memory
                || (matches!(
                    i.memory_base(),
                    iced_x86::Register::R14 | iced_x86::Register::RSP
                ) && i.memory_index() == iced_x86::Register::None)
        })
    };
    let Ok(mem) = session.mem(session.main_pid()) else {
        return Vec::new();
    };
    let map = crate::tracee::codemap::CodeMap::load(mem.pid());
    let mut probes = Vec::new();
    let mut observed = Vec::new();
    for &(addr, site) in sites {
        let at = match site {
            Site::Casgstatus => ProbeAt::Casgstatus,
            Site::Ready => ProbeAt::Ready,
            Site::Lock => ProbeAt::LockAtomic,
            // Without pollDesc's layout, the breakpoint reads nothing either.
            Site::NetpollReady if layout.poll_desc.is_some() => ProbeAt::NetpollReady,
            Site::NetpollReady | Site::Signal(_) => continue,
        };
        let Some(patch) = map.site(mem, addr) else {
            continue;
        };
        // (Nor in code the program still reads as data: Go's FIPS
        // self-check hashes its module's code.)
        if faults && !patch.replaced().all(cannot_fault) {
            continue;
        }
        let span = patch.resume_at() - patch.addr;
        if points
            .iter()
            .any(|p| (patch.addr..patch.resume_at()).contains(p))
            || map.read_as_data(mem, patch.addr, span)
        {
            continue;
        }
        probes.push(probelog::Probe {
            site: patch,
            ops: crate::goruntime::probes::ops(&layout, at),
        });
        observed.push((addr, site));
    }
    match session.place_probes(&probes) {
        Ok(placed) => {
            tracing::debug!(
                placed = placed.iter().filter(|p| **p).count(),
                of = probes.len(),
                "index probes"
            );
            // Records name probes by their index in `probes`.
            placed
                .iter()
                .zip(observed)
                .map(|(ok, o)| ok.then_some(o))
                .collect()
        }
        Err(e) => {
            tracing::debug!("no index probes: {e:#}");
            Vec::new()
        }
    }
}

/// The index pass's state between stops.
struct Pass<'a> {
    bin: &'a GoBinary,
    main: RecTid,
    idx: GoIndex,
    /// Each goroutine's last noted state.
    last: AddrMap<u64, String>,
    /// Each thread's last syscall exit, and the event each goroutine was
    /// last noted entering a syscall: a goroutine whose thread left a
    /// syscall since is in a new one, even at the same place (os/signal's
    /// loop between two signals).
    thread_exits: AddrMap<i32, u64>,
    syscall_noted: AddrMap<u64, u64>,
    /// Each goroutine's place at its last noted state (`Places`).
    places: Places,
    /// What readied each goroutine whose `runnable` is not noted yet.
    wakers: AddrMap<u64, Waker>,
    locks: Locks,
    mutex_sites: MutexSites,
    clock: ProgramClock,
}

impl Pass<'_> {
    /// A visit of `site` by thread `tid` before `event`, with `regs` and
    /// `mem` as they were then (a breakpoint stop, or a probe's record).
    fn visit(
        &mut self,
        r: Option<&GoReader>,
        site: Site,
        regs: &trace_format::Regs,
        mem: &dyn MemRead,
        tid: RecTid,
        event: u64,
    ) {
        if let Site::Signal(f) = site {
            self.idx.signal_steps.push(SignalStep {
                event,
                time_ns: self.clock.monotonic(tid),
                signo: regs.rax as u32 as i32,
                thread: tid.0,
                function: f.to_string(),
            });
            return;
        }
        let Some(r) = r else { return };
        match site {
            Site::NetpollReady => {
                for (fd, g, what) in r.poll_ready(mem, regs.rbx, regs.rcx as u32) {
                    if let Ok(g) = r.read_g(mem, g) {
                        self.wakers.insert(g.goid, poller(fd, what));
                    }
                }
            }
            Site::Ready => {
                if let Ok(g) = r.read_g(mem, regs.rax) {
                    self.wakers.insert(g.goid, waker(self.bin, r, mem, regs));
                }
            }
            Site::Lock => {
                let at = (event, self.clock.monotonic(tid));
                let sites = &self.mutex_sites;
                self.locks
                    .at_site(&mut self.idx, self.bin, r, mem, sites, regs, at);
            }
            Site::Casgstatus => self.casgstatus(r, regs, mem, tid, event),
            Site::Signal(_) => {}
        }
    }

    /// casgstatus(gp *g, oldval, newval uint32): RAX, RBX, RCX at entry.
    fn casgstatus(
        &mut self,
        r: &GoReader,
        regs: &trace_format::Regs,
        mem: &dyn MemRead,
        tid: RecTid,
        event: u64,
    ) {
        let Ok(g) = r.read_g(mem, regs.rax) else {
            return;
        };
        let new = crate::goruntime::status_name(regs.rcx as u32);
        let state = match new {
            "waiting" => g
                .wait_reason
                .clone()
                .or_else(|| r.wait_reason_of(mem, regs.rax))
                .map(|w| format!("waiting: {w}"))
                .unwrap_or_else(|| "waiting".into()),
            other => other.to_string(),
        };
        let thread = (new == "running").then_some(tid.0);
        let now = self.clock.monotonic(self.main);
        // The g this thread runs on its own stack (leaving a syscall): its
        // frames start from the live registers.
        let tls_g = regs.fs_base.checked_sub(8).map(RemoteAddr);
        let live = tls_g
            .and_then(|a| mem.read_u64(a).ok())
            .filter(|&on| on == regs.rax)
            .map(|_| regs);
        let lock_wait = LockKind::of_state(&state);
        let readied = new == "runnable";
        let (bin, goid) = (self.bin, g.goid);
        if note(
            &mut self.idx,
            (&mut self.last, &mut self.syscall_noted),
            (&mut self.places, true),
            bin,
            r,
            mem,
            &g,
            (state, false),
            thread,
            live,
            event,
            now,
        ) {
            if let Some(kind) = lock_wait {
                self.locks
                    .parked(&mut self.idx, bin, goid, kind, event, now);
            }
            if readied {
                self.locks.woken(&self.idx, goid);
                if let Some(t) = self.idx.transitions.last_mut() {
                    t.woken_by = self.wakers.remove(&goid);
                }
            }
        }
    }
}

/// What the index pass is doing between two `Spent::charge` calls.
#[derive(Clone, Copy)]
enum Phase {
    Replay,
    Stop,
    Settle,
    Scan,
}

/// The index pass's time by phase (debug log only).
struct Spent {
    since: std::time::Instant,
    replay: std::time::Duration,
    stops: std::time::Duration,
    settles: std::time::Duration,
    scans: std::time::Duration,
}

impl Default for Spent {
    fn default() -> Spent {
        Spent {
            since: std::time::Instant::now(),
            replay: Default::default(),
            stops: Default::default(),
            settles: Default::default(),
            scans: Default::default(),
        }
    }
}

impl Spent {
    /// Counts the time since the last charge as `phase`'s.
    fn charge(&mut self, phase: Phase) {
        let now = std::time::Instant::now();
        let d = now - self.since;
        self.since = now;
        *match phase {
            Phase::Replay => &mut self.replay,
            Phase::Stop => &mut self.stops,
            Phase::Settle => &mut self.settles,
            Phase::Scan => &mut self.scans,
        } += d;
    }
}

/// The functions timers run that wake goroutines: a sleep's deadline
/// (`time.Sleep`), a send on a timer's channel (`time.After`, `NewTimer`,
/// `Tick`), an `AfterFunc` starting its goroutine.
pub const TIMER_FUNCTIONS: &[&str] = &["runtime.goroutineReady", "time.sendTime", "time.goFunc"];

/// Who is calling `runtime.ready` on a thread stopped at its entry: the
/// goroutine the thread serves (on g0 inside `systemstack`: m.curg) and its
/// innermost frame outside the runtime; else the runtime function that
/// called it (a timer firing, the scheduler).
fn waker(
    bin: &GoBinary,
    r: &GoReader,
    mem: &dyn crate::tracee::mem::MemRead,
    regs: &trace_format::Regs,
) -> Waker {
    let Some(g) = r.on_thread(mem, regs.fs_base) else {
        let frames = stack::walk(bin, mem, regs.rip, regs.rbp, true, 16);
        // A timer firing is named by its function (a sleep's, or one that
        // sends on a channel), not the channel code it runs.
        let timer = frames
            .iter()
            .find(|f| TIMER_FUNCTIONS.contains(&f.function.as_str()));
        let (function, location) = place(timer.or_else(|| {
            frames.iter().find(|f| {
                !matches!(
                    f.function.as_str(),
                    "runtime.ready"
                        | "runtime.goready"
                        | "runtime.goready.func1"
                        | "_.goready.func1"
                        | "runtime.systemstack"
                )
            })
        }));
        return Waker {
            goid: None,
            function,
            location,
            io: None,
        };
    };
    let (function, location) = program_caller(bin, mem, &g, regs);
    Waker {
        goid: Some(g.goid),
        function,
        location,
        io: None,
    }
}

/// The network poller waking a goroutine: `fd` became ready for `what`.
fn poller(fd: i32, what: &str) -> Waker {
    Waker {
        goid: None,
        function: Some("runtime.netpoll".into()),
        location: None,
        io: Some(IoReady {
            fd,
            ready_for: what.into(),
        }),
    }
}

/// A frame's function and "file:line".
fn place(f: Option<&stack::Frame>) -> (Option<String>, Option<String>) {
    (
        f.map(|f| f.function.clone()),
        f.map(|f| format!("{}:{}", f.file, f.line)),
    )
}

/// Where the running goroutine `g` woke another: the innermost frame of
/// the program's own code (the `cancel()` that ended a `ctx.Done()` wait,
/// not the context package's line that closed the channel), else its
/// innermost frame outside sync and the runtime.
fn program_caller(
    bin: &GoBinary,
    mem: &dyn crate::tracee::mem::MemRead,
    g: &crate::goruntime::Goroutine,
    regs: &trace_format::Regs,
) -> (Option<String>, Option<String>) {
    let rank = |f: &str| match (bin.is_own_code(f), locks::is_lock_machinery(f)) {
        (true, _) => 2,
        (false, false) => 1,
        (false, true) => 0,
    };
    place(stack::goroutine_frame_ranked(bin, mem, g, Some(regs), &rank).as_ref())
}

/// Records goroutine `g` entering `state` at `event`, unless that is the
/// state it was last seen in; its first sighting is its creation. True if
/// it recorded a transition. `state.1`: its thread left a syscall since
/// it was last noted in one (a syscall state is then a new one);
/// `syscall_noted` keeps when each was.
#[allow(clippy::too_many_arguments)]
fn note(
    idx: &mut GoIndex,
    (last, syscall_noted): (&mut AddrMap<u64, String>, &mut AddrMap<u64, u64>),
    (places, every_change_seen): (&mut Places, bool),
    bin: &GoBinary,
    r: &GoReader,
    mem: &dyn crate::tracee::mem::MemRead,
    g: &crate::goruntime::Goroutine,
    (state, new_syscall): (String, bool),
    thread: Option<i32>,
    regs: Option<&trace_format::Regs>,
    event: u64,
    clock: Option<u64>,
) -> bool {
    // A stack being copied (growth) is not a state anyone waits on.
    if g.goid == 0 || state == "copystack" {
        return false;
    }
    let prev = last.get(&g.goid);
    if prev == Some(&state) || (prev.is_none() && state == "dead") {
        return false;
    }
    // A goroutine seen in a syscall again may be in another one: Go 1.26+
    // enters and leaves syscalls with bare status stores, so no event need
    // fall between a short call and the next (a write, then a blocking
    // read); a new place means it left the first and ran.
    let prev_syscall = prev.and_then(|p| p.strip_prefix(SYSCALL_AT));
    if prev.is_none() {
        let by = stack::created_by(bin, g.gopc)
            .map(|c| format!("{} at {}:{}", c.function, c.file, c.line))
            .unwrap_or_default();
        idx.created.push(Created {
            goid: g.goid,
            entry: stack::start_function(bin, g.startpc).unwrap_or_default(),
            event,
            parent: g.parent_goid,
            by,
            system: g.system,
        });
    }
    // (A coroutine's wait ends with a bare store: `coroswitch`.)
    let reusable = every_change_seen
        && prev.is_some_and(|p| {
            p == "runnable" || (p.starts_with("waiting") && p != "waiting: coroutine")
        });
    let known = places.at(g.goid).filter(|_| reusable && state != "dead");
    let (function, location) = match known {
        Some(known) => known,
        None if state == "dead" => (None, None),
        None => {
            // As `user_frame` picks from the frames.
            let frame =
                stack::goroutine_frame_ranked(bin, mem, g, regs, &|f| stack::user_rank(bin, f));
            let named = place(frame.as_ref());
            places.keep(g.goid, &named);
            named
        }
    };
    if state == "dead" {
        places.drop(g.goid);
    }
    if state == "syscall" {
        let at = location.clone().unwrap_or_default();
        if let Some(before) = prev_syscall {
            if before == at && !new_syscall {
                return false;
            }
            idx.transitions.push(Transition {
                event,
                time_ns: clock,
                goid: g.goid,
                state: "running".into(),
                thread,
                function: function.clone(),
                location: location.clone(),
                woken_by: None,
                until_ns: None,
            });
        }
        last.insert(g.goid, format!("{SYSCALL_AT}{at}"));
        syscall_noted.insert(g.goid, event);
    } else {
        last.insert(g.goid, state.clone());
    }
    idx.transitions.push(Transition {
        event,
        time_ns: clock,
        goid: g.goid,
        state: state.clone(),
        thread,
        function,
        location,
        woken_by: None,
        until_ns: (state == "waiting: sleep")
            .then(|| r.sleep_deadline(mem, g.addr))
            .flatten(),
    });
    true
}

/// Each goroutine's place (function, file:line) at its last noted state.
/// Why: a goroutine's stack does not change while it waits or waits to
/// run, and the runtime leaves those states only through `casgstatus`:
/// when every call of it is seen (no probe record dropped), a goroutine
/// noted waiting or runnable is where it was then when it is readied or
/// runs — its walk and naming (most of a visit's cost; httpserver -load
/// 2000 has ~50,000 transitions) need not be done again. Not for a
/// syscall (Go 1.26+ leaves it with a bare status store) nor a coroutine's
/// wait (`coroswitch`: see `GoReader::changes_only_by_casgstatus`).
#[derive(Default)]
struct Places(AddrMap<u64, (Option<String>, Option<String>)>);

impl Places {
    fn at(&self, goid: u64) -> Option<(Option<String>, Option<String>)> {
        self.0.get(&goid).cloned()
    }

    fn keep(&mut self, goid: u64, place: &(Option<String>, Option<String>)) {
        self.0.insert(goid, place.clone());
    }

    fn drop(&mut self, goid: u64) {
        self.0.remove(&goid);
    }

    /// Changes were missed: every place is walked again.
    fn forget(&mut self) {
        self.0.clear();
    }
}

/// How `note` remembers a syscall state: with its place.
const SYSCALL_AT: &str = "syscall at ";

/// Lock holders as the index pass goes (see `goruntime::locks`).
#[derive(Default)]
struct Locks {
    /// Lock (a mutex's state word, a RWMutex) → the acquisition that holds
    /// it now (a RWMutex: its writer's, pending or holding).
    holders: AddrMap<u64, Unnamed>,
    /// RWMutex → its readers now, oldest first; `true`: queued behind a
    /// writer (they hold once it unlocks).
    readers: AddrMap<u64, Vec<(Unnamed, bool)>>,
    /// Goroutine → the lock its latest lock atomic was on: the one it
    /// parks for when it next waits in Lock or RLock.
    touched: AddrMap<u64, u64>,
    /// Lock waits not over (indexes in `lock_waits`): their waiters are not
    /// readied yet, so unlocks and acquisitions meanwhile are theirs.
    open: Vec<usize>,
}

/// A lock step as the visit saw it: its frames' pcs, named (a stack walk
/// through the binary's line tables) only if a waiter needs it. Most
/// acquisitions are never waited for: httpserver -load 2000 has ~50,000.
#[derive(Debug, Clone)]
struct Unnamed {
    goid: u64,
    event: u64,
    time_ns: Option<u64>,
    pcs: Vec<u64>,
    /// A reader queued behind a writer: the writer's unlock that gave it
    /// the lock.
    got: Option<Box<Unnamed>>,
}

impl Unnamed {
    /// Where the program called into sync or the runtime: the innermost
    /// frame outside them.
    fn named(&self, bin: &GoBinary) -> LockStep {
        let outside = |f: &str| u8::from(!locks::is_lock_machinery(f)) * 2;
        let (function, location) = place(stack::ranked_in_chain(bin, &self.pcs, &outside).as_ref());
        LockStep {
            goid: self.goid,
            event: self.event,
            time_ns: self.time_ns,
            function,
            location,
        }
    }
}

/// Frames a lock step keeps (as many as a probe's chain captures).
const STEP_FRAMES: usize = 32;

impl Locks {
    /// A thread stopped at one of the locks' atomics.
    #[allow(clippy::too_many_arguments)]
    fn at_site(
        &mut self,
        idx: &mut GoIndex,
        bin: &GoBinary,
        r: &GoReader,
        mem: &dyn crate::tracee::mem::MemRead,
        sites: &MutexSites,
        regs: &trace_format::Regs,
        (event, time_ns): (u64, Option<u64>),
    ) {
        let Some((lock, effect)) = sites.effect(regs.rip, regs, mem) else {
            return;
        };
        let Some(goid) = r.goid_on_thread(mem, regs.fs_base) else {
            return;
        };
        self.touched.insert(goid, lock);
        tracing::trace!(
            event,
            goid,
            pc = format_args!("{:#x}", regs.rip),
            "{effect:?} lock {lock:#x}"
        );
        if effect == LockEffect::Touch {
            return;
        }
        // Where the program locked or unlocked: a stack walk, so only for
        // a step the index keeps — every acquisition (a later waiter's
        // holder), a release only when a waiter is let go by it.
        // (The locks' code runs on the goroutine's own stack: its frames
        // are the thread's.)
        let step = || Unnamed {
            goid,
            event,
            time_ns,
            pcs: stack::raw_chain(mem, (regs.rip, regs.rbp), STEP_FRAMES),
            got: None,
        };
        let open = &self.open;
        let pending = |idx: &GoIndex, kind: LockKind| {
            open.iter()
                .map(|&i| &idx.lock_waits[i])
                .any(|w| w.mutex == lock && w.kind == kind)
        };
        // The latest release while a waiter waits is the one that let it in.
        let let_go = |idx: &mut GoIndex, kind: LockKind, step: &LockStep| {
            for &i in open {
                let w = &mut idx.lock_waits[i];
                if w.mutex == lock && w.kind == kind {
                    w.released = Some(step.clone());
                }
            }
        };
        match effect {
            LockEffect::Acquire => {
                let mine = step();
                // A mutex taken over while others wait: it held them up too.
                if pending(idx, LockKind::Mutex) {
                    let named = mine.named(bin);
                    for &i in open {
                        let w = &mut idx.lock_waits[i];
                        if w.mutex == lock && w.kind == LockKind::Mutex && w.waiter != goid {
                            w.later_holders.push(named.clone());
                        }
                    }
                }
                self.holders.insert(lock, mine);
            }
            LockEffect::Release => {
                self.holders.remove(&lock);
                // A writer leaving lets its queued readers in.
                let mut released = None;
                for (r, queued) in self.readers.entry(lock).or_default() {
                    if *queued {
                        *queued = false;
                        let by = released.get_or_insert_with(|| Box::new(step()));
                        r.got = Some(by.clone());
                    }
                }
                if pending(idx, LockKind::Mutex) || pending(idx, LockKind::RwmutexRead) {
                    let step = step().named(bin);
                    let_go(idx, LockKind::Mutex, &step);
                    let_go(idx, LockKind::RwmutexRead, &step);
                }
            }
            LockEffect::ReadAcquire { queued } => {
                self.readers.entry(lock).or_default().push((step(), queued));
            }
            LockEffect::ReadRelease => {
                let readers = self.readers.entry(lock).or_default();
                let mine = readers
                    .iter()
                    .position(|(r, _)| r.goid == goid)
                    .map(|i| readers.remove(i).0);
                if readers.iter().all(|(_, queued)| *queued) && pending(idx, LockKind::RwmutexWrite)
                {
                    let step = step().named(bin);
                    let mut writers = Vec::new();
                    for &i in open {
                        let w = &mut idx.lock_waits[i];
                        if w.mutex == lock && w.kind == LockKind::RwmutexWrite {
                            last_reader_holds(w, goid, mine.as_ref(), bin);
                            writers.push(w.waiter);
                        }
                    }
                    let_go(idx, LockKind::RwmutexWrite, &step);
                    // Readers queued behind those writers: the writer
                    // holds the lock only from now.
                    for &i in open {
                        let w = &mut idx.lock_waits[i];
                        if w.mutex == lock
                            && w.kind == LockKind::RwmutexRead
                            && w.holder.as_ref().is_some_and(|h| writers.contains(&h.goid))
                        {
                            w.holder_got = Some(step.clone());
                        }
                    }
                }
            }
            LockEffect::Touch => {}
        }
    }

    /// Goroutine `goid` parked in a lock wait of `kind`.
    fn parked(
        &mut self,
        idx: &mut GoIndex,
        bin: &GoBinary,
        goid: u64,
        kind: LockKind,
        event: u64,
        time_ns: Option<u64>,
    ) {
        let Some(&mutex) = self.touched.get(&goid) else {
            return;
        };
        let mutex_name = bin.data_symbol_at(mutex).map(|(name, off)| match off {
            0 => name.to_string(),
            off => format!("{name}+{off:#x}"),
        });
        let (mut holder_got, mut holding) = (None, Vec::new());
        let (holder, other_holders) = match kind {
            LockKind::RwmutexWrite => {
                for (r, queued) in self.readers.get(&mutex).into_iter().flatten() {
                    // A goroutine read-locking it twice is one holder.
                    if !queued && r.goid != goid && !holding.contains(&r.goid) {
                        holding.push(r.goid);
                        if holding.len() == 1 {
                            holder_got = r.got.as_ref().map(|g| g.named(bin));
                        }
                    }
                }
                let readers = self.readers.get(&mutex).into_iter().flatten();
                let mut steps = holding.iter().filter_map(|g| {
                    readers
                        .clone()
                        .find(|(r, queued)| !queued && r.goid == *g)
                        .map(|(r, _)| r.named(bin))
                });
                (steps.next(), steps.collect())
            }
            _ => (self.holders.get(&mutex).map(|h| h.named(bin)), Vec::new()),
        };
        self.open.push(idx.lock_waits.len());
        idx.lock_waits.push(LockWait {
            waiter: goid,
            kind,
            event,
            time_ns,
            mutex,
            mutex_name,
            holder,
            other_holders,
            holder_got,
            later_holders: Vec::new(),
            released: None,
        });
    }

    /// Goroutine `goid` was readied: its lock waits are over.
    fn woken(&mut self, idx: &GoIndex, goid: u64) {
        self.open.retain(|&i| idx.lock_waits[i].waiter != goid);
    }
}

/// A writer waiting for readers was held up by the last of them to leave,
/// goroutine `last` (its acquisition `acquired`, if seen): that one is the
/// holder it names (with when it got the lock, if it queued for it); the
/// others, the readers it also waited for.
fn last_reader_holds(w: &mut LockWait, last: u64, acquired: Option<&Unnamed>, bin: &GoBinary) {
    if w.holder.as_ref().is_some_and(|h| h.goid == last) {
        return;
    }
    let found = w.other_holders.iter().position(|o| o.goid == last);
    let new = match found {
        Some(i) => Some(w.other_holders.remove(i)),
        None => acquired.map(|a| a.named(bin)),
    };
    let Some(new) = new else {
        return;
    };
    w.holder_got = acquired.and_then(|a| a.got.as_ref()).map(|g| g.named(bin));
    if let Some(old) = w.holder.replace(new) {
        w.other_holders.insert(0, old);
    }
}
