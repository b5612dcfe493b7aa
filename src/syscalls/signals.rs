//! Signal state is executed at replay (the kernel delivers the replayed
//! signals, so handlers, masks and alternate stacks must be real); waiting
//! for and sending signals is emulated (delivery comes from the trace).

use super::{emu, emu_blocking, exec, Hook, Out::*, Spec};
use libc::*;

pub(crate) const ROWS: &[Spec] = &[
    exec(SYS_rt_sigaction, &[ArgLen(2, 3)]).hook(Hook::StateOnly),
    exec(SYS_rt_sigprocmask, &[ArgLen(2, 3)]).hook(Hook::StateOnly),
    exec(SYS_sigaltstack, &[Fixed(1, 24)]).hook(Hook::SignalStack),
    exec(SYS_rt_sigreturn, &[]).hook(Hook::Sigreturn),
    emu(SYS_rt_sigpending, &[ArgLen(0, 1)]),
    emu_blocking(SYS_rt_sigtimedwait, &[Fixed(1, 128)]),
    emu_blocking(SYS_rt_sigsuspend, &[]),
    emu_blocking(SYS_pause, &[]),
    emu(SYS_rt_sigqueueinfo, &[]),
    emu(SYS_rt_tgsigqueueinfo, &[]),
    emu(SYS_signalfd4, &[]),
    emu(SYS_alarm, &[]),
    // What a nanosleep/clock_nanosleep interrupted by a signal continues as.
    emu_blocking(SYS_restart_syscall, &[]),
];
