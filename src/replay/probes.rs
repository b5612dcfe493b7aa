//! Logging probes in the replayed main process (`tracee::probelog`): the
//! goroutine index's way to see the runtime's hot functions without a
//! ptrace stop at each visit.

use anyhow::anyhow;
use trace_format::RemoteAddr;

use super::session::ReplaySession;
use crate::tracee::probelog::{self, Probe, Record};

/// The probes placed in the main process.
pub(super) struct Placed {
    /// The data page's first words: the log's write pointer, its end,
    /// the dropped-record count.
    write_ptr: u64,
    /// Each placed probe's index in the caller's list.
    caller_index: Vec<usize>,
    /// The program's read-only image: what a probe record's reader may
    /// still read live (`probelog::Overlay::fixed`).
    pub(super) fixed: Vec<(u64, u64)>,
    /// The relocated instructions' addresses and their originals
    /// (`probelog::Assembled::relocated`).
    relocated: Vec<(u64, u64)>,
    /// The breakpoints where a full log waits to be drained.
    full_traps: Vec<u64>,
}

/// `RRGO_PROBE_LOG_KB`: a smaller probe log than the 64 MiB reserved (at
/// least 64 KiB: a record is a few), to exercise its drains when full.
fn log_kb() -> Option<u64> {
    let kb: u64 = std::env::var("RRGO_PROBE_LOG_KB").ok()?.parse().ok()?;
    Some(kb.clamp(64, probelog::LOG_LEN / 1024))
}

/// What one drain of the log gave.
pub struct Drained {
    /// The log's bytes (`probelog::parse` them), each record's probe
    /// index being its place in `placed` (see `probe_index`).
    pub log: Vec<u8>,
    /// Records the log had no room for since the last drain.
    pub dropped: u64,
}

impl ReplaySession {
    /// Places `probes` in the main process, which must be stopped at a
    /// syscall exit (right after its exec); returns which were placed.
    /// Those not placed (their site cannot be relocated, overlaps another,
    /// out of reach) are the caller's to observe another way.
    pub fn place_probes(&mut self, probes: &[Probe]) -> anyhow::Result<Vec<bool>> {
        if !probelog::supported() {
            return Err(anyhow!("this CPU does not let programs read their fs base"));
        }
        let main = self.main_pid;
        let live = self
            .threads
            .get(&main)
            .map(|t| t.live)
            .ok_or_else(|| anyhow!("the program is not running"))?;
        let mem = self
            .mems
            .get(&main.0)
            .ok_or_else(|| anyhow!("the program is not running"))?;
        // Sites by address, none overlapping another.
        let mut order: Vec<usize> = (0..probes.len())
            .filter(|&i| probes[i].placeable())
            .collect();
        order.sort_by_key(|&i| probes[i].site.addr);
        let mut chosen: Vec<usize> = Vec::new();
        let mut end = 0;
        for i in order {
            let s = &probes[i].site;
            if s.addr >= end {
                chosen.push(i);
                end = s.addr + s.len.max(s.resume_at() - s.addr);
            }
        }
        let list = |chosen: &[usize]| -> Vec<Probe> {
            chosen.iter().map(|&i| probes[i].clone()).collect()
        };
        let len = probelog::assemble(0x1_0000_0000, &list(&chosen))
            .map_err(|e| anyhow!("cannot assemble probes: {e}"))?
            .bytes
            .len() as u64;
        let at = probelog::place(mem.pid(), len)
            .ok_or_else(|| anyhow!("no room for probes below the program's code"))?;
        chosen.retain(|&i| {
            let s = &probes[i].site;
            probelog::reaches(s.addr + 5, at) && probelog::reaches(at + len, s.resume_at())
        });
        let probes_placed = list(&chosen);
        let built = probelog::assemble(at, &probes_placed)
            .map_err(|e| anyhow!("cannot assemble probes: {e}"))?;
        probelog::map(live, mem, at, built.bytes.len() as u64)?;
        mem.write(RemoteAddr(at), &built.bytes)?;
        for (p, patch) in probes_placed.iter().zip(&built.patches) {
            mem.write(RemoteAddr(p.site.addr), patch)?;
        }
        let exe = crate::tracee::maps::read_maps(mem.pid())?;
        let image = exe
            .iter()
            .filter(|r| r.perms[2] == b'x' && r.path.starts_with('/'))
            .min_by_key(|r| r.start)
            .map(|r| r.path.clone());
        // Read-only only: the data section holds the program's variables
        // (a global mutex), which must be read as captured.
        let fixed = exe
            .iter()
            .filter(|r| Some(&r.path) == image.as_ref() && r.perms[1] != b'w')
            .map(|r| (r.start, r.end))
            .collect();
        if let Some(kb) = log_kb() {
            // (The drains keep the end word as they find it.)
            let end = probelog::LOG_ADDR + kb * 1024;
            mem.write(RemoteAddr(built.write_ptr + 8), &end.to_le_bytes())?;
        }
        // A full log stops its writer at a breakpoint (drained at the stop
        // like any other) rather than dropping records.
        let mut armed = true;
        for &trap in &built.full_traps {
            if let Err(e) = self.insert_breakpoint(trap) {
                tracing::debug!("no breakpoint at the probe log's full trap {trap:#x}: {e:#}");
                armed = false;
            }
        }
        if armed {
            self.main_mem()?
                .write(RemoteAddr(built.trap_on), &1u64.to_le_bytes())?;
        }
        let mut placed = vec![false; probes.len()];
        for &i in &chosen {
            placed[i] = true;
        }
        self.probes = Some(Placed {
            write_ptr: built.write_ptr,
            caller_index: chosen,
            fixed,
            relocated: built.relocated,
            full_traps: built.full_traps,
        });
        Ok(placed)
    }

    /// The records logged since the last drain, oldest first (none when
    /// no probes are placed or the main process is gone).
    pub fn drain_probes(&mut self) -> Drained {
        let none = Drained {
            log: Vec::new(),
            dropped: 0,
        };
        let (Some(p), Some(mem)) = (&self.probes, self.mems.get(&self.main_pid.0)) else {
            return none;
        };
        // The write pointer, the log's end and the dropped count are one
        // read and one write: this runs at every stop of the index pass.
        let Ok(words) = mem.read(RemoteAddr(p.write_ptr), 24) else {
            return none;
        };
        let word = |i: usize| u64::from_le_bytes(words[i..i + 8].try_into().unwrap_or([0; 8]));
        let (wp, end, dropped) = (word(0), word(8), word(16));
        let len = wp.saturating_sub(probelog::LOG_ADDR).min(probelog::LOG_LEN);
        if len == 0 && dropped == 0 {
            return none;
        }
        let log = match mem.read(RemoteAddr(probelog::LOG_ADDR), len as usize) {
            Ok(log) => log,
            Err(e) => {
                tracing::debug!("cannot read the probe log: {e}");
                Vec::new()
            }
        };
        let mut reset = probelog::LOG_ADDR.to_le_bytes().to_vec();
        reset.extend(end.to_le_bytes());
        reset.extend(0u64.to_le_bytes());
        let _ = mem.write(RemoteAddr(p.write_ptr), &reset);
        Drained { log, dropped }
    }

    /// Whether `addr` is where a full probe log waits (a breakpoint stop
    /// there is the log's, not the program's).
    pub fn is_probe_log_trap(&self, addr: u64) -> bool {
        self.probes
            .as_ref()
            .is_some_and(|p| p.full_traps.contains(&addr))
    }

    /// Where the program would be had no probe moved the instruction at
    /// `rip`: a fault in a relocated instruction is delivered as the
    /// program's fault there (its handler, Go's traceback and sigpanic's
    /// return address see the program's pc, not a trampoline's).
    pub(super) fn unrelocated(&self, tgid: i32, rip: u64) -> Option<u64> {
        if tgid != self.main_pid.0 {
            return None;
        }
        probelog::relocated_origin(&self.probes.as_ref()?.relocated, rip)
    }

    /// The index in the list given to `place_probes` of the probe a
    /// record names.
    pub fn probe_index(&self, record: &Record<'_>) -> Option<usize> {
        let p = self.probes.as_ref()?;
        p.caller_index.get(record.probe as usize).copied()
    }

    /// The program's read-only image (see `Placed::fixed`).
    pub fn probe_fixed_ranges(&self) -> &[(u64, u64)] {
        self.probes.as_ref().map_or(&[], |p| &p.fixed)
    }
}
