//! The recording session: spawn, the stop loop, and the end of the recording.

use std::ffi::{CString, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use trace_format::{
    EventKind, ExitStatus, Header, HostInfo, RecTid, TraceSummary, TraceWriter, WriterOptions,
};

use super::clock::Stepped;
use super::redact::Redactor;
use super::snapshot::PageHashes;
use super::threads::{InSyscall, Process, State, Threads};
use crate::tracee::wait::{self, Stop, Waited};
use crate::tracee::{auxv, mem::ProcMem, ptrace, spawn, Tid};

pub struct RecordOptions {
    /// The program as the user named it, resolved to a path.
    pub program: PathBuf,
    /// argv, with argv[0] as the user typed it.
    pub argv: Vec<OsString>,
    pub trace_dir: PathBuf,
    /// Signal mask rrgo started with (the program gets it back).
    pub sigmask: u64,
    /// Environment variables whose values the trace must not hold
    /// (`--redact-env`: names, or prefixes ending in `*`).
    pub redact_env: Vec<String>,
    /// Where copies of the program and its libraries are shared with the
    /// trace root's other traces (`trace_format::copycache`), if anywhere.
    pub copy_cache: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RecordStats {
    pub syscalls: u64,
    pub signals: u64,
    pub preemptions: u64,
    pub preempt_bytes: u64,
    /// Preemptions recorded with memory to compare (no contents to write).
    pub preempt_hashed: u64,
    /// Preemptions at a thread's first arrival after its last event (stepped
    /// there: nothing to compare).
    pub preempt_first_visits: u64,
    /// Signals delivered by a step into their handler (frame normalized).
    pub handler_entries: u64,
    /// Preemption points that were at a `rep` string instruction, run to its end.
    pub rep_strings_finished: u64,
    /// Looks at a running thread while another waited (`spin.rs`).
    pub spin_looks: u64,
    /// Of them, those that found it spinning and preempted it.
    pub spin_preemptions: u64,
    pub rdtsc: u64,
    /// RDRAND/RDSEED instructions emulated.
    pub rdrand: u64,
    pub threads: u64,
    pub processes: u64,
    /// Syscalls answered at their seccomp stop (one ptrace stop, not two).
    pub answered_at_entry: u64,
    /// Clock reads answered inside the program by the clock page (no stop).
    pub clock_reads: u64,
    /// Stops inside the clock page's code that were stepped out of first.
    pub clock_steps_out: u64,
    /// Syscalls made through rrgo's page without a stop (Go's Syscall6).
    pub buffered_calls: u64,
    /// Page runs of shared file mappings that a syscall changed.
    pub shared_map_updates: u64,
    /// Futex wakes at whose exit the CPU went to the woken thread (`handoff.rs`).
    pub handoffs: u64,
    /// Brief calls (`Blocking::brief`) that did not return within the
    /// grace and slept in the kernel.
    pub brief_calls_slept: u64,
}

pub struct RecordOutcome {
    pub exit: ExitStatus,
    pub summary: TraceSummary,
    pub stats: RecordStats,
    pub wall: Duration,
    /// Variables whose values were replaced by placeholders in the trace.
    pub redacted: Vec<String>,
    /// `--redact-env` patterns that matched no variable.
    pub redact_unmatched: Vec<String>,
}

/// How long the running thread may go without any stop before it is
/// interrupted at an arbitrary instruction (a costly `Preempt`).
fn preempt_after() -> Duration {
    Duration::from_millis(env_ms("RRGO_PREEMPT_MS", 50))
}

/// How long a thread woken from a blocking syscall waits at most for the
/// running one to give up the CPU: adaptive (`wake.rs`) unless RRGO_WAKE_MS
/// gives milliseconds (at most RRGO_PREEMPT_MS). Adaptive was opt-in until
/// session 24: `crypto/tls`'s test binary failed to replay in 2–3 runs of
/// 4 with its short bounds — replay's search stub patched Go's FIPS module
/// code before the module's self-check hashed it (`goruntime::selfread`).
fn wake_after() -> super::wake::WakeWait {
    let max = preempt_after();
    let fixed = match std::env::var("RRGO_WAKE_MS").ok().as_deref() {
        None | Some("auto") => None,
        Some(v) => v.parse().ok().map(|ms| Duration::from_millis(ms).min(max)),
    };
    super::wake::WakeWait::new(fixed, max)
}

/// How long a thread keeps the CPU before rrgo switches at its next syscall stop.
fn slice() -> Duration {
    Duration::from_millis(env_ms("RRGO_SLICE_MS", 20))
}

/// Preemption points at a patch site are recorded by registers and memory
/// to compare (no contents to write), unless RRGO_PREEMPT_HASHES=0: then
/// the pages written since the previous point are recorded and written at
/// it (traces grow with the memory written; replay may jump). The default
/// since go vet and go build replay this way too (their divergence was
/// another process's stores into a shared counter file).
fn preempt_hashes() -> bool {
    !std::env::var("RRGO_PREEMPT_HASHES").is_ok_and(|v| v == "0")
}

/// The seccomp filter is on unless RRGO_SECCOMP=0.
fn seccomp_enabled() -> bool {
    std::env::var("RRGO_SECCOMP").map_or(true, |v| v != "0")
}

fn env_ms(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Identifies a file's contents cheaply: (dev, inode, mtime in ns, size).
pub(super) type FileKey = (u64, u64, i64, u64);

/// Puts an `int3` over each RDRAND/RDSEED of a file mapped executable at
/// [start, start+len) from file offset `offset` (`sites` are file offsets),
/// remembering the bytes replaced; returns the writes made, which replay
/// makes too. The trap lets the recorder supply (and record) the value.
pub(super) fn cover_rand_sites(
    mem: &ProcMem,
    sites: &[u64],
    start: u64,
    len: u64,
    offset: u64,
    covered: &mut std::collections::HashMap<u64, u8>,
) -> Vec<trace_format::MemWrite> {
    let mut out = Vec::new();
    for &site in sites {
        if site < offset || site >= offset + len {
            continue;
        }
        let addr = trace_format::RemoteAddr(start + (site - offset));
        let mut first = [0u8];
        if mem.read_exact(addr, &mut first).is_err() || mem.write(addr, &[0xcc]).is_err() {
            continue;
        }
        covered.insert(addr.0, first[0]);
        out.push(trace_format::MemWrite {
            addr,
            data: vec![0xcc],
        });
    }
    out
}

/// The `#!` script an exec path names (resolved in the process's cwd), if
/// it is one.
fn script_path(tgid: i32, exec_path: &[u8]) -> Option<PathBuf> {
    use std::io::Read;
    if exec_path.is_empty() {
        return None;
    }
    let p = Path::new(std::ffi::OsStr::from_bytes(exec_path));
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        PathBuf::from(format!("/proc/{tgid}/cwd")).join(p)
    };
    let mut head = [0u8; 2];
    std::fs::File::open(&full)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    (&head == b"#!").then_some(full)
}

/// The bytes from `rsp` to the top of the stack mapping holding it.
fn initial_stack(mem: &ProcMem, tgid: i32, rsp: u64) -> anyhow::Result<Vec<u8>> {
    let maps = crate::tracee::maps::read_maps(tgid)?;
    let top = maps
        .iter()
        .find(|r| r.start <= rsp && rsp < r.end)
        .map(|r| r.end)
        .ok_or_else(|| anyhow::anyhow!("no mapping holds the stack pointer {rsp:#x}"))?;
    Ok(mem.read(trace_format::RemoteAddr(rsp), (top - rsp) as usize)?)
}

/// Whether `path` names the file `f` is open on (device and inode).
fn same_file(f: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

fn file_key(path: &Path) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| {
            (
                m.dev(),
                m.ino(),
                m.mtime_nsec() + m.mtime() * 1_000_000_000,
                m.size(),
            )
        })
        .ok()
}

pub(super) struct Recorder {
    pub(super) writer: TraceWriter,
    pub(super) t: Threads,
    pub(super) stats: RecordStats,
    /// The first process: its exit status is the recording's.
    pub(super) main_tgid: i32,
    pub(super) main_exit: Option<ExitStatus>,
    /// The CPU mask the program would have had without pinning.
    pub(super) orig_affinity: Vec<u8>,
    /// (dev, ino) of rrgo's stdout and stderr, to tell which writes to replay as output.
    pub(super) std_streams: [Option<(u64, u64)>; 2],
    pub(super) warned: std::collections::HashSet<i64>,
    pub(super) warned_dirty: bool,
    /// Files already copied, by (dev, inode, mtime, size): libraries are mapped many times.
    pub(super) file_cache: std::collections::HashMap<FileKey, trace_format::FileId>,
    /// What was read from executables, by the same key.
    pub(super) exe_facts: std::collections::HashMap<FileKey, crate::elf::ExeFacts>,
    pub(super) announced: std::collections::HashSet<trace_format::FileId>,
    pub(super) slice: Duration,
    pub(super) preempt_after: Duration,
    pub(super) wake_after: super::wake::WakeWait,
    /// When the running thread is next looked at for a spin (`spin.rs`).
    pub(super) spin: super::spin::SpinWatch,
    /// Tracees run under the SECCOMP_RET_TRACE filter (see `resume`).
    pub(super) seccomp: bool,
    /// New programs get a patched vDSO and the clock page (`clock.rs`).
    pub(super) clock_pages: bool,
    pub(super) warned_vdso: bool,
    /// The thread that ran user code last: the clock reads in the page are its.
    pub(super) last_ran: Option<Tid>,
    /// The process of the thread that last ran user code
    /// (`shared_stores_of_others`).
    pub(super) last_tgid: Option<i32>,
    /// Processes whose shared file pages are still to be compared: a file
    /// changed while one of their threads ran user code (`refresh_shared_mappings`).
    pub(super) shared_pending: std::collections::BTreeMap<i32, super::shared::Files>,
    /// Per process, the files other processes could store into through a
    /// shared mapping while they ran since it last compared its pages
    /// (`shared_stores_of_others`); kept past a storer's exit.
    pub(super) shared_stale: std::collections::BTreeMap<i32, super::shared::Files>,
    /// `last_ran` ran user code since the page was last emptied (else there
    /// is nothing to read: the exit of a syscall follows its entry directly).
    pub(super) page_maybe_used: bool,
    /// Hides `--redact-env` values in what goes into the trace.
    pub(super) redact: Redactor,
}

pub fn record(opts: RecordOptions) -> anyhow::Result<RecordOutcome> {
    let started = Instant::now();
    let program = opts
        .program
        .canonicalize()
        .with_context(|| format!("cannot find {}", opts.program.display()))?;
    let (orig_affinity, cpu) = choose_cpu()?;

    let argv: Vec<Vec<u8>> = opts.argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            kv
        })
        .collect();
    // The program gets the real values, the trace placeholders (`redact.rs`).
    let mut redact = Redactor::new(&opts.redact_env);
    let trace_env = redact.environment(&env);
    let trace_argv = redact.strings(&argv);
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    // execve gets the path as a shell would pass it (the program can read it
    // through AT_EXECFN); the canonical path is only for rrgo's own use.
    let exe_path_bytes = opts.program.as_os_str().as_bytes().to_vec();

    // One read of the (often large) executable for everything rrgo needs to know.
    let facts = crate::elf::ExeFacts::read(&program);
    tracing::debug!(took = ?started.elapsed(), "read the executable");
    let go_version = facts.go_version.clone();
    let spec = spawn::SpawnSpec {
        path: cstring(&exe_path_bytes)?,
        argv: argv
            .iter()
            .map(|a| cstring(a))
            .collect::<anyhow::Result<_>>()?,
        env: env
            .iter()
            .map(|a| cstring(a))
            .collect::<anyhow::Result<_>>()?,
        cwd: None,
        cpu: Some(cpu),
        sigmask: opts.sigmask,
        ignored: crate::tracee::wait::original_ignored(),
        // Inherited from rrgo, and recorded below.
        rlimits: Vec::new(),
        seccomp: seccomp_enabled(),
        close_std: spawn::std_fds_closed_at_start(),
    };
    // Helper threads keep off the program's CPU.
    let others = other_cpus(&orig_affinity, cpu);
    {
        // Its symbols are what the first preemption needs first.
        let (program, others) = (program.clone(), others.clone());
        let _ = std::thread::Builder::new()
            .name("rrgo-codemap".into())
            .spawn(move || {
                pin_to(&others);
                crate::tracee::codemap::CodeMap::prefetch(&program);
            });
    }
    // The executable is copied into the trace while the program starts (a
    // 5.6 MB copy took 4 ms; a link from the copy cache, µs), from the file
    // opened now; the one the kernel
    // runs is checked to be that file once the program is stopped at its
    // exec, and copied again if it is not (replaced meanwhile).
    let mut prepared = TraceWriter::prepare(&opts.trace_dir)?;
    if let Some(dir) = &opts.copy_cache {
        prepared.files.share_copies(dir.clone());
    }
    let opened = match std::fs::File::open(&program) {
        Ok(f) => f,
        Err(e) => {
            prepared.abandon();
            return Err(
                anyhow::Error::from(e).context(format!("cannot read {}", program.display()))
            );
        }
    };
    let (spawned, copied) = std::thread::scope(|scope| {
        let files = &mut prepared.files;
        let (program, build_id) = (&program, facts.build_id.clone());
        let from = PathBuf::from(format!("/proc/self/fd/{}", opened.as_raw_fd()));
        let others = &others;
        let copy = scope.spawn(move || {
            // Not next to the program, whose start it would slow down.
            pin_to(others);
            files.store_from(program, &from, build_id)
        });
        let spawned = spawn::spawn(&spec);
        tracing::debug!(took = ?started.elapsed(), "program started");
        let copied = copy.join().unwrap_or_else(|_| {
            Err(trace_format::TraceError::WriterFailed(
                "copy panicked".into(),
            ))
        });
        (spawned, copied)
    });
    tracing::debug!(took = ?started.elapsed(), "program started, executable copied");
    let tid = match spawned {
        Ok(tid) => tid,
        Err(e) => {
            prepared.abandon();
            return Err(e.into());
        }
    };
    // The header carries AT_RANDOM, so it is written once the program is
    // stopped at its exec (on_exec reads the same bytes again).
    let auxv_random = ProcMem::open(tid.0)
        .and_then(|mem| auxv::fix_at_exec(&mem, ptrace::get_regs(tid)?.rsp, false))
        .map(|a| a.random);
    let running = PathBuf::from(format!("/proc/{}/exe", tid.0));
    let exe = copied.map_err(anyhow::Error::from).and_then(|exe| {
        if same_file(&opened, &running) {
            Ok(exe)
        } else {
            tracing::debug!("the executable was replaced while the program started");
            Ok(prepared
                .files
                .store_from(&program, &running, facts.build_id.clone())?)
        }
    });
    let exe_id = exe.as_ref().ok().map(|e| e.id);
    let writer = exe.and_then(|exe| {
        let auxv_random = auxv_random?;
        Ok(Header {
            rrgo_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            argv: trace_argv,
            env: trace_env,
            cwd: cwd.as_os_str().as_bytes().to_vec(),
            exe,
            go_version,
            auxv_random,
            host: HostInfo {
                pinned_cpu: cpu as u32,
                ncpus: count_cpus(&orig_affinity),
                ..host_info()
            },
            initial_signals: trace_format::InitialSignals {
                blocked: opts.sigmask,
                ignored: spec.ignored,
            },
            initial_rlimits: spawn::shaping_rlimits(),
        })
    });
    let writer = match writer {
        Ok(header) => prepared
            .start(&header, WriterOptions::default())
            .map_err(anyhow::Error::from),
        Err(e) => {
            prepared.abandon();
            Err(e)
        }
    };
    // Pinned only now: the trace writer's thread (compression, I/O), started
    // above, keeps the other CPUs instead of taking turns with the program.
    pin_self(cpu);
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            // SAFETY: killing our own stopped child.
            unsafe { libc::kill(tid.0, libc::SIGKILL) };
            return Err(e);
        }
    };
    let mut rec = Recorder {
        writer,
        t: Threads::default(),
        stats: RecordStats::default(),
        main_tgid: tid.0,
        main_exit: None,
        orig_affinity,
        // One rrgo was started without is no stream of its (the /dev/null
        // in its place is Rust's, and Go's runtime opens one too).
        std_streams: [1, 2].map(|fd| stat_fd(fd).filter(|_| spec.close_std & (1 << fd) == 0)),
        warned: Default::default(),
        warned_dirty: false,
        file_cache: Default::default(),
        exe_facts: Default::default(),
        announced: Default::default(),
        slice: slice(),
        preempt_after: preempt_after(),
        wake_after: wake_after(),
        spin: super::spin::SpinWatch::from_env(),
        seccomp: spec.seccomp,
        // The page's clock reads run without a stop only under the filter.
        clock_pages: spec.seccomp && super::clock::patch_wanted(),
        warned_vdso: false,
        last_ran: None,
        last_tgid: None,
        shared_pending: Default::default(),
        shared_stale: Default::default(),
        page_maybe_used: false,
        redact,
    };
    if let Some(key) = file_key(&program) {
        // on_exec finds the program already stored and read.
        if let Some(id) = exe_id {
            rec.file_cache.insert(key, id);
        }
        rec.exe_facts.insert(key, facts);
    }
    rec.t.add(tid, tid.0, State::Stopped);
    rec.stats.threads += 1;
    rec.stats.processes += 1;
    rec.on_exec(tid, Some(exe_path_bytes))?;
    if let Some(th) = rec.t.get(tid) {
        // We attached before execve but asked for no syscall stops, so the
        // execve's exit stop is the first one we see.
        th.syscall = Some(InSyscall {
            nr: libc::SYS_execve,
            args: [0; 6],
            spec: None,
            lens: Default::default(),
            refused: None,
            exec_path: None,
            initial_exec: true,
            spliced: None,
        });
    }
    let result = rec.run();
    if let Err(e) = result {
        // Leave a readable prefix: drop the writer without an index.
        kill_all(&rec.t);
        drop(rec.writer);
        return Err(e);
    }
    let exit = rec.main_exit.unwrap_or(ExitStatus::Code(0));
    tracing::debug!(took = ?started.elapsed(), "the program exited");
    let summary = rec.writer.finish()?;
    tracing::debug!(took = ?started.elapsed(), "the trace is complete");
    Ok(RecordOutcome {
        exit,
        summary,
        stats: rec.stats,
        wall: started.elapsed(),
        redacted: rec.redact.names(),
        redact_unmatched: rec.redact.unmatched(),
    })
}

/// Whether an error comes from a ptrace request about a thread that is gone.
fn vanished(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::ESRCH))
    })
}

/// Whether the thread still answers ptrace requests (it is in a stop).
fn is_stopped_alive(tid: Tid) -> bool {
    ptrace::get_regs(tid).is_ok()
}

/// Whether process `tgid` is being killed: gone, a zombie, or with SIGKILL
/// pending in one of its threads. A thread rrgo holds in a stop answers
/// ptrace until it is let go even with SIGKILL pending, so an ESRCH about
/// a sibling already on its way out must not fail the recording (a SIGKILL
/// from outside failed 1 in ~20 recordings of tests/deaths.rs that way).
fn being_killed(tgid: i32) -> bool {
    const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{tgid}/task")) else {
        return true;
    };
    tasks.flatten().any(|t| {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            return true;
        };
        status.lines().any(|l| match l.split_once(':') {
            Some(("State", v)) => matches!(v.trim().chars().next(), Some('Z' | 'X')),
            Some(("SigPnd" | "ShdPnd", v)) => {
                u64::from_str_radix(v.trim(), 16).is_ok_and(|m| m & SIGKILL_BIT != 0)
            }
            _ => false,
        })
    })
}

fn kill_all(t: &Threads) {
    for tgid in t.procs.keys() {
        // SAFETY: killing our own tracees.
        unsafe { libc::kill(*tgid, libc::SIGKILL) };
    }
}

impl Recorder {
    fn run(&mut self) -> anyhow::Result<()> {
        while !self.t.threads.is_empty() {
            if self.t.running.is_none() {
                self.schedule()?;
            }
            // A thread waiting for the CPU gets it within `preempt_after`,
            // within `wake_after` if it was woken (the program sees more
            // CPUs than the one its threads take turns on: a goroutine
            // spinning until the thread it woke has done its work must not
            // hold that thread up for a whole slice).
            let preempt_at = match (self.t.running, self.t.slice_start) {
                (Some(tid), Some(start)) => {
                    self.t
                        .turn_due(tid, start, &self.wake_after, self.preempt_after)
                }
                _ => None,
            };
            // Before that, it is looked at for a spin while others wait.
            let look_at = match self.t.running {
                Some(tid) => self
                    .t
                    .waiting_since(tid)
                    .and_then(|since| self.spin.due(since))
                    .filter(|&at| preempt_at.is_some_and(|p| at < p)),
                None => None,
            };
            // Events held back in the writer's batch are handed over while
            // the program is quiet, so a SIGKILL loses little.
            let flush_at = self.writer.batch_deadline();
            let deadline = [preempt_at, look_at, flush_at].into_iter().flatten().min();
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match wait::wait_any(timeout).context("waiting for the program")? {
                Some(w) => self.handle_or_vanished(w)?,
                None => {
                    let now = Instant::now();
                    if flush_at.is_some_and(|d| now >= d) {
                        self.writer.flush_batch()?;
                    }
                    if preempt_at.is_some_and(|d| now >= d) {
                        self.preempt_running()?;
                    } else if let (Some(at), Some(tid)) = (look_at, self.t.running) {
                        if now >= at {
                            self.look_for_spin(tid)?;
                        }
                    }
                }
            }
            self.forward_signal();
        }
        Ok(())
    }

    /// Passes a signal rrgo received (SIGTERM, SIGHUP, SIGINT) on to the program.
    pub(super) fn forward_signal(&self) {
        let sig = wait::take_forwarded();
        if sig != 0 {
            tracing::debug!(sig, "passing a signal rrgo received on to the program");
            // SAFETY: sending a signal to our own tracee.
            unsafe { libc::kill(self.main_tgid, sig) };
        }
    }

    /// Handles a stop; a thread killed meanwhile (SIGKILL from outside
    /// wakes it from its stop, so ptrace requests about it fail with ESRCH)
    /// is left to report its death, which comes next.
    pub(super) fn handle_or_vanished(&mut self, w: Waited) -> anyhow::Result<()> {
        match self.handle(w) {
            Err(e)
                if vanished(&e)
                    && (!is_stopped_alive(w.tid)
                        || being_killed(self.t.get(w.tid).map_or(w.tid.0, |t| t.tgid))) =>
            {
                tracing::debug!(tid = w.tid.0, "thread killed while its stop was handled");
                if let Some(th) = self.t.get(w.tid) {
                    th.state = State::Exiting;
                }
                self.t.stop_running(w.tid);
                Ok(())
            }
            r => r,
        }
    }

    /// Gives the CPU to the next runnable thread.
    fn schedule(&mut self) -> anyhow::Result<()> {
        while let Some(tid) = self.t.pop_runnable() {
            if self.resume(tid)? {
                self.t.running = Some(tid);
                let now = Instant::now();
                self.t.slice_start = Some(now);
                self.spin.turn_began(now);
                return Ok(());
            }
        }
        self.t.slice_start = None;
        Ok(())
    }

    /// Resumes a stopped thread with its pending signal; false if it is gone.
    pub(super) fn resume(&mut self, tid: Tid) -> anyhow::Result<bool> {
        let Some(th) = self.t.get(tid) else {
            return Ok(false);
        };
        let sig = std::mem::take(&mut th.inject);
        th.state = State::Running;
        // It runs the call answered at entry now, before any other thread
        // runs: its writes are done by the next point.
        th.unrun.clear();
        self.switching_to(tid)?;
        self.page_maybe_used = true;
        let sig = if sig != 0 {
            match self.enter_handler(tid, sig) {
                Ok(Some(sig)) => sig,
                Ok(None) => return Ok(false),
                Err(e) if super::points::thread_gone(&e) => {
                    if let Some(th) = self.t.get(tid) {
                        th.state = State::Exiting;
                    }
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        } else {
            0
        };
        let Some(th) = self.t.get(tid) else {
            return Ok(false);
        };
        if th.syscall.is_none() && !th.resumed {
            th.resumed = will_run(tid, th.last_regs.as_ref(), sig);
        }
        let how = self.resume_how(tid);
        match ptrace::resume(tid, how, sig) {
            Ok(()) => Ok(true),
            // Killed meanwhile (exit_group of another thread): its death stop follows.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                if let Some(th) = self.t.get(tid) {
                    th.state = State::Exiting;
                }
                Ok(false)
            }
            Err(e) => Err(anyhow!(e).context(format!("cannot resume thread {tid}"))),
        }
    }

    /// How `tid` is resumed into its own code: under the seccomp filter
    /// every syscall entry stops by itself, so syscall stops are asked for
    /// only to see the current call's exit.
    pub(super) fn resume_how(&mut self, tid: Tid) -> ptrace::Resume {
        match self.t.get(tid) {
            Some(th) if self.seccomp && th.syscall.is_none() => ptrace::Resume::Cont,
            _ => ptrace::Resume::Syscall,
        }
    }

    /// After a stop of the running thread: keep running it, or switch.
    pub(super) fn continue_or_switch(&mut self, tid: Tid) -> anyhow::Result<()> {
        // At a stop, the CPU goes to a thread that has waited `slice`
        // (`wake_after` if it was woken).
        let expired = self
            .t
            .slice_start
            .and_then(|s| self.t.turn_due(tid, s, &self.wake_after, self.slice))
            .is_some_and(|due| Instant::now() >= due);
        if self.t.running == Some(tid) && !expired {
            if !self.resume(tid)? {
                self.t.stop_running(tid);
            }
        } else {
            self.t.set_stopped(tid);
        }
        Ok(())
    }

    pub(super) fn handle(&mut self, w: Waited) -> anyhow::Result<()> {
        let tid = w.tid;
        if !self.t.threads.contains_key(&tid) {
            // A new thread's first stop can arrive before its parent's clone event.
            self.t.add(tid, -1, State::Starting);
        }
        match w.stop {
            Stop::Syscall => {
                let in_syscall = self.t.get(tid).is_some_and(|t| t.syscall.is_some());
                if in_syscall {
                    self.on_syscall_exit(tid)
                } else {
                    self.on_syscall_entry(tid)
                }
            }
            Stop::Signal(sig) => self.on_signal(tid, sig),
            Stop::Event { event, sig } => match event {
                libc::PTRACE_EVENT_CLONE | libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK => {
                    self.on_clone(tid, event)
                }
                libc::PTRACE_EVENT_EXEC => {
                    self.adopt_exec_tid(tid);
                    self.on_exec(tid, None)?;
                    // On to the execve's exit stop.
                    self.resume_in_kernel(tid)
                }
                libc::PTRACE_EVENT_EXIT => self.on_exit_event(tid),
                libc::PTRACE_EVENT_SECCOMP => {
                    if self.t.get(tid).is_some_and(|t| t.syscall.is_some()) {
                        // Its entry was already seen as a syscall stop.
                        self.resume_in_kernel(tid)
                    } else {
                        self.on_syscall_entry(tid)
                    }
                }
                libc::PTRACE_EVENT_STOP => self.on_stop_event(tid, sig),
                _ => self.resume_in_kernel(tid),
            },
            Stop::Exited(code) => self.on_death(tid, ExitStatus::Code(code)),
            Stop::Killed { sig, core_dumped } => self.on_death(
                tid,
                ExitStatus::Signal {
                    signo: sig,
                    core_dumped,
                },
            ),
        }
    }

    /// An exec by a thread other than the thread-group leader gives it the
    /// leader's id (= the process id; the leader, past its exit event,
    /// reports no death): its state (the execve in flight) moves there.
    fn adopt_exec_tid(&mut self, tid: Tid) {
        let former = Tid(ptrace::event_msg(tid).unwrap_or(tid.0 as u64) as i32);
        if former == tid {
            return;
        }
        if let Some(th) = self.t.threads.remove(&former) {
            tracing::debug!(%former, %tid, "exec by a non-leader thread: it takes the leader's id");
            self.t.threads.insert(tid, th);
            if self.t.running == Some(former) {
                self.t.running = Some(tid);
            }
        }
    }

    /// Resumes a thread that is inside a syscall (after an event stop there).
    pub(super) fn resume_in_kernel(&mut self, tid: Tid) -> anyhow::Result<()> {
        let running = self.t.running == Some(tid);
        if let Err(e) = ptrace::resume(tid, ptrace::Resume::Syscall, 0) {
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(anyhow!(e).context(format!("cannot resume thread {tid}")));
            }
        }
        if let Some(th) = self.t.get(tid) {
            if th.state != State::Exiting {
                th.state = if running {
                    State::Running
                } else {
                    State::InKernel
                };
            }
        }
        Ok(())
    }

    /// The first stop of a new thread, a PTRACE_INTERRUPT stop, or a group-stop.
    fn on_stop_event(&mut self, tid: Tid, sig: i32) -> anyhow::Result<()> {
        let state = self.t.get(tid).map(|t| t.state);
        if state != Some(State::Starting)
            && matches!(
                sig,
                libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
            )
        {
            // A group-stop (kill -STOP, Ctrl-Z): the process stays stopped,
            // as natively, until SIGCONT. (Resumed, it went on running:
            // job control did nothing to a recorded program.) The thread
            // sleeps as in a blocking call; the end of the stop comes as
            // another stop event (SIGTRAP), or this one again for a signal
            // arriving meanwhile (it stays pending, as natively).
            self.t.stop_running(tid);
            if let Some(th) = self.t.get(tid) {
                th.group_stopped.get_or_insert(th.state);
                th.state = State::InKernel;
            }
            return match ptrace::listen(tid) {
                Err(e) if e.raw_os_error() != Some(libc::ESRCH) => {
                    Err(anyhow!(e).context(format!("cannot leave thread {tid} stopped")))
                }
                _ => Ok(()),
            };
        }
        if let Some(before) = self.t.get(tid).and_then(|t| t.group_stopped.take()) {
            // The group-stop ended (SIGCONT): the thread ran nothing
            // meanwhile. Back into its syscall (the kernel restarts it), or
            // back in line for the CPU.
            let regs = ptrace::get_regs(tid)?;
            if let Some(th) = self.t.get(tid) {
                th.state = before;
            }
            if before == State::InKernel {
                return self.resume_in_kernel(tid);
            }
            if let Some(th) = self.t.get(tid) {
                th.stopped_at(regs);
            }
            self.t.set_stopped(tid);
            return Ok(());
        }
        if state == Some(State::Starting) {
            let regs = ptrace::get_regs(tid)?;
            let announced = match self.t.get(tid) {
                Some(th) => {
                    th.stopped_at(regs);
                    th.state = State::Born;
                    th.announced
                }
                None => false,
            };
            if announced {
                self.t.set_stopped(tid);
            }
            return Ok(());
        }
        self.preempted_stop(tid)
    }

    /// `tid`, running, stopped at an instruction's start by the recorder
    /// (an interrupt, a spin's breakpoint): its preemption point, if it ran
    /// since its last stop, and it is back in line for the CPU.
    pub(super) fn preempted_stop(&mut self, tid: Tid) -> anyhow::Result<()> {
        let Some((regs, stepped)) = self.leave_page_code(tid, ptrace::get_regs(tid)?, None)? else {
            return Ok(());
        };
        if stepped == Stepped::FromLastStop {
            self.record_first_visit(tid, regs)?;
        } else if stepped == Stepped::Ran || self.t.get(tid).is_some_and(|t| t.ran_to(&regs)) {
            // On to a point replay's search stub can find at native speed.
            let settled = match self.settle_point(tid, regs) {
                Ok(Some(s)) => s,
                Ok(None) => return Ok(()),
                // Killed while stepping: its death stop comes next.
                Err(e) if super::points::thread_gone(&e) => return Ok(()),
                Err(e) => return Err(e),
            };
            self.record_preempt(tid, settled.regs, settled.site)?;
        }
        self.t.set_stopped(tid);
        Ok(())
    }

    /// The running thread used its whole slice without a stop: interrupt it.
    fn preempt_running(&mut self) -> anyhow::Result<()> {
        let Some(tid) = self.t.running else {
            return Ok(());
        };
        if !self.t.any_runnable_besides(tid) {
            // Nobody is waiting: let it run another slice.
            self.t.slice_start = Some(Instant::now());
            return Ok(());
        }
        tracing::debug!(%tid, "preempting");
        let began = Instant::now();
        if let Err(e) = ptrace::interrupt(tid) {
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Ok(());
            }
            return Err(anyhow!(e).context(format!("cannot interrupt thread {tid}")));
        }
        self.t.slice_start = Some(Instant::now() - self.slice);
        // Until it stops, no other thread may run. Stops of other threads
        // are taken meanwhile: when another thread's exit_group kills this
        // one, a thread-group leader's death is reported only after its
        // other threads' are collected (waiting for it alone hung
        // fipsinit's recording).
        // The cost counted is from the thread's stop on: how long the
        // interrupt takes to land is the kernel's scheduling on the one CPU
        // the program runs on (14 µs usually, up to 2.6 ms when a woken
        // thread held that CPU: context.test), which waiting longer before
        // the next preemption does not save.
        let mut stopped: Option<Instant> = None;
        while self.t.running == Some(tid) {
            let Some(w) = wait::wait_any(None).context("waiting for a preempted thread")? else {
                self.forward_signal();
                continue;
            };
            tracing::trace!(tid = w.tid.0, stop = ?w.stop, after = ?began.elapsed(), "a stop while preempting");
            if w.tid == tid {
                stopped.get_or_insert_with(Instant::now);
            }
            self.handle_or_vanished(w)?;
        }
        self.count_preemption(tid, stopped.unwrap_or(began));
        Ok(())
    }

    /// A preemption of `tid`, stopped since `since`, is recorded: its cost
    /// goes into the wake bound's (`wake.rs`).
    pub(super) fn count_preemption(&mut self, tid: Tid, since: Instant) {
        let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
        // The program's own share: faults on the pages the point re-armed.
        let faults = self
            .t
            .procs
            .get(&tgid)
            .and_then(|p| p.dirty.as_ref())
            .map(|d| d.take_rearm_cost())
            .unwrap_or_default();
        let cost = since.elapsed() + faults;
        self.wake_after.preempted(tgid, cost, Instant::now());
        tracing::debug!(%tid, ?cost, wake = ?self.wake_after.wait_now(), "preempted");
    }

    /// What the unfinished syscalls of `tgid`'s other threads may write
    /// (their exits, with the bytes, come later in the trace).
    fn in_flight_writes(&self, tid: Tid, tgid: i32) -> Vec<(u64, u64)> {
        let Some(p) = self.t.procs.get(&tgid) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (other, t) in &self.t.threads {
            if *other == tid || t.tgid != tgid {
                continue;
            }
            out.extend(t.unrun.iter().copied());
            if let Some(sc) = &t.syscall {
                if let Some(spec) = sc.spec {
                    for (addr, len) in
                        crate::syscalls::in_flight_ranges(spec, &sc.args, &sc.lens, &p.mem)
                    {
                        out.push((addr.0, addr.0.saturating_add(len)));
                    }
                }
                // A clone's child tid or pidfd in its parent's memory: the
                // recorded value is written at its exit, replay's own
                // (another number) stands until then (runtime/pprof's
                // os/exec children, a point's hash in another thread).
                for addr in super::syscall::clone_parent_writes(sc.nr, &sc.args, &p.mem) {
                    out.push((addr.0, addr.0.saturating_add(4)));
                }
            }
        }
        out
    }

    /// Records the current state of `tid` as a preemption point. At a
    /// patch site (`site`), with RRGO_PREEMPT_HASHES=1, the point carries
    /// memory to compare (`point_memory`) and replay re-executes to it;
    /// else the memory written since the last point is recorded, so replay
    /// can also jump there.
    pub(super) fn record_preempt(
        &mut self,
        tid: Tid,
        regs: trace_format::Regs,
        site: bool,
    ) -> anyhow::Result<()> {
        let xstate = ptrace::get_xstate(tid)?;
        let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
        // Replay maps the search stub's page where it maps rrgo's page: a
        // process without it is searched stop by stop and may need to jump.
        if site && preempt_hashes() {
            let in_flight = self.in_flight_writes(tid, tgid);
            let altstack = self.t.get(tid).and_then(|t| t.altstack);
            let began = Instant::now();
            if let Some(live) = self
                .t
                .procs
                .get(&tgid)
                .filter(|p| p.clock)
                .and_then(|p| point_memory(p, &regs, altstack, &in_flight))
            {
                tracing::debug!(
                    %tid,
                    took = ?began.elapsed(),
                    verbatim = live.0.iter().map(|w| w.data.len()).sum::<usize>(),
                    hashed = live.1.iter().map(|h| h.len).sum::<u64>(),
                    "point memory"
                );
                self.stats.preemptions += 1;
                self.stats.preempt_hashed += 1;
                self.append(
                    tid,
                    EventKind::Preempt {
                        regs,
                        xstate,
                        verbatim: live.0,
                        hashes: live.1,
                        first_visit: false,
                    },
                )?;
                if let Some(th) = self.t.get(tid) {
                    th.stopped_at(regs);
                }
                return Ok(());
            }
            tracing::debug!(
                %tid,
                rip = format_args!("{:#x}", regs.rip),
                stack = ?self.t.procs.get(&tgid).and_then(|p| crate::goruntime::thread_stack(&p.mem, regs.fs_base, regs.rsp)),
                "a point at a patch site is recorded with contents"
            );
        }
        // Calls answered at entry that other threads have not run yet:
        // replay runs them before this point, so their old bytes here would
        // undo what they wrote there.
        let mut unrun: Vec<(u64, u64)> = self
            .t
            .threads
            .iter()
            .filter(|(other, t)| **other != tid && t.tgid == tgid)
            .flat_map(|(_, t)| t.unrun.iter().copied())
            .collect();
        let pages = match self.t.procs.get_mut(&tgid) {
            Some(p) => match &p.dirty {
                Some(d) => {
                    written_pages(d, &p.mem).context("cannot read written pages at a preemption")?
                }
                None => p
                    .pages
                    .update(&p.mem)
                    .context("cannot snapshot memory at a preemption")?,
            },
            None => Vec::new(),
        };
        let pages = if unrun.is_empty() {
            pages
        } else {
            cut_out(pages, &mut unrun)
        };
        self.stats.preemptions += 1;
        self.stats.preempt_bytes += pages.iter().map(|p| p.data.len() as u64).sum::<u64>();
        // Several Pages events keep each event far below the format's size cap.
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        // A run of written pages can be larger than a chunk (a heap grown
        // by 64 MB): it is cut into pieces of at most 8 MB first.
        for page in pages.into_iter().flat_map(split_run) {
            batch_bytes += page.data.len();
            batch.push(page);
            if batch_bytes >= PAGES_EVENT_BYTES {
                self.append(
                    tid,
                    EventKind::Pages {
                        pages: std::mem::take(&mut batch),
                    },
                )?;
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.append(tid, EventKind::Pages { pages: batch })?;
        }
        self.append_bare_point(tid, regs, xstate, false)
    }

    /// A `Preempt` with no memory to compare: `tid` stands at `regs`.
    fn append_bare_point(
        &mut self,
        tid: Tid,
        regs: trace_format::Regs,
        xstate: Vec<u8>,
        first_visit: bool,
    ) -> anyhow::Result<()> {
        self.append(
            tid,
            EventKind::Preempt {
                regs,
                xstate,
                verbatim: Vec::new(),
                hashes: Vec::new(),
                first_visit,
            },
        )?;
        if let Some(th) = self.t.get(tid) {
            th.stopped_at(regs);
        }
        Ok(())
    }

    /// A point `tid` was single-stepped to from its last stop, where it had
    /// not run since its last event: replay stops at its first arrival
    /// there, so there is nothing to compare and nothing to jump with (the
    /// memory written meanwhile is left to the next point's).
    pub(super) fn record_first_visit(
        &mut self,
        tid: Tid,
        regs: trace_format::Regs,
    ) -> anyhow::Result<()> {
        let xstate = ptrace::get_xstate(tid)?;
        self.stats.preemptions += 1;
        self.stats.preempt_first_visits += 1;
        self.append_bare_point(tid, regs, xstate, true)
    }

    fn on_exit_event(&mut self, tid: Tid) -> anyhow::Result<()> {
        let status = ptrace::event_msg(tid).unwrap_or(0) as i32;
        // A thread killed before its parent's clone event never entered the trace.
        if self.t.get(tid).is_some_and(|t| t.announced) {
            self.record_completed_output(tid)?;
            self.append(tid, EventKind::TaskExit { status })?;
        }
        self.t.stop_running(tid);
        let alone = self.t.get(tid).is_some_and(|t| {
            t.tgid != tid.0
                && t.syscall
                    .as_ref()
                    .and_then(|s| s.spec)
                    .is_some_and(|s| s.hook == crate::syscalls::Hook::ExitThread)
        });
        if let Some(th) = self.t.get(tid) {
            th.state = State::Exiting;
        }
        let _ = ptrace::resume(tid, ptrace::Resume::Cont, 0);
        if alone {
            self.await_thread_death(tid)?;
        }
        Ok(())
    }

    /// A thread leaving with `exit` (not the whole process) is waited for to
    /// its death before anyone runs: the kernel clears its
    /// CLONE_CHILD_CLEARTID word on the way, which other threads read
    /// (glibc reuses an exited thread's stack once it is zero), so it must
    /// happen before the next event, as it does at replay.
    fn await_thread_death(&mut self, tid: Tid) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match wait::wait_tid_nohang(tid) {
                // Its death, or anything else (it was killed meanwhile), is
                // handled as usual.
                Ok(Some(w)) => return self.handle_or_vanished(w),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(20));
                }
                Ok(None) => {
                    tracing::debug!(tid = tid.0, "exiting thread not dead after 2 s");
                    return Ok(());
                }
                Err(_) => return Ok(()),
            }
        }
    }

    fn on_death(&mut self, tid: Tid, status: ExitStatus) -> anyhow::Result<()> {
        self.t.stop_running(tid);
        let Some(th) = self.t.threads.remove(&tid) else {
            return Ok(());
        };
        if th.tgid == tid.0 {
            // The thread-group leader is reaped last: the process is gone.
            self.t.procs.remove(&th.tgid);
            self.shared_stale.remove(&th.tgid);
            self.append(tid, EventKind::ProcessExit { status })?;
            if th.tgid == self.main_tgid {
                self.main_exit = Some(status);
            }
        }
        Ok(())
    }

    /// A new program image in `tid`'s process (the first one included).
    pub(super) fn on_exec(&mut self, tid: Tid, path: Option<Vec<u8>>) -> anyhow::Result<()> {
        let path = path
            .or_else(|| {
                self.t
                    .get(tid)
                    .and_then(|t| t.syscall.as_mut())
                    .and_then(|s| s.exec_path.take())
            })
            .unwrap_or_default();
        let tgid = tid.0;
        let mem = ProcMem::open(tgid).context("cannot open the new program's memory")?;
        let regs = ptrace::get_regs(tid)?;
        let aux = auxv::fix_at_exec(&mem, regs.rsp, false)
            .context("cannot read the new program's auxv")?;
        let vdso = self.setup_vdso(&mem, regs.rsp, aux.vdso)?;
        // Read through /proc/PID/exe: the file that runs, even if its path
        // was replaced or deleted since.
        let running = PathBuf::from(format!("/proc/{tgid}/exe"));
        let exe = std::fs::read_link(&running).ok();
        let facts = match exe {
            Some(_) => self.exe_facts(&running),
            None => Default::default(),
        };
        let mut code_patches = self.patch_syscall6(&mem, facts.syscall6);
        let mut rand_sites = std::collections::HashMap::new();
        if let (Some(exe), false) = (&exe, facts.rand_sites.is_empty()) {
            let maps = crate::tracee::maps::read_maps(tgid).unwrap_or_default();
            let regions: Vec<_> = maps
                .iter()
                .filter(|r| r.perms[2] == b'x' && Path::new(&r.path) == exe.as_path())
                .map(|r| (r.start, r.end - r.start, r.offset))
                .collect();
            for (start, len, offset) in regions {
                code_patches.extend(cover_rand_sites(
                    &mem,
                    &facts.rand_sites,
                    start,
                    len,
                    offset,
                    &mut rand_sites,
                ));
            }
        }
        let exe_file = match &exe {
            Some(exe) => Some(self.store_file_quietly(exe, &running)?),
            None => None,
        };
        // Replay execs copies, never the recorded paths (they may be gone,
        // relative to another cwd, or other files by then).
        let loader = facts
            .interp
            .as_ref()
            .map(|i| PathBuf::from(std::ffi::OsStr::from_bytes(&i.path)));
        let loader_file = match &loader {
            Some(l) => Some(self.store_file_quietly(l, l)?),
            None => None,
        };
        let script = script_path(tgid, &path);
        let script_file = match &script {
            Some(s) => Some(self.store_file_quietly(s, s)?),
            None => None,
        };
        let initial_stack = initial_stack(&mem, tgid, regs.rsp)
            .context("cannot read the new program's initial stack")?;
        let mut pages = PageHashes::default();
        pages.update(&mem)?;
        self.t.procs.insert(
            tgid,
            Process {
                mem,
                pages,
                dirty: None,
                clock: false,
                clock_pending: matches!(vdso, trace_format::VdsoSetup::Patched { .. })
                    || !code_patches.is_empty(),
                shared: Default::default(),
                rand_sites,
                code: None,
            },
        );
        if let Some(th) = self.t.get(tid) {
            th.tgid = tgid;
            th.stopped_at(regs);
        }
        let exec = EventKind::Exec {
            exe_path: path,
            exe_file: exe_file.map(|f| f.0),
            script_file: script_file.map(|f| f.0),
            loader_file: loader_file.map(|f| f.0),
            initial_stack,
            auxv_random: aux.random,
            regs,
            vdso,
            code_patches,
        };
        self.append(tid, exec)?;
        // Announced after the Exec: a trace starts with its exec.
        for (stored, path) in [
            (exe_file, exe),
            (loader_file, loader),
            (script_file, script),
        ] {
            if let (Some((file, true)), Some(path)) = (stored, path) {
                self.announce_file(tid, file, &path)?;
            }
        }
        Ok(())
    }

    fn announce_file(
        &mut self,
        tid: Tid,
        file: trace_format::FileId,
        path: &Path,
    ) -> anyhow::Result<()> {
        let original_path = path.as_os_str().as_bytes().to_vec();
        self.append(
            tid,
            EventKind::FileStored {
                file,
                original_path,
            },
        )
    }

    /// Copies a file into the trace (once) and records that it was stored.
    /// `path` is its name; the bytes are read from `from` (a /proc link to
    /// the very file the program uses).
    pub(super) fn store_file(
        &mut self,
        tid: Tid,
        path: &Path,
        from: &Path,
    ) -> anyhow::Result<trace_format::FileId> {
        let (file, new) = self.store_file_quietly(path, from)?;
        if new {
            self.announce_file(tid, file, path)?;
        }
        Ok(file)
    }

    /// `store_file`, also when the file was seen before with the same size
    /// and mtime if `fresh` (its content is hashed again).
    pub(super) fn store_file_fresh(
        &mut self,
        tid: Tid,
        path: &Path,
        from: &Path,
        fresh: bool,
    ) -> anyhow::Result<trace_format::FileId> {
        if fresh {
            if let Some(k) = file_key(from) {
                self.file_cache.remove(&k);
                self.exe_facts.remove(&k);
            }
        }
        self.store_file(tid, path, from)
    }

    /// Copies a file into the trace once; true if it still has to be announced.
    /// The cache key is the file's identity and modification time, so a
    /// file changed since it was stored is stored again.
    fn store_file_quietly(
        &mut self,
        path: &Path,
        from: &Path,
    ) -> anyhow::Result<(trace_format::FileId, bool)> {
        let key = file_key(from);
        if let Some(&id) = key.and_then(|k| self.file_cache.get(&k)) {
            return Ok((id, self.announced.insert(id)));
        }
        let facts = self.exe_facts(from);
        let stored = self.writer.store_file_from(path, from, facts.build_id)?;
        if let Some(k) = key {
            self.file_cache.insert(k, stored.id);
        }
        Ok((stored.id, self.announced.insert(stored.id)))
    }

    /// Facts about an executable or library, read once per file.
    pub(super) fn exe_facts(&mut self, path: &Path) -> crate::elf::ExeFacts {
        let Some(key) = file_key(path) else {
            return crate::elf::ExeFacts::read(path);
        };
        self.exe_facts
            .entry(key)
            .or_insert_with(|| crate::elf::ExeFacts::read(path))
            .clone()
    }

    pub(super) fn append(&mut self, tid: Tid, mut kind: EventKind) -> anyhow::Result<()> {
        self.flush_page(tid)?;
        tracing::trace!(%tid, kind = kind.name(), "event");
        self.redact(tid, &mut kind);
        self.writer.append(kind, RecTid(tid.0))?;
        Ok(())
    }

    /// Hides `--redact-env` values in the program bytes an event carries;
    /// `of` (a thread, or a process id) names the memory around them.
    pub(super) fn redact(&mut self, of: Tid, kind: &mut EventKind) {
        if !self.redact.is_active() {
            return;
        }
        let mem = self
            .t
            .proc_of(of)
            .or_else(|| self.t.procs.get(&of.0))
            .map(|p| &p.mem);
        self.redact.event(kind, mem);
    }

    /// An ioctl request whose output rrgo does not know (once per request).
    pub(super) fn warn_unknown_ioctl(&mut self, req: u64) {
        // Keys above any syscall number.
        if self.warned.insert((1 << 40) | req as i64) {
            crate::say!(
                "warning: ioctl request {req:#x} is not known to rrgo: recorded without what it \
                 writes; replay may diverge"
            );
        }
    }

    pub(super) fn warn_once(&mut self, nr: i64, what: &str) {
        if self.warned.insert(nr) {
            crate::say!("warning: {} {what}", crate::syscall_names::name(nr));
        }
    }
}

/// Whether a thread stopped outside a syscall, resumed delivering `sig`,
/// may run its own code before its next stop. Not when the kernel stops it
/// first: for a signal of its own pending now (sysmon's SIGURG sent while it
/// waited for the CPU), a stop signal delivered now (a group-stop follows),
/// or after a syscall exit with a restart code (a signal is pending: it is
/// taken, or the call restarted, before any instruction).
fn will_run(tid: Tid, last: Option<&trace_format::Regs>, sig: i32) -> bool {
    if matches!(
        sig,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    ) {
        return false;
    }
    if last.is_some_and(|r| crate::syscalls::is_restart_code(r.rax as i64)) {
        return false;
    }
    !ptrace::deliverable_own_signal(tid).unwrap_or(false)
}

/// Bytes of memory one `Pages` event carries at most (far below the
/// format's cap on one event).
const PAGES_EVENT_BYTES: usize = 8 << 20;

/// A run of memory in pieces of at most `PAGES_EVENT_BYTES`.
fn split_run(run: trace_format::MemWrite) -> Vec<trace_format::MemWrite> {
    if run.data.len() <= PAGES_EVENT_BYTES {
        return vec![run];
    }
    run.data
        .chunks(PAGES_EVENT_BYTES)
        .enumerate()
        .map(|(i, piece)| trace_format::MemWrite {
            addr: trace_format::RemoteAddr(run.addr.0 + (i * PAGES_EVENT_BYTES) as u64),
            data: piece.to_vec(),
        })
        .collect()
}

/// What verifies a preemption point besides the registers (format 5):
/// the live part of the thread's own stack, [rsp, g.stack.hi), verbatim up
/// to `STACK_VERBATIM` bytes (replay's stub compares a loop's spilled
/// counter in the program) and hashed beyond; and hashes of everything
/// else the process wrote since its previous point (a loop whose state is
/// on the heap: `Reset` of a reused decompressor has equal registers and
/// stack at every call), the written part of the dead stack below rsp
/// among them. Left out: what other threads' unfinished syscalls may have
/// been writing meanwhile (`in_flight`: a netpoll's events landing in
/// another thread's g0 stack) — replay, running one thread at a time,
/// writes those at their exit events, after this point. None (contents
/// instead) when the thread is not on a Go stack or writes are not tracked.
fn point_memory(
    p: &super::threads::Process,
    regs: &trace_format::Regs,
    altstack: Option<(u64, u64)>,
    in_flight: &[(u64, u64)],
) -> Option<(Vec<trace_format::MemWrite>, Vec<trace_format::PageHash>)> {
    // The goroutine's stack, or the signal stack a handler runs on (its
    // TLS g is still the interrupted goroutine's).
    let (lo, hi) =
        crate::goruntime::thread_stack(&p.mem, regs.fs_base, regs.rsp).or_else(|| {
            let on = altstack.filter(|&(lo, hi)| lo <= regs.rsp && regs.rsp < hi);
            if on.is_some() {
                tracing::debug!(
                    rip = format_args!("{:#x}", regs.rip),
                    "a point on the signal stack"
                );
            }
            on
        })?;
    let dirty = p.dirty.as_ref()?;
    // Live from rsp: Go code keeps nothing below it (no red zone); what
    // lies below is compared as written memory (`dead`).
    let start = regs.rsp.max(lo);
    let verbatim_end = hi.min(start + STACK_VERBATIM);
    let data = p.mem.read_prefix(
        trace_format::RemoteAddr(start),
        (verbatim_end - start) as usize,
    );
    if data.len() as u64 != verbatim_end - start {
        return None;
    }
    let mut verbatim = vec![trace_format::MemWrite {
        addr: trace_format::RemoteAddr(start),
        data,
    }];
    // Taken last: a None before this leaves the set to the contents path.
    let written = dirty.take_written().ok()?;
    let mut holes: Vec<(u64, u64)> = in_flight.to_vec();
    holes.push((lo, hi));
    // rrgo's page: filled by syscalls here, by replay from the trace there;
    // its counts are checked on their own.
    holes.push((
        crate::tracee::clockpage::CODE,
        crate::tracee::clockpage::END,
    ));
    let raw: Vec<(u64, u64)> = written.iter().map(|(a, len)| (a.0, a.0 + len)).collect();
    // Shared file mappings: what they hold is not the process's alone — a
    // process outside the recording may store there any time (`go`'s
    // telemetry counter file, mapped by every go command, while another
    // go command ran next to the recording: 1 in 4 recordings of
    // internal/trace's tests diverged at a point whose hash took in its
    // stores), and other recorded processes' stores reach replay only at
    // switches (`Pages`). A point is known without them.
    holes.extend(p.shared.overlapping(&raw));
    // The dead part of the thread's own stack, [lo, rsp), where written
    // since the last point: what the slice's calls left there is state
    // too. Two visits of a spin loop with equal registers and live memory
    // can differ only there (bgsweep waiting for the sweep to finish, its
    // calls' frames below rsp), and the garbage is hashed later anyway,
    // with the rest of the page, once the goroutine has left the thread:
    // replay then looked for a memory it could no longer reach (go1.24
    // `time` tests).
    let mut dead_holes: Vec<(u64, u64)> = in_flight.to_vec();
    let dead = subtract(intersect(&raw, &[(lo, start)]), &mut dead_holes);
    let mut written = subtract(raw, &mut holes);
    written.extend(dead);
    written.sort_unstable();
    // Written bytes next to what the registers point at are kept verbatim,
    // then next to what the live stack points at, innermost frames first:
    // a loop's state in a struct it reaches through a register or a local
    // (the GC's work buffer: `gcw` on the stack), which replay's stub can
    // then compare in the program.
    let mut near: Vec<(u64, u64)> = register_values(regs)
        .into_iter()
        .map(|v| (v, NEAR_AFTER))
        .collect();
    let mut seen = std::collections::HashSet::new();
    near.extend(
        verbatim[0]
            .data
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
            .filter(|&v| !(lo..hi).contains(&v) && inside(&written, v) && seen.insert(v))
            .map(|v| (v, STACK_NEAR_AFTER)),
    );
    let mut kept = Kept::default();
    // Keeps what `written` holds of [from, to), less what is kept already,
    // while the total stays within `budget`.
    let keep = |from: u64, to: u64, budget: u64, kept: &mut Kept, verbatim: &mut Vec<_>| {
        let mut kept_already = kept.windows.clone();
        for (a, b) in subtract(intersect(&written, &[(from, to)]), &mut kept_already) {
            if kept.bytes + (b - a) > budget {
                return false;
            }
            let data = p
                .mem
                .read_prefix(trace_format::RemoteAddr(a), (b - a) as usize);
            if data.len() as u64 == b - a {
                kept.bytes += b - a;
                kept.windows.push((a, b));
                verbatim.push(trace_format::MemWrite {
                    addr: trace_format::RemoteAddr(a),
                    data,
                });
            }
        }
        true
    };
    for (v, after) in near {
        let (from, to) = (v.saturating_sub(NEAR_BEFORE) & !7, v.saturating_add(after));
        if !keep(from, to, NEAR_MAX, &mut kept, &mut verbatim) {
            break;
        }
    }
    // One level further: what those bytes point at (a `g` in a register:
    // its saved sp into the stack of the goroutine it switched from, where
    // a coroutine loop keeps its state; `runtime.coroswitch_m` was visited
    // 10,000 times with equal registers and words).
    let further: Vec<u64> = verbatim[1..]
        .iter()
        .flat_map(|w| w.data.chunks_exact(8))
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
        .filter(|&v| !(lo..hi).contains(&v) && inside(&written, v) && seen.insert(v))
        .collect();
    for v in further {
        let (from, to) = (v.saturating_sub(FURTHER_BEFORE) & !7, v + FURTHER_AFTER);
        if !keep(from, to, NEAR_MAX + FURTHER_MAX, &mut kept, &mut verbatim) {
            break;
        }
    }
    // Then the smallest written runs (objects rather than buffers), up to
    // a budget: a word there that differs at a visit with equal registers
    // is compared in the program from then on; a hashed one costs a ptrace
    // stop per visit (compress/gzip: 400,000 visits of one point).
    let mut rest = subtract(written.clone(), &mut kept.windows.clone());
    rest.sort_unstable_by_key(|(a, b)| (b - a, *a));
    for (from, to) in rest {
        if !keep(from, to, verbatim_max(), &mut kept, &mut verbatim) {
            break;
        }
    }
    let mut windows = kept.windows;
    let mut hashed = vec![(verbatim_end, hi)];
    hashed.extend(subtract(written, &mut windows));
    let mut hashes = Vec::new();
    for (from, to) in hashed {
        let mut at = from;
        while at < to {
            let piece = (to - at).min(PAGES_EVENT_BYTES as u64);
            // A range unmapped meanwhile reads short; replay reads the same.
            let (len, hash) =
                p.mem
                    .hash_prefix(trace_format::RemoteAddr(at), piece as usize, |_, _| {});
            if len == 0 {
                break;
            }
            hashes.push(trace_format::PageHash {
                addr: trace_format::RemoteAddr(at),
                len: len as u64,
                hash,
            });
            if (len as u64) < piece {
                break;
            }
            at += piece;
        }
    }
    Some((verbatim, hashes))
}

/// Written bytes kept verbatim around a register's value: before, after,
/// and in all. Kept small: these bytes are most of a CPU-bound program's
/// trace (a compressor's registers point into incompressible buffers),
/// and a loop's state words sit at the start of the struct a register
/// holds. Session 32, go1.27.3, these budgets against 4 KiB after a
/// register, 64 + 32 + 128 KiB in all: gzipsha's trace 425 → 203 KB,
/// compress/gzip 248 → 185 KB, compress/flate 725 → 607 KB, image/png
/// 132 → 84 KB, with equal replay times and visits that were not the
/// point (gzip 49 → 45).
const NEAR_BEFORE: u64 = 256;
const NEAR_AFTER: u64 = 512 + 256;
const NEAR_MAX: u64 = 16 << 10;
/// After a pointer found on the live stack (a local's struct).
const STACK_NEAR_AFTER: u64 = 512;
/// Around a pointer found in those bytes, and in all.
const FURTHER_BEFORE: u64 = 64;
const FURTHER_AFTER: u64 = 512;
const FURTHER_MAX: u64 = 8 << 10;
/// Written bytes kept verbatim at a point in all (besides the stack and
/// the windows above).
const VERBATIM_MAX: u64 = 16 << 10;

/// `VERBATIM_MAX`, or RRGO_PREEMPT_VERBATIM_KB (a diagnostic: with a large
/// budget a point's memory is all verbatim, and replay's trace log names
/// each word that differs at a visit with equal registers instead of a
/// hashed range).
fn verbatim_max() -> u64 {
    static MAX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("RRGO_PREEMPT_VERBATIM_KB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            // Below the format's chunk limit: one event holds them all.
            .map_or(VERBATIM_MAX, |kb| (kb << 10).min(32 << 20))
    })
}

/// The general registers but rsp (the stack is kept on its own).
fn register_values(r: &trace_format::Regs) -> Vec<u64> {
    let mut v = vec![
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
        r.r14, r.r15,
    ];
    v.sort_unstable();
    v.dedup();
    v
}

/// The parts of sorted, disjoint `runs` inside any of sorted `windows`
/// (which may overlap), merged.
fn intersect(runs: &[(u64, u64)], windows: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &(r0, r1) in runs {
        for &(w0, w1) in windows {
            let (a, b) = (r0.max(w0), r1.min(w1));
            if a >= b {
                continue;
            }
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
    }
    out
}

/// What a point keeps verbatim so far.
#[derive(Default)]
struct Kept {
    bytes: u64,
    windows: Vec<(u64, u64)>,
}

/// Whether `v` lies in one of sorted, disjoint `runs`.
fn inside(runs: &[(u64, u64)], v: u64) -> bool {
    let i = runs.partition_point(|&(_, to)| to <= v);
    runs.get(i).is_some_and(|&(from, _)| from <= v)
}

/// `runs` less `holes` (half-open ranges; holes get sorted).
fn subtract(runs: Vec<(u64, u64)>, holes: &mut [(u64, u64)]) -> Vec<(u64, u64)> {
    holes.sort_unstable();
    let mut out = Vec::new();
    for (mut from, to) in runs {
        for &(h0, h1) in holes.iter() {
            if h1 <= from || h0 >= to {
                continue;
            }
            if h0 > from {
                out.push((from, h0));
            }
            from = from.max(h1);
            if from >= to {
                break;
            }
        }
        if from < to {
            out.push((from, to));
        }
    }
    out
}

/// `runs` less the bytes in `holes`.
fn cut_out(
    runs: Vec<trace_format::MemWrite>,
    holes: &mut [(u64, u64)],
) -> Vec<trace_format::MemWrite> {
    let mut out = Vec::new();
    for run in runs {
        let start = run.addr.0;
        let end = start + run.data.len() as u64;
        for (a, b) in subtract(vec![(start, end)], holes) {
            out.push(trace_format::MemWrite {
                addr: trace_format::RemoteAddr(a),
                data: run.data[(a - start) as usize..(b - start) as usize].to_vec(),
            });
        }
    }
    out
}

/// Live stack bytes kept verbatim at a preemption point (the frames
/// nearest rsp); a deeper stack is hashed beyond.
const STACK_VERBATIM: u64 = 64 << 10;

/// The contents of the pages written since the last preemption.
fn written_pages(
    d: &super::dirty::DirtyTracker,
    mem: &ProcMem,
) -> anyhow::Result<Vec<trace_format::MemWrite>> {
    let mut out = Vec::new();
    for (addr, len) in d.take_written()? {
        // A range unmapped meanwhile reads short; what is gone needs no restoring.
        let data = mem.read_prefix(addr, len as usize);
        if !data.is_empty() {
            out.push(trace_format::MemWrite { addr, data });
        }
    }
    Ok(out)
}

impl Recorder {
    /// Starts write tracking for `tid`'s process, at the exit of its execve.
    pub(super) fn start_dirty_tracking(&mut self, tid: Tid) {
        let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
        let Some(p) = self.t.procs.get_mut(&tgid) else {
            return;
        };
        match super::dirty::DirtyTracker::attach(tid, tgid, &p.mem) {
            Ok(d) => p.dirty = Some(d),
            Err(e) => {
                if !self.warned_dirty {
                    self.warned_dirty = true;
                    crate::say!("warning: no userfaultfd write tracking ({e}); preemption points fall back to comparing page contents");
                }
            }
        }
    }

    /// Extends write tracking to memory the program just mapped.
    pub(super) fn track_new_memory(&mut self, tid: Tid, start: u64, len: u64) {
        let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
        if let Some(d) = self.t.procs.get(&tgid).and_then(|p| p.dirty.as_ref()) {
            if len == 0 {
                let _ = d.track_all(tgid);
            } else {
                // The kernel rounds lengths up to whole pages; userfaultfd wants them so.
                d.track(start & !0xfff, (start + len + 0xfff) & !0xfff);
            }
        }
    }
}

/// The CPU the program and rrgo's ptrace thread will share, and the
/// original mask (what the program would have seen).
fn choose_cpu() -> anyhow::Result<(Vec<u8>, usize)> {
    // SAFETY: sched_getaffinity on this thread with a valid cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(anyhow!(std::io::Error::last_os_error()).context("sched_getaffinity"));
        }
        let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect();
        let raw = std::slice::from_raw_parts(
            (&set as *const libc::cpu_set_t).cast::<u8>(),
            std::mem::size_of::<libc::cpu_set_t>(),
        )
        .to_vec();
        // Spread concurrent recordings over the CPUs.
        let cpu = allowed
            .get(std::process::id() as usize % allowed.len().max(1))
            .copied()
            .unwrap_or(0);
        Ok((raw, cpu))
    }
}

/// Pins the calling (ptrace) thread to `cpu`, next to the program: a stop
/// costs ~15 µs that way, 20–70 µs across CPUs.
fn pin_self(cpu: usize) {
    pin_to(&[cpu]);
}

/// The CPUs of affinity mask `mask` but `cpu` (none if that is all).
fn other_cpus(mask: &[u8], cpu: usize) -> Vec<usize> {
    (0..mask.len() * 8)
        .filter(|&c| c != cpu && mask[c / 8] & (1 << (c % 8)) != 0)
        .collect()
}

/// Pins the calling thread to `cpus` (left as it is if there are none).
fn pin_to(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    // SAFETY: sched_setaffinity on this thread with a valid cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPUs in a raw affinity mask.
fn count_cpus(mask: &[u8]) -> u32 {
    mask.iter().map(|b| b.count_ones()).sum()
}

fn stat_fd(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat into a zeroed stat buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some((st.st_dev, st.st_ino))
    }
}

fn cstring(b: &[u8]) -> anyhow::Result<CString> {
    CString::new(b.to_vec()).map_err(|_| anyhow!("argument or environment contains a NUL byte"))
}

fn host_info() -> HostInfo {
    let uts = nix::sys::utsname::uname().ok();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    HostInfo {
        kernel_release: uts
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        hostname: uts
            .as_ref()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_default(),
        cpu_model,
        pinned_cpu: 0,
        ncpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_live_process_is_not_being_killed_and_a_gone_one_is() {
        assert!(!super::being_killed(std::process::id() as i32));
        // Above the kernel's pid_max: no such process.
        assert!(super::being_killed(i32::MAX));
    }
}
