//! Futexes: emulated at replay (the recorded order of wakeups is replayed by
//! scheduling threads in the recorded order, so no real waiting is needed).

use super::{emu, emu_blocking, Blocking, Spec};
use libc::*;

pub(crate) const ROWS: &[Spec] = &[
    Spec {
        blocking: Blocking::FutexOp,
        ..emu(SYS_futex, &[])
    },
    emu_blocking(SYS_futex_waitv, &[]),
    emu(454, &[]),          // futex_wake
    emu_blocking(455, &[]), // futex_wait
    emu(456, &[]),          // futex_requeue
];
