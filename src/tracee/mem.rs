//! Reading and writing tracee memory through /proc/PID/mem, which (unlike
//! process_vm_readv) also writes read-only pages such as code — needed for
//! breakpoints and for filling file mappings at replay.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use trace_format::RemoteAddr;

/// Reading a tracee's memory: its live address space (`ProcMem`), or a
/// copy some of it was captured into at an earlier moment (the goroutine
/// index's probe records, `tracee::probelog`) over the live one.
pub trait MemRead {
    /// Reads exactly `buf.len()` bytes or fails.
    fn read_exact(&self, addr: RemoteAddr, buf: &mut [u8]) -> io::Result<()>;

    fn read(&self, addr: RemoteAddr, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_exact(addr, &mut buf)?;
        Ok(buf)
    }

    /// Reads as much of the range as is readable, from the start.
    fn read_prefix(&self, addr: RemoteAddr, len: usize) -> Vec<u8>;

    fn read_u32(&self, addr: RemoteAddr) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn read_u64(&self, addr: RemoteAddr) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// `len` bytes from `addr` of which only `parts` ((offset, length)
    /// runs) are wanted: the others may read as zeros (a probe's record
    /// holds only what its readers read).
    fn read_parts(
        &self,
        addr: RemoteAddr,
        len: usize,
        parts: &[(u64, u64)],
    ) -> io::Result<Vec<u8>> {
        let _ = parts;
        self.read(addr, len)
    }

    /// Several ranges: `Some(bytes)` for each range read whole.
    fn read_many(&self, ranges: &[(RemoteAddr, usize)]) -> Vec<Option<Vec<u8>>> {
        ranges.iter().map(|&(a, n)| self.read(a, n).ok()).collect()
    }
}

impl MemRead for ProcMem {
    fn read_exact(&self, addr: RemoteAddr, buf: &mut [u8]) -> io::Result<()> {
        ProcMem::read_exact(self, addr, buf)
    }

    fn read_prefix(&self, addr: RemoteAddr, len: usize) -> Vec<u8> {
        ProcMem::read_prefix(self, addr, len)
    }

    fn read_many(&self, ranges: &[(RemoteAddr, usize)]) -> Vec<Option<Vec<u8>>> {
        ProcMem::read_many(self, ranges)
    }
}

/// One process's address space. Reopen after execve: the old file keeps
/// referring to the old (gone) address space.
#[derive(Debug)]
pub struct ProcMem {
    pid: i32,
    file: File,
}

impl ProcMem {
    pub fn open(pid: i32) -> io::Result<ProcMem> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        Ok(ProcMem { pid, file })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Reads exactly `buf.len()` bytes or fails.
    pub fn read_exact(&self, addr: RemoteAddr, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.file.read_at(&mut buf[done..], addr.0 + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("cannot read tracee memory at {:#x}", addr.0 + done as u64),
                ));
            }
            done += n;
        }
        Ok(())
    }

    pub fn read(&self, addr: RemoteAddr, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_exact(addr, &mut buf)?;
        Ok(buf)
    }

    /// Reads as much of the range as is mapped, from the start.
    pub fn read_prefix(&self, addr: RemoteAddr, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.file.read_at(&mut buf[done..], addr.0 + done as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        buf.truncate(done);
        buf
    }

    /// What `read_prefix(addr, len)` would return, hashed (xxh3-64), and
    /// its length — read piece by piece into one reused buffer, with
    /// process_vm_readv (one copy, pages pinned in batches) and
    /// /proc/PID/mem only for a piece it cannot read whole (a page without
    /// read permission, which /proc/PID/mem reads). Reading the megabytes
    /// a preemption point's slice wrote is a third of the recorder's own
    /// CPU on gzipsha (perf), nearly all of it the kernel pinning and
    /// copying pages; fresh 8 MiB buffers and /proc/PID/mem's
    /// page-at-a-time double copy added to it (18.4 → 17.6 % of the
    /// samples). `fix` may change each piece before it is hashed (replay
    /// puts back the bytes its breakpoints replaced).
    pub fn hash_prefix(
        &self,
        addr: RemoteAddr,
        len: usize,
        mut fix: impl FnMut(u64, &mut [u8]),
    ) -> (usize, u64) {
        thread_local! {
            static PIECE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        const PIECE_BYTES: usize = 256 << 10;
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut done = 0;
        PIECE.with_borrow_mut(|buf| {
            buf.resize(PIECE_BYTES, 0);
            while done < len {
                let n = (len - done).min(PIECE_BYTES);
                let at = addr.0 + done as u64;
                let piece = &mut buf[..n];
                let got = self.read_piece(at, piece);
                fix(at, &mut piece[..got]);
                hasher.update(&piece[..got]);
                done += got;
                if got < n {
                    break;
                }
            }
        });
        (done, hasher.digest())
    }

    /// Fills `buf` from `addr` as far as it is mapped: the bytes read.
    fn read_piece(&self, addr: u64, buf: &mut [u8]) -> usize {
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: the local iovec points into `buf`, of its length.
        let got = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if usize::try_from(got).is_ok_and(|n| n == buf.len()) {
            return buf.len();
        }
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], addr + done as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done
    }

    pub fn read_u32(&self, addr: RemoteAddr) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn read_u64(&self, addr: RemoteAddr) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write(&self, addr: RemoteAddr, data: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            let n = self.file.write_at(&data[done..], addr.0 + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("cannot write tracee memory at {:#x}", addr.0 + done as u64),
                ));
            }
            done += n;
        }
        Ok(())
    }

    pub fn write_u64(&self, addr: RemoteAddr, v: u64) -> io::Result<()> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Several ranges in one system call (process_vm_readv): `Some(bytes)`
    /// for each range read whole. Reading many small structs (every g after
    /// each event of the goroutine index) costs one call instead of one
    /// each; ranges past the first that fails are read one by one.
    pub fn read_many(&self, ranges: &[(RemoteAddr, usize)]) -> Vec<Option<Vec<u8>>> {
        let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(ranges.len());
        // IOV_MAX
        for batch in ranges.chunks(1024) {
            let mut bufs: Vec<Vec<u8>> = batch.iter().map(|&(_, n)| vec![0u8; n]).collect();
            let local: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr().cast(),
                    iov_len: b.len(),
                })
                .collect();
            let remote: Vec<libc::iovec> = batch
                .iter()
                .map(|&(a, n)| libc::iovec {
                    iov_base: a.0 as *mut libc::c_void,
                    iov_len: n,
                })
                .collect();
            // SAFETY: every local iovec points into a live buffer of its length.
            let got = unsafe {
                libc::process_vm_readv(
                    self.pid,
                    local.as_ptr(),
                    local.len() as libc::c_ulong,
                    remote.as_ptr(),
                    remote.len() as libc::c_ulong,
                    0,
                )
            };
            // Whole ranges up to the first short one are good.
            let mut left = usize::try_from(got).unwrap_or(0);
            for (buf, &(addr, n)) in bufs.into_iter().zip(batch) {
                if left >= n {
                    left -= n;
                    out.push(Some(buf));
                } else {
                    left = 0;
                    out.push(self.read(addr, n).ok());
                }
            }
        }
        out
    }

    /// A NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstr(&self, addr: RemoteAddr, max: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 256];
        while out.len() < max {
            let n = self.file.read_at(&mut chunk, addr.0 + out.len() as u64)?;
            if n == 0 {
                break;
            }
            if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
        }
        out.truncate(max);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hash_prefix` hashes exactly what `read_prefix` reads: across its
    /// pieces, through a page without read permission (which only
    /// /proc/PID/mem reads) and up to an unmapped page.
    #[test]
    fn hash_prefix_hashes_what_read_prefix_reads() {
        const PAGE: usize = 4096;
        // More than one 256 KiB piece.
        let pages = 70;
        // SAFETY: a fresh private anonymous mapping, used only here.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let bytes = base.cast::<u8>();
        for i in 0..pages * PAGE {
            // SAFETY: inside the mapping.
            unsafe { *bytes.add(i) = (i * 7 % 251) as u8 };
        }
        // SAFETY: pages inside the mapping.
        unsafe {
            assert_eq!(
                libc::mprotect(
                    base.cast::<u8>().add(66 * PAGE).cast(),
                    PAGE,
                    libc::PROT_NONE
                ),
                0
            );
            assert_eq!(
                libc::munmap(base.cast::<u8>().add(68 * PAGE).cast(), 2 * PAGE),
                0
            );
        }
        let mem = ProcMem::open(std::process::id() as i32).unwrap();
        let at = RemoteAddr(base as u64 + 100);
        for len in [0, 1, 5000, 64 * PAGE, 66 * PAGE + 10, 67 * PAGE, 70 * PAGE] {
            let data = mem.read_prefix(at, len);
            let (n, hash) = mem.hash_prefix(at, len, |_, _| {});
            assert_eq!(n, data.len(), "length of {len}");
            assert_eq!(hash, xxhash_rust::xxh3::xxh3_64(&data), "hash of {len}");
        }
        assert_eq!(mem.hash_prefix(at, 70 * PAGE, |_, _| {}).0, 68 * PAGE - 100);
        // `fix` sees the pieces in order and changes what is hashed.
        let mut seen = Vec::new();
        let (_, fixed) = mem.hash_prefix(at, 66 * PAGE, |a, piece| {
            seen.push((a, piece.len()));
            piece[0] ^= 1;
        });
        assert_eq!(seen.first(), Some(&(at.0, 256 << 10)));
        assert_ne!(fixed, mem.hash_prefix(at, 66 * PAGE, |_, _| {}).1);
        // SAFETY: the rest of the mapping.
        unsafe { libc::munmap(base, 68 * PAGE) };
    }
}
