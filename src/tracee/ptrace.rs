//! Thin, typed ptrace requests. nix covers most; resumes take a raw signal
//! number because Go uses real-time signals (e.g. 33) that nix's `Signal`
//! enum cannot represent.

use std::io;

use nix::sys::ptrace as np;

use super::Tid;
use trace_format::Regs;

/// Options every tracee gets: syscall stops marked, all children and
/// threads traced, exec/exit reported, tracees killed if rrgo dies.
pub fn options() -> np::Options {
    np::Options::PTRACE_O_TRACESYSGOOD
        | np::Options::PTRACE_O_TRACECLONE
        | np::Options::PTRACE_O_TRACEFORK
        | np::Options::PTRACE_O_TRACEVFORK
        | np::Options::PTRACE_O_TRACEEXEC
        | np::Options::PTRACE_O_TRACEEXIT
        | np::Options::PTRACE_O_EXITKILL
        | np::Options::PTRACE_O_TRACESECCOMP
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

pub fn seize(tid: Tid) -> io::Result<()> {
    np::seize(tid.pid(), options()).map_err(errno)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Run to the next syscall entry/exit (or other stop).
    Syscall,
    /// Run without syscall stops.
    Cont,
    /// Execute one instruction.
    Step,
}

/// Leaves a thread in its group-stop (job control: SIGSTOP, SIGTSTP…)
/// while still reporting to the tracer: the end of the stop (SIGCONT) or
/// a signal arriving meanwhile comes as another PTRACE_EVENT_STOP.
pub fn listen(tid: Tid) -> io::Result<()> {
    // SAFETY: PTRACE_LISTEN takes no pointers.
    let r = unsafe { libc::ptrace(libc::PTRACE_LISTEN, tid.0, 0usize, 0usize) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resumes a stopped thread, delivering `sig` (0 for none).
pub fn resume(tid: Tid, how: Resume, sig: i32) -> io::Result<()> {
    let req = match how {
        Resume::Syscall => libc::PTRACE_SYSCALL,
        Resume::Cont => libc::PTRACE_CONT,
        Resume::Step => libc::PTRACE_SINGLESTEP,
    };
    // SAFETY: resume requests take no pointers; `data` is the signal number.
    let r = unsafe { libc::ptrace(req, tid.0, 0usize, sig as usize) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks a running thread to stop (PTRACE_EVENT_STOP); seized tracees only.
pub fn interrupt(tid: Tid) -> io::Result<()> {
    np::interrupt(tid.pid()).map_err(errno)
}

pub fn get_regs(tid: Tid) -> io::Result<Regs> {
    np::getregs(tid.pid())
        .map(|r| super::regs::from_user(&r))
        .map_err(errno)
}

pub fn set_regs(tid: Tid, regs: &Regs) -> io::Result<()> {
    np::setregs(tid.pid(), super::regs::to_user(regs)).map_err(errno)
}

pub fn get_siginfo(tid: Tid) -> io::Result<[u8; 128]> {
    let info = np::getsiginfo(tid.pid()).map_err(errno)?;
    let mut raw = [0u8; 128];
    // SAFETY: siginfo_t is 128 plain bytes on x86-64.
    unsafe {
        std::ptr::copy_nonoverlapping(
            &info as *const libc::siginfo_t as *const u8,
            raw.as_mut_ptr(),
            raw.len().min(std::mem::size_of::<libc::siginfo_t>()),
        );
    }
    Ok(raw)
}

pub fn set_siginfo(tid: Tid, raw: &[u8; 128]) -> io::Result<()> {
    // SAFETY: as above; siginfo_t is plain data.
    let info: libc::siginfo_t = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        std::ptr::copy_nonoverlapping(
            raw.as_ptr(),
            &mut info as *mut libc::siginfo_t as *mut u8,
            raw.len().min(std::mem::size_of::<libc::siginfo_t>()),
        );
        info
    };
    np::setsiginfo(tid.pid(), &info).map_err(errno)
}

/// PTRACE_GETEVENTMSG: the new tid at a clone event, the exit status at an exit event.
pub fn event_msg(tid: Tid) -> io::Result<u64> {
    np::getevent(tid.pid()).map(|v| v as u64).map_err(errno)
}

/// The size of this CPU's XSAVE area in the standard format, for every
/// feature it supports (CPUID leaf 0xD, sub-leaf 0, ECX), and those
/// features (EDX:EAX). The kernel's ptrace regset is that size exactly
/// (dynamic features such as AMX tiles included): a CPU with AMX has an
/// 11 KiB area, and a 4 KiB buffer made PTRACE_SETREGSET fail with EFAULT
/// at every preemption point.
fn xsave_layout() -> (usize, u64) {
    static LAYOUT: std::sync::OnceLock<(usize, u64)> = std::sync::OnceLock::new();
    *LAYOUT.get_or_init(|| {
        // Leaf 0xD exists on every CPU with XSAVE (all that run Go 1.24+).
        let r = std::arch::x86_64::__cpuid_count(0xd, 0);
        let size = (r.ecx as usize).max(XSAVE_LEGACY_AND_HEADER);
        (size, (u64::from(r.edx) << 32) | u64::from(r.eax))
    })
}

/// The legacy FXSAVE region (512 bytes) and the XSAVE header (64).
const XSAVE_LEGACY_AND_HEADER: usize = 576;
/// Where XSTATE_BV (the components present in the area) is in the header.
const XSTATE_BV: usize = 512;

/// The extended FPU/vector state (XSAVE area, standard format), as raw bytes.
pub fn get_xstate(tid: Tid) -> io::Result<Vec<u8>> {
    // Larger than needed is fine: the kernel says how much it wrote.
    let mut buf = vec![0u8; xsave_layout().0.max(4096)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: iov describes a live, writable buffer; NT_X86_XSTATE = 0x202.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            tid.0,
            0x202usize,
            &mut iov as *mut libc::iovec,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(iov.iov_len);
    Ok(buf)
}

/// Sets the XSAVE area from `xstate`, which may come from another CPU
/// (a trace replayed elsewhere): the kernel takes exactly its own size, so
/// the bytes are cut or zero-filled to it, and components this CPU lacks
/// are marked absent (their init state).
pub fn set_xstate(tid: Tid, xstate: &[u8]) -> io::Result<()> {
    let mut buf = xstate.to_vec();
    let (size, features) = xsave_layout();
    if buf.len() != size && buf.len() >= XSAVE_LEGACY_AND_HEADER {
        buf.resize(size, 0);
        let mut bv = [0u8; 8];
        bv.copy_from_slice(&buf[XSTATE_BV..XSTATE_BV + 8]);
        let bv = u64::from_le_bytes(bv) & features;
        buf[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&bv.to_le_bytes());
    }
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in get_xstate.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGSET,
            tid.0,
            0x202usize,
            &mut iov as *mut libc::iovec,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads hardware debug register `n` (DR0–DR3 addresses, DR6 status, DR7 control).
pub fn get_debugreg(tid: Tid, n: usize) -> io::Result<u64> {
    let off = std::mem::offset_of!(libc::user, u_debugreg) + n * 8;
    // SAFETY: PEEKUSER at a valid offset into `struct user`; errors come back through errno.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::ptrace(libc::PTRACE_PEEKUSER, tid.0, off, 0usize);
        if v == -1 && *libc::__errno_location() != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(v as u64)
    }
}

/// Writes hardware debug register `n`.
pub fn set_debugreg(tid: Tid, n: usize, value: u64) -> io::Result<()> {
    let off = std::mem::offset_of!(libc::user, u_debugreg) + n * 8;
    // SAFETY: POKEUSER at a valid offset into `struct user`; `data` is the value.
    let r = unsafe { libc::ptrace(libc::PTRACE_POKEUSER, tid.0, off, value as usize) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A thread's blocked-signal mask (PTRACE_GETSIGMASK).
pub fn get_sigmask(tid: Tid) -> io::Result<u64> {
    let mut mask: u64 = 0;
    // SAFETY: the kernel writes 8 bytes (the size we pass) into `mask`.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGMASK,
            tid.0,
            8usize,
            &mut mask as *mut u64,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(mask)
}

pub fn set_sigmask(tid: Tid, mask: u64) -> io::Result<()> {
    // SAFETY: the kernel reads 8 bytes from `mask`.
    let r = unsafe { libc::ptrace(libc::PTRACE_SETSIGMASK, tid.0, 8usize, &mask as *const u64) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a signal queued for this very thread (not its process) and not
/// blocked by its mask is pending: the kernel delivers it on the way back
/// to user mode, before the thread's next instruction. A stopped thread
/// only; two reads, no stop.
pub fn deliverable_own_signal(tid: Tid) -> io::Result<bool> {
    const PTRACE_PEEKSIGINFO: libc::c_uint = 0x4209;
    const PTRACE_GETSIGMASK: libc::c_uint = 0x420a;
    #[repr(C)]
    struct PeekArgs {
        off: u64,
        flags: u32,
        nr: i32,
    }
    let mut mask: u64 = 0;
    // SAFETY: the kernel writes 8 bytes (the size passed) into `mask`.
    let r = unsafe {
        libc::ptrace(
            PTRACE_GETSIGMASK,
            tid.0,
            std::mem::size_of::<u64>(),
            &mut mask as *mut u64,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    const BATCH: usize = 8;
    let mut infos = [[0u8; 128]; BATCH];
    let mut off = 0u64;
    loop {
        let args = PeekArgs {
            off,
            flags: 0,
            nr: BATCH as i32,
        };
        // SAFETY: room for `nr` siginfos of 128 bytes each.
        let n = unsafe { libc::ptrace(PTRACE_PEEKSIGINFO, tid.0, &args, infos.as_mut_ptr()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for info in &infos[..n as usize] {
            let signo = i32::from_ne_bytes(info[..4].try_into().unwrap_or([0; 4]));
            if (1..=64).contains(&signo) && mask & (1u64 << (signo - 1)) == 0 {
                return Ok(true);
            }
        }
        if (n as usize) < BATCH {
            return Ok(false);
        }
        off += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child stopped under ptrace (TRACEME, then SIGSTOP), killed on drop.
    struct StoppedChild(Tid);

    impl StoppedChild {
        fn start() -> StoppedChild {
            // SAFETY: the child only makes async-signal-safe calls before _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                // SAFETY: in the child, as above.
                unsafe {
                    libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
                    libc::raise(libc::SIGSTOP);
                    libc::_exit(0);
                }
            }
            let mut status = 0;
            // SAFETY: waiting for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(libc::WIFSTOPPED(status), "child did not stop: {status:#x}");
            StoppedChild(Tid(pid))
        }
    }

    impl Drop for StoppedChild {
        fn drop(&mut self) {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(self.0 .0, libc::SIGKILL);
                libc::waitpid(self.0 .0, std::ptr::null_mut(), 0);
            }
        }
    }

    /// The XSAVE area round-trips at this CPU's full size (11 KiB with AMX,
    /// where a 4 KiB area failed every preemption point's restore with
    /// EFAULT), and one from a CPU with a smaller or larger area is taken:
    /// cut or zero-filled, its vector registers kept.
    #[test]
    fn the_xsave_area_is_restored_whatever_cpu_it_came_from() {
        let _one = super::super::TRACING_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let child = StoppedChild::start();
        let mut area = get_xstate(child.0).unwrap();
        assert_eq!(area.len(), xsave_layout().0, "the kernel's regset size");
        // XMM0 (legacy area offset 160) to a pattern.
        area[160..176].copy_from_slice(&[0x5a; 16]);
        set_xstate(child.0, &area).unwrap();
        assert_eq!(get_xstate(child.0).unwrap()[160..176], [0x5a; 16]);
        // A smaller CPU's area (no AVX-512/AMX components).
        let mut small = area[..XSAVE_LEGACY_AND_HEADER + 256].to_vec();
        small[160..176].copy_from_slice(&[0xa5; 16]);
        set_xstate(child.0, &small).unwrap();
        assert_eq!(get_xstate(child.0).unwrap()[160..176], [0xa5; 16]);
        // A larger one.
        let mut large = area.clone();
        large.resize(area.len() + 8192, 0);
        set_xstate(child.0, &large).unwrap();
        assert_eq!(get_xstate(child.0).unwrap()[160..176], [0x5a; 16]);
    }
}
