//! The address space: executed at replay so the layout stays identical.

use super::{emu, exec, Hook, Out::*, Spec};
use libc::*;

pub(crate) const ROWS: &[Spec] = &[
    exec(SYS_mmap, &[]).hook(Hook::Mmap),
    exec(SYS_munmap, &[]).hook(Hook::Unmap),
    exec(SYS_mprotect, &[]).hook(Hook::Protect),
    exec(SYS_pkey_mprotect, &[]).hook(Hook::Protect),
    exec(SYS_madvise, &[]),
    exec(SYS_brk, &[]).hook(Hook::NewMemory),
    exec(SYS_mremap, &[]).hook(Hook::NewMemory),
    exec(SYS_msync, &[]),
    exec(SYS_mlock, &[]),
    exec(SYS_munlock, &[]),
    exec(SYS_mlock2, &[]),
    emu(SYS_mincore, &[PageVec(2, 1)]),
    emu(SYS_membarrier, &[]),
    emu(SYS_set_mempolicy, &[]),
    emu(SYS_get_mempolicy, &[Fixed(0, 4)]),
    emu(SYS_mbind, &[]),
];
