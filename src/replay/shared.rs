//! Files mapped `MAP_SHARED`, in replay. Replay has no real files: a file
//! mapping is filled from the trace's copy of the file. Two shared mappings
//! of one file are one set of pages natively, so a store through one shows
//! through the other with no syscall between (a ring buffer mapped twice
//! from a memfd); separate copies would each miss the other's stores. So
//! each process gets one copy per file it maps shared — a memfd of rrgo's —
//! and every shared mapping of that file in the process maps it: the
//! thread, at the mmap's exit stop, opens the memfd through
//! `/proc/<rrgo>/fd/N`, maps it over the anonymous mapping replay made at
//! the recorded address, and closes it (three injected calls).
//!
//! Per process, not per recording: another process's stores reach a
//! process as recorded `Pages` events (`record/shared.rs`), which replay
//! writes into its copy; one copy for both would apply them twice (a
//! counter's increments). A child forked with the mapping shares its
//! parent's copy, as natively.
//!
//! The mapped range of the copy gets the file's bytes stored at that mmap
//! (the file as every mapping of it showed then). A read-only shared
//! mapping cannot be written through `/proc/PID/mem` (the kernel forces
//! writes only into private mappings), so recorded writes that land there
//! go to the memfd ([`SharedFiles::write`]). A checkpoint (a fork) gets
//! copies of its own ([`SharedFiles::copy_into`]): it must not see the
//! stores of the replay it was copied from.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{FileExt, MetadataExt};

use anyhow::{anyhow, Context};
use trace_format::RemoteAddr;

use crate::tracee::maps::{read_maps, PAGE};
use crate::tracee::mem::ProcMem;
use crate::tracee::{inject, ptrace, Tid};

/// A mapped file: recorded process (tgid), device, inode.
pub type Key = (i32, u64, u64);

/// What the memfds are named (`/memfd:rrgo-shared (deleted)` in maps).
const NAME: &str = "rrgo-shared";

/// One file's copy for one process.
#[derive(Debug)]
struct Copy {
    memfd: File,
    /// The memfd's inode: how its mappings are told apart in maps.
    ino: u64,
}

impl Copy {
    fn new() -> anyhow::Result<Copy> {
        let name = std::ffi::CString::new(NAME).expect("no NUL");
        // SAFETY: a valid C string; the result is checked.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("cannot create a shared file's copy");
        }
        // SAFETY: a descriptor just created and owned by nothing else.
        let memfd = unsafe { File::from_raw_fd(fd) };
        let ino = memfd.metadata()?.ino();
        Ok(Copy { memfd, ino })
    }

    /// The path a tracee opens the memfd by (NUL-terminated).
    fn path(&self) -> Vec<u8> {
        let mut p =
            format!("/proc/{}/fd/{}", std::process::id(), self.memfd.as_raw_fd()).into_bytes();
        p.push(0);
        p
    }

    /// Makes `[off, off+len)` hold `data` (the file's bytes from `off`;
    /// zeros past them), growing the memfd to cover it.
    fn fill(&self, off: u64, len: u64, data: &[u8]) -> io::Result<()> {
        let end = off + len.div_ceil(PAGE) * PAGE;
        if self.memfd.metadata()?.len() < end {
            self.memfd.set_len(end)?;
        }
        let n = data.len().min(len as usize);
        self.memfd.write_all_at(&data[..n], off)?;
        if (n as u64) < len {
            self.memfd
                .write_all_at(&vec![0; (len - n as u64) as usize], off + n as u64)?;
        }
        Ok(())
    }
}

/// Every process's copies of the files it maps shared.
#[derive(Debug, Default)]
pub struct SharedFiles {
    copies: HashMap<Key, Copy>,
}

impl SharedFiles {
    /// Maps `[addr, addr+len)` (the anonymous mapping replay made for a
    /// shared mmap, in the process of `live`, at the mmap's exit stop) from
    /// the process's copy of the file, with `data` (the stored copy's bytes
    /// from `off`) written into that range of it. False: it could not (an
    /// executable mapping, or the tracee could not open the copy); the
    /// caller fills the anonymous mapping as for a private one.
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &mut self,
        key: Key,
        live: Tid,
        mem: &ProcMem,
        (addr, len): (u64, u64),
        prot: u64,
        off: u64,
        data: &[u8],
    ) -> anyhow::Result<bool> {
        // Executable file memory is code (rrgo patches it): kept private.
        if prot & libc::PROT_EXEC as u64 != 0 || len == 0 {
            return Ok(false);
        }
        let copy = match self.copies.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(Copy::new()?),
        };
        copy.fill(off, len, data)
            .context("cannot write a shared file's copy")?;
        let insn = syscall_insn_at_stop(live, mem)?;
        // The path goes into the mapping it replaces.
        let path = copy.path();
        let Some(fd) = open_in(live, insn, mem, RemoteAddr(addr), &path)? else {
            mem.write(RemoteAddr(addr), &vec![0; path.len()])?;
            return Ok(false);
        };
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let got = inject::syscall(
            live,
            insn,
            libc::SYS_mmap,
            &[addr, len, prot, flags, fd as u64, off],
        );
        inject::syscall(live, insn, libc::SYS_close, &[fd as u64])?;
        if got? as u64 != addr {
            mem.write(RemoteAddr(addr), &vec![0; path.len()])?;
            return Ok(false);
        }
        Ok(true)
    }

    /// A process ended: its copies go.
    pub fn forget_process(&mut self, tgid: i32) {
        self.copies.retain(|k, _| k.0 != tgid);
    }

    /// Writes recorded bytes into the process `mem` reads: through
    /// `/proc/PID/mem`, and where that is refused (a read-only shared
    /// mapping of a copy), into the copy.
    pub fn write(&self, mem: &ProcMem, addr: RemoteAddr, data: &[u8]) -> io::Result<()> {
        let err = match mem.write(addr, data) {
            Ok(()) => return Ok(()),
            Err(err) if self.copies.is_empty() => return Err(err),
            Err(err) => err,
        };
        let (start, end) = (addr.0, addr.0 + data.len() as u64);
        let mut done = start;
        for r in read_maps(mem.pid())? {
            if r.end <= done || r.start >= end {
                continue;
            }
            if r.start > done {
                // A hole: the write cannot be done.
                return Err(err);
            }
            let piece_end = r.end.min(end);
            let bytes = &data[(done - start) as usize..(piece_end - start) as usize];
            match self.copies.values().find(|c| c.ino == r.inode) {
                Some(c) if r.path.contains(NAME) => {
                    c.memfd.write_all_at(bytes, r.offset + (done - r.start))?
                }
                _ => mem.write(RemoteAddr(done), bytes)?,
            }
            done = piece_end;
            if done == end {
                return Ok(());
            }
        }
        Err(err)
    }

    /// The copies for a checkpoint of process `tgid`: its process `child`
    /// (a fork, stopped; `insn` a syscall instruction in it) shares this
    /// replay's memfds, so each is copied and every mapping of it in the
    /// child is replaced by the same range of the new copy.
    pub fn copy_into(
        &self,
        tgid: i32,
        child: Tid,
        insn: RemoteAddr,
        cmem: &ProcMem,
    ) -> anyhow::Result<SharedFiles> {
        let mut out = SharedFiles::default();
        let mine: Vec<_> = self.copies.iter().filter(|(k, _)| k.0 == tgid).collect();
        if mine.is_empty() {
            return Ok(out);
        }
        let maps = read_maps(child.0)?;
        let rsp = ptrace::get_regs(child)?.rsp;
        // Scratch space below the red zone, as for the signal stacks.
        let scratch = RemoteAddr((rsp - 512) & !15);
        for (key, old) in mine {
            let new = Copy::new()?;
            let len = old.memfd.metadata()?.len();
            let mut bytes = vec![0; len as usize];
            old.memfd.read_exact_at(&mut bytes, 0)?;
            new.memfd.set_len(len)?;
            new.memfd.write_all_at(&bytes, 0)?;
            let path = new.path();
            let saved = cmem.read(scratch, path.len())?;
            let fd = open_in(child, insn, cmem, scratch, &path);
            cmem.write(scratch, &saved)?;
            let fd = fd?.ok_or_else(|| anyhow!("a checkpoint cannot open its shared file copy"))?;
            for r in maps
                .iter()
                .filter(|r| r.inode == old.ino && r.path.contains(NAME))
            {
                let prot = [
                    (b'r', libc::PROT_READ),
                    (b'w', libc::PROT_WRITE),
                    (b'x', libc::PROT_EXEC),
                ]
                .iter()
                .zip(r.perms)
                .filter(|((c, _), p)| c == p)
                .fold(0, |acc, ((_, bit), _)| acc | bit);
                let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
                let got = inject::syscall(
                    child,
                    insn,
                    libc::SYS_mmap,
                    &[
                        r.start,
                        r.end - r.start,
                        prot as u64,
                        flags,
                        fd as u64,
                        r.offset,
                    ],
                )?;
                if got as u64 != r.start {
                    let _ = inject::syscall(child, insn, libc::SYS_close, &[fd as u64]);
                    return Err(anyhow!(
                        "a checkpoint cannot map its shared file copy at {:#x}: {got}",
                        r.start
                    ));
                }
            }
            inject::syscall(child, insn, libc::SYS_close, &[fd as u64])?;
            out.copies.insert(*key, new);
        }
        Ok(out)
    }
}

/// The `syscall` instruction `live` stopped after (at a syscall stop).
fn syscall_insn_at_stop(live: Tid, mem: &ProcMem) -> anyhow::Result<RemoteAddr> {
    let at = RemoteAddr(ptrace::get_regs(live)?.rip.wrapping_sub(2));
    if mem.read(at, 2).ok().as_deref() == Some(&[0x0f, 0x05]) {
        return Ok(at);
    }
    inject::find_syscall_insn(mem)?.ok_or_else(|| anyhow!("no syscall instruction to inject with"))
}

/// Opens `path` read-write in `tid`'s process, writing it at `at` first;
/// `None` if the open failed.
fn open_in(
    tid: Tid,
    insn: RemoteAddr,
    mem: &ProcMem,
    at: RemoteAddr,
    path: &[u8],
) -> anyhow::Result<Option<i32>> {
    mem.write(at, path)?;
    let fd = inject::syscall(
        tid,
        insn,
        libc::SYS_openat,
        &[
            libc::AT_FDCWD as i64 as u64,
            at.0,
            (libc::O_RDWR | libc::O_CLOEXEC) as u64,
            0,
        ],
    )?;
    if fd < 0 {
        tracing::debug!(
            "replay cannot open a shared file's copy in the tracee: errno {}",
            -fd
        );
        return Ok(None);
    }
    Ok(Some(fd as i32))
}
