//! Offsets of the `runtime.g` / `runtime.m` fields rrgo reads, from DWARF.

use anyhow::anyhow;

use crate::gobin::GoBinary;

/// Why goroutines cannot be read from a program without DWARF.
pub const NO_DWARF: &str = "the program was built without DWARF (-ldflags=-w or -s): goroutines \
     cannot be read, since the Go runtime's struct layouts exist only in DWARF; `replay -a`, \
     `dump` and `info` work, and function and line names come from the runtime's pclntab";

#[derive(Debug, Clone)]
pub struct GLayout {
    pub size: u64,
    pub stack_lo: u64,
    pub stack_hi: u64,
    pub goid: u64,
    pub status: u64,
    pub waitreason: u64,
    pub sched_pc: u64,
    pub sched_sp: u64,
    pub sched_bp: u64,
    pub syscallpc: u64,
    pub syscallsp: u64,
    /// Go 1.23+: before, entersyscall kept no frame pointer.
    pub syscallbp: Option<u64>,
    pub gopc: u64,
    pub startpc: u64,
    pub parent_goid: Option<u64>,
    /// Profiler labels (`runtime/pprof`), if this runtime has them.
    pub labels: Option<u64>,
    pub m: u64,
    pub m_procid: u64,
    pub m_curg: u64,
    /// `g.sleepWhen` (Go 1.23+): the deadline of the time.Sleep it is in
    /// (its timer is set only after it parks).
    pub sleep_when: Option<u64>,
    /// `pollDesc.fd`, `.rg`, `.wg`: a network poller descriptor's file
    /// and the goroutines parked on it for reading and writing.
    pub poll_desc: Option<(u64, u64, u64)>,
}

impl GLayout {
    /// The parts of a g that `GoReader::read_g` and the index read (at
    /// most 8 bytes each), as (offset, length) runs, sorted and merged
    /// where less than a capture's header (16 bytes) apart: all a probe
    /// copies of a g (a third of it in go1.27).
    pub fn read_ranges(&self) -> Vec<(u64, u64)> {
        let mut fields: Vec<(u64, u64)> = [
            self.stack_lo,
            self.stack_hi,
            self.goid,
            self.sched_pc,
            self.sched_sp,
            self.sched_bp,
            self.syscallpc,
            self.syscallsp,
            self.gopc,
            self.startpc,
            self.m,
        ]
        .into_iter()
        .chain(self.syscallbp)
        .chain(self.parent_goid)
        .chain(self.labels)
        .chain(self.sleep_when)
        .map(|off| (off, 8))
        .chain([(self.status, 4), (self.waitreason, 1)])
        .collect();
        fields.sort_unstable();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (off, len) in fields {
            match runs.last_mut() {
                Some((start, n)) if off <= *start + *n + 16 => {
                    *n = (*n).max(off + len - *start);
                }
                _ => runs.push((off, len)),
            }
        }
        runs
    }

    pub fn from_binary(bin: &GoBinary) -> anyhow::Result<GLayout> {
        if !bin.has_dwarf {
            return Err(anyhow!(NO_DWARF));
        }
        let g = |f: &str| {
            bin.field_offset("runtime.g", f)
                .ok_or_else(|| anyhow!("runtime.g has no field {f} in this binary's DWARF"))
        };
        let size = bin
            .struct_layout("runtime.g")
            .map(|l| l.size)
            .ok_or_else(|| anyhow!("no runtime.g type in DWARF"))?;
        Ok(GLayout {
            size,
            stack_lo: g("stack.lo")?,
            stack_hi: g("stack.hi")?,
            goid: g("goid")?,
            // atomicstatus is an atomic.Uint32 struct; its value is at offset 0.
            status: g("atomicstatus")?,
            waitreason: g("waitreason")?,
            sched_pc: g("sched.pc")?,
            sched_sp: g("sched.sp")?,
            sched_bp: g("sched.bp")?,
            syscallpc: g("syscallpc")?,
            syscallsp: g("syscallsp")?,
            syscallbp: g("syscallbp").ok(),
            gopc: g("gopc")?,
            startpc: g("startpc")?,
            parent_goid: g("parentGoid").ok(),
            // A struct (a slice of pairs) since Go 1.24, a map before: read
            // only the former.
            labels: g("labels")
                .ok()
                .filter(|_| bin.struct_layout("runtime/pprof.labelMap").is_some()),
            m: g("m")?,
            m_procid: bin
                .field_offset("runtime.m", "procid")
                .ok_or_else(|| anyhow!("runtime.m has no procid"))?,
            m_curg: bin
                .field_offset("runtime.m", "curg")
                .ok_or_else(|| anyhow!("runtime.m has no curg"))?,
            sleep_when: g("sleepWhen").ok(),
            poll_desc: (|| {
                let f = |n| bin.field_offset("runtime.pollDesc", n);
                Some((f("fd")?, f("rg")?, f("wg")?))
            })(),
        })
    }
}
