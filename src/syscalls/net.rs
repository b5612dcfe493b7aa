//! Sockets: emulated; received bytes and addresses come from the trace.

use super::{emu, emu_blocking, Out::*, Spec};
use libc::*;

pub(crate) const ROWS: &[Spec] = &[
    emu(SYS_socket, &[]),
    emu(SYS_socketpair, &[Fixed(3, 8)]),
    emu(SYS_bind, &[]),
    emu(SYS_listen, &[]),
    emu_blocking(SYS_connect, &[]),
    emu_blocking(SYS_accept, &[SockAddr { addr: 1, len: 2 }]),
    emu_blocking(SYS_accept4, &[SockAddr { addr: 1, len: 2 }]),
    emu(SYS_getsockname, &[SockAddr { addr: 1, len: 2 }]),
    emu(SYS_getpeername, &[SockAddr { addr: 1, len: 2 }]),
    emu(SYS_setsockopt, &[]),
    emu(SYS_getsockopt, &[SockAddr { addr: 3, len: 4 }]),
    emu_blocking(SYS_sendto, &[]).sends(&[ResultLen(1)]),
    emu_blocking(SYS_recvfrom, &[ResultLen(1), SockAddr { addr: 4, len: 5 }]),
    emu_blocking(SYS_sendmsg, &[]).sends(&[MsgHdr(1)]),
    emu_blocking(SYS_recvmsg, &[MsgHdr(1)]),
    emu_blocking(SYS_sendmmsg, &[MmsgLens(1)]),
    emu_blocking(SYS_recvmmsg, &[MmsgHdr(1)]),
    emu(SYS_shutdown, &[]),
];
