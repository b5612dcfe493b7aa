//! Reading and writing tracee memory through /proc/PID/mem, which (unlike
//! process_vm_readv) also writes read-only pages such as code — needed for
//! breakpoints and for filling file mappings at replay.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use trace_format::RemoteAddr;

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
