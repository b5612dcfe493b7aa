//! Which pages were written since the last look: userfaultfd write-protect
//! in asynchronous mode plus the PAGEMAP_SCAN ioctl (Linux 6.7+).
//!
//! Why: a preemption point is replayed by restoring memory, and the set of
//! pages to restore must include every page *written* since the previous
//! snapshot — comparing contents would miss a page changed and changed back
//! (a flag set by one thread and cleared by the next), which replay would
//! then get wrong. Write-protection faults are resolved by the kernel itself
//! (WP_ASYNC), so tracking costs no ptrace stops; PAGEMAP_SCAN reads and
//! re-arms the written bits in one call.
//!
//! Re-arming is not free: each re-protected page the program writes again
//! faults once, in the program's time, which the recorder does not see. A
//! compressor rewriting the same 5 MB every slice took 1,400 faults per
//! point (gzipsha: 58,000, a seventh of its recording). So a point's cost,
//! which sets how soon the next one may come (`wake.rs`), counts them
//! (`take_rearm_cost`).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::tracee::maps::read_maps;
use crate::tracee::{clockpage, inject, mem::ProcMem, Tid};
use trace_format::RemoteAddr;

// Kernel ABI (include/uapi/linux/userfaultfd.h, fs.h); this machine's headers predate PAGEMAP_SCAN.
const UFFD_API: u64 = 0xaa;
const UFFD_USER_MODE_ONLY: u64 = 1;
const UFFD_FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1;
const UFFDIO_API: u64 = 0xc018_aa3f;
const UFFDIO_REGISTER: u64 = 0xc020_aa00;
const UFFDIO_WRITEPROTECT: u64 = 0xc018_aa06;
const PAGEMAP_SCAN: u64 = 0xc060_6610;
const PM_SCAN_WP_MATCHING: u64 = 1;
const PAGE_IS_WRITTEN: u64 = 1 << 1;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioWriteprotect {
    range: UffdioRange,
    mode: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

#[repr(C)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// Write tracking for one process.
#[derive(Debug)]
pub struct DirtyTracker {
    uffd: OwnedFd,
    pagemap: File,
    /// Written ranges found while (re-)registering memory, for the next `take_written`.
    carried: std::cell::RefCell<Vec<(RemoteAddr, u64)>>,
    /// Bytes re-protected since `take_rearm_cost` last asked.
    rearmed: std::cell::Cell<u64>,
}

/// A write-protect fault the kernel resolves itself, measured: gzipsha's
/// recording took 58,000 faults more than the program alone and ~0.14 s
/// more system time (2.4 µs each in this VM).
const FAULT_COST_NS: u64 = 2_000;

fn ioctl<T>(fd: i32, req: u64, arg: &mut T) -> io::Result<i64> {
    // SAFETY: `arg` is the repr(C) struct the request expects, alive for the call.
    let r = unsafe { libc::ioctl(fd, req as _, arg as *mut T) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as i64)
}

impl DirtyTracker {
    /// Sets tracking up for the process of `tid`, which must be at a
    /// syscall-exit stop (a userfaultfd is created inside the process, copied
    /// into rrgo, and closed again there so the program's fds are unchanged).
    pub fn attach(tid: Tid, tgid: i32, mem: &ProcMem) -> io::Result<DirtyTracker> {
        let insn = inject::find_syscall_insn(mem)?
            .ok_or_else(|| io::Error::other("no syscall instruction found"))?;
        let flags = (libc::O_CLOEXEC | libc::O_NONBLOCK) as u64 | UFFD_USER_MODE_ONLY;
        let fd = inject::syscall(tid, insn, libc::SYS_userfaultfd, &[flags])?;
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(-fd as i32));
        }
        let copied = copy_fd(tgid, fd as i32);
        inject::syscall(tid, insn, libc::SYS_close, &[fd as u64])?;
        let uffd = copied?;
        let mut api = UffdioApi {
            api: UFFD_API,
            features: UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
            ioctls: 0,
        };
        ioctl(uffd.as_raw_fd(), UFFDIO_API, &mut api)?;
        let pagemap = std::fs::OpenOptions::new()
            .read(true)
            .open(format!("/proc/{tgid}/pagemap"))?;
        let t = DirtyTracker {
            uffd,
            pagemap,
            carried: Default::default(),
            rearmed: Default::default(),
        };
        t.track_all(tgid)?;
        Ok(t)
    }

    /// Registers and write-protects every mapping (call again after the
    /// program maps memory; already registered ranges are skipped).
    pub fn track_all(&self, tgid: i32) -> io::Result<()> {
        for r in read_maps(tgid)? {
            // The clock page's buffer holds different things in record and
            // replay, and rrgo itself keeps it consistent.
            // Memory the program cannot write needs no tracking (see the
            // recorder's mmap hook); mprotect making it writable tracks it.
            if !r.writable()
                || r.path.starts_with("[vsyscall]")
                || r.path.starts_with("[vvar")
                || r.path.starts_with("[vdso]")
                || (clockpage::CODE..clockpage::END).contains(&r.start)
            {
                continue;
            }
            self.track(r.start, r.end);
        }
        Ok(())
    }

    /// Tracks one range; errors are not fatal (the range is then untracked).
    /// Registering a range that is already registered succeeds again and the
    /// re-protect would forget what was written there meanwhile: a scan
    /// keeps that first. Protecting the whole range (not only its written
    /// pages) puts markers on unpopulated pages, so pages that are only
    /// read later do not count as written.
    pub fn track(&self, start: u64, end: u64) {
        match self.scan(start, end) {
            Ok(written) => self.carried.borrow_mut().extend(written),
            Err(e) => tracing::debug!(start, end, "cannot scan a range before tracking it: {e}"),
        }
        let range = || UffdioRange {
            start,
            len: end - start,
        };
        let mut reg = UffdioRegister {
            range: range(),
            mode: UFFDIO_REGISTER_MODE_WP,
            ioctls: 0,
        };
        if ioctl(self.uffd.as_raw_fd(), UFFDIO_REGISTER, &mut reg).is_ok() {
            let mut wp = UffdioWriteprotect {
                range: range(),
                mode: UFFDIO_WRITEPROTECT_MODE_WP,
            };
            let _ = ioctl(self.uffd.as_raw_fd(), UFFDIO_WRITEPROTECT, &mut wp);
        }
    }

    /// The page ranges written since the previous call (or since `attach`),
    /// re-protecting them for the next call.
    pub fn take_written(&self) -> io::Result<Vec<(RemoteAddr, u64)>> {
        // The top of user space (TASK_SIZE_MAX); beyond it the kernel says EFAULT.
        let mut out = self.scan(0, 0x7fff_ffff_f000)?;
        out.append(&mut self.carried.borrow_mut());
        let bytes: u64 = out.iter().map(|(_, len)| len).sum();
        self.rearmed.set(self.rearmed.get() + bytes);
        Ok(out)
    }

    /// What the program pays for the re-arms since the last call: a fault
    /// for each re-protected page, estimated as if it writes all of them
    /// again (a page written once and never again costs nothing, but then
    /// it was not re-armed often either).
    pub fn take_rearm_cost(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.rearmed.take() / 4096 * FAULT_COST_NS)
    }

    /// Written pages in [start, end), write-protected again.
    fn scan(&self, mut start: u64, end: u64) -> io::Result<Vec<(RemoteAddr, u64)>> {
        let mut out = Vec::new();
        let mut vec = vec![PageRegion::default(); 1024];
        loop {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                // Not PM_SCAN_CHECK_WPASYNC: it fails the whole scan on an untracked
                // mapping (the vDSO), where every page then simply counts as written.
                flags: PM_SCAN_WP_MATCHING,
                start,
                end,
                walk_end: 0,
                vec: vec.as_mut_ptr() as u64,
                vec_len: vec.len() as u64,
                max_pages: 0,
                category_inverted: 0,
                category_mask: PAGE_IS_WRITTEN,
                category_anyof_mask: 0,
                return_mask: PAGE_IS_WRITTEN,
            };
            let n = ioctl(self.pagemap.as_raw_fd(), PAGEMAP_SCAN, &mut arg)? as usize;
            for r in &vec[..n.min(vec.len())] {
                out.push((RemoteAddr(r.start), r.end - r.start));
            }
            if arg.walk_end >= end || arg.walk_end <= start || n < vec.len() {
                break;
            }
            start = arg.walk_end;
        }
        Ok(out)
    }
}

/// Copies fd `fd` of process `pid` into rrgo (pidfd_open + pidfd_getfd).
fn copy_fd(pid: i32, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: raw syscalls returning new fds, which are wrapped at once.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd as i32);
        let got = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0);
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(got as i32))
    }
}
