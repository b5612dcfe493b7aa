//! The exec-time fixups of the initial stack's auxiliary vector.
//!
//! - AT_SYSINFO_EHDR (the vDSO) is reported, and rewritten to AT_IGNORE if
//!   asked, so the program does not find the vDSO: the Go runtime (and
//!   glibc) then make real clock_gettime, gettimeofday and getrandom
//!   syscalls, which rrgo records. (The default instead patches the vDSO:
//!   see `vdso` and `clockpage`.)
//! - AT_RANDOM points at 16 kernel-chosen bytes that seed Go's runtime
//!   randomness (map order, select order, math/rand, heap base): recorded
//!   at record time, written back at replay.

use std::io;

use trace_format::RemoteAddr;

use super::mem::ProcMem;

const AT_NULL: u64 = 0;
const AT_IGNORE: u64 = 1;
const AT_ENTRY: u64 = 9;
const AT_RANDOM: u64 = 25;
const AT_SYSINFO_EHDR: u64 = 33;
const AT_EXECFN: u64 = 31;

#[derive(Debug, Clone)]
pub struct ExecAuxv {
    pub random_addr: RemoteAddr,
    pub random: [u8; 16],
    /// Where the vDSO is mapped (before any hiding).
    pub vdso: Option<u64>,
    /// The file name execve was given, as the kernel copied it to the stack.
    pub execfn: Option<RemoteAddr>,
}

/// Applies the fixups to a process stopped at its exec event; `rsp` is its
/// stack pointer there (pointing at argc).
pub fn fix_at_exec(mem: &ProcMem, rsp: u64, hide_vdso: bool) -> io::Result<ExecAuxv> {
    let mut words = StackWords::new(mem, rsp);
    let mut word = |i: usize| words.word(i);
    let argc = word(0)?;
    // The kernel caps argv's strings at a quarter of the stack limit.
    if argc > 1 << 28 {
        return Err(io::Error::other(format!("implausible argc {argc} at exec")));
    }
    // Skip argc, argv[] and its NULL, then envp[] up to its NULL.
    let mut i = 1 + argc as usize + 1;
    while word(i)? != 0 {
        i += 1;
    }
    i += 1;
    let mut random_addr = None;
    let mut vdso = None;
    let mut execfn = None;
    for _ in 0..512 {
        let (key, val) = (word(i)?, word(i + 1)?);
        match key {
            AT_NULL => break,
            AT_SYSINFO_EHDR => {
                vdso = Some(val);
                if hide_vdso {
                    mem.write_u64(RemoteAddr(rsp + 8 * i as u64), AT_IGNORE)?;
                }
            }
            AT_RANDOM => random_addr = Some(RemoteAddr(val)),
            AT_EXECFN => execfn = Some(RemoteAddr(val)),
            _ => {}
        }
        i += 2;
    }
    let random_addr =
        random_addr.ok_or_else(|| io::Error::other("the new program's auxv has no AT_RANDOM"))?;
    let mut random = [0u8; 16];
    mem.read_exact(random_addr, &mut random)?;
    Ok(ExecAuxv {
        random_addr,
        random,
        vdso,
        execfn,
    })
}

/// The initial stack's words from `rsp` up, read in growing blocks: the
/// pointer arrays are usually a few KiB (one read, not a read per word), but
/// 40,000 arguments take 320 KiB of pointers alone.
struct StackWords<'a> {
    mem: &'a ProcMem,
    rsp: u64,
    bytes: Vec<u8>,
    /// The last read stopped short: the stack's mapping ends there.
    ended: bool,
}

impl<'a> StackWords<'a> {
    fn new(mem: &'a ProcMem, rsp: u64) -> StackWords<'a> {
        StackWords {
            mem,
            rsp,
            bytes: Vec::new(),
            ended: false,
        }
    }

    /// Word `i` (8 bytes at `rsp + 8 * i`).
    fn word(&mut self, i: usize) -> io::Result<u64> {
        let end = i * 8 + 8;
        while self.bytes.len() < end && !self.ended {
            let want = self.bytes.len().max(64 << 10);
            let at = RemoteAddr(self.rsp + self.bytes.len() as u64);
            let more = self.mem.read_prefix(at, want);
            self.ended = more.len() < want;
            self.bytes.extend_from_slice(&more);
        }
        self.bytes
            .get(end - 8..end)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
            .ok_or_else(|| io::Error::other("the initial stack ends inside its pointer arrays"))
    }
}

/// The program's entry point (`AT_ENTRY`) as the kernel gave it to process
/// `pid`: where a position-independent executable was loaded shows here.
pub fn entry_of(pid: i32) -> Option<u64> {
    let raw = std::fs::read(format!("/proc/{pid}/auxv")).ok()?;
    raw.chunks_exact(16)
        .map(|p| {
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            (word(&p[..8]), word(&p[8..]))
        })
        .take_while(|&(key, _)| key != AT_NULL)
        .find(|&(key, _)| key == AT_ENTRY)
        .map(|(_, val)| val)
}
