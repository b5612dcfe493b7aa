//! Tasks and identity: creation and exit are executed at replay; identity
//! queries (pids, limits, uname) are emulated so the program sees recorded values.

use super::{emu, emu_blocking, exec, Blocking, Hook, Out::*, Spec};
use libc::*;

const RUSAGE: usize = 144;

pub(crate) const ROWS: &[Spec] = &[
    Spec {
        blocking: Blocking::CloneFlags,
        ..exec(SYS_clone, &[]).hook(Hook::Clone)
    },
    exec(SYS_clone3, &[]).hook(Hook::Clone).blocking(),
    exec(SYS_fork, &[]).hook(Hook::Clone),
    exec(SYS_vfork, &[]).hook(Hook::Clone).blocking(),
    exec(SYS_execve, &[]).hook(Hook::Exec),
    exec(SYS_execveat, &[]).hook(Hook::Exec),
    exec(SYS_exit, &[]).hook(Hook::ExitThread),
    exec(SYS_exit_group, &[]).hook(Hook::Exit),
    emu_blocking(SYS_wait4, &[Fixed(1, 4), Fixed(3, RUSAGE)]),
    emu_blocking(SYS_waitid, &[Fixed(2, 128), Fixed(4, RUSAGE)]),
    emu(SYS_getpid, &[]),
    emu(SYS_getppid, &[]),
    emu(SYS_gettid, &[]),
    emu(SYS_getuid, &[]),
    emu(SYS_geteuid, &[]),
    emu(SYS_getgid, &[]),
    emu(SYS_getegid, &[]),
    emu(SYS_getresuid, &[Fixed(0, 4), Fixed(1, 4), Fixed(2, 4)]),
    emu(SYS_getresgid, &[Fixed(0, 4), Fixed(1, 4), Fixed(2, 4)]),
    emu(SYS_getgroups, &[ResultCount(1, 4)]),
    emu(SYS_getpgrp, &[]),
    emu(SYS_getpgid, &[]),
    emu(SYS_getsid, &[]),
    emu(SYS_setsid, &[]),
    emu(SYS_setpgid, &[]),
    emu(SYS_setuid, &[]),
    emu(SYS_setgid, &[]),
    emu(SYS_setreuid, &[]),
    emu(SYS_setregid, &[]),
    emu(SYS_setresuid, &[]),
    emu(SYS_setresgid, &[]),
    emu(SYS_setgroups, &[]),
    emu(SYS_capget, &[Fixed(1, 24)]),
    emu(SYS_kill, &[]),
    emu(SYS_tgkill, &[]),
    emu(SYS_tkill, &[]),
    exec(SYS_prctl, &[]).hook(Hook::Prctl),
    exec(SYS_arch_prctl, &[]),
    exec(SYS_set_tid_address, &[]).hook(Hook::TidResult),
    exec(SYS_set_robust_list, &[]),
    emu(SYS_get_robust_list, &[Fixed(1, 8), Fixed(2, 8)]),
    emu(SYS_rseq, &[]).hook(Hook::Refuse(-(ENOSYS as i64))),
    emu(SYS_uname, &[Fixed(0, 390)]),
    emu(SYS_sysinfo, &[Fixed(0, 112)]),
    emu(SYS_getrlimit, &[Fixed(1, 16)]),
    emu(SYS_setrlimit, &[]),
    emu(SYS_prlimit64, &[Fixed(3, 16)]),
    emu(SYS_getrusage, &[Fixed(1, RUSAGE)]),
    emu(SYS_times, &[Fixed(0, 32)]),
    emu(SYS_sched_getaffinity, &[ResultLen(2)]).hook(Hook::SchedGetaffinity),
    emu(SYS_sched_setaffinity, &[]),
    emu(SYS_sched_yield, &[]).hook(Hook::Yield),
    emu(SYS_sched_getparam, &[Fixed(1, 4)]),
    emu(SYS_sched_getscheduler, &[]),
    emu(SYS_sched_setscheduler, &[]),
    emu(SYS_sched_get_priority_max, &[]),
    emu(SYS_sched_get_priority_min, &[]),
    emu(SYS_getpriority, &[]),
    emu(SYS_setpriority, &[]),
    emu(SYS_getcpu, &[Fixed(0, 4), Fixed(1, 4)]),
    emu(SYS_personality, &[]),
    emu(SYS_sethostname, &[]),
    emu(SYS_setdomainname, &[]),
    emu(SYS_capset, &[]),
    // Namespaces: their effects are outside the process; replay emulates them.
    emu(SYS_unshare, &[]),
    emu(SYS_setns, &[]),
    emu(SYS_pidfd_open, &[]),
    emu(SYS_pidfd_send_signal, &[]),
    emu(SYS_pidfd_getfd, &[]),
    // A recorded program cannot trace: its threads are rrgo's tracees, and
    // a tracer among them would make other processes' stops part of its
    // input. Refused the same way at record and replay (PTRACE_TRACEME
    // already failed so under rrgo; attaching to an outside process no
    // longer succeeds only while recording).
    emu(SYS_ptrace, &[]).hook(Hook::Refuse(-(EPERM as i64))),
    // Reading another process's memory is an input like read(2); writing
    // into one (or into the program itself) would change memory behind
    // rrgo's back, so it is refused like ptrace.
    emu(SYS_process_vm_readv, &[IovResult(1, 2)]),
    emu(SYS_process_vm_writev, &[]).hook(Hook::Refuse(-(EPERM as i64))),
    emu(SYS_seccomp, &[]),
];

/// Where a clone call has the kernel write the new task's tid in the
/// child's memory (CLONE_CHILD_SETTID: glibc's `fork` points it at the
/// child's `pthread` struct, whose tid `raise`, `pthread_getaffinity_np`
/// and `pthread_kill` then pass to the kernel). The child writes it as it
/// first runs, so replay's child holds its live tid unless rrgo writes the
/// recorded one over it at the child's first stop. `read` reads the
/// parent's memory (clone3's `struct clone_args`).
pub fn clone_child_settid(
    nr: i64,
    args: &[u64; 6],
    read: impl Fn(u64) -> Option<u64>,
) -> Option<u64> {
    let flag = CLONE_CHILD_SETTID as u64;
    let ptr = if nr == SYS_clone3 {
        // struct clone_args: flags@0 pidfd@8 child_tid@16 parent_tid@24.
        let flags = read(args[0])?;
        (flags & flag != 0).then(|| read(args[0] + 16)).flatten()?
    } else if nr == SYS_clone && args[0] & flag != 0 {
        // clone(flags, stack, parent_tid, child_tid, tls).
        args[3]
    } else {
        return None;
    };
    (ptr != 0).then_some(ptr)
}
