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

/// The extended FPU/vector state (XSAVE area), as raw bytes.
pub fn get_xstate(tid: Tid) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
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

pub fn set_xstate(tid: Tid, xstate: &[u8]) -> io::Result<()> {
    let mut buf = xstate.to_vec();
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
