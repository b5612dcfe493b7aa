//! Starting a program under ptrace in the conditions recording and replay
//! both need: ASLR off, RDTSC trapping, CPU pinning, a clean signal state.
//!
//! The child waits on a pipe until the tracer has seized it, so the tracer
//! sees everything from the exec on; an exec failure comes back through a
//! close-on-exec pipe as an errno.

use std::ffi::CString;
use std::io;

use super::wait::{self, Stop};
use super::{ptrace, Tid};

pub struct SpawnSpec {
    /// What to execve (a path; no PATH search here).
    pub path: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: Option<CString>,
    /// Pin the tracee to this CPU (the tracer pins itself to the same one).
    pub cpu: Option<usize>,
    /// Signal mask the program starts with, bit n-1 for signal n (rrgo
    /// itself blocks SIGCHLD).
    pub sigmask: u64,
    /// Signals whose disposition rrgo changed and the program must get back as default.
    /// Signals the program starts with ignored (bit n-1: signal n); every
    /// other signal starts with the default action.
    pub ignored: u64,
    /// Soft resource limits to set, (resource, limit); the others are
    /// inherited from rrgo (see [`SHAPING_RLIMITS`]).
    pub rlimits: Vec<(u32, u64)>,
    /// Install a seccomp filter that turns every syscall into a
    /// PTRACE_EVENT_SECCOMP stop (recording: threads then run with
    /// PTRACE_CONT and a syscall answered at that stop costs one stop).
    pub seccomp: bool,
    /// Standard descriptors (bit n: fd n) to close before the exec: those
    /// rrgo was started without (see [`std_fds_closed_at_start`]).
    pub close_std: u8,
}

/// The standard descriptors (bit n: fd n, n < 3) rrgo was started without.
/// Rust's runtime opens /dev/null read-write on each before `main` (so
/// that rrgo's own files never take those numbers); the program must not
/// inherit them: natively its writes to a closed stdout fail with EBADF
/// (under recording they went to /dev/null, and `replay -a` printed what
/// the program never showed). A /dev/null the shell opened read-write
/// (`<>/dev/null`) looks the same and is closed too.
pub fn std_fds_closed_at_start() -> u8 {
    let mut closed = 0;
    for fd in 0..3u8 {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}"));
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| i32::from_str_radix(f.trim(), 8).ok());
        let rdwr = flags.is_some_and(|f| f & libc::O_ACCMODE == libc::O_RDWR);
        if rdwr && target.is_ok_and(|t| t == std::path::Path::new("/dev/null")) {
            closed |= 1 << fd;
        }
    }
    closed
}

/// The OS error is part of each message and not a `source()`: printing the
/// whole chain (anyhow's `{:#}`) would say it twice.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot execute {path}: {error}")]
    Exec { path: String, error: io::Error },
    #[error("cannot start the program under ptrace: {0}")]
    Setup(io::Error),
}

fn os_err() -> io::Error {
    io::Error::last_os_error()
}

/// Forks and execs the program; returns its tid, stopped at the exec event.
pub fn spawn(spec: &SpawnSpec) -> Result<Tid, SpawnError> {
    // Everything the child touches is prepared before fork: after fork it
    // may only make async-signal-safe calls (no allocation).
    let mut argv: Vec<*const libc::c_char> = spec.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = spec.env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut cpuset: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if let Some(cpu) = spec.cpu {
        // SAFETY: cpuset is a valid cpu_set_t.
        unsafe { libc::CPU_SET(cpu, &mut cpuset) };
    }
    // Close-on-exec: the program must not inherit rrgo's end (it showed
    // as an extra open fd, and its first open got another number).
    let (go_r, go_w) = pipe(libc::O_CLOEXEC)?;
    let (err_r, err_w) = pipe(libc::O_CLOEXEC)?;

    // SAFETY: fork in a process whose other threads hold no locks the child
    // needs: the child only makes raw syscalls below.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(SpawnError::Setup(os_err()));
    }
    if child == 0 {
        // SAFETY: async-signal-safe calls only, then execve or _exit.
        unsafe {
            libc::close(go_w);
            libc::close(err_r);
            child_setup(spec, &cpuset);
            for fd in 0..3 {
                if spec.close_std & (1 << fd) != 0 {
                    libc::close(fd);
                }
            }
            let mut b = 0u8;
            while libc::read(go_r, (&mut b as *mut u8).cast(), 1) < 0 {}
            if spec.seccomp && !install_trace_filter() {
                // Told apart from an exec failure by its sign.
                let e = -*libc::__errno_location();
                libc::write(err_w, (&e as *const i32).cast(), 4);
                libc::_exit(127);
            }
            libc::execve(spec.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let e = *libc::__errno_location();
            libc::write(err_w, (&e as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copies of the child's pipe ends.
    unsafe {
        libc::close(go_r);
        libc::close(err_w);
    }
    let tid = Tid(child);
    let seized = ptrace::seize(tid);
    // SAFETY: writing one byte to our pipe end, then closing it.
    unsafe {
        libc::write(go_w, [1u8].as_ptr().cast(), 1);
        libc::close(go_w);
    }
    let result = (|| {
        seized.map_err(SpawnError::Setup)?;
        loop {
            let w = wait::wait_tid(tid).map_err(SpawnError::Setup)?;
            match w.stop {
                Stop::Event { event, .. } if event == libc::PTRACE_EVENT_EXEC => return Ok(tid),
                Stop::Exited(_) | Stop::Killed { .. } => {
                    let mut e = 0i32;
                    // SAFETY: reading 4 bytes into an i32.
                    let n = unsafe { libc::read(err_r, (&mut e as *mut i32).cast(), 4) };
                    if n == 4 && e < 0 {
                        return Err(SpawnError::Setup(io::Error::other(format!(
                            "cannot install rrgo's seccomp filter: {} (RRGO_SECCOMP=0 records without it)",
                            io::Error::from_raw_os_error(-e)
                        ))));
                    }
                    let source = if n == 4 {
                        io::Error::from_raw_os_error(e)
                    } else {
                        io::Error::other("the child exited before exec")
                    };
                    return Err(SpawnError::Exec {
                        path: spec.path.to_string_lossy().into_owned(),
                        error: source,
                    });
                }
                // Anything before the exec (a stray signal) is passed on.
                Stop::Signal(sig) => {
                    ptrace::resume(tid, ptrace::Resume::Cont, sig).map_err(SpawnError::Setup)?
                }
                _ => ptrace::resume(tid, ptrace::Resume::Cont, 0).map_err(SpawnError::Setup)?,
            }
        }
    })();
    // SAFETY: closing our pipe end.
    unsafe { libc::close(err_r) };
    if result.is_err() {
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), libc::__WALL);
        }
    }
    result
}

/// The filter: every syscall stops for the tracer (SECCOMP_RET_TRACE),
/// except those made from the untraced window of rrgo's page
/// (`clockpage::UNTRACED_LO..=UNTRACED_HI`, the instruction pointer just past
/// the `syscall`), which run without a stop: their results are recorded in
/// bulk from the page. Async-signal-safe: runs in the forked child.
unsafe fn install_trace_filter() -> bool {
    use crate::tracee::clockpage::{UNTRACED_HI, UNTRACED_LO};
    const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    // struct seccomp_data: nr@0, arch@4, instruction_pointer@8 (low word), @12 (high).
    let ld = |off: u32| libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k: off,
    };
    let jmp = |op: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ret = |k: u32| libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    // Both ends share the high word.
    let filter = [
        ld(12),
        jmp(libc::BPF_JEQ, (UNTRACED_LO >> 32) as u32, 0, 4),
        ld(8),
        jmp(libc::BPF_JGT, UNTRACED_LO as u32, 0, 2),
        jmp(libc::BPF_JGT, UNTRACED_HI as u32, 1, 0),
        ret(SECCOMP_RET_ALLOW),
        ret(SECCOMP_RET_TRACE),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        && libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        ) == 0
}

/// Runs in the forked child before exec.
unsafe fn child_setup(spec: &SpawnSpec, cpuset: &libc::cpu_set_t) {
    // Same addresses in every run: no ASLR (survives exec).
    libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
    // RDTSC/RDTSCP fault with SIGSEGV so they can be recorded (survives exec).
    libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV, 0, 0, 0);
    if spec.cpu.is_some() {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), cpuset);
    }
    for &(resource, soft) in &spec.rlimits {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(resource, &mut rl) == 0 {
            // Raising the hard limit needs privileges; `check_rlimits` warned.
            rl.rlim_cur = soft.min(rl.rlim_max);
            libc::setrlimit(resource, &rl);
        }
    }
    // The program must start as it would natively: Rust's runtime ignores
    // SIGPIPE, rrgo blocks SIGCHLD (and SIGTERM, SIGHUP, SIGINT when
    // recording, to pass them on). Ignored dispositions
    // survive exec, so they are set exactly (handlers reset by themselves).
    // Raw syscalls: glibc refuses signals 32 and 33 (its own).
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let ignore = spec.ignored & (1u64 << (sig - 1)) != 0;
        let act = KernelSigaction {
            handler: if ignore { libc::SIG_IGN } else { libc::SIG_DFL },
            ..KernelSigaction::default()
        };
        raw_sigaction(sig, Some(&act), None);
    }
    raw_sigmask(libc::SIG_SETMASK, Some(spec.sigmask));
    if let Some(cwd) = &spec.cwd {
        libc::chdir(cwd.as_ptr());
    }
}

fn pipe(flags: i32) -> Result<(i32, i32), SpawnError> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid two-int array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } < 0 {
        return Err(SpawnError::Setup(os_err()));
    }
    Ok((fds[0], fds[1]))
}

/// `struct sigaction` as the kernel's rt_sigaction takes it on x86-64
/// (glibc's differs: a 128-byte mask, and it refuses signals 32 and 33).
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// rt_sigaction(2) for any signal 1..=64. Async-signal-safe.
fn raw_sigaction(
    sig: i32,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> bool {
    let new = new.map_or(std::ptr::null(), |n| n as *const KernelSigaction);
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut KernelSigaction);
    // SAFETY: both pointers are null or point to a valid KernelSigaction;
    // the kernel's sigset is 8 bytes.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8) == 0 }
}

/// rt_sigprocmask(2) on this thread with a 64-bit mask (bit n-1: signal n),
/// signals 32 and 33 included; returns the previous mask. Async-signal-safe.
pub fn raw_sigmask(how: i32, set: Option<u64>) -> u64 {
    let mut old = 0u64;
    let new = set.as_ref().map_or(std::ptr::null(), |m| m as *const u64);
    // SAFETY: `new` is null or points to 8 bytes, `old` to 8 writable bytes.
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, new, &mut old as *mut u64, 8) };
    old
}

/// The signals whose disposition is SIG_IGN in this process now, as a mask
/// (bit n-1: signal n). SIGPIPE is left out: Rust's runtime ignores it
/// before main, so whether rrgo's caller did is unknowable.
pub fn ignored_signals() -> u64 {
    let mut mask = 0u64;
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || sig == libc::SIGPIPE {
            continue;
        }
        let mut old = KernelSigaction::default();
        if raw_sigaction(sig, None, Some(&mut old)) && old.handler == libc::SIG_IGN {
            mask |= 1 << (sig - 1);
        }
    }
    mask
}

/// Resource limits that shape the syscalls replay executes, so replay starts
/// the program with the recorded ones: RLIMIT_STACK places the mmap area
/// (unlimited selects the legacy bottom-up layout, moving every mapping);
/// AS, DATA and MEMLOCK decide whether mmap, brk and mlock succeed.
pub const SHAPING_RLIMITS: [u32; 4] = [
    libc::RLIMIT_STACK,
    libc::RLIMIT_AS,
    libc::RLIMIT_DATA,
    libc::RLIMIT_MEMLOCK,
];

/// This process's soft limits for [`SHAPING_RLIMITS`] (the program inherits them).
pub fn shaping_rlimits() -> Vec<(u32, u64)> {
    SHAPING_RLIMITS
        .iter()
        .filter_map(|&r| {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit into a valid struct.
            (unsafe { libc::getrlimit(r, &mut rl) } == 0).then_some((r, rl.rlim_cur))
        })
        .collect()
}

/// The recorded limits this process cannot give the program (over its
/// hard limit), as "RLIMIT_x=n" for a warning.
pub fn unreachable_rlimits(wanted: &[(u32, u64)]) -> Vec<String> {
    wanted
        .iter()
        .filter(|&&(r, soft)| {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit into a valid struct.
            let ok = unsafe { libc::getrlimit(r, &mut rl) } == 0;
            ok && soft > rl.rlim_max
        })
        .map(|&(r, soft)| format!("{}={}", rlimit_name(r), limit_text(soft)))
        .collect()
}

fn rlimit_name(r: u32) -> &'static str {
    match r {
        libc::RLIMIT_STACK => "RLIMIT_STACK",
        libc::RLIMIT_AS => "RLIMIT_AS",
        libc::RLIMIT_DATA => "RLIMIT_DATA",
        libc::RLIMIT_MEMLOCK => "RLIMIT_MEMLOCK",
        _ => "RLIMIT_?",
    }
}

fn limit_text(v: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}
