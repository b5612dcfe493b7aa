//! Bytes the kernel moves from a pipe into rrgo's stdout or stderr without
//! the program's memory (splice, tee: Go's `io.Copy(os.Stdout, conn)`
//! splices the connection into a pipe of its own, then that pipe into
//! stdout). `replay -a` must show them, and replay does not run the call,
//! so the recorder copies them at the call's entry: tee(2) from a duplicate
//! of the program's pipe (pidfd_getfd) into a pipe of rrgo's leaves the
//! program's pipe as it was, the call then runs for real, and its length is
//! cut to what was copied, so the bytes it moves are exactly those.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::tracee::Tid;

/// At most this much per call (a pipe's largest size for an unprivileged
/// process): splice may move fewer bytes than asked, and Go loops.
const MOST: usize = 1 << 20;

/// Whether `fd` of thread `tid` is a pipe.
pub fn pipe_of(tid: Tid, fd: i32) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(format!("/proc/{}/fd/{fd}", tid.0)).is_ok_and(|m| m.file_type().is_fifo())
}

fn check(r: libc::c_long) -> std::io::Result<libc::c_long> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// The first bytes (at most `len`) waiting in pipe `fd` of process `tgid`,
/// left in it. Empty if the pipe is empty.
pub fn peek_pipe(tgid: i32, fd: i32, len: usize) -> std::io::Result<Vec<u8>> {
    let own = |r: libc::c_long| {
        // SAFETY: a descriptor the kernel just gave rrgo, owned from here on.
        check(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    // SAFETY: plain syscalls on integers; the results are checked.
    let pidfd = own(unsafe { libc::syscall(libc::SYS_pidfd_open, tgid, 0) })?;
    let dup = own(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    let mut ends = [0i32; 2];
    // SAFETY: `ends` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } as _)?;
    // SAFETY: pipe2 succeeded: both are rrgo's now.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    let want = len.min(MOST);
    // SAFETY: fcntl on rrgo's own pipe; a smaller pipe only copies less.
    let cap = unsafe {
        libc::fcntl(
            w.as_raw_fd(),
            libc::F_SETPIPE_SZ,
            want.max(4096) as libc::c_int,
        );
        libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    let want = want.min(cap.max(4096) as usize);
    // SAFETY: tee between two pipe descriptors rrgo owns.
    let n = unsafe {
        libc::tee(
            dup.as_raw_fd(),
            w.as_raw_fd(),
            want,
            libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(Vec::new()),
            _ => Err(e),
        };
    }
    let mut out = vec![0u8; n as usize];
    let mut got = 0;
    while got < out.len() {
        // SAFETY: reads into the unfilled rest of `out`.
        let k = unsafe {
            libc::read(
                r.as_raw_fd(),
                out[got..].as_mut_ptr().cast(),
                out.len() - got,
            )
        };
        if k <= 0 {
            break;
        }
        got += k as usize;
    }
    out.truncate(got);
    Ok(out)
}
