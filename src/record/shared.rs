//! Files mapped `MAP_SHARED`. A call that changes such a file (pwrite,
//! write, ftruncate, …) changes what the program reads through its mapping,
//! but replay maps a private copy of the file taken at `mmap` and emulates
//! the call, so it would read the old bytes. After every call that may
//! change a file, the recorder compares each process's shared file mappings
//! with what it last saw and records the pages that changed as memory
//! writes of that call; replay writes them where the kernel changed them.

use std::collections::BTreeMap;

use trace_format::{MemWrite, RemoteAddr};
use xxhash_rust::xxh3::xxh3_64;

use crate::tracee::maps::PAGE;
use crate::tracee::mem::ProcMem;

/// What a page that cannot be read (past the end of the file) hashes to.
const UNREADABLE: u64 = 0;

/// One process's shared file mappings, by start address: their length and
/// the hash of each page as last seen.
#[derive(Debug, Default, Clone)]
pub struct SharedMaps {
    maps: BTreeMap<u64, (u64, Vec<u64>)>,
}

impl SharedMaps {
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// A new shared file mapping at [start, start+len): its current
    /// contents are what replay maps from the stored copy.
    pub fn add(&mut self, mem: &ProcMem, start: u64, len: u64) {
        let len = len.div_ceil(PAGE) * PAGE;
        self.forget(start, len);
        let hashes = page_hashes(&mem.read_prefix(RemoteAddr(start), len as usize), len);
        self.maps.insert(start, (len, hashes));
    }

    /// [start, start+len) was unmapped or mapped over.
    pub fn forget(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        self.maps
            .retain(|&s, (l, _)| s.saturating_add(*l) <= start || s >= end);
    }

    /// The runs of pages whose contents changed since last seen, as writes
    /// to apply; remembers the new contents.
    pub fn changes(&mut self, mem: &ProcMem) -> Vec<MemWrite> {
        let mut out = Vec::new();
        for (&start, (len, hashes)) in self.maps.iter_mut() {
            let data = mem.read_prefix(RemoteAddr(start), *len as usize);
            let now = page_hashes(&data, *len);
            let mut run: Option<usize> = None;
            for i in 0..=now.len() {
                let changed = i < now.len() && now[i] != hashes[i] && now[i] != UNREADABLE;
                match (changed, run) {
                    (true, None) => run = Some(i),
                    (false, Some(first)) => {
                        let from = first * PAGE as usize;
                        let to = (i * PAGE as usize).min(data.len());
                        out.push(MemWrite {
                            addr: RemoteAddr(start + from as u64),
                            data: data[from..to].to_vec(),
                        });
                        run = None;
                    }
                    _ => {}
                }
            }
            *hashes = now;
        }
        out
    }
}

fn page_hashes(data: &[u8], len: u64) -> Vec<u64> {
    (0..len / PAGE)
        .map(|i| {
            let from = (i * PAGE) as usize;
            if from + PAGE as usize <= data.len() {
                // A readable page never hashes to the marker of an unreadable one.
                xxh3_64(&data[from..from + PAGE as usize]).max(1)
            } else {
                UNREADABLE
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_drops_overlapping_mappings_only() {
        let mut m = SharedMaps::default();
        m.maps.insert(0x1000, (0x2000, vec![1, 1]));
        m.maps.insert(0x5000, (0x1000, vec![1]));
        m.forget(0x2000, 0x1000);
        assert_eq!(m.maps.keys().copied().collect::<Vec<_>>(), vec![0x5000]);
        m.forget(0x6000, 0x1000);
        assert!(!m.is_empty());
    }
}
