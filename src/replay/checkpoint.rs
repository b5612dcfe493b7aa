//! Checkpoints: a copy of the replayed process at this moment, as a
//! session of its own, so going backwards replays from the nearest copy
//! instead of from the start.
//!
//! How: one thread of the (single) replayed process forks (an injected
//! `clone(CLONE_PARENT|SIGCHLD)`: memory is copied on write, and rrgo is
//! the copy's parent); in the copy, that thread injects one `clone` per
//! other thread, and every new thread gets its original's registers, FPU
//! state, signal mask and alternate signal stack. Threads whose stop is
//! still to be collected are settled first, so the copy's bookkeeping (who
//! waits for which stop) is the original's with new tids.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use trace_format::{RecTid, RemoteAddr, TraceReader};

use super::session::{LiveThread, ReplaySession};
use crate::tracee::mem::ProcMem;
use crate::tracee::wait::{self, Stop, Waited};
use crate::tracee::{inject, ptrace, Tid};

const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;
const FORK_FLAGS: u64 = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;

impl ReplaySession {
    /// A copy of this replay at this moment, or why there cannot be one
    /// now (child processes, a thread being created…).
    pub fn checkpoint(&mut self) -> anyhow::Result<ReplaySession> {
        if self.pids.len() != 1
            || self.reaping.is_some()
            || self.cloned.values().any(|q| !q.is_empty())
        {
            bail!("no checkpoint while child processes or new threads are in flight");
        }
        self.settle()?;
        let main_rec = self.main_pid;
        let leader = self
            .threads
            .get(&main_rec)
            .filter(|t| !t.exited)
            .map(|t| t.live);
        let live: Vec<(RecTid, Tid)> = {
            let mut v: Vec<(RecTid, Tid)> = self
                .threads
                .iter()
                .filter(|(_, t)| !t.exited && t.death.is_none())
                .map(|(r, t)| (*r, t.live))
                .collect();
            v.sort_by_key(|(r, _)| *r);
            v
        };
        let Some(forker) = leader.or(live.first().map(|(_, t)| *t)) else {
            bail!("no live thread to fork from");
        };
        self.saved_siginfo.clear();
        for (rec, tid) in &live {
            if self.threads[rec].inject != 0 {
                self.saved_siginfo.insert(*rec, ptrace::get_siginfo(*tid)?);
            }
        }
        let mem = self.mem(main_rec)?;
        let insn = inject::find_syscall_insn(mem)?
            .ok_or_else(|| anyhow!("no syscall instruction to inject with"))?;
        // Each thread's alternate signal stack, read before forking (the
        // copy's threads start without one).
        let mut altstacks = HashMap::new();
        for (rec, tid) in &live {
            altstacks.insert(*rec, read_altstack(mem, *tid, insn)?);
        }
        let forked = inject_clone(forker, insn, FORK_FLAGS);
        // Injecting left the threads at syscall stops: the ones waiting to
        // take a signal go back to their signal-delivery stops.
        self.restore_signal_stops(&live)?;
        let (child, _) = forked?;
        let result = self.populate(child, forker, insn, &live, &altstacks);
        if result.is_err() {
            // SAFETY: killing the half-made copy, our own tracee.
            unsafe { libc::kill(child.0, libc::SIGKILL) };
            let _ = wait::wait_tid(child);
        }
        result
    }

    fn populate(
        &mut self,
        child: Tid,
        forker: Tid,
        insn: RemoteAddr,
        live: &[(RecTid, Tid)],
        altstacks: &HashMap<RecTid, [u64; 3]>,
    ) -> anyhow::Result<ReplaySession> {
        let w = wait::wait_tid(child)?;
        if matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. }) {
            bail!("the copy died at once");
        }
        let mut map: HashMap<RecTid, Tid> = HashMap::new();
        for (rec, orig) in live {
            let new = if *orig == forker {
                child
            } else {
                let (t, _) = inject_clone(child, insn, THREAD_FLAGS)?;
                let w = wait::wait_tid(t)?;
                if matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. }) {
                    bail!("a thread of the copy died at once");
                }
                t
            };
            map.insert(*rec, new);
        }
        let cmem = ProcMem::open(child.0)?;
        for (rec, orig) in live {
            let new = map[rec];
            let ss = altstacks[rec];
            if ss[1] & libc::SS_DISABLE as u64 == 0 {
                write_altstack(&cmem, new, insn, ss)?;
            }
            ptrace::set_xstate(new, &ptrace::get_xstate(*orig)?)?;
            ptrace::set_sigmask(new, ptrace::get_sigmask(*orig)?)?;
            ptrace::set_regs(new, &ptrace::get_regs(*orig)?)?;
            let t = &self.threads[rec];
            if t.inject != 0 {
                // It waits at a signal-delivery stop: so must its copy.
                signal_stop(child, new, t.inject, &ptrace::get_siginfo(*orig)?)?;
            }
        }
        // The copy must not share this replay's copies of shared files.
        let shared = self
            .shared
            .copy_into(self.main_pid.0, child, insn, &cmem)
            .context("cannot copy the shared files' copies")?;
        let reader = TraceReader::open(self.reader.dir()).context("cannot reopen the trace")?;
        let threads: HashMap<RecTid, LiveThread> = self
            .threads
            .iter()
            .filter_map(|(rec, t)| {
                let live = *map.get(rec)?;
                Some((*rec, LiveThread { live, ..t.clone() }))
            })
            .collect();
        let mut stashed: HashMap<Tid, VecDeque<Waited>> = HashMap::new();
        for (rec, t) in &self.threads {
            if let (Some(q), Some(new)) = (self.stashed.get(&t.live), map.get(rec)) {
                stashed.insert(
                    *new,
                    q.iter()
                        .map(|w| Waited {
                            tid: *new,
                            stop: w.stop,
                        })
                        .collect(),
                );
            }
        }
        let mut mems = HashMap::new();
        mems.insert(self.main_pid.0, cmem);
        let mut pids = HashMap::new();
        pids.insert(self.main_pid.0, child.0);
        Ok(ReplaySession {
            reader,
            queue: self.queue.clone(),
            next: self.next,
            loaded: self.loaded,
            threads,
            mems,
            pids,
            cloned: HashMap::new(),
            exit: None,
            main_pid: self.main_pid,
            output: super::Output::Discard,
            stashed,
            reaping: None,
            breakpoints: self.breakpoints.clone(),
            hit: self.hit,
            pending_pages: self.pending_pages.clone(),
            preempt_stats: Default::default(),
            // A fork has no debug registers: the owner sets them again.
            watches: Vec::new(),
            stub_pages: HashMap::new(),
            code_maps: HashMap::new(),
            unsafe_sites: self.unsafe_sites.clone(),
            landings: self.landings.clone(),
            jumps: Vec::new(),
            stall: self.stall,
            verified_files: self.verified_files.clone(),
            saved_siginfo: HashMap::new(),
            awaiting_exit: false,
            exec_files: Arc::clone(&self.exec_files),
            exec_restore: self.exec_restore.clone(),
            probes: None,
            shared,
            _tmp: Arc::clone(&self._tmp),
        })
    }

    /// Threads that will take a signal when resumed wait at a signal-delivery
    /// stop (a syscall stop would drop the signal); put them back there.
    fn restore_signal_stops(&mut self, live: &[(RecTid, Tid)]) -> anyhow::Result<()> {
        let tgid = self.pids[&self.main_pid.0];
        for (rec, tid) in live {
            let sig = self.threads[rec].inject;
            if sig != 0 {
                let info = self.saved_siginfo.get(rec).copied();
                if let Some(info) = info {
                    signal_stop(Tid(tgid), *tid, sig, &info)?;
                }
            }
        }
        Ok(())
    }

    /// Collects every stop still in flight into the stash, so no
    /// notification of this process is pending in the kernel.
    fn settle(&mut self) -> anyhow::Result<()> {
        let pending: Vec<Tid> = self
            .threads
            .values()
            .filter(|t| t.in_kernel && !t.exited)
            .map(|t| t.live)
            .collect();
        self.stash_stops_of(pending)?;
        for q in self.stashed.values() {
            if q.iter().any(|w| w.stop != Stop::Syscall) {
                bail!("no checkpoint while a thread waits at an unusual stop");
            }
        }
        Ok(())
    }
}

/// Brings a thread (at some stop) to a signal-delivery stop for `sig` with `info`.
fn signal_stop(tgid: Tid, tid: Tid, sig: i32, info: &[u8; 128]) -> anyhow::Result<()> {
    // SAFETY: a signal to our own tracee thread.
    unsafe { libc::syscall(libc::SYS_tgkill, tgid.0, tid.0, sig) };
    ptrace::resume(tid, ptrace::Resume::Syscall, 0)?;
    let w = wait::wait_tid(tid)?;
    if w.stop != Stop::Signal(sig) {
        bail!(
            "thread {} did not stop for its signal {sig}: {:?}",
            tid.0,
            w.stop
        );
    }
    ptrace::set_siginfo(tid, info)?;
    Ok(())
}

/// Runs `clone(flags, 0, …)` in `tid` (at a stop); returns the new task.
fn inject_clone(tid: Tid, insn: RemoteAddr, flags: u64) -> anyhow::Result<(Tid, i64)> {
    let mut new = None;
    let rax =
        inject::syscall_observing(tid, insn, libc::SYS_clone, &[flags, 0, 0, 0, 0], |event| {
            if matches!(event, libc::PTRACE_EVENT_CLONE | libc::PTRACE_EVENT_FORK) {
                new = Some(Tid(ptrace::event_msg(tid)? as i32));
                return Ok(true);
            }
            Ok(false)
        })
        .context("cannot clone for a checkpoint")?;
    let new = new.ok_or_else(|| anyhow!("clone for a checkpoint failed: {rax}"))?;
    Ok((new, rax))
}

/// A thread's `stack_t` (sp, flags, size), read with an injected
/// sigaltstack(NULL, buf) into scratch space below its red zone.
fn read_altstack(mem: &ProcMem, tid: Tid, insn: RemoteAddr) -> anyhow::Result<[u64; 3]> {
    let rsp = ptrace::get_regs(tid)?.rsp;
    let buf = RemoteAddr((rsp - 512) & !15);
    let saved = mem.read(buf, 24)?;
    let r = inject::syscall(tid, insn, libc::SYS_sigaltstack, &[0, buf.0]);
    let raw = mem.read(buf, 24);
    mem.write(buf, &saved)?;
    if r? < 0 {
        bail!("cannot read a thread's signal stack");
    }
    let raw = raw?;
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    Ok([word(0), word(1) & 0xffff_ffff, word(2)])
}

fn write_altstack(mem: &ProcMem, tid: Tid, insn: RemoteAddr, ss: [u64; 3]) -> anyhow::Result<()> {
    let rsp = ptrace::get_regs(tid)?.rsp;
    let buf = RemoteAddr((rsp - 512) & !15);
    let saved = mem.read(buf, 24)?;
    let mut raw = Vec::with_capacity(24);
    raw.extend_from_slice(&ss[0].to_le_bytes());
    raw.extend_from_slice(&(ss[1] & !(libc::SS_ONSTACK as u64)).to_le_bytes());
    raw.extend_from_slice(&ss[2].to_le_bytes());
    mem.write(buf, &raw)?;
    let r = inject::syscall(tid, insn, libc::SYS_sigaltstack, &[buf.0, 0]);
    mem.write(buf, &saved)?;
    if r? < 0 {
        bail!("cannot give a copied thread its signal stack");
    }
    Ok(())
}
