//! Memory snapshots for preemption points ("state jump").
//!
//! Without a branch counter, an arbitrary instruction reached after a long
//! run cannot be found again cheaply. So at a preemption the recorder saves
//! the thread's registers plus every present, writable page whose content
//! changed since the previous snapshot of the process; replay jumps there by
//! restoring them instead of re-running the slice (ARCHITECTURE.md discusses
//! the trade-offs). Comparing per-page hashes against the last snapshot
//! yields a superset of what the slice wrote, so replay lands on the exact
//! recorded state provided it was exact before the slice.

use std::collections::HashMap;
use std::io;

use trace_format::{MemWrite, RemoteAddr};
use xxhash_rust::xxh3::xxh3_64;

use crate::tracee::maps::{read_maps, Pagemap, PAGE};
use crate::tracee::mem::ProcMem;

/// Content hash of every page seen at the last snapshot, by page address.
#[derive(Debug, Default, Clone)]
pub struct PageHashes {
    hashes: HashMap<u64, u64>,
}

/// Reading memory in runs of this many pages keeps syscalls few without big buffers.
const RUN_PAGES: usize = 256;

impl PageHashes {
    /// Hashes the current memory; returns the pages that differ from the
    /// previous snapshot (all present pages on the first call) and makes the
    /// current memory the new baseline.
    pub fn update(&mut self, mem: &ProcMem) -> io::Result<Vec<MemWrite>> {
        let pid = mem.pid();
        let pagemap = Pagemap::open(pid)?;
        let mut changed = Vec::new();
        let mut buf = vec![0u8; RUN_PAGES * PAGE as usize];
        for region in read_maps(pid)?.iter().filter(|r| r.writable()) {
            // The vsyscall page and vvar are the kernel's, not the program's;
            // the clock page's buffer is rrgo's (see `tracee::clockpage`).
            if region.path.starts_with("[vsyscall]")
                || region.path.starts_with("[vvar")
                || (crate::tracee::clockpage::CODE..crate::tracee::clockpage::END)
                    .contains(&region.start)
            {
                continue;
            }
            let present = pagemap.present(region.start, region.end)?;
            let mut i = 0;
            while i < present.len() {
                if !present[i] {
                    i += 1;
                    continue;
                }
                let run_start = i;
                while i < present.len() && present[i] && i - run_start < RUN_PAGES {
                    i += 1;
                }
                let addr = region.start + run_start as u64 * PAGE;
                let len = (i - run_start) * PAGE as usize;
                let data = &mut buf[..len];
                if mem.read_exact(RemoteAddr(addr), data).is_err() {
                    continue;
                }
                for (k, page) in data.chunks_exact(PAGE as usize).enumerate() {
                    let page_addr = addr + k as u64 * PAGE;
                    let h = xxh3_64(page);
                    if self.hashes.insert(page_addr, h) != Some(h) || full_snapshots() {
                        push_page(&mut changed, page_addr, page);
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// Appends a page, merging it with the previous write when adjacent.
fn push_page(out: &mut Vec<MemWrite>, addr: u64, page: &[u8]) {
    if let Some(last) = out.last_mut() {
        if last.addr.0 + last.data.len() as u64 == addr && last.data.len() < (1 << 20) {
            last.data.extend_from_slice(page);
            return;
        }
    }
    out.push(MemWrite {
        addr: RemoteAddr(addr),
        data: page.to_vec(),
    });
}

fn full_snapshots() -> bool {
    static FULL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL.get_or_init(|| std::env::var_os("RRGO_FULL_SNAPSHOT").is_some())
}
