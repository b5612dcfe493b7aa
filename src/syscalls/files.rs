//! Files and descriptors: all emulated at replay (replay opens no real files).

use super::{emu, emu_blocking, emu_fd_io, emu_open, Blocking, Hook, Out::*, Spec};
use libc::*;

const STAT: usize = 144;

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
        .hook(Hook::ZeroCopy { input: 0, out: 2 }),
    emu_blocking(SYS_splice, &[Fixed(1, 8), Fixed(3, 8)])
        .alters_file_at(2)
        .hook(Hook::ZeroCopy { input: 0, out: 2 }),
    emu_blocking(SYS_sendfile, &[Fixed(2, 8)])
        .alters_file()
        .hook(Hook::ZeroCopy { input: 1, out: 0 }),
    emu_blocking(SYS_tee, &[]).hook(Hook::ZeroCopy { input: 0, out: 1 }),
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
    emu(SYS_ioctl, &[]).hook(Hook::Ioctl),
];

/// ioctl requests whose third argument points to an object the kernel
/// fills, with its size; other requests write nothing rrgo knows of.
/// fcntl commands that write through their pointer argument.
const FCNTL_OUTPUTS: &[(u64, usize)] = &[
    (5, 32),   // F_GETLK: struct flock (the lock that would conflict)
    (36, 32),  // F_OFD_GETLK
    (16, 8),   // F_GETOWN_EX: struct f_owner_ex
    (17, 8),   // F_GETOWNER_UIDS: two uid_t
    (1035, 8), // F_GET_RW_HINT: u64
    (1037, 8), // F_GET_FILE_RW_HINT: u64
];

pub(crate) const IOCTL_OUTPUTS: &[(u64, usize)] = &[
    (0x5401, 36),     // TCGETS: struct termios (kernel layout)
    (0x802c542a, 44), // TCGETS2: struct termios2
    (0x5413, 8),      // TIOCGWINSZ: struct winsize
    (0x541b, 4),      // FIONREAD
    (0x540f, 4),      // TIOCGPGRP
    (0x5429, 4),      // TIOCGSID
    (0x80045430, 4),  // TIOCGPTN
];
