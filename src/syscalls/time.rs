//! Clocks, sleeps and timers: all emulated (recorded time is replayed;
//! sleeps are not waited out; timer signals arrive as recorded signals).

use super::{emu, emu_sleep, Hook, Out::*, Spec};
use libc::*;

const TIMESPEC: usize = 16;
const ITIMER: usize = 32;

pub(crate) const ROWS: &[Spec] = &[
    emu(SYS_clock_gettime, &[Fixed(1, TIMESPEC)]).hook(Hook::ClockAtEntry),
    emu(SYS_clock_getres, &[Fixed(1, TIMESPEC)]),
    emu(SYS_gettimeofday, &[Fixed(0, 16), Fixed(1, 8)]),
    emu(SYS_time, &[Fixed(0, 8)]),
    emu_sleep(SYS_nanosleep, 0, None, &[Fixed(1, TIMESPEC)]),
    emu_sleep(SYS_clock_nanosleep, 2, Some(1), &[Fixed(3, TIMESPEC)]),
    emu(SYS_timer_create, &[Fixed(2, 4)]),
    emu(SYS_timer_settime, &[Fixed(3, ITIMER)]),
    emu(SYS_timer_gettime, &[Fixed(1, ITIMER)]),
    emu(SYS_timer_getoverrun, &[]),
    emu(SYS_timer_delete, &[]),
    emu(SYS_setitimer, &[Fixed(2, ITIMER)]),
    emu(SYS_getitimer, &[Fixed(1, ITIMER)]),
    emu(SYS_timerfd_create, &[]),
    emu(SYS_timerfd_settime, &[Fixed(3, ITIMER)]),
    emu(SYS_timerfd_gettime, &[Fixed(1, ITIMER)]),
    emu(SYS_adjtimex, &[Fixed(0, 208)]),
    emu(SYS_clock_adjtime, &[Fixed(1, 208)]),
];
