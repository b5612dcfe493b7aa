//! Files and descriptors: all emulated at replay (replay opens no real files).

use super::{emu, emu_blocking, emu_fd_io, emu_open, refused, Blocking, Hook, Out::*, Spec};
use libc::*;

const STAT: usize = 144;
const SYS_CACHESTAT: i64 = 451;
const SYS_STATMOUNT: i64 = 457;
const SYS_LISTMOUNT: i64 = 458;
const SYS_SETXATTRAT: i64 = 463;
const SYS_GETXATTRAT: i64 = 464;
const SYS_LISTXATTRAT: i64 = 465;
const SYS_REMOVEXATTRAT: i64 = 466;
const SYS_FILE_GETATTR: i64 = 468;
const SYS_FILE_SETATTR: i64 = 469;

pub(crate) const ROWS: &[Spec] = &[
    emu_fd_io(SYS_read, &[ResultLen(1)]),
    emu_fd_io(SYS_write, &[])
        .hook(Hook::Output)
        .sends(&[ResultLen(1)])
        .alters_file(),
    emu_fd_io(SYS_pread64, &[ResultLen(1)]),
    emu_fd_io(SYS_pwrite64, &[])
        .sends(&[ResultLen(1)])
        .alters_file(),
    emu_fd_io(SYS_readv, &[IovResult(1, 2)]),
    emu_fd_io(SYS_writev, &[])
        .hook(Hook::OutputIov)
        .sends(&[IovResult(1, 2)])
        .alters_file(),
    emu_fd_io(SYS_preadv, &[IovResult(1, 2)]),
    emu_fd_io(SYS_preadv2, &[IovResult(1, 2)]),
    emu_fd_io(SYS_pwritev, &[])
        .sends(&[IovResult(1, 2)])
        .alters_file(),
    emu_fd_io(SYS_pwritev2, &[])
        .sends(&[IovResult(1, 2)])
        .alters_file(),
    emu_open(SYS_open),
    emu_open(SYS_openat),
    emu_open(SYS_openat2),
    emu(SYS_creat, &[]),
    emu(SYS_close, &[]),
    emu(SYS_close_range, &[]),
    emu(SYS_lseek, &[]),
    emu(SYS_fstat, &[Fixed(1, STAT)]),
    emu(SYS_stat, &[Fixed(1, STAT)]),
    emu(SYS_lstat, &[Fixed(1, STAT)]),
    emu(SYS_newfstatat, &[Fixed(2, STAT)]),
    emu(SYS_statx, &[Fixed(4, 256)]),
    emu(SYS_statfs, &[Fixed(1, 120)]),
    emu(SYS_fstatfs, &[Fixed(1, 120)]),
    emu(SYS_getdents64, &[ResultLen(1)]),
    emu(SYS_getdents, &[ResultLen(1)]),
    emu(SYS_readlink, &[ResultLen(1)]),
    emu(SYS_readlinkat, &[ResultLen(2)]),
    emu(SYS_getcwd, &[ResultLen(0)]),
    emu(SYS_access, &[]),
    emu(SYS_faccessat, &[]),
    emu(SYS_faccessat2, &[]),
    Spec {
        blocking: Blocking::FcntlCmd,
        ..emu(
            SYS_fcntl,
            &[ByCommand {
                cmd: 1,
                ptr: 2,
                sizes: FCNTL_OUTPUTS,
            }],
        )
    },
    emu(SYS_flock, &[]).blocking(),
    emu(SYS_dup, &[]),
    emu(SYS_dup2, &[]),
    emu(SYS_dup3, &[]),
    emu(SYS_pipe, &[Fixed(0, 8)]),
    emu(SYS_pipe2, &[Fixed(0, 8)]),
    emu(SYS_mkdir, &[]),
    emu(SYS_mkdirat, &[]),
    emu(SYS_rmdir, &[]),
    emu(SYS_unlink, &[]),
    emu(SYS_unlinkat, &[]),
    emu(SYS_rename, &[]),
    emu(SYS_renameat, &[]),
    emu(SYS_renameat2, &[]),
    emu(SYS_link, &[]),
    emu(SYS_linkat, &[]),
    emu(SYS_symlink, &[]),
    emu(SYS_symlinkat, &[]),
    emu(SYS_chdir, &[]),
    emu(SYS_fchdir, &[]),
    emu(SYS_chmod, &[]),
    emu(SYS_fchmod, &[]),
    emu(SYS_fchmodat, &[]),
    emu(SYS_fchmodat2, &[]),
    emu(SYS_mknod, &[]),
    emu(SYS_mknodat, &[]),
    emu(SYS_chown, &[]),
    emu(SYS_fchown, &[]),
    emu(SYS_lchown, &[]),
    emu(SYS_fchownat, &[]),
    emu(SYS_umask, &[]),
    emu(SYS_utimensat, &[]),
    emu(SYS_truncate, &[]).alters_named_file(),
    emu(SYS_ftruncate, &[]).alters_file(),
    emu(SYS_fallocate, &[]).alters_file(),
    emu(SYS_fadvise64, &[]),
    emu_blocking(SYS_fsync, &[]),
    emu_blocking(SYS_fdatasync, &[]),
    emu_blocking(SYS_sync, &[]),
    emu_blocking(SYS_copy_file_range, &[Fixed(1, 8), Fixed(3, 8)])
        .alters_file_at(2)
        .hook(Hook::ZeroCopy {
            input: 0,
            out: 2,
            len: 4,
        }),
    emu_blocking(SYS_splice, &[Fixed(1, 8), Fixed(3, 8)])
        .alters_file_at(2)
        .hook(Hook::ZeroCopy {
            input: 0,
            out: 2,
            len: 4,
        }),
    emu_blocking(SYS_sendfile, &[Fixed(2, 8)])
        .alters_file()
        .hook(Hook::ZeroCopy {
            input: 1,
            out: 0,
            len: 3,
        }),
    emu_blocking(SYS_tee, &[]).hook(Hook::ZeroCopy {
        input: 0,
        out: 1,
        len: 2,
    }),
    emu(SYS_memfd_create, &[]),
    emu(
        SYS_name_to_handle_at,
        &[FileHandle {
            handle: 2,
            mount_id: 3,
            flags: 4,
        }],
    ),
    // Needs CAP_DAC_READ_SEARCH; a descriptor like openat's, emulated.
    emu(SYS_open_by_handle_at, &[]),
    // Linux 6.5–6.17 calls libc does not name yet.
    emu(SYS_CACHESTAT, &[Fixed(2, 40)]),
    emu(SYS_STATMOUNT, &[ArgLen(1, 2)]),
    emu(SYS_LISTMOUNT, &[ResultCount(1, 8)]),
    emu(SYS_GETXATTRAT, &[XattrValue(4)]),
    emu(SYS_LISTXATTRAT, &[ResultLen(3)]),
    emu(SYS_SETXATTRAT, &[]).alters_file(),
    emu(SYS_REMOVEXATTRAT, &[]).alters_file(),
    emu(SYS_FILE_GETATTR, &[ArgLen(2, 3)]),
    emu(SYS_FILE_SETATTR, &[]).alters_file(),
    // vmsplice from a pipe's read end fills the iovecs like readv.
    emu(SYS_vmsplice, &[IovResult(1, 2)]),
    // POSIX message queues: descriptors; a receive is an input.
    emu(SYS_mq_open, &[]),
    emu(SYS_mq_unlink, &[]),
    emu(SYS_mq_notify, &[]),
    emu(SYS_mq_getsetattr, &[Fixed(2, 64)]),
    emu_blocking(SYS_mq_timedsend, &[]),
    emu_blocking(SYS_mq_timedreceive, &[ResultLen(1), Fixed(3, 4)]),
    // io_uring's rings are memory the kernel fills on its own, between
    // calls: nothing a trace of calls can hold. Refused as by a kernel
    // without it (as rr does); Go programs fall back to plain calls.
    refused(SYS_io_uring_setup, ENOSYS),
    refused(SYS_io_uring_enter, ENOSYS),
    refused(SYS_io_uring_register, ENOSYS),
    // A descriptor whose events arrive by read(2), which is recorded.
    emu(SYS_fanotify_init, &[]),
    emu(SYS_fanotify_mark, &[]),
    emu(SYS_inotify_init1, &[]),
    emu(SYS_inotify_add_watch, &[]),
    emu(SYS_inotify_rm_watch, &[]),
    emu(SYS_getxattr, &[ResultLen(2)]),
    emu(SYS_lgetxattr, &[ResultLen(2)]),
    emu(SYS_fgetxattr, &[ResultLen(2)]),
    emu(SYS_listxattr, &[ResultLen(1)]),
    emu(SYS_flistxattr, &[ResultLen(1)]),
    emu(SYS_llistxattr, &[ResultLen(1)]),
    emu(SYS_setxattr, &[]),
    emu(SYS_lsetxattr, &[]),
    emu(SYS_fsetxattr, &[]),
    emu(SYS_removexattr, &[]),
    emu(SYS_lremovexattr, &[]),
    emu(SYS_fremovexattr, &[]),
    // File system administration (the standard library's tests make them
    // when run as root); a mount may wait for a device or the network.
    emu_blocking(SYS_mount, &[]),
    emu_blocking(SYS_umount2, &[]),
    emu_blocking(SYS_syncfs, &[]),
    emu(SYS_chroot, &[]),
    emu(SYS_pivot_root, &[]),
    emu(SYS_acct, &[]),
    // What each request writes: `ioctl`.
    emu(SYS_ioctl, &[]).hook(Hook::Ioctl),
];

/// fcntl commands that write through their pointer argument.
const FCNTL_OUTPUTS: &[(u64, usize)] = &[
    (5, 32),   // F_GETLK: struct flock (the lock that would conflict)
    (36, 32),  // F_OFD_GETLK
    (16, 8),   // F_GETOWN_EX: struct f_owner_ex
    (17, 8),   // F_GETOWNER_UIDS: two uid_t
    (1035, 8), // F_GET_RW_HINT: u64
    (1037, 8), // F_GET_FILE_RW_HINT: u64
];
