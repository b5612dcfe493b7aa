//! Syscall stops: what the recorder does at entry and exit, driven by the
//! syscall table (`crate::syscalls`) and its hooks.

use std::os::unix::fs::MetadataExt;

use anyhow::Context;
use trace_format::{
    EventKind, MemWrite, RemoteAddr, StdStream, SyscallExtra, SyscallMode, TaskKind,
};

use super::session::Recorder;
use super::shared::{self, Files};
use super::threads::{InSyscall, Process, State};
use crate::syscalls::{self, Alters, Hook, Replay};
use crate::tracee::{
    ptrace,
    regs::{set_syscall_arg, syscall_args},
    wait, Tid,
};

impl Recorder {
    /// The signal stack `sigaltstack(ss, …)` gives `tid` (`stack_t` at
    /// `ss`: sp, flags, size): Go gives each M its gsignal stack this way.
    fn note_altstack(&mut self, tid: Tid, ss: u64) {
        let Some(st) = self
            .t
            .proc_of(tid)
            .and_then(|p| p.mem.read(RemoteAddr(ss), 24).ok())
        else {
            return;
        };
        let word = |i: usize| u64::from_le_bytes(st[i..i + 8].try_into().unwrap_or([0; 8]));
        let (sp, flags, size) = (word(0), word(8) as u32 as i32, word(16));
        if let Some(th) = self.t.get(tid) {
            th.altstack =
                (flags & libc::SS_DISABLE == 0 && size > 0).then(|| (sp, sp.saturating_add(size)));
        }
    }

    pub(super) fn on_syscall_entry(&mut self, tid: Tid) -> anyhow::Result<()> {
        let mut regs = ptrace::get_regs(tid)?;
        let nr = regs.orig_rax as i64;
        let args = syscall_args(&regs);
        let spec = syscalls::lookup(nr);
        if spec.is_none() {
            self.warn_once(
                nr,
                "is not known to rrgo: recorded without its memory effects; replay may diverge",
            );
        }
        if spec.is_some_and(|s| s.hook == Hook::Ioctl) && !syscalls::ioctl::known(args[1]) {
            self.warn_unknown_ioctl(args[1] & 0xffff_ffff);
        }
        self.append(tid, EventKind::SyscallEntry { nr, args, regs })?;
        self.stats.syscalls += 1;
        if spec.is_some_and(|s| s.hook == Hook::SignalStack) && args[0] != 0 {
            self.note_altstack(tid, args[0]);
        }
        if spec.is_some_and(|s| s.hook == Hook::Exit) {
            // No code of this process runs again: a later change to a file it
            // maps shared must not become a `Pages` event for memory that
            // replay's process, already gone, no longer has.
            if let Some(p) = self.t.proc_of_mut(tid) {
                p.shared = Default::default();
            }
        }
        if self.seccomp
            && spec.is_some_and(|s| matches!(s.hook, Hook::StateOnly | Hook::SignalStack))
        {
            // Replay executes it and gets the same result: no exit stop.
            self.append(
                tid,
                EventKind::SyscallExit {
                    nr,
                    result: 0,
                    writes: Vec::new(),
                    mode: SyscallMode::Executed,
                    extra: SyscallExtra::ResultNotRecorded,
                },
            )?;
            self.stats.answered_at_entry += 1;
            let unrun: Vec<(u64, u64)> = match (spec, self.t.proc_of(tid)) {
                (Some(spec), Some(p)) => {
                    syscalls::in_flight_ranges(spec, &args, &Default::default(), &p.mem)
                        .into_iter()
                        .map(|(a, len)| (a.0, a.0.saturating_add(len)))
                        .collect()
                }
                _ => Vec::new(),
            };
            if let Some(th) = self.t.get(tid) {
                // Where it will be once the call returned (they return 0): a
                // signal the call unblocks lands there, at the last stop.
                th.stopped_at(trace_format::Regs { rax: 0, ..regs });
                th.unrun = unrun;
            }
            return self.continue_or_switch(tid);
        }
        if self.seccomp && spec.is_some_and(|s| s.hook == Hook::ClockAtEntry) {
            if let Some(ts) = system_clock(args[0]) {
                let written = self
                    .t
                    .proc_of(tid)
                    .is_some_and(|p| p.mem.write(RemoteAddr(args[1]), &ts).is_ok());
                if written {
                    return self.answer_at_entry(tid, nr, regs, args[1], ts.to_vec());
                }
            }
        }

        let mem = self.t.proc_of(tid).map(|p| &p.mem);
        let lens = match (spec, mem) {
            (Some(spec), Some(mem)) => syscalls::entry_lens(spec, &args, mem),
            _ => Default::default(),
        };
        let exec_path = match (spec.map(|s| s.hook), mem) {
            (Some(Hook::Exec), Some(mem)) => {
                let ptr = if nr == libc::SYS_execveat {
                    args[1]
                } else {
                    args[0]
                };
                mem.read_cstr(RemoteAddr(ptr), 4096).ok()
            }
            _ => None,
        };
        let mut spliced = None;
        let refused = match spec.map(|s| s.hook) {
            Some(Hook::ZeroCopy { input, out, len }) => {
                match self.output_stream(tid, args[out] as i32) {
                    // Only splice and tee take a pipe.
                    Some(stream) if super::splice::pipe_of(tid, args[input] as i32) => {
                        match self.peek_spliced(tid, &args, input, len, stream, &mut regs) {
                            Ok(s) => {
                                spliced = Some(s);
                                None
                            }
                            Err(errno) => Some(errno),
                        }
                    }
                    // From a file or socket straight into rrgo's output:
                    // "not supported for these fds", and Go, like
                    // coreutils, copies through memory instead.
                    Some(_) => Some(-(libc::EINVAL as i64)),
                    None => None,
                }
            }
            Some(Hook::Refuse(errno)) => {
                // Said once: the program then behaves as on a kernel
                // without the call (a debugger it starts cannot attach).
                // Not for rseq, which every glibc program tries at start.
                if nr != libc::SYS_rseq {
                    let name = std::io::Error::from_raw_os_error(-errno as i32).to_string();
                    let name = name
                        .split(" (os error")
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    self.warn_once(
                        nr,
                        &format!(
                            "is refused under recording ({name}), as rrgo's replay cannot do it"
                        ),
                    );
                }
                Some(errno)
            }
            _ => None,
        };
        if refused.is_some() {
            // An invalid number makes the kernel skip the call.
            regs.orig_rax = u64::MAX;
            ptrace::set_regs(tid, &regs)?;
        }
        let blocks = refused.is_none()
            && spec.is_none_or(|s| {
                self.t
                    .proc_of(tid)
                    .is_none_or(|p| s.blocking.may_block(&args, &p.mem))
            })
            && !spec.is_some_and(|s| self.alters_a_shared_file(tid, s.alters_file, &args));
        let brief = blocks
            && spec.is_some_and(|s| match s.blocking.brief(&args) {
                syscalls::Brief::No => false,
                syscalls::Brief::Yes => true,
                syscalls::Brief::IfRegularFile(fd) => shared::regular_file_of(tid, fd).is_some(),
            });
        if let Some(th) = self.t.get(tid) {
            th.woken_by = None;
            th.syscall = Some(InSyscall {
                nr,
                args,
                spec,
                lens,
                refused,
                exec_path,
                initial_exec: false,
                spliced,
            });
        }
        self.resume_in_kernel(tid)?;
        if brief {
            self.wait_briefly(tid)?;
        } else if blocks {
            self.let_it_sleep(tid);
        } else {
            // A quick call: wait for its exit and keep this thread on the CPU.
            let exec = spec.is_some_and(|s| s.hook == Hook::Exec);
            while self
                .t
                .get(tid)
                .is_some_and(|t| t.syscall.is_some() && t.state == State::Running)
            {
                if exec {
                    self.wait_during_exec()?;
                } else {
                    let w = wait::wait_tid(tid).context("waiting for a syscall to return")?;
                    self.handle_or_vanished(w)?;
                }
            }
        }
        Ok(())
    }

    /// A call that may block but almost always returns at once
    /// (`Blocking::brief`): its thread keeps the CPU while it returns
    /// within `BRIEF_GRACE`, else it sleeps in the kernel as any blocking
    /// call does.
    fn wait_briefly(&mut self, tid: Tid) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + syscalls::BRIEF_GRACE;
        while self
            .t
            .get(tid)
            .is_some_and(|t| t.syscall.is_some() && t.state == State::Running)
        {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match wait::wait_tid_timeout(tid, left).context("waiting for a syscall to return")? {
                Some(w) => self.handle_or_vanished(w)?,
                None => {
                    self.stats.brief_calls_slept += 1;
                    self.let_it_sleep(tid);
                }
            }
        }
        Ok(())
    }

    /// A thread resumed into a call that blocks: it sleeps in the kernel,
    /// others run meanwhile.
    fn let_it_sleep(&mut self, tid: Tid) {
        self.t.stop_running(tid);
        if let Some(th) = self.t.get(tid) {
            if th.state == State::Running {
                th.state = State::InKernel;
            }
        }
    }

    /// One stop of any thread while an execve is in the kernel. A successful
    /// exec kills the process's other threads and waits until they are gone
    /// (the kernel's de_thread), and under ptrace each of them first stops
    /// at its exit event: waiting for the exec'ing thread alone would wait
    /// forever. No other thread runs user code meanwhile (none is resumed
    /// but into its death). Signals sent to rrgo are passed on here too.
    fn wait_during_exec(&mut self) -> anyhow::Result<()> {
        if let Some(w) = wait::wait_any(None).context("waiting for an exec to return")? {
            self.handle(w)?;
        }
        self.forward_signal();
        Ok(())
    }

    /// Completes a call the recorder answered at its seccomp stop: the
    /// kernel skips it (number −1) and returns 0; no exit stop follows.
    fn answer_at_entry(
        &mut self,
        tid: Tid,
        nr: i64,
        mut regs: trace_format::Regs,
        addr: u64,
        data: Vec<u8>,
    ) -> anyhow::Result<()> {
        regs.orig_rax = u64::MAX;
        regs.rax = 0;
        ptrace::set_regs(tid, &regs)?;
        self.stats.answered_at_entry += 1;
        self.append(
            tid,
            EventKind::SyscallExit {
                nr,
                result: 0,
                writes: vec![MemWrite {
                    addr: RemoteAddr(addr),
                    data,
                }],
                mode: SyscallMode::Emulated,
                extra: SyscallExtra::None,
            },
        )?;
        if let Some(th) = self.t.get(tid) {
            th.stopped_at(regs);
        }
        self.continue_or_switch(tid)
    }

    pub(super) fn on_syscall_exit(&mut self, tid: Tid) -> anyhow::Result<()> {
        let call = self.t.get(tid).and_then(|t| t.syscall.as_ref());
        let wake = call.and_then(|sc| super::handoff::futex_wake(sc.nr, &sc.args));
        let cloned = call.is_some_and(|sc| sc.nr == libc::SYS_clone || sc.nr == libc::SYS_clone3);
        let yielded = call.is_some_and(|sc| sc.spec.is_some_and(|s| s.hook == Hook::Yield));
        if self.record_syscall_exit(tid)? {
            if yielded && self.t.running == Some(tid) && self.t.any_runnable_besides(tid) {
                // Go's `osyield` spins (`casgstatus` while the GC scans a
                // stack, `suspendG`) and rrgo's page with a full clock buffer
                // (a thread reading the clock that often is timing a spin).
                self.t.set_stopped(tid);
                return Ok(());
            }
            if let Some(uaddr) = wake {
                self.note_woken_by(tid, uaddr);
            }
            if let Some(uaddr) = wake.filter(|_| super::handoff::enabled()) {
                let woken = ptrace::get_regs(tid)?.rax as i64;
                if self.hand_off(tid, uaddr, woken)? {
                    return Ok(());
                }
            }
            if cloned && super::handoff::enabled() {
                let child = ptrace::get_regs(tid)?.rax as i64;
                if child > 0 && self.hand_to_new_thread(tid, Tid(child as i32)) {
                    return Ok(());
                }
            }
            self.continue_or_switch(tid)?;
        }
        Ok(())
    }

    /// A write to rrgo's stdout/stderr that completed just before the
    /// thread was killed (a fatal signal pending skips the exit stop): its
    /// exit is recorded from the registers at the thread's exit event, so
    /// replay shows the output the program really wrote.
    pub(super) fn record_completed_output(&mut self, tid: Tid) -> anyhow::Result<()> {
        let output = self
            .t
            .get(tid)
            .and_then(|t| t.syscall.as_ref())
            .is_some_and(|sc| {
                sc.refused.is_none()
                    && matches!(
                        sc.spec.map(|s| s.hook),
                        Some(Hook::Output | Hook::OutputIov)
                    )
            });
        if output && (ptrace::get_regs(tid)?.rax as i64) > 0 {
            self.record_syscall_exit(tid)?;
        }
        Ok(())
    }

    /// Records the exit of the thread's syscall in flight; false if there was none.
    fn record_syscall_exit(&mut self, tid: Tid) -> anyhow::Result<bool> {
        let mut regs = ptrace::get_regs(tid)?;
        let Some(sc) = self.t.get(tid).and_then(|t| t.syscall.take()) else {
            return Ok(false);
        };
        if sc.initial_exec {
            self.install_clock_page(tid)?;
            self.start_dirty_tracking(tid);
            if let Some(th) = self.t.get(tid) {
                th.stopped_at(regs);
            }
            return Ok(true);
        }
        if let Some(errno) = sc.refused {
            regs.rax = errno as u64;
            ptrace::set_regs(tid, &regs)?;
        }
        let result = regs.rax as i64;
        // A thread back from a sleep (sysmon's naps) was handed no work: it
        // waits for the CPU like a descheduled thread, not as woken. (A
        // timed-out futex or epoll wait is a timer firing: work, as woken.)
        let slept = sc
            .spec
            .is_some_and(|s| matches!(s.blocking, syscalls::Blocking::Sleep { .. }));
        if let Some(th) = self.t.get(tid) {
            th.slept = slept;
        }
        let mut writes = Vec::new();
        let mut extra = SyscallExtra::None;
        if let Some(s) = sc.spliced {
            // The length as the program passed it (cut at entry).
            set_syscall_arg(&mut regs, s.len_arg, s.len);
            ptrace::set_regs(tid, &regs)?;
            if result > 0 {
                let mut bytes = s.bytes;
                bytes.truncate(result as usize);
                extra = SyscallExtra::Spliced {
                    stream: s.stream,
                    bytes,
                };
            }
        }
        if let Some(spec) = sc.spec {
            if let Some(mem) = self.t.proc_of(tid).map(|p| &p.mem) {
                // A failing read of an output range (unmapped by another thread) records nothing for it.
                for (addr, len) in
                    syscalls::ranges(spec, &sc.args, result, &sc.lens, mem).unwrap_or_default()
                {
                    let data = mem.read_prefix(addr, len as usize);
                    if !data.is_empty() {
                        writes.push(MemWrite { addr, data });
                    }
                }
            }
            match spec.hook {
                Hook::SchedGetaffinity if result > 0 => {
                    // The program sees the CPUs it would have had without rrgo's pinning.
                    let n = (result as usize).min(self.orig_affinity.len());
                    let mask = self.orig_affinity[..n].to_vec();
                    if let Some(mem) = self.t.proc_of(tid).map(|p| &p.mem) {
                        mem.write(RemoteAddr(sc.args[2]), &mask)
                            .context("cannot adjust sched_getaffinity")?;
                    }
                    writes = vec![MemWrite {
                        addr: RemoteAddr(sc.args[2]),
                        data: mask,
                    }];
                }
                Hook::Mmap
                    if result >= 0
                        && sc.args[4] as i32 >= 0
                        && sc.args[3] & libc::MAP_ANONYMOUS as u64 == 0 =>
                {
                    let tgid = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
                    let fd =
                        std::path::PathBuf::from(format!("/proc/{tgid}/fd/{}", sc.args[4] as i32));
                    if let Ok(path) = std::fs::read_link(&fd) {
                        // Copied now, while the program is stopped at the
                        // mmap: the bytes it mapped, from the file it mapped.
                        // A shared mapping's file changes without its mtime
                        // telling (writes through other mappings): stored afresh.
                        let shared = sc.args[3] & libc::MAP_TYPE as u64 != libc::MAP_PRIVATE as u64;
                        let file = self.store_file_fresh(tid, &path, &fd, shared)?;
                        // A shared mapping names its file: replay maps every
                        // shared mapping of one file from one copy (aliases).
                        extra = match shared::file_of(tid, sc.args[4] as i32) {
                            Some((dev, ino)) if shared => {
                                SyscallExtra::MappedSharedFile { file, dev, ino }
                            }
                            _ => SyscallExtra::MappedFile { file },
                        };
                        if sc.args[2] & libc::PROT_EXEC as u64 != 0 {
                            let sites = self.exe_facts(&fd).rand_sites;
                            if let Some(p) = self.t.proc_of_mut(tid) {
                                writes.extend(super::session::cover_rand_sites(
                                    &p.mem,
                                    &sites,
                                    result as u64,
                                    sc.args[1],
                                    sc.args[5],
                                    &mut p.rand_sites,
                                ));
                            }
                        }
                    }
                }
                Hook::Clone if result > 0 => {
                    // The kernel stores the child's tid (and a pidfd number) in
                    // parent memory; replay's live values differ, so the
                    // recorded ones are written back over them.
                    if let Some(mem) = self.t.proc_of(tid).map(|p| &p.mem) {
                        for addr in clone_parent_writes(sc.nr, &sc.args, mem) {
                            let data = mem.read_prefix(addr, 4);
                            if data.len() == 4 {
                                writes.push(MemWrite { addr, data });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(spec) = sc.spec.filter(|s| !s.sends.is_empty()) {
            let digest = self
                .t
                .proc_of(tid)
                .and_then(|p| match self.redact.is_active() {
                    // Over the bytes as replay will send them.
                    true => self.redact.sent_digest(spec, &sc.args, result, &p.mem),
                    false => syscalls::sent_digest(spec, &sc.args, result, &p.mem),
                });
            if let Some(digest) = digest {
                let stream = match spec.hook {
                    Hook::Output | Hook::OutputIov if result > 0 => {
                        self.output_stream(tid, sc.args[0] as i32)
                    }
                    _ => None,
                };
                extra = SyscallExtra::Sent { digest, stream };
            }
        }
        // Looking the file up costs a /proc read on every write: only when
        // some process maps a file shared.
        let any_shared = self.t.procs.values().any(|p| !p.shared.is_empty());
        let altered = match sc.spec.map(|s| s.alters_file) {
            _ if result < 0 || !any_shared => None,
            Some(Alters::Fd(arg)) => {
                Some(match shared::file_of(tid, sc.args[arg as usize] as i32) {
                    Some(file) => Files::Only([file].into()),
                    None => Files::All,
                })
            }
            Some(Alters::Named) => Some(Files::All),
            Some(Alters::Nothing) | None => None,
        };
        if let Some(which) = altered {
            self.refresh_shared_mappings(tid, &mut writes, which)?;
        }
        match sc.spec.map(|s| s.hook) {
            Some(Hook::Exec) if result == 0 => {
                // The new program has no signal stack yet.
                if let Some(th) = self.t.get(tid) {
                    th.altstack = None;
                }
                self.install_clock_page(tid)?;
                self.start_dirty_tracking(tid)
            }
            // Memory the program cannot write (a PROT_NONE reservation: Go
            // reserves hundreds of MB this way; a read-only file) is not
            // tracked: write-protecting costs ~3 ms per 512 MB, and the
            // kernel's mlock of a read-only shared file page that was
            // evicted under a write-protect marker spins forever. It is
            // tracked once mprotect or a MAP_FIXED mmap makes it writable.
            Some(Hook::Mmap) if result >= 0 && sc.args[2] & libc::PROT_WRITE as u64 != 0 => {
                self.note_shared_mapping(tid, &sc.args, result as u64);
                self.track_new_memory(tid, result as u64, sc.args[1])
            }
            Some(Hook::Mmap) if result >= 0 => {
                self.note_shared_mapping(tid, &sc.args, result as u64)
            }
            Some(Hook::Protect) if result == 0 && sc.args[2] & libc::PROT_WRITE as u64 != 0 => {
                self.track_new_memory(tid, sc.args[0], sc.args[1])
            }
            Some(Hook::NewMemory) if result > 0 => self.track_new_memory(tid, 0, 0),
            Some(Hook::Unmap) if result == 0 => {
                if let Some(p) = self.t.proc_of_mut(tid) {
                    p.shared.forget(sc.args[0], sc.args[1]);
                }
            }
            _ => {}
        }
        let mode = match sc.spec {
            Some(spec) if spec.replay == Replay::Execute && sc.refused.is_none() => {
                SyscallMode::Executed
            }
            _ => SyscallMode::Emulated,
        };
        self.append(
            tid,
            EventKind::SyscallExit {
                nr: sc.nr,
                result,
                writes,
                mode,
                extra,
            },
        )?;
        if let Some(th) = self.t.get(tid) {
            th.stopped_at(regs);
        }
        Ok(true)
    }

    /// Whether a call changes a file some process maps shared (a write to
    /// such a file's descriptor). It runs to its exit before another thread
    /// runs: while it was in the kernel a thread reading the mapping saw
    /// the old or the new bytes depending on which ran first on the CPU,
    /// and the change, recorded at the call's exit, reached replay's copy
    /// after the read (`mapshared children`: "child saw 11", 1 recording in
    /// ~100 under load). A write to a regular file returns promptly.
    fn alters_a_shared_file(&self, tid: Tid, alters: Alters, args: &[u64; 6]) -> bool {
        let Alters::Fd(arg) = alters else {
            return false;
        };
        if self.t.procs.values().all(|p| p.shared.is_empty()) {
            return false;
        }
        // Only a regular file: a pipe's or socket's write may wait for a
        // reader that must run meanwhile.
        let Some(file) = shared::regular_file_of(tid, args[arg as usize] as i32) else {
            return false;
        };
        self.t.procs.values().any(|p| p.shared.maps_file(file))
    }

    /// A mapping made by mmap replaces whatever shared mapping was there; a
    /// readable shared file mapping is watched from now on (`shared.rs`).
    fn note_shared_mapping(&mut self, tid: Tid, args: &[u64; 6], addr: u64) {
        let Some(p) = self.t.proc_of_mut(tid) else {
            return;
        };
        let shared = args[3] & libc::MAP_TYPE as u64 != libc::MAP_PRIVATE as u64;
        let file = args[3] & libc::MAP_ANONYMOUS as u64 == 0 && args[4] as i32 >= 0;
        if shared && file && args[2] & libc::PROT_READ as u64 != 0 {
            let (id, storable) = shared::open_file(tid, args[4] as i32);
            p.shared.add(&p.mem, addr, args[1], id, storable);
            if storable {
                // It may store into it before another process runs.
                let tgid = self.t.get(tid).map_or(tid.0, |t| t.tgid);
                let files = match id {
                    Some(f) => Files::Only([f].into()),
                    None => Files::All,
                };
                self.others_may_see(tgid, Some(files));
            }
        } else {
            p.shared.forget(addr, args[1]);
        }
    }

    /// After a call that may have changed a file: the pages of every
    /// process's shared mappings of it (`which`) that changed. The caller's
    /// go into its exit event's writes; another process's become a `Pages`
    /// event of its main thread, applied before it runs again.
    fn refresh_shared_mappings(
        &mut self,
        tid: Tid,
        writes: &mut Vec<MemWrite>,
        which: Files,
    ) -> anyhow::Result<()> {
        let caller = self.t.get(tid).map(|t| t.tgid).unwrap_or(tid.0);
        // A thread of another process may be running user code meanwhile
        // (`tid` gave up the CPU for its call). Its process's pages hold
        // part of its slice's stores, which replay re-executes only when
        // that slice's event comes: writing them now would apply them
        // twice (Go's telemetry counters counted twice). Its process is
        // looked at once no thread of it runs (`shared_stores_pending`).
        let busy = self
            .t
            .running
            .filter(|&r| r != tid)
            .and_then(|r| self.t.get(r))
            .filter(|t| t.state == State::Running)
            .map(|t| t.tgid);
        let mut others = Vec::new();
        for (&tgid, p) in self.t.procs.iter_mut() {
            if p.shared.is_empty() {
                continue;
            }
            if Some(tgid) == busy {
                Files::add_to(&mut self.shared_pending, tgid, which.clone());
                continue;
            }
            let changed = p.shared.changes(&p.mem, &which);
            if changed.is_empty() {
                continue;
            }
            self.stats.shared_map_updates += changed.len() as u64;
            if tgid == caller {
                writes.extend(changed);
            } else {
                others.push((tgid, changed));
            }
        }
        for (tgid, pages) in others {
            self.record_shared_pages(tgid, pages)?;
        }
        Ok(())
    }

    /// Another process's pages as a `Pages` event of `tgid`'s main thread.
    fn record_shared_pages(&mut self, tgid: i32, pages: Vec<MemWrite>) -> anyhow::Result<()> {
        // Not `append`: that would empty rrgo's page of that process,
        // whose thread may be running user code right now (this call
        // may have let others run while it was in the kernel).
        let mut event = EventKind::Pages { pages };
        self.redact(Tid(tgid), &mut event);
        // Replay keeps a thread's `Pages` for its next preemption when that
        // comes next (`on_event`): these are not the preemption's, so they
        // go to a thread whose next event cannot be one, a thread inside a
        // blocking call (else the main thread). With the main thread about
        // to be preempted, replay wrote the pages at the point, over the
        // stores of the slice before it.
        let owner = self
            .t
            .threads
            .iter()
            .filter(|(_, t)| t.tgid == tgid && t.state == State::InKernel)
            .map(|(tid, _)| *tid)
            .min()
            .unwrap_or(Tid(tgid));
        self.writer.append(event, trace_format::RecTid(owner.0))?;
        Ok(())
    }

    /// `tid` is about to run after a thread of another process ran: that
    /// process may have stored into a file both map shared (Go's telemetry
    /// counters are atomic adds in a mapped file, by `go` and every tool it
    /// runs), which no call announces. Replay's mapping is a private copy,
    /// so the pages of such files that changed since `tid`'s process last
    /// looked are recorded for it before it runs. Only files another
    /// process could store into while it ran are compared: the process's
    /// own stores replay re-executes, and reading all of its mappings at
    /// every switch read 3 GB each time (a runtime test maps one 64 KiB
    /// file 49,152 times while its children run).
    pub(super) fn shared_stores_of_others(&mut self, tid: Tid) -> anyhow::Result<()> {
        self.shared_stores_pending()?;
        let Some(tgid) = self.t.get(tid).map(|t| t.tgid) else {
            return Ok(());
        };
        if self.last_tgid == Some(tgid) {
            return Ok(());
        }
        self.last_tgid = Some(tgid);
        // This process may store from now on: the others look at its files.
        let storable = self.t.procs.get(&tgid).and_then(|p| p.shared.storable());
        self.others_may_see(tgid, storable);
        let Some(stale) = self.shared_stale.remove(&tgid) else {
            return Ok(());
        };
        self.record_shared_changes(tgid, &stale)
    }

    /// Every process but `tgid` that maps a file shared compares `files`
    /// before it next runs.
    pub(super) fn others_may_see(&mut self, tgid: i32, files: Option<Files>) {
        let Some(files) = files else { return };
        for (&other, p) in &self.t.procs {
            if other != tgid && !p.shared.is_empty() {
                Files::add_to(&mut self.shared_stale, other, files.clone());
            }
        }
    }

    /// The processes whose shared pages a file change left unlooked at
    /// because one of their threads was running user code: no thread runs
    /// now (another is about to), so their pages hold whole slices' stores.
    fn shared_stores_pending(&mut self) -> anyhow::Result<()> {
        for (tgid, which) in std::mem::take(&mut self.shared_pending) {
            self.record_shared_changes(tgid, &which)?;
        }
        Ok(())
    }

    /// `tgid`'s shared pages of `which` files that changed since last seen,
    /// as a `Pages` event.
    fn record_shared_changes(&mut self, tgid: i32, which: &Files) -> anyhow::Result<()> {
        let Some(p) = self.t.procs.get_mut(&tgid) else {
            return Ok(());
        };
        if p.shared.is_empty() {
            return Ok(());
        }
        let changed = p.shared.changes(&p.mem, which);
        if changed.is_empty() {
            return Ok(());
        }
        self.stats.shared_map_updates += changed.len() as u64;
        self.record_shared_pages(tgid, changed)
    }

    /// The bytes a splice or tee from a pipe is about to move into rrgo's
    /// `stream`, copied (`record::splice`), with the call's length cut to
    /// them; an errno to refuse the call with if they cannot be had (an
    /// empty pipe: EAGAIN, as a non-blocking pipe answers).
    fn peek_spliced(
        &mut self,
        tid: Tid,
        args: &[u64; 6],
        input: usize,
        len_arg: usize,
        stream: StdStream,
        regs: &mut trace_format::Regs,
    ) -> Result<super::threads::Spliced, i64> {
        let len = args[len_arg];
        let tgid = self.t.get(tid).map_or(tid.0, |t| t.tgid);
        let bytes = match super::splice::peek_pipe(tgid, args[input] as i32, len as usize) {
            Ok(b) if b.is_empty() => return Err(-(libc::EAGAIN as i64)),
            Ok(b) => b,
            Err(e) => {
                tracing::debug!("cannot copy the bytes a splice moves to {stream:?}: {e}");
                return Err(-(libc::EINVAL as i64));
            }
        };
        if (bytes.len() as u64) < len {
            set_syscall_arg(regs, len_arg, bytes.len() as u64);
            if ptrace::set_regs(tid, regs).is_err() {
                return Err(-(libc::EINVAL as i64));
            }
        }
        Ok(super::threads::Spliced {
            stream,
            bytes,
            len_arg,
            len,
        })
    }

    /// Which of rrgo's own output streams `fd` of the writing process is.
    fn output_stream(&self, tid: Tid, fd: i32) -> Option<StdStream> {
        // The writing thread's own view: once the leader has exited (a dying
        // process), /proc/TGID/fd is empty.
        let meta = std::fs::metadata(format!("/proc/{}/fd/{fd}", tid.0)).ok()?;
        let id = Some((meta.dev(), meta.ino()));
        // A terminal shared by stdout and stderr is told apart by the fd number.
        match (fd, id == self.std_streams[0], id == self.std_streams[1]) {
            (1, true, _) => Some(StdStream::Stdout),
            (2, _, true) => Some(StdStream::Stderr),
            (_, true, _) => Some(StdStream::Stdout),
            (_, _, true) => Some(StdStream::Stderr),
            _ => None,
        }
    }

    /// PTRACE_EVENT_CLONE/FORK/VFORK in the parent `tid`.
    pub(super) fn on_clone(&mut self, tid: Tid, event: i32) -> anyhow::Result<()> {
        let child = Tid(ptrace::event_msg(tid)? as i32);
        let (nr, args, parent_tgid) = match self.t.get(tid) {
            Some(th) => (
                th.syscall.as_ref().map(|s| s.nr).unwrap_or(0),
                th.syscall.as_ref().map(|s| s.args).unwrap_or([0; 6]),
                th.tgid,
            ),
            None => (0, [0; 6], tid.0),
        };
        let flags = match (event, nr) {
            (libc::PTRACE_EVENT_FORK, _) => libc::SIGCHLD as u64,
            (libc::PTRACE_EVENT_VFORK, n) if n != libc::SYS_clone && n != libc::SYS_clone3 => {
                (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64
            }
            (_, n) if n == libc::SYS_clone3 => self
                .t
                .proc_of(tid)
                .and_then(|p| p.mem.read_u64(RemoteAddr(args[0])).ok())
                .unwrap_or(0),
            _ => args[0],
        };
        let thread = flags & libc::CLONE_THREAD as u64 != 0;
        let tgid = if thread { parent_tgid } else { child.0 };
        match self.t.get(child) {
            Some(th) => th.tgid = tgid,
            None => self.t.add(child, tgid, State::Starting),
        }
        if !thread {
            let mem = crate::tracee::mem::ProcMem::open(child.0)
                .context("cannot open a child process's memory")?;
            let pages = self
                .t
                .procs
                .get(&parent_tgid)
                .map(|p| p.pages.clone())
                .unwrap_or_default();
            let clock = self.t.procs.get(&parent_tgid).is_some_and(|p| p.clock);
            // A forked child shares its parent's shared mappings and code.
            let (shared, rand_sites) = self
                .t
                .procs
                .get(&parent_tgid)
                .map(|p| {
                    let shared = match flags & libc::CLONE_VM as u64 {
                        0 => p.shared.clone(),
                        _ => p.shared.of_clone_in_same_memory(),
                    };
                    (shared, p.rand_sites.clone())
                })
                .unwrap_or_default();
            self.t.procs.insert(
                child.0,
                Process {
                    mem,
                    pages,
                    dirty: None,
                    clock,
                    clock_pending: false,
                    shared,
                    rand_sites,
                    code: None,
                },
            );
            self.stats.processes += 1;
        }
        self.stats.threads += 1;
        let kind = if thread {
            TaskKind::Thread
        } else {
            TaskKind::Process
        };
        self.append(
            child,
            EventKind::TaskCreate {
                parent: trace_format::RecTid(tid.0),
                child: trace_format::RecTid(child.0),
                kind,
                clone_flags: flags,
            },
        )?;
        let born = match self.t.get(child) {
            Some(th) => {
                th.announced = true;
                th.state == State::Born
            }
            None => false,
        };
        if born {
            self.t.set_stopped(child);
        }
        // The parent goes on to its syscall exit (for vfork: once the child execs or exits).
        self.resume_in_kernel(tid)
    }
}

/// Parent-memory words a clone call makes the kernel write (CLONE_PARENT_SETTID, CLONE_PIDFD).
pub(crate) fn clone_parent_writes(
    nr: i64,
    args: &[u64; 6],
    mem: &crate::tracee::mem::ProcMem,
) -> Vec<RemoteAddr> {
    let Some(clone) = syscalls::CloneArgs::of(nr, args, |a| mem.read_u64(RemoteAddr(a)).ok())
    else {
        return Vec::new();
    };
    let mut out: Vec<RemoteAddr> = [libc::CLONE_PIDFD, libc::CLONE_PARENT_SETTID]
        .into_iter()
        .filter_map(|flag| clone.stores(flag))
        .map(RemoteAddr)
        .collect();
    // clone's two share one pointer.
    out.dedup();
    out
}

/// Clock `id` now, as the recorder reads it.
pub(super) fn clock_now(id: libc::clockid_t) -> Option<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    (unsafe { libc::clock_gettime(id, &mut ts) } == 0).then_some(ts)
}

/// A system-wide clock's time as `struct timespec`, read by the recorder
/// (per-process and per-thread CPU clocks must be read by the program).
fn system_clock(id: u64) -> Option<[u8; 16]> {
    let id = id as libc::clockid_t;
    if !matches!(
        id,
        libc::CLOCK_REALTIME
            | libc::CLOCK_MONOTONIC
            | libc::CLOCK_MONOTONIC_RAW
            | libc::CLOCK_REALTIME_COARSE
            | libc::CLOCK_MONOTONIC_COARSE
            | libc::CLOCK_BOOTTIME
    ) {
        return None;
    }
    let ts = clock_now(id)?;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&ts.tv_sec.to_le_bytes());
    out[8..].copy_from_slice(&ts.tv_nsec.to_le_bytes());
    Some(out)
}
