//! Applying one recorded event to the replayed process.

use std::io::Write;

use anyhow::{anyhow, Context};
use trace_format::{
    DeliveryPoint, Event, EventKind, ExitStatus, RecTid, RemoteAddr, StdStream, SyscallExtra,
    VdsoSetup,
};

use super::divergence::Divergence;
use super::session::{LiveThread, Output, ReplaySession};
use crate::syscalls::{self, Hook, Replay};
use crate::tracee::wait::{Stop, Waited};
use crate::tracee::{auxv, mem::ProcMem, ptrace, Tid};

fn diverged(e: &Event, expected: impl Into<String>, got: impl Into<String>) -> anyhow::Error {
    anyhow!(Divergence::new(e.time, e.tid, expected, got))
}

/// What a buffered write sent in replay (`head`: its first bytes, if read).
fn sent_differs_text(d: &crate::tracee::clockpage::SentDiffers, head: &[u8]) -> String {
    let mut s = format!(
        "digest {:08x} of the program's bytes (a buffered write to fd {})",
        d.replayed, d.fd
    );
    if !head.is_empty() {
        s.push_str(&format!(", starting {:?}", String::from_utf8_lossy(head)));
    }
    s
}

fn describe(w: &Waited) -> String {
    match w.stop {
        Stop::Syscall => match ptrace::get_regs(w.tid)
            .ok()
            .and_then(|r| crate::tracee::clockpage::sent_differs(&r))
        {
            Some(d) => sent_differs_text(&d, &[]),
            None => "a syscall stop".into(),
        },
        // Where: a fault's divergence names its instruction and address.
        Stop::Signal(s) => match ptrace::get_regs(w.tid) {
            Ok(r) if [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE].contains(&s) => {
                let addr =
                    ptrace::get_siginfo(w.tid).map_or(0, |i| trace_format::SigInfo(i).addr());
                format!(
                    "signal {s} (address {addr:#x}) {}",
                    super::session::describe_pc(w.tid, r.rip)
                )
            }
            _ => format!("signal {s}"),
        },
        Stop::Event { event, .. } => format!("ptrace event {event}"),
        Stop::Exited(c) => format!("thread exit with code {c}"),
        Stop::Killed { sig, .. } => format!("thread killed by signal {sig}"),
    }
}

impl ReplaySession {
    fn thread(&mut self, e: &Event) -> anyhow::Result<&mut LiveThread> {
        self.threads
            .get_mut(&e.tid)
            .ok_or_else(|| diverged(e, "a known thread", "an event for an unknown thread"))
    }

    /// Runs the thread to its next stop (collecting it if it is already in
    /// the kernel). Signals the real kernel sends that the recording does not
    /// expect here — e.g. SIGCHLD when a replayed child really exits — are
    /// dropped: recorded signals are delivered by their own events.
    /// The page's report of a buffered write that sent other bytes than
    /// recorded (`clockpage::SENT_DIFFERS`, a syscall stop with `regs`), as
    /// the divergence it is. Where the replay expected another kind of
    /// stop, `describe` names it.
    fn check_buffered_send(&self, e: &Event, regs: &trace_format::Regs) -> anyhow::Result<()> {
        let Some(d) = crate::tracee::clockpage::sent_differs(regs) else {
            return Ok(());
        };
        let head = self
            .mem(e.tid)
            .map(|m| m.read_prefix(RemoteAddr(d.buf), d.len.min(120) as usize))
            .unwrap_or_default();
        Err(diverged(
            e,
            format!(
                "a write to fd {} through rrgo's call buffer to send {} bytes with digest {:08x}",
                d.fd, d.len, d.recorded
            ),
            sent_differs_text(&d, &head),
        ))
    }

    fn advance(&mut self, e: &Event, expect_signal: Option<i32>) -> anyhow::Result<Waited> {
        let mut resume_sig = None;
        loop {
            let t = self.thread(e)?;
            let live = t.live;
            let mut collected = None;
            if t.in_kernel {
                t.in_kernel = false;
            } else {
                let sig = resume_sig
                    .take()
                    .unwrap_or_else(|| std::mem::take(&mut t.inject));
                let sig = if sig != 0 {
                    self.enter_handler(e, live, sig)?
                } else {
                    0
                };
                if sig == 0 {
                    collected = self.step_over_breakpoint(live)?;
                }
                if collected.is_none() {
                    match ptrace::resume(live, ptrace::Resume::Syscall, sig) {
                        // Killed earlier than recorded (a forged or damaged
                        // trace killed its process): the trace goes on where
                        // the replay cannot.
                        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => {
                            return Err(diverged(
                                e,
                                "the thread to run to this event",
                                "the thread is gone",
                            ))
                        }
                        r => r.with_context(|| format!("cannot resume thread {live}"))?,
                    }
                }
            }
            let w = match collected {
                Some(w) => w,
                None => self.wait_for(live)?,
            };
            if w.stop == Stop::Signal(libc::SIGTRAP) {
                if let Some(hit) = self.debug_trap(e.tid, live)? {
                    return Err(anyhow!(hit));
                }
            }
            if matches!(w.stop, Stop::Event { event, .. } if event == libc::PTRACE_EVENT_STOP) {
                // A group-stop (a replayed SIGSTOP/SIGTSTP): the recorder let
                // the thread run on, and so does replay.
                resume_sig = Some(0);
                continue;
            }
            let t = self.thread(e)?;
            if t.skip_exec_exit && w.stop == Stop::Syscall {
                t.skip_exec_exit = false;
                continue;
            }
            t.skip_exec_exit = false;
            if let Stop::Signal(sig) = w.stop {
                if Some(sig) != expect_signal && !is_fault(live, sig) {
                    tracing::debug!(
                        sig,
                        tid = live.0,
                        "dropping a signal the recording delivers elsewhere"
                    );
                    resume_sig = Some(0);
                    continue;
                }
            }
            return Ok(w);
        }
    }

    /// A thread resting on one of our breakpoints executes the original
    /// instruction first. Returns a stop that is not the step's own trap.
    pub(super) fn step_over_breakpoint(&mut self, live: Tid) -> anyhow::Result<Option<Waited>> {
        if self.breakpoints.is_empty() {
            return Ok(None);
        }
        let mut regs = ptrace::get_regs(live)?;
        let Some(&orig) = self.breakpoints.get(&regs.rip) else {
            return Ok(None);
        };
        let addr = regs.rip;
        let Some(mem) = self.mems.get(&self.main_pid.0) else {
            return Ok(None);
        };
        mem.write(RemoteAddr(addr), &[orig])?;
        ptrace::resume(live, ptrace::Resume::Step, 0)?;
        let w = self.wait_for(live);
        if let Some(mem) = self.mems.get(&self.main_pid.0) {
            let _ = mem.write(RemoteAddr(addr), &[0xcc]);
        }
        let w = w?;
        if w.stop == Stop::Signal(libc::SIGTRAP) {
            regs = ptrace::get_regs(live)?;
            if regs.rip != addr {
                // The instruction under the breakpoint accessed a watched
                // range (a reverse pass breaks on the writing instruction).
                let tid = self.recorded_tid(live);
                if let Some(hit) = self.watch_trap(tid, live)? {
                    return Err(anyhow!(hit));
                }
                return Ok(None);
            }
        }
        Ok(Some(w))
    }

    /// The breakpoint a SIGTRAP came from (int3 reports SI_KERNEL with rip
    /// just past it); rip is moved back onto the breakpoint.
    pub(super) fn breakpoint_trap(&mut self, live: Tid) -> anyhow::Result<Option<u64>> {
        if self.breakpoints.is_empty() {
            return Ok(None);
        }
        let mut regs = ptrace::get_regs(live)?;
        let addr = regs.rip.wrapping_sub(1);
        if !self.breakpoints.contains_key(&addr) {
            return Ok(None);
        }
        let info = ptrace::get_siginfo(live)?;
        if trace_format::SigInfo(info).code() != 0x80 {
            return Ok(None);
        }
        regs.rip = addr;
        ptrace::set_regs(live, &regs)?;
        Ok(Some(addr))
    }

    pub(super) fn apply(&mut self, e: &Event) -> anyhow::Result<()> {
        match &e.kind {
            EventKind::Exec {
                exe_path,
                auxv_random,
                regs,
                vdso,
                code_patches,
                initial_stack,
                exe_file,
                loader_file,
                ..
            } => {
                let old_mem = self.on_exec_stop(e)?;
                self.restore_after_exec(
                    e,
                    old_mem,
                    regs.rsp,
                    initial_stack,
                    *exe_file,
                    *loader_file,
                )?;
                self.on_exec(e, exe_path, auxv_random, regs, vdso, code_patches)
            }
            EventKind::ClockReads { entries } => {
                self.on_page_contents(e, crate::tracee::clockpage::Buffer::Clock, entries)
            }
            EventKind::BufferedCalls { records } => {
                self.on_page_contents(e, crate::tracee::clockpage::Buffer::Calls, records)
            }
            EventKind::SyscallEntry { nr, args, regs } => self.on_entry(e, *nr, args, regs),
            EventKind::SyscallExit {
                nr,
                result,
                writes,
                extra,
                ..
            } => self.on_exit(e, *nr, *result, writes, extra),
            EventKind::Signal {
                signo,
                siginfo,
                point,
                ..
            } => self.on_signal(e, *signo, &siginfo.0, point),
            EventKind::TaskCreate {
                parent,
                child,
                kind,
                ..
            } => self.on_task_create(e, *parent, *child, *kind),
            EventKind::TaskExit { status } => {
                self.awaiting_exit = true;
                let r = self.on_task_exit(e, *status);
                self.awaiting_exit = false;
                r
            }
            EventKind::Pages { pages } => {
                // Written after the thread re-executed its slice up to the preemption.
                let tid = e.tid;
                let before_preempt = self
                    .find_ahead(1, |x| {
                        x.tid == tid
                            && matches!(x.kind, EventKind::Pages { .. } | EventKind::Preempt { .. })
                    })?
                    .is_some();
                if before_preempt {
                    self.pending_pages
                        .entry(tid)
                        .or_default()
                        .extend(pages.iter().cloned());
                    return Ok(());
                }
                self.restore_pages(e, pages)
            }
            EventKind::Preempt {
                regs,
                xstate,
                verbatim,
                hashes,
                first_visit,
            } => self.on_preempt(
                e,
                regs,
                xstate,
                &super::preempt::PointMemory {
                    verbatim,
                    hashes,
                    first_visit: *first_visit,
                    differed: Default::default(),
                },
            ),
            EventKind::Rdtsc { rip, value, aux } => self.on_rdtsc(e, *rip, *value, *aux),
            EventKind::Rdrand { rip, first, value } => self.on_rdrand(e, *rip, *first, *value),
            EventKind::FileStored { .. } => Ok(()),
            EventKind::ProcessExit { status } => {
                self.awaiting_exit = true;
                let r = self.on_process_exit(e, status);
                self.awaiting_exit = false;
                r
            }
        }
    }

    /// A later exec (a child process): the thread reaches its exec stop
    /// now. Returns the memory of the image it left.
    fn on_exec_stop(&mut self, e: &Event) -> anyhow::Result<Option<ProcMem>> {
        if e.time.0 == 0 {
            return Ok(None);
        }
        self.adopt_exec_thread(e)?;
        let live = self.live(e)?;
        let w = self.advance(e, None)?;
        if !matches!(w.stop, Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXEC) {
            return Err(diverged(e, "an exec", describe(&w)));
        }
        let t = self.thread(e)?;
        t.in_kernel = false;
        let tgid = t.tgid;
        // A new image: its search stub page (if any) is mapped anew.
        self.stub_pages.remove(&tgid);
        self.code_maps.remove(&tgid);
        self.unsafe_sites.retain(|(pid, _)| *pid != tgid);
        self.landings.remove(&tgid);
        if tgid == self.main_pid.0 {
            // The probes' code and log went with the old image.
            self.probes = None;
        }
        Ok(self.mems.insert(tgid, ProcMem::open(live.0)?))
    }

    fn on_exec(
        &mut self,
        e: &Event,
        exe_path: &[u8],
        random: &[u8; 16],
        regs: &trace_format::Regs,
        vdso: &VdsoSetup,
        code_patches: &[trace_format::MemWrite],
    ) -> anyhow::Result<()> {
        let live = self.live(e)?;
        let mem = self.mem(e.tid)?;
        let got = ptrace::get_regs(live)?;
        let hide = matches!(vdso, VdsoSetup::Hidden);
        let aux = auxv::fix_at_exec(mem, got.rsp, hide)
            .context("cannot adjust the replayed program's auxv")?;
        mem.write(aux.random_addr, random)?;
        // Replay execs the trace's copy under a path of the recorded length;
        // the program can read that path (AT_EXECFN) without a syscall, so it
        // gets the recorded bytes.
        if let Some(at) = aux.execfn {
            let live = mem.read_cstr(at, 4096).unwrap_or_default();
            if live.len() == exe_path.len() {
                mem.write(at, exe_path)?;
            }
        }
        if let Some(d) = Divergence::regs(e.time, e.tid, "exec", regs, &got) {
            return Err(d.into());
        }
        for p in code_patches {
            mem.write(p.addr, &p.data)
                .context("cannot patch the replayed program's code")?;
        }
        if let VdsoSetup::Patched { base, image } = vdso {
            let live_image = match aux.vdso {
                Some(b) if b == base.0 => crate::tracee::vdso::read(mem, b)?,
                _ => Vec::new(),
            };
            if live_image.len() != image.len() {
                return Err(anyhow!(
                    "this kernel's vDSO ({} bytes at {:#x}) is not the one the program was recorded with ({} bytes at {base}): replay it on the kernel that recorded it, or re-record with RRGO_VDSO=hide",
                    live_image.len(),
                    aux.vdso.unwrap_or(0),
                    image.len()
                ));
            }
            mem.write(*base, image)
                .context("cannot patch the replayed program's vDSO")?;
        }
        if matches!(vdso, VdsoSetup::Patched { .. }) || !code_patches.is_empty() {
            // rrgo's page is mapped at the execve's exit stop, as when
            // recording; the stop is kept for whoever collects it next.
            ptrace::resume(live, ptrace::Resume::Syscall, 0)?;
            let w = self.wait_for(live)?;
            if w.stop != Stop::Syscall {
                return Err(diverged(e, "the exit of execve", describe(&w)));
            }
            crate::tracee::clockpage::install(
                live,
                self.mem(e.tid)?,
                crate::tracee::clockpage::Mode::Replay,
            )
            .context("cannot map rrgo's clock page into the replayed program")?;
            // The preemption-point search's page; without it, searches
            // stop at every visit of the point instead.
            if let Err(err) = crate::tracee::searchstub::map(live, self.mem(e.tid)?) {
                tracing::debug!("no search stub page: {err}");
            }
            self.stashed.entry(live).or_default().push_front(w);
            self.thread(e)?.in_kernel = true;
            return Ok(());
        }
        if e.time.0 != 0 {
            // On to the execve's exit stop, collected at its SyscallExit event.
            ptrace::resume(live, ptrace::Resume::Syscall, 0)?;
            self.thread(e)?.in_kernel = true;
        }
        Ok(())
    }

    /// Clock values or call results the thread takes from rrgo's page on
    /// its way to its next event.
    fn on_page_contents(
        &mut self,
        e: &Event,
        buffer: crate::tracee::clockpage::Buffer,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let mem = self.mem(e.tid)?;
        let provided = match crate::tracee::clockpage::provide(mem, buffer, data) {
            Ok(p) => p,
            // The recorder collects a thread's last page contents at its
            // death; replay killed the process where the death began, and
            // once the kernel tore its memory down (a matter of timing)
            // nothing can use them: the process runs no more user code.
            Err(err) if self.process_dying(e)? => {
                tracing::debug!("page contents for a dead process skipped: {err:#}");
                return Ok(());
            }
            Err(err) => return Err(anyhow::Error::from(err).context("cannot fill rrgo's page")),
        };
        match provided {
            Ok(()) => Ok(()),
            Err(unused) => {
                let what = match buffer {
                    crate::tracee::clockpage::Buffer::Clock => "clock reads",
                    crate::tracee::clockpage::Buffer::Calls => "bytes of buffered syscalls",
                };
                Err(diverged(
                    e,
                    format!("the previous {} {what} to have been used", unused.provided),
                    format!("{} used", unused.used),
                ))
            }
        }
    }

    /// Whether `e`'s process has begun to die in the replay: another of
    /// its threads is past its exit event (a fatal signal or exit_group
    /// ended them all; a lone thread's own exit leaves memory readable, so
    /// only a failed access asks this).
    fn process_dying(&mut self, e: &Event) -> anyhow::Result<bool> {
        let tgid = self.thread(e)?.tgid;
        Ok(self
            .threads
            .iter()
            .any(|(r, t)| *r != e.tid && t.tgid == tgid && t.exited))
    }

    fn on_entry(
        &mut self,
        e: &Event,
        nr: i64,
        args: &[u64; 6],
        regs: &trace_format::Regs,
    ) -> anyhow::Result<()> {
        let w = self.advance(e, None)?;
        if w.stop != Stop::Syscall {
            return Err(diverged(
                e,
                format!("syscall {}", crate::syscall_names::name(nr)),
                describe(&w),
            ));
        }
        let live = w.tid;
        let mut got = ptrace::get_regs(live)?;
        self.check_buffered_send(e, &got)?;
        if let Some(d) = Divergence::regs(
            e.time,
            e.tid,
            &format!("syscall {}", crate::syscall_names::name(nr)),
            regs,
            &got,
        ) {
            return Err(d.into());
        }
        self.thread(e)?.syscall = Some((nr, *args, *regs));
        let spec = syscalls::lookup(nr);
        if spec.is_some_and(|s| s.hook == Hook::Exec) {
            self.prepare_exec(e, live, nr, args, &mut got)?;
        }
        let mut execute = spec.is_some_and(|s| s.replay == Replay::Execute);
        if spec.is_some_and(|s| s.hook == Hook::Prctl) && syscalls::prctl_is_emulated(args[0]) {
            execute = false;
        }
        if execute && spec.is_some_and(|s| s.hook == Hook::Clone) && self.clone_failed(e)? {
            // It failed when recorded (a signal pending made the kernel
            // refuse it with a restart code): running it now would create a
            // task the recording never had.
            execute = false;
        }
        if execute && spec.is_some_and(|s| s.hook == Hook::Mmap) {
            self.prepare_file_mmap(e, live, args, &mut got)?;
        } else if !execute {
            // An invalid number makes the kernel skip the call; the exit event sets the result.
            got.orig_rax = u64::MAX;
            ptrace::set_regs(live, &got)?;
        }
        ptrace::resume(live, ptrace::Resume::Syscall, 0)?;
        self.thread(e)?.in_kernel = true;
        Ok(())
    }

    /// Whether the thread's clone failed when recorded: its exit comes
    /// before any task it created.
    fn clone_failed(&mut self, e: &Event) -> anyhow::Result<bool> {
        let tid = e.tid;
        let next = self.find_ahead(1_000_000, |x| {
            (x.tid == tid && matches!(x.kind, EventKind::SyscallExit { .. }))
                || matches!(x.kind, EventKind::TaskCreate { parent, .. } if parent == tid)
        })?;
        Ok(matches!(
            next,
            Some(Event {
                kind: EventKind::SyscallExit { result, .. },
                ..
            }) if result < 0
        ))
    }

    /// An exec that succeeded when recorded runs the trace's copies (its
    /// path argument is pointed at them for the call, `exe.rs`); one that
    /// failed fails the same way without running (the path may exist now).
    fn prepare_exec(
        &mut self,
        e: &Event,
        live: Tid,
        nr: i64,
        args: &[u64; 6],
        regs: &mut trace_format::Regs,
    ) -> anyhow::Result<()> {
        let tid = e.tid;
        // A non-leader's successful exec is recorded under the leader's id
        // (`adopt_exec_thread`).
        let tgid = self.thread(e)?.tgid;
        let next = self.find_ahead(1_000_000, |x| match x.kind {
            EventKind::Exec { .. } => x.tid == tid || x.tid.0 == tgid,
            EventKind::SyscallExit { .. } => x.tid == tid,
            _ => false,
        })?;
        let Some(Event {
            time,
            kind:
                EventKind::Exec {
                    exe_path,
                    exe_file,
                    script_file,
                    loader_file,
                    ..
                },
            ..
        }) = next
        else {
            regs.orig_rax = u64::MAX;
            ptrace::set_regs(live, regs)?;
            return Ok(());
        };
        let exe = exe_file
            .ok_or_else(|| diverged(e, "an exec the trace stored the program of", "none stored"))?;
        let plan = super::exe::ExecPlan {
            exe,
            script: script_file,
            loader: loader_file,
        };
        let rel = self
            .exec_files
            .lock()
            .map_err(|_| anyhow!("the exec copies' lock is poisoned"))?
            .prepare(&self.reader, &plan, exe_path.len(), time.0)?;
        let ptr = RemoteAddr(if nr == libc::SYS_execveat {
            args[1]
        } else {
            args[0]
        });
        let mem = self.mem(e.tid)?;
        let old = mem.read(ptr, exe_path.len() + 1)?;
        let mut new = rel.as_os_str().as_encoded_bytes().to_vec();
        new.push(0);
        mem.write(ptr, &new)?;
        self.exec_restore.insert(e.tid, (ptr, old));
        if nr == libc::SYS_execveat {
            // Relative to replay's cwd, not to a descriptor replay does not have.
            regs.rdi = libc::AT_FDCWD as i64 as u64;
            regs.r8 &= !(libc::AT_EMPTY_PATH as u64);
            ptrace::set_regs(live, regs)?;
        }
        Ok(())
    }

    /// After an exec: the recorded initial stack (replay's paths differ from
    /// the recorded ones, its layout does not), the recorded `PT_INTERP`
    /// bytes where the program's headers are mapped, and the pre-exec
    /// memory's path argument.
    fn restore_after_exec(
        &mut self,
        e: &Event,
        old_mem: Option<ProcMem>,
        rsp: u64,
        initial_stack: &[u8],
        exe_file: Option<trace_format::FileId>,
        loader_file: Option<trace_format::FileId>,
    ) -> anyhow::Result<()> {
        if let (Some((ptr, bytes)), Some(old)) = (self.exec_restore.remove(&e.tid), old_mem) {
            // Gone with the old image unless a vfork parent shares it.
            let _ = old.write(ptr, &bytes);
        }
        let live_rsp = ptrace::get_regs(self.live(e)?)?.rsp;
        let mem = self.mem(e.tid)?;
        // A different layout is a divergence, reported by the register check.
        if !initial_stack.is_empty() && live_rsp == rsp {
            mem.write(RemoteAddr(rsp), initial_stack)
                .context("cannot write the recorded initial stack")?;
        }
        if let (Some(exe), Some(_), Some(entry)) =
            (exe_file, loader_file, super::exe::at_entry(initial_stack))
        {
            // Known from preparing the exec's copy: the file is not read again.
            let files = self
                .exec_files
                .lock()
                .map_err(|_| anyhow!("the exec copies' lock is poisoned"))?;
            if let Some((i, orig)) = files.original_interp(exe) {
                let at = RemoteAddr(i.vaddr.wrapping_add(entry.wrapping_sub(i.entry)));
                let _ = self.mem(e.tid)?.write(at, orig);
            }
        }
        Ok(())
    }

    /// A file mapping becomes an anonymous one at the recorded address
    /// (filled at the exit event): replay has no real file descriptors.
    fn prepare_file_mmap(
        &mut self,
        e: &Event,
        live: Tid,
        args: &[u64; 6],
        regs: &mut trace_format::Regs,
    ) -> anyhow::Result<()> {
        let anon = args[3] & libc::MAP_ANONYMOUS as u64 != 0;
        if anon || args[4] as i32 == -1 {
            return Ok(());
        }
        let tid = e.tid;
        let exit = self.find_ahead(10_000, |x| {
            x.tid == tid && matches!(x.kind, EventKind::SyscallExit { .. })
        })?;
        let Some(Event {
            kind: EventKind::SyscallExit { result, .. },
            ..
        }) = exit
        else {
            return Err(diverged(
                e,
                "the recorded result of this mmap",
                "none in the trace",
            ));
        };
        if result < 0 {
            // It failed when recorded: fail it the same way without executing.
            regs.orig_rax = u64::MAX;
        } else {
            regs.rdi = result as u64;
            regs.r10 = ((args[3] & !(libc::MAP_SHARED as u64 | libc::MAP_SHARED_VALIDATE as u64))
                | (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64)
                & !(libc::MAP_FIXED_NOREPLACE as u64);
            regs.r8 = u64::MAX;
            regs.r9 = 0;
        }
        ptrace::set_regs(live, regs)?;
        Ok(())
    }

    fn on_exit(
        &mut self,
        e: &Event,
        nr: i64,
        result: i64,
        writes: &[trace_format::MemWrite],
        extra: &SyscallExtra,
    ) -> anyhow::Result<()> {
        let w = self.advance(e, None)?;
        if is_exit_event(&w) {
            return self.on_exit_of_dying(e, nr, result, extra, w);
        }
        if w.stop != Stop::Syscall {
            return Err(diverged(
                e,
                format!("the exit of syscall {}", crate::syscall_names::name(nr)),
                describe(&w),
            ));
        }
        let live = w.tid;
        let mut regs = match ptrace::get_regs(live) {
            Err(err) if err.raw_os_error() == Some(libc::ESRCH) && self.process_dying(e)? => {
                return self.exit_of_killed(e, nr, result, extra);
            }
            r => r?,
        };
        // Not recorded: this execution's result is the result.
        let result = match extra {
            SyscallExtra::ResultNotRecorded => regs.rax as i64,
            _ => result,
        };
        let (entry_nr, args, entry_regs) =
            self.thread(e)?.syscall.take().unwrap_or((nr, [0; 6], regs));
        let spec = syscalls::lookup(nr);
        let executed =
            spec.is_some_and(|s| s.replay == Replay::Execute) && regs.orig_rax != u64::MAX;
        if executed {
            let hook = spec.map(|s| s.hook).unwrap_or(Hook::None);
            let live_result = regs.rax as i64;
            let tolerated = matches!(
                hook,
                Hook::Clone | Hook::TidResult | Hook::Sigreturn | Hook::Exec
            );
            if live_result != result && !tolerated {
                return Err(diverged(
                    e,
                    format!("{} to return {result}", crate::syscall_names::name(nr)),
                    format!("{live_result}"),
                ));
            }
        }
        // A sigreturn set every register, and so did a successful exec (the
        // new program starts with them zeroed, as when recording).
        let set_all = match spec.map(|s| s.hook) {
            Some(Hook::Sigreturn) => true,
            Some(Hook::Exec) => result == 0,
            _ => false,
        };
        if !set_all {
            // Registers as the program saw them: arguments untouched, the recorded
            // result, and the real syscall number (so a signal can restart it).
            regs.rdi = entry_regs.rdi;
            regs.rsi = entry_regs.rsi;
            regs.rdx = entry_regs.rdx;
            regs.r10 = entry_regs.r10;
            regs.r8 = entry_regs.r8;
            regs.r9 = entry_regs.r9;
            regs.orig_rax = entry_nr as u64;
            regs.rax = result as u64;
            if syscalls::is_restart_code(result) && !self.signal_follows(e)? {
                // The kernel restarted the call because a signal woke the
                // thread but was taken by another one. Replay has no signal
                // pending here, so it does the restart the kernel did.
                regs.rax = if result == syscalls::ERESTART_RESTARTBLOCK {
                    libc::SYS_restart_syscall as u64
                } else {
                    entry_nr as u64
                };
                regs.rip -= 2;
            }
            match ptrace::set_regs(live, &regs) {
                Err(err) if err.raw_os_error() == Some(libc::ESRCH) && self.process_dying(e)? => {
                    return self.exit_of_killed(e, nr, result, extra);
                }
                r => r?,
            }
        }
        if let SyscallExtra::Sent { digest, .. } = extra {
            self.check_sent(e, nr, &args, result, *digest)?;
        }

        match extra {
            SyscallExtra::MappedFile { file } | SyscallExtra::MappedSharedFile { file, .. }
                if result >= 0 =>
            {
                let stored = self.reader.stored_file(*file)?.clone();
                // Once per file: a library is mapped several times per process.
                if self.verified_files.insert(*file) {
                    self.reader
                        .verify_stored_file(&stored)
                        .with_context(|| "the trace's copy of a mapped file is damaged")?;
                }
                let path = self.reader.stored_file_path(&stored);
                let data = std::fs::read(&path)
                    .with_context(|| format!("cannot read the trace's copy {}", path.display()))?;
                let off = args[5] as usize;
                let mut aliased = false;
                if let SyscallExtra::MappedSharedFile { dev, ino, .. } = extra {
                    let tgid = self.thread(e)?.tgid;
                    let mem = self
                        .mems
                        .get(&tgid)
                        .ok_or_else(|| anyhow!("no process for thread {}", e.tid.0))?;
                    aliased = self.shared.map(
                        (tgid, *dev, *ino),
                        live,
                        mem,
                        (result as u64, args[1]),
                        args[2],
                        off as u64,
                        data.get(off..).unwrap_or_default(),
                    )?;
                }
                let len = (args[1] as usize).min(data.len().saturating_sub(off));
                if len > 0 && !aliased {
                    self.mem(e.tid)?
                        .write(RemoteAddr(result as u64), &data[off..off + len])?;
                }
            }
            SyscallExtra::Sent {
                stream: Some(stream),
                ..
            } if result > 0 => {
                let bytes = self.sent_bytes(e.tid, nr, &args, result)?;
                self.emit(*stream, bytes);
            }
            SyscallExtra::Spliced { stream, bytes } if result > 0 => {
                self.emit(*stream, bytes.clone());
            }
            _ => {}
        }
        // After the mapped file's contents: an mmap's writes are rrgo's own
        // patches of that code (`int3` over RDRAND).
        let mem = self.mem(e.tid)?;
        for w in writes {
            self.shared
                .write(mem, w.addr, &w.data)
                .with_context(|| format!("cannot write syscall results at {}", w.addr))?;
        }
        Ok(())
    }

    /// A sending call sent what it sent when recorded (compared by digest):
    /// otherwise this replay computed other bytes, which must not pass
    /// silently even when nothing else differs.
    fn check_sent(
        &self,
        e: &Event,
        nr: i64,
        args: &[u64; 6],
        result: i64,
        recorded: u32,
    ) -> anyhow::Result<()> {
        let Some(spec) = syscalls::lookup(nr) else {
            return Ok(());
        };
        let mem = self.mem(e.tid)?;
        let Some(got) = syscalls::sent_digest(spec, args, result, mem) else {
            return Ok(());
        };
        if got == recorded {
            return Ok(());
        }
        let head: Vec<u8> = self
            .sent_bytes(e.tid, nr, args, result)
            .unwrap_or_default()
            .into_iter()
            .take(120)
            .collect();
        Err(diverged(
            e,
            format!(
                "{} to send bytes with digest {recorded:08x}",
                crate::syscall_names::name(nr)
            ),
            format!(
                "digest {got:08x} ({} bytes, starting {:?})",
                result,
                String::from_utf8_lossy(&head)
            ),
        ))
    }

    /// The bytes a sending call sent, read from the replayed process.
    fn sent_bytes(
        &self,
        tid: RecTid,
        nr: i64,
        args: &[u64; 6],
        result: i64,
    ) -> anyhow::Result<Vec<u8>> {
        let mem = self.mem(tid)?;
        let Some(spec) = syscalls::lookup(nr) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (addr, len) in syscalls::sent_ranges(spec, args, result, mem)? {
            out.extend(mem.read(addr, len as usize)?);
        }
        Ok(out)
    }

    fn emit(&mut self, stream: StdStream, bytes: Vec<u8>) {
        match &mut self.output {
            Output::Passthrough => {
                // A closed stdout (`| head`) must not stop the replay.
                let _ = match stream {
                    StdStream::Stdout => std::io::stdout()
                        .write_all(&bytes)
                        .and_then(|_| std::io::stdout().flush()),
                    StdStream::Stderr => std::io::stderr().write_all(&bytes),
                };
            }
            Output::Capture(v) => v.push((stream, bytes)),
            Output::Discard => {}
        }
    }

    fn on_signal(
        &mut self,
        e: &Event,
        signo: i32,
        siginfo: &[u8; 128],
        point: &DeliveryPoint,
    ) -> anyhow::Result<()> {
        let live = self.live(e)?;
        if *point == DeliveryPoint::AtLastStop && self.thread(e)?.signalled != Some(e.time) {
            self.thread(e)?.signalled = Some(e.time);
            let rec_tgid = self.thread(e)?.tgid;
            let tgid = *self.pids.get(&rec_tgid).unwrap_or(&live.0);
            // SAFETY: a signal to our own tracee thread.
            unsafe { libc::syscall(libc::SYS_tgkill, tgid, live.0, signo) };
        }
        let w = self.advance(e, Some(signo))?;
        if w.stop != Stop::Signal(signo) {
            return Err(diverged(e, format!("signal {signo}"), describe(&w)));
        }
        let mut regs = ptrace::get_regs(live)?;
        let tgid = self.thread(e)?.tgid;
        if let Some(original) = self.unrelocated(tgid, regs.rip) {
            // A fault in an index probe's copy of the program's instruction:
            // the registers are the program's but for rip.
            regs.rip = original;
            ptrace::set_regs(live, &regs)?;
        }
        let rip = regs.rip;
        self.landings.entry(tgid).or_default().insert(rip);
        ptrace::set_siginfo(live, siginfo)?;
        self.thread(e)?.inject = signo;
        Ok(())
    }

    fn on_task_create(
        &mut self,
        e: &Event,
        parent: RecTid,
        child: RecTid,
        kind: trace_format::TaskKind,
    ) -> anyhow::Result<()> {
        let p = self
            .threads
            .get(&parent)
            .ok_or_else(|| diverged(e, "a known parent thread", "an unknown one"))?;
        let (plive, ptgid) = (p.live, p.tgid);
        let live_child = match self.cloned.get_mut(&parent).and_then(|q| q.pop_front()) {
            Some(c) => c,
            None => {
                // The parent is in its clone syscall: its next stop is the clone event.
                let w = self.wait_for(plive)?;
                if !matches!(w.stop, Stop::Event { event, .. } if matches!(event, libc::PTRACE_EVENT_CLONE | libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK))
                {
                    return Err(diverged(e, "the parent to create a task", describe(&w)));
                }
                let c = Tid(ptrace::event_msg(plive)? as i32);
                ptrace::resume(plive, ptrace::Resume::Syscall, 0)?;
                c
            }
        };
        // The child's first stop.
        let w = self.wait_for(live_child)?;
        if !matches!(w.stop, Stop::Event { .. }) {
            return Err(diverged(e, "a new task's first stop", describe(&w)));
        }
        let tgid = match kind {
            trace_format::TaskKind::Thread => ptgid,
            trace_format::TaskKind::Process => {
                self.pids.insert(child.0, live_child.0);
                self.mems.insert(child.0, ProcMem::open(live_child.0)?);
                child.0
            }
        };
        // The kernel wrote the live tid where CLONE_CHILD_SETTID (in the
        // child, as it first ran) and CLONE_PARENT_SETTID (in the parent,
        // before the child ran) asked: the recorded one goes there now. A
        // forked C child passed its own tid from glibc's cache to
        // sched_getaffinity, and so did a new C thread whose call the
        // recorder saw before its parent's clone3 returned (whose exit
        // event also writes the recorded tid, too late for the thread).
        let clone = self
            .threads
            .get(&parent)
            .and_then(|t| t.syscall)
            .and_then(|(nr, args, _)| {
                let pmem = self.mems.get(&ptgid)?;
                crate::syscalls::CloneArgs::of(nr, &args, |a| pmem.read_u64(RemoteAddr(a)).ok())
            });
        let settids = [
            (clone.and_then(|c| c.child_settid()), tgid),
            (clone.and_then(|c| c.parent_settid()), ptgid),
        ];
        for (addr, pid) in settids {
            let Some(addr) = addr else { continue };
            let mem = self
                .mems
                .get(&pid)
                .ok_or_else(|| diverged(e, "the new task's or its parent's memory", "none"))?;
            mem.write(RemoteAddr(addr), &(child.0 as u32).to_le_bytes())
                .with_context(|| format!("cannot write the new task's tid at {addr:#x}"))?;
        }
        self.threads.insert(
            child,
            LiveThread {
                live: live_child,
                tgid,
                inject: 0,
                syscall: None,
                skip_exec_exit: false,
                in_kernel: false,
                exited: false,
                death: None,
                signalled: None,
            },
        );
        self.watch_new_thread(live_child, tgid);
        Ok(())
    }

    fn on_task_exit(&mut self, e: &Event, status: i32) -> anyhow::Result<()> {
        // A raw wait status: the low 7 bits are the signal that killed it.
        let signo = status & 0x7f;
        if signo != 0 && signo != 0x7f {
            self.cause_death(e, signo)?;
        }
        let t = self.thread(e)?;
        let live = t.live;
        let waited = if t.in_kernel {
            t.in_kernel = false;
            self.wait_for(live)?
        } else {
            match ptrace::resume(live, ptrace::Resume::Syscall, std::mem::take(&mut t.inject)) {
                Ok(()) => self.wait_for(live)?,
                // Already on its way out (killed by an exit_group): collect that.
                Err(_) => self.wait_for(live)?,
            }
        };
        // A thread killed by another's exit_group may first report the exit
        // stop of the (emulated) call it was in: let it go on to its death.
        let mut waited = waited;
        let alone = signo == 0 && {
            let t = self.thread(e)?;
            t.tgid != e.tid.0
                && t.syscall
                    .as_ref()
                    .and_then(|s| syscalls::lookup(s.0))
                    .is_some_and(|s| s.hook == Hook::ExitThread)
        };
        // Another thread's exec kills this one: its SIGKILL ends whatever
        // stop the thread is in. Resumed from an emulated call's exit stop
        // before the kill came, it ran Go code it never ran when recorded
        // (`exec_from_another_thread`: SIGSEGV in ~3 % of runs under load).
        let exec_kill = self.exec_in_progress(e)?;
        for _ in 0..8 {
            match waited.stop {
                // The leader killed by the exec with no exit stop of its
                // own (a SIGKILL'd thread stops at none): its id is the
                // exec'ing thread's now, and this is that thread's exec
                // stop — the `Exec` event's, kept for it. Resuming it ran
                // the new image without rrgo (the syscall row: its first
                // rdtsc a SIGSEGV, then no stop for good).
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXEC && exec_kill => {
                    self.stashed.entry(live).or_default().push_front(waited);
                    break;
                }
                Stop::Syscall | Stop::Signal(_) if exec_kill => {
                    // Within the exit wait's deadline (`awaiting_exit`).
                    waited = self.wait_for(live)?;
                }
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXIT => {
                    let _ = ptrace::resume(live, ptrace::Resume::Cont, 0);
                    if alone {
                        // As when recording: dead (its CLONE_CHILD_CLEARTID
                        // word cleared) before the next event.
                        waited = self.wait_for(live)?;
                        continue;
                    }
                    break;
                }
                Stop::Exited(c) => {
                    self.thread(e)?.death = Some(ExitStatus::Code(c));
                    break;
                }
                Stop::Killed { sig, core_dumped } => {
                    self.thread(e)?.death = Some(ExitStatus::Signal {
                        signo: sig,
                        core_dumped,
                    });
                    break;
                }
                // Also a clone the exit_group cut short in the recording may
                // complete here first (its child is released when the process is reaped).
                Stop::Syscall | Stop::Signal(_) | Stop::Event { .. } => {
                    let _ = ptrace::resume(live, ptrace::Resume::Cont, 0);
                    waited = self.wait_for(live)?;
                }
            }
        }
        if !matches!(
            waited.stop,
            Stop::Exited(_) | Stop::Killed { .. } | Stop::Event { .. }
        ) {
            return Err(diverged(e, "the thread to exit", describe(&waited)));
        }
        self.thread(e)?.exited = true;
        if is_exit_event(&waited) && self.exec_in_progress(e)? {
            self.reap_for_exec(e, live)?;
        }
        Ok(())
    }

    /// An exec by a thread other than the thread-group leader: the kernel
    /// gives the exec'ing thread the leader's id (the leader is gone, its
    /// TaskExit applied), and the recording's `Exec` names that id. The
    /// thread in the execve takes over the leader's record and live id.
    fn adopt_exec_thread(&mut self, e: &Event) -> anyhow::Result<()> {
        let leader = self.thread(e)?;
        if leader.in_kernel {
            return Ok(());
        }
        let (tgid, live) = (leader.tgid, leader.live);
        let execing = self.threads.iter().find_map(|(r, t)| {
            (*r != e.tid && t.tgid == tgid && t.in_kernel && in_exec(t)).then_some(*r)
        });
        if let Some(mut t) = execing.and_then(|r| self.threads.remove(&r)) {
            t.live = live;
            self.threads.insert(e.tid, t);
            if let Some(restore) = execing.and_then(|r| self.exec_restore.remove(&r)) {
                self.exec_restore.insert(e.tid, restore);
            }
        }
        Ok(())
    }

    /// Whether another thread of `e`'s process is inside an execve, which
    /// is what killed `e`'s thread.
    fn exec_in_progress(&mut self, e: &Event) -> anyhow::Result<bool> {
        let tgid = self.thread(e)?.tgid;
        Ok(self
            .threads
            .iter()
            .any(|(r, t)| *r != e.tid && t.tgid == tgid && t.in_kernel && in_exec(t)))
    }

    /// An exec waits in the kernel until the threads it killed are reaped
    /// (as the recorder did): collect this one's death now, with the exit
    /// deadline (`awaiting_exit`), instead of at the process's end. A
    /// leader reports no death: the exec'ing thread takes its id
    /// (`adopt_exec_thread`).
    fn reap_for_exec(&mut self, e: &Event, live: Tid) -> anyhow::Result<()> {
        if self.thread(e)?.tgid == e.tid.0 {
            return Ok(());
        }
        let w = self.wait_for(live)?;
        if !matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. }) {
            return Err(diverged(
                e,
                "the thread to die during an exec",
                describe(&w),
            ));
        }
        self.threads.remove(&e.tid);
        Ok(())
    }

    /// Makes the process of `e`'s thread die from `signo` as it did when
    /// recorded, where nothing else in the replay would kill it: a thread
    /// of the process holds the fatal signal for delivery (its `Signal`
    /// event was applied; the recording's kernel killed the process when
    /// the thread resumed), or the signal is a SIGKILL from outside the
    /// recording or from another recorded process (its kill or
    /// pidfd_send_signal is emulated), which no event delivers: replay
    /// sends it itself, at the first sign of the death in the trace.
    fn cause_death(&mut self, e: &Event, signo: i32) -> anyhow::Result<()> {
        let tgid = self.thread(e)?.tgid;
        let holder = self
            .threads
            .iter()
            .find(|(r, t)| {
                **r != e.tid && t.tgid == tgid && !t.exited && !t.in_kernel && t.inject == signo
            })
            .map(|(_, t)| t.live);
        if let Some(live) = holder {
            self.deliver_fatal(e, live, signo)?;
        } else if signo == libc::SIGKILL {
            let Some(&pid) = self.pids.get(&tgid) else {
                return Ok(());
            };
            tracing::debug!(
                pid,
                "the recorded process was killed by SIGKILL: killing it"
            );
            // SAFETY: a signal to our own tracee process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        Ok(())
    }

    /// Resumes `live` with the fatal signal it holds and waits until the
    /// process's death is under way (its exit stop: the kernel has then
    /// told every other thread to die), so no thread runs user code meanwhile.
    fn deliver_fatal(&mut self, e: &Event, live: Tid, signo: i32) -> anyhow::Result<()> {
        if let Some(t) = self.threads.values_mut().find(|t| t.live == live) {
            t.inject = 0;
        }
        ptrace::resume(live, ptrace::Resume::Syscall, signo)
            .with_context(|| format!("cannot resume thread {live}"))?;
        let w = self.wait_for(live)?;
        if !matches!(
            w.stop,
            Stop::Exited(_) | Stop::Killed { .. } | Stop::Event { .. }
        ) {
            return Err(diverged(
                e,
                format!("signal {signo} to kill the process"),
                describe(&w),
            ));
        }
        // Let it go on to its death (held at its exit stop, it would keep
        // the leader from ever reporting); its exit event collects the stop.
        if is_exit_event(&w) {
            let _ = ptrace::resume(live, ptrace::Resume::Cont, 0);
        }
        self.stashed.entry(live).or_default().push_front(w);
        if let Some(t) = self.threads.values_mut().find(|t| t.live == live) {
            t.in_kernel = true;
        }
        Ok(())
    }

    /// The exit of a write recorded at the thread's death (its process was
    /// killed right after the call completed, so the kernel skipped the
    /// exit stop): replay, which killed the process at its first thread
    /// exit, finds the thread dying too. The output is shown; the death
    /// stop waits for the thread's exit event.
    fn on_exit_of_dying(
        &mut self,
        e: &Event,
        nr: i64,
        result: i64,
        extra: &SyscallExtra,
        w: Waited,
    ) -> anyhow::Result<()> {
        self.exit_before_death(e, nr, result, extra, &describe(&w))?;
        // On to its death, as in `deliver_fatal`.
        let _ = ptrace::resume(w.tid, ptrace::Resume::Cont, 0);
        self.stashed.entry(w.tid).or_default().push_front(w);
        Ok(())
    }

    /// The exit of a call whose thread the replay found at its exit stop,
    /// then gone: another thread's exit_group (or a fatal signal) killed the
    /// process between the two, while the recording saw this exit first.
    /// The thread runs no more user code; its death stop comes with its
    /// exit event.
    fn exit_of_killed(
        &mut self,
        e: &Event,
        nr: i64,
        result: i64,
        extra: &SyscallExtra,
    ) -> anyhow::Result<()> {
        tracing::debug!(tid = %e.tid, "a syscall exit of a thread killed meanwhile");
        self.exit_before_death(e, nr, result, extra, "the thread killed")
    }

    /// A syscall exit that the thread's death follows: its next event must
    /// be its exit; what it wrote to the user's output is shown.
    fn exit_before_death(
        &mut self,
        e: &Event,
        nr: i64,
        result: i64,
        extra: &SyscallExtra,
        got: &str,
    ) -> anyhow::Result<()> {
        let tid = e.tid;
        let exit_next = self
            .find_ahead(1_000_000, |x| x.tid == tid)?
            .is_some_and(|x| matches!(x.kind, EventKind::TaskExit { .. }));
        if !exit_next {
            return Err(diverged(
                e,
                format!("the exit of syscall {}", crate::syscall_names::name(nr)),
                got,
            ));
        }
        let args = self.thread(e)?.syscall.take().map(|(_, a, _)| a);
        if let (
            SyscallExtra::Sent {
                stream: Some(stream),
                ..
            },
            Some(args),
        ) = (extra, args)
        {
            if result > 0 {
                let bytes = self.sent_bytes(e.tid, nr, &args, result)?;
                self.emit(*stream, bytes);
            }
        }
        self.thread(e)?.in_kernel = true;
        Ok(())
    }

    fn on_process_exit(&mut self, e: &Event, status: &ExitStatus) -> anyhow::Result<()> {
        if let ExitStatus::Signal { signo, .. } = *status {
            self.cause_death(e, signo)?;
        }
        let t = self.thread(e)?;
        let tgid = t.tgid;
        // Reap every thread of the process (the leader last, as the kernel reports it).
        let mut tids: Vec<(RecTid, Tid)> = self
            .threads
            .iter()
            .filter(|(_, t)| t.tgid == tgid)
            .map(|(r, t)| (*r, t.live))
            .collect();
        tids.sort_by_key(|(r, _)| r.0 == tgid);
        let mut leader_status = None;
        // Threads the trace never announced (cut short by exit_group) die now too.
        self.reaping = Some(tgid);
        let known: Vec<Tid> = self.threads.values().map(|t| t.live).collect();
        let strays: Vec<Tid> = self
            .stashed
            .keys()
            .copied()
            .filter(|t| !known.contains(t) && self.stray_of(*t, tgid))
            .collect();
        for stray in strays {
            self.stashed.remove(&stray);
            let _ = ptrace::resume(stray, ptrace::Resume::Cont, 0);
        }
        // Stops of its own threads collected earlier: all that is left is dying.
        for (_, live) in &tids {
            if let Some(q) = self.stashed.get_mut(live) {
                let before = q.len();
                q.retain(|w| matches!(w.stop, Stop::Exited(_) | Stop::Killed { .. }));
                if q.len() != before {
                    let _ = ptrace::resume(*live, ptrace::Resume::Cont, 0);
                }
            }
        }
        for (rec, live) in tids {
            if let Some(death) = self.threads.get(&rec).and_then(|t| t.death) {
                leader_status = Some(death);
                self.threads.remove(&rec);
                continue;
            }
            loop {
                let w = match self.wait_for(live) {
                    Ok(w) => w,
                    // A thread that will not die: say so rather than report "no exit".
                    Err(err) if err.downcast_ref::<Divergence>().is_some() => return Err(err),
                    Err(_) => break,
                };
                match w.stop {
                    Stop::Exited(c) => {
                        leader_status = Some(ExitStatus::Code(c));
                        break;
                    }
                    Stop::Killed { sig, core_dumped } => {
                        leader_status = Some(ExitStatus::Signal {
                            signo: sig,
                            core_dumped,
                        });
                        break;
                    }
                    _ => {
                        let _ = ptrace::resume(live, ptrace::Resume::Cont, 0);
                    }
                }
            }
            self.threads.remove(&rec);
        }
        if leader_status.as_ref() != Some(status) {
            return Err(diverged(
                e,
                format!(
                    "the process to end with {}",
                    crate::describe::exit_status(status)
                ),
                leader_status
                    .map(|s| crate::describe::exit_status(&s))
                    .unwrap_or_else(|| "no exit".into()),
            ));
        }
        self.reaping = None;
        self.mems.remove(&tgid);
        self.pids.remove(&tgid);
        self.shared.forget_process(tgid);
        if e.tid.0 == self.main_pid.0 {
            self.exit = Some(*status);
        }
        Ok(())
    }

    fn on_preempt(
        &mut self,
        e: &Event,
        regs: &trace_format::Regs,
        xstate: &[u8],
        memory: &super::preempt::PointMemory<'_>,
    ) -> anyhow::Result<()> {
        let t = self.thread(e)?;
        let live = t.live;
        let sig = std::mem::take(&mut t.inject);
        if sig != 0 {
            // Into the handler first, as when recording (the kernel builds
            // the frame and switches masks); a signal without a handler
            // takes its default action here.
            let sig = self.enter_handler(e, live, sig)?;
            // An ignored signal is thrown away and the thread goes on where
            // it stood; the recording may have stopped it again before it
            // ran an instruction (a loaded CPU): the point is where it stands.
            if sig != 0 && crate::tracee::sigframe::discarded(live.0, sig) {
                tracing::trace!(
                    time = e.time.0,
                    sig,
                    "an ignored signal: nothing to deliver"
                );
            } else if sig != 0 {
                ptrace::resume(live, ptrace::Resume::Step, sig)?;
                let w = self.wait_for(live)?;
                // A stop signal's default action is a group-stop (os/exec's
                // tests SIGSTOP a child), as when recording: the thread ran
                // nothing, and the point's search resumes it.
                let group_stop = matches!(w.stop, Stop::Event { event, .. } if event == libc::PTRACE_EVENT_STOP)
                    && matches!(
                        sig,
                        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                    );
                if !matches!(w.stop, Stop::Signal(libc::SIGTRAP)) && !group_stop {
                    return Err(diverged(e, "to enter a signal handler", describe(&w)));
                }
            }
        }
        // Re-execute the slice when possible; jump to the point otherwise.
        self.run_to_point(e, live, regs, memory)?;
        if !xstate.is_empty() {
            ptrace::set_xstate(live, xstate)
                .context("cannot restore FPU state at a preemption point")?;
        }
        ptrace::set_regs(live, regs)?;
        if let Some(pages) = self.pending_pages.remove(&e.tid) {
            self.restore_pages(e, &pages)?;
        }
        // The recorded point comes after all the clock reads recorded before
        // it; a re-run stopped at an earlier visit with equal registers (or a
        // jump) has not made them all. The clock page is not in `Pages`.
        crate::tracee::clockpage::mark_used(self.mem(e.tid)?);
        Ok(())
    }

    /// The thread traps on rrgo's `int3` over an RDRAND/RDSEED (put there
    /// at the exec or mmap, as when recording) and gets the recorded value.
    fn on_rdrand(
        &mut self,
        e: &Event,
        rip: RemoteAddr,
        first: u8,
        value: u64,
    ) -> anyhow::Result<()> {
        let w = self.advance(e, Some(libc::SIGTRAP))?;
        let live = w.tid;
        let mut regs = ptrace::get_regs(live)?;
        if w.stop != Stop::Signal(libc::SIGTRAP) || regs.rip.wrapping_sub(1) != rip.0 {
            return Err(diverged(
                e,
                format!("RDRAND at {rip}"),
                format!("{} at {:#x}", describe(&w), regs.rip),
            ));
        }
        let mut code = [0u8; 15];
        code[0] = first;
        let rest = self.mem(e.tid)?.read_prefix(RemoteAddr(rip.0 + 1), 14);
        code[1..1 + rest.len()].copy_from_slice(&rest);
        let insn = crate::tracee::insn::rand_insn(&code, rip.0)
            .ok_or_else(|| diverged(e, format!("RDRAND at {rip}"), "other code there"))?;
        crate::tracee::insn::apply_rand(&mut regs, rip.0, insn, value);
        ptrace::set_regs(live, &regs)?;
        Ok(())
    }

    fn on_rdtsc(
        &mut self,
        e: &Event,
        rip: RemoteAddr,
        value: u64,
        aux: Option<u32>,
    ) -> anyhow::Result<()> {
        let w = self.advance(e, Some(libc::SIGSEGV))?;
        let live = w.tid;
        let mut regs = ptrace::get_regs(live)?;
        if w.stop != Stop::Signal(libc::SIGSEGV) || regs.rip != rip.0 {
            return Err(diverged(
                e,
                format!("RDTSC at {rip}"),
                format!("{} at {:#x}", describe(&w), regs.rip),
            ));
        }
        let len = if aux.is_some() { 3 } else { 2 };
        crate::record::rdtsc_apply(&mut regs, len, value, aux);
        ptrace::set_regs(live, &regs)?;
        Ok(())
    }
}

impl ReplaySession {
    /// Whether the thread's next event is a signal delivered where it stands.
    fn signal_follows(&mut self, e: &Event) -> anyhow::Result<bool> {
        let tid = e.tid;
        // Another process's stores into a shared file come as `Pages`
        // events of a thread inside a blocking call (`record_shared_pages`),
        // written without running it: they may come between the call's exit
        // and its signal (the runtime row: a futex wait's -516, a `Pages`,
        // then SIGURG; replay restarted the wait and diverged).
        let next = self.find_ahead(1_000_000, |x| {
            x.tid == tid && !matches!(x.kind, EventKind::Pages { .. })
        })?;
        Ok(matches!(
            next,
            Some(Event {
                kind: EventKind::Signal {
                    point: DeliveryPoint::AtLastStop,
                    ..
                },
                ..
            })
        ))
    }
}

/// Whether the thread is between the entry and exit of an execve.
fn in_exec(t: &super::session::LiveThread) -> bool {
    matches!(t.syscall, Some((nr, ..)) if nr == libc::SYS_execve || nr == libc::SYS_execveat)
}

/// The stop a thread makes when it starts to die (PTRACE_EVENT_EXIT).
fn is_exit_event(w: &Waited) -> bool {
    matches!(w.stop, Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXIT)
}

/// A signal the thread raised itself by faulting (or a trapped RDTSC).
fn is_fault(tid: Tid, sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP
    ) && ptrace::get_siginfo(tid).is_ok_and(|i| trace_format::SigInfo(i).code() > 0)
}

impl ReplaySession {
    /// Delivers `sig` to a handler as the recorder did: a single step
    /// into it, then the frame's trap fields zeroed (`tracee::sigframe`).
    /// Returns the signal the resume must still deliver (`sig` for one
    /// without a handler or a fault, else 0).
    fn enter_handler(&mut self, e: &Event, live: Tid, sig: i32) -> anyhow::Result<i32> {
        use crate::tracee::sigframe;
        let code = trace_format::SigInfo(ptrace::get_siginfo(live)?).code();
        if !sigframe::caught(live.0, sig) || sigframe::is_fault(sig, code) {
            return Ok(sig);
        }
        let mut deliver = sig;
        loop {
            ptrace::resume(live, ptrace::Resume::Step, deliver)?;
            deliver = 0;
            let w = self.wait_for(live)?;
            match w.stop {
                Stop::Signal(libc::SIGTRAP) => {
                    let hit = self.debug_trap(e.tid, live)?;
                    let rsp = ptrace::get_regs(live)?.rsp;
                    sigframe::normalize(self.mem(e.tid)?, rsp)?;
                    if let Some(hit) = hit {
                        return Err(anyhow!(hit));
                    }
                    return Ok(0);
                }
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_STOP => {}
                // A signal the recording delivers elsewhere.
                Stop::Signal(other) if !is_fault(live, other) => {}
                _ => return Err(diverged(e, "to enter a signal handler", describe(&w))),
            }
        }
    }
}

impl ReplaySession {
    /// Writes recorded pages (a preemption's, or a shared file's change)
    /// into the event's process; a failure names the mappings replay has there.
    fn restore_pages(&self, e: &Event, pages: &[trace_format::MemWrite]) -> anyhow::Result<()> {
        let live = self
            .threads
            .get(&e.tid)
            .map(|t| t.live)
            .ok_or_else(|| diverged(e, "a known thread", "an event for an unknown thread"))?;
        let mem = self.mem(e.tid)?;
        for p in pages {
            self.shared.write(mem, p.addr, &p.data).with_context(|| {
                format!(
                    "cannot restore memory at event {} ({} bytes at {}; replay's mappings there: {})",
                    e.time.0,
                    p.data.len(),
                    p.addr,
                    mappings_around(live, p.addr.0, p.data.len() as u64)
                )
            })?;
        }
        Ok(())
    }
}

/// The live process's mappings overlapping `[addr, addr+len)`, for an error
/// that says why memory could not be written.
fn mappings_around(live: Tid, addr: u64, len: u64) -> String {
    let Ok(regions) = crate::tracee::maps::read_maps(live.0) else {
        return "unknown".into();
    };
    let hits: Vec<String> = regions
        .iter()
        .filter(|r| r.start < addr + len.max(1) && addr < r.end)
        .map(|r| {
            format!(
                "{:#x}-{:#x} {} {}",
                r.start,
                r.end,
                String::from_utf8_lossy(&r.perms),
                r.path
            )
        })
        .collect();
    if hits.is_empty() {
        "none".into()
    } else {
        hits.join(", ")
    }
}
