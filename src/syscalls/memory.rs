//! The address space: executed at replay so the layout stays identical.

use super::{emu, exec, refused, Hook, Out::*, Spec};
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
    // The mode, and a node mask of `maxnode` bits (rounded up to longs).
    emu(SYS_get_mempolicy, &[Fixed(0, 4), FdSet(1, 2)]),
    emu(SYS_mbind, &[]),
    // Sealing makes later unmapping and protection changes fail: executed
    // so that they fail in replay too.
    exec(SYS_mseal, &[]),
    exec(SYS_mlockall, &[]),
    exec(SYS_munlockall, &[]),
    // Asynchronous I/O's completion ring is memory the kernel fills on its
    // own: refused as by a kernel without it (Go programs do not use it).
    refused(SYS_io_setup, ENOSYS),
    refused(SYS_io_destroy, ENOSYS),
    refused(SYS_io_submit, ENOSYS),
    refused(SYS_io_cancel, ENOSYS),
    refused(SYS_io_getevents, ENOSYS),
    refused(333, ENOSYS), // io_pgetevents
    // A userfaultfd of the program's own would compete with rrgo's (its
    // registrations fail with EBUSY, its faults never arrive): refused as
    // by a kernel without it.
    refused(SYS_userfaultfd, ENOSYS),
];
