//! Tasks and identity: creation and exit are executed at replay; identity
//! queries (pids, limits, uname) are emulated so the program sees recorded values.

use super::{emu, emu_blocking, exec, refused, Blocking, Hook, Out::*, Spec};
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
    refused(SYS_rseq, ENOSYS),
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
    refused(SYS_ptrace, EPERM),
    // Reading another process's memory is an input like read(2); writing
    // into one (or into the program itself) would change memory behind
    // rrgo's back, so it is refused like ptrace.
    emu(SYS_process_vm_readv, &[IovResult(1, 2)]),
    refused(SYS_process_vm_writev, EPERM),
    emu(SYS_seccomp, &[]),
    emu(SYS_sched_getattr, &[ArgLen(1, 2)]),
    emu(SYS_sched_setattr, &[]),
    emu(SYS_sched_rr_get_interval, &[Fixed(1, 16)]),
    // Landlock restricts the recorded process's own file access; replay
    // opens no files, so the calls' results are all it needs.
    emu(SYS_landlock_create_ruleset, &[]),
    emu(SYS_landlock_add_rule, &[]),
    emu(SYS_landlock_restrict_self, &[]),
    // eBPF maps are kernel memory read and written through pointers
    // nested in each command's union, and programs run in the kernel:
    // refused as for an unprivileged process.
    refused(SYS_bpf, EPERM),
    // Its ring buffer is memory the kernel fills on its own: refused as
    // under perf_event_paranoid.
    refused(SYS_perf_event_open, EACCES),
    // The kernel log: a read fills the buffer (other actions ignore it).
    emu(SYS_syslog, &[ResultLen(1)]),
    emu(SYS_add_key, &[]),
    emu(SYS_request_key, &[]),
    // KEYCTL_DESCRIBE, KEYCTL_READ, KEYCTL_GET_SECURITY, KEYCTL_DH_COMPUTE
    // fill a buffer; the other commands answer with their result alone.
    emu(
        SYS_keyctl,
        &[ByCommandCapped {
            cmd: 0,
            ptr: 2,
            len: 3,
            cmds: &[6, 11, 17, 23],
        }],
    ),
    // System V IPC (shared memory the kernel maps, queues and semaphores
    // other processes change): refused as by a kernel built without it.
    refused(SYS_msgget, ENOSYS),
    refused(SYS_msgsnd, ENOSYS),
    refused(SYS_msgrcv, ENOSYS),
    refused(SYS_msgctl, ENOSYS),
    refused(SYS_semget, ENOSYS),
    refused(SYS_semop, ENOSYS),
    refused(SYS_semtimedop, ENOSYS),
    refused(SYS_semctl, ENOSYS),
    refused(SYS_shmget, ENOSYS),
    refused(SYS_shmat, ENOSYS),
    refused(SYS_shmdt, ENOSYS),
    refused(SYS_shmctl, ENOSYS),
];

/// The memory a clone call names: its flags and the pointers the kernel
/// stores through (tids, pidfd), from clone's registers or clone3's
/// `struct clone_args` (`read` reads the calling process's memory).
/// `None` for fork and vfork, which name none.
#[derive(Debug, Clone, Copy)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
}

impl CloneArgs {
    pub fn of(nr: i64, args: &[u64; 6], read: impl Fn(u64) -> Option<u64>) -> Option<CloneArgs> {
        if nr == SYS_clone3 {
            // struct clone_args: flags@0 pidfd@8 child_tid@16 parent_tid@24.
            let at = |off: u64| read(args[0] + off);
            Some(CloneArgs {
                flags: at(0)?,
                pidfd: at(8).unwrap_or(0),
                child_tid: at(16).unwrap_or(0),
                parent_tid: at(24).unwrap_or(0),
            })
        } else if nr == SYS_clone {
            // clone(flags, stack, parent_tid, child_tid, tls): CLONE_PIDFD
            // stores through parent_tid too.
            Some(CloneArgs {
                flags: args[0],
                pidfd: args[2],
                child_tid: args[3],
                parent_tid: args[2],
            })
        } else {
            None
        }
    }

    /// The pointer behind `flag` (CLONE_PIDFD, CLONE_PARENT_SETTID,
    /// CLONE_CHILD_SETTID), when the call sets it and it is not null.
    pub fn stores(&self, flag: i32) -> Option<u64> {
        let ptr = match flag {
            CLONE_PIDFD => self.pidfd,
            CLONE_PARENT_SETTID => self.parent_tid,
            CLONE_CHILD_SETTID => self.child_tid,
            _ => return None,
        };
        (self.flags & flag as u64 != 0 && ptr != 0).then_some(ptr)
    }

    /// Where the kernel writes the new task's tid in the child's memory
    /// (CLONE_CHILD_SETTID: glibc's `fork` points it at the child's
    /// `pthread` struct, whose tid `pthread_getaffinity_np` and
    /// `pthread_kill` then pass to the kernel). The child writes it as it
    /// first runs, so replay's child holds its live tid unless rrgo writes
    /// the recorded one over it at the child's first stop.
    pub fn child_settid(&self) -> Option<u64> {
        self.stores(CLONE_CHILD_SETTID)
    }

    /// Where the kernel writes the new task's tid in the parent's memory
    /// (CLONE_PARENT_SETTID: glibc's `pthread_create` points it at the new
    /// thread's `pthread` struct), before the child first runs.
    pub fn parent_settid(&self) -> Option<u64> {
        self.stores(CLONE_PARENT_SETTID)
    }
}
