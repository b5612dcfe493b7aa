//! Readiness waiting: emulated with the recorded ready sets.

use super::{emu, emu_blocking, Out::*, Spec};
use libc::*;

const EPOLL_EVENT: usize = 12;

pub(crate) const ROWS: &[Spec] = &[
    emu(SYS_epoll_create, &[]),
    emu(SYS_epoll_create1, &[]),
    emu(SYS_epoll_ctl, &[]),
    emu_blocking(SYS_epoll_wait, &[ResultCount(1, EPOLL_EVENT)]),
    emu_blocking(SYS_epoll_pwait, &[ResultCount(1, EPOLL_EVENT)]),
    emu_blocking(SYS_epoll_pwait2, &[ResultCount(1, EPOLL_EVENT)]),
    emu_blocking(SYS_poll, &[ArgCount(0, 1, 8)]),
    emu_blocking(SYS_ppoll, &[ArgCount(0, 1, 8), Fixed(2, 16)]),
    emu_blocking(
        SYS_select,
        &[FdSet(1, 0), FdSet(2, 0), FdSet(3, 0), Fixed(4, 16)],
    ),
    emu_blocking(
        SYS_pselect6,
        &[FdSet(1, 0), FdSet(2, 0), FdSet(3, 0), Fixed(4, 16)],
    ),
    emu(SYS_eventfd, &[]),
    emu(SYS_eventfd2, &[]),
];
