//! Files mapped `MAP_SHARED`. A call that changes such a file (pwrite,
//! write, ftruncate, …) changes what the program reads through its mapping,
//! but replay maps the copy of the file taken at `mmap` (one per process
//! and file, `replay/shared.rs`) and emulates the call, so it would read
//! the old bytes. After every call that may
//! change a file, the recorder compares each process's shared mappings of
//! that file with what it last saw and records the pages that changed as
//! memory writes of that call; replay writes them where the kernel changed
//! them. Stores through another process's writable mapping change a file
//! without a call: mappings of files some process can store into are
//! compared whenever the CPU passes to another process.

use std::collections::{btree_map::Entry, BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;

use trace_format::{MemWrite, RemoteAddr};
use xxhash_rust::xxh3::xxh3_64;

use crate::tracee::maps::PAGE;
use crate::tracee::mem::ProcMem;
use crate::tracee::Tid;

/// What a page that cannot be read (past the end of the file) hashes to.
const UNREADABLE: u64 = 0;

/// A file, by device and inode.
pub type FileId = (u64, u64);

/// The file open as `fd` in thread `tid`, and whether a shared mapping of it
/// can be stored into: only a descriptor open for reading and writing can
/// map it writable, then or later by mprotect. Unknown files count as
/// storable.
pub fn open_file(tid: Tid, fd: i32) -> (Option<FileId>, bool) {
    let read_write = std::fs::read_to_string(format!("/proc/{}/fdinfo/{fd}", tid.0))
        .ok()
        .and_then(|info| {
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
            u32::from_str_radix(flags.trim(), 8).ok()
        })
        .is_none_or(|f| f & libc::O_ACCMODE as u32 == libc::O_RDWR as u32);
    (file_of(tid, fd), read_write)
}

/// The file open as `fd` in thread `tid`, if it can be told.
pub fn file_of(tid: Tid, fd: i32) -> Option<FileId> {
    fd_file(tid, fd).map(|(id, _)| id)
}

/// The regular file open as `fd` in thread `tid`, if it is one.
pub fn regular_file_of(tid: Tid, fd: i32) -> Option<FileId> {
    fd_file(tid, fd)
        .filter(|(_, regular)| *regular)
        .map(|(id, _)| id)
}

/// The file open as `fd` in thread `tid` and whether it is a regular file.
fn fd_file(tid: Tid, fd: i32) -> Option<(FileId, bool)> {
    fd_meta(tid, fd).map(|m| ((m.dev(), m.ino()), m.is_file()))
}

/// What `fd` in thread `tid` is open on (the thread's own view: a dying
/// process's leader has no fds left).
fn fd_meta(tid: Tid, fd: i32) -> Option<std::fs::Metadata> {
    std::fs::metadata(format!("/proc/{}/fd/{fd}", tid.0)).ok()
}

/// Which of a process's shared mappings a comparison covers. Mappings of
/// an unknown file are always covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Files {
    All,
    Only(BTreeSet<FileId>),
}

impl Files {
    /// Adds `files` to what `key` has in `map`.
    pub fn add_to<K: Ord>(map: &mut BTreeMap<K, Files>, key: K, files: Files) {
        match map.entry(key) {
            Entry::Vacant(v) => {
                v.insert(files);
            }
            Entry::Occupied(mut o) => o.get_mut().merge(files),
        }
    }

    fn covers(&self, file: Option<FileId>) -> bool {
        match (self, file) {
            (Files::All, _) | (_, None) => true,
            (Files::Only(set), Some(f)) => set.contains(&f),
        }
    }

    /// Covers what either covers.
    pub fn merge(&mut self, other: Files) {
        match (&mut *self, other) {
            (Files::All, _) => {}
            (_, Files::All) => *self = Files::All,
            (Files::Only(a), Files::Only(b)) => a.extend(b),
        }
    }
}

/// A shared file mapping: its length, the hash of each page as last seen,
/// its file and whether any process can store into it through a mapping.
#[derive(Debug, Clone)]
struct Mapping {
    len: u64,
    hashes: Vec<u64>,
    file: Option<FileId>,
    storable: bool,
}

/// One process's shared file mappings, by start address, and how many of
/// them can be stored into per file: a program may map one file thousands
/// of times (the runtime's tests map a 64 KiB file 49,152 times over 3 GB),
/// so nothing done per call or per thread switch walks them all.
#[derive(Debug, Default, Clone)]
pub struct SharedMaps {
    maps: BTreeMap<u64, Mapping>,
    /// Mappings per file, and of those the storable ones.
    mapped: BTreeMap<Option<FileId>, usize>,
    storable: BTreeMap<Option<FileId>, usize>,
    /// A child made with CLONE_VM (Go's os/exec clones so, then execs): its
    /// mappings are its parent's own, which replay shares the same way, so
    /// its stores are not another process's.
    in_parents_memory: bool,
}

fn count(counts: &mut BTreeMap<Option<FileId>, usize>, file: Option<FileId>, up: bool) {
    if up {
        *counts.entry(file).or_default() += 1;
    } else if let Some(n) = counts.get_mut(&file) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&file);
        }
    }
}

impl SharedMaps {
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// A new shared mapping of `file` at [start, start+len): its current
    /// contents are what replay maps from the stored copy.
    pub fn add(
        &mut self,
        mem: &ProcMem,
        start: u64,
        len: u64,
        file: Option<FileId>,
        storable: bool,
    ) {
        let len = len.div_ceil(PAGE) * PAGE;
        self.forget(start, len);
        let hashes = page_hashes(&mem.read_prefix(RemoteAddr(start), len as usize), len);
        let m = Mapping {
            len,
            hashes,
            file,
            storable,
        };
        count(&mut self.mapped, file, true);
        if storable {
            count(&mut self.storable, file, true);
        }
        self.maps.insert(start, m);
    }

    /// [start, start+len) was unmapped or mapped over.
    pub fn forget(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        // Mappings do not overlap: the one starting before `start` is the
        // only one of those that can reach into the range.
        let before = self
            .maps
            .range(..start)
            .next_back()
            .filter(|(&s, m)| s.saturating_add(m.len) > start)
            .map(|(&s, _)| s);
        let gone: Vec<u64> = before
            .into_iter()
            .chain(self.maps.range(start..end).map(|(&s, _)| s))
            .collect();
        for s in gone {
            if let Some(m) = self.maps.remove(&s) {
                count(&mut self.mapped, m.file, false);
                if m.storable {
                    count(&mut self.storable, m.file, false);
                }
            }
        }
    }

    /// The parts of `runs` ([start, end), sorted) inside shared mappings:
    /// by range lookups per run, never a walk of all mappings.
    pub fn overlapping(&self, runs: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for &(start, end) in runs {
            let before = self
                .maps
                .range(..start)
                .next_back()
                .filter(|(&s, m)| s.saturating_add(m.len) > start);
            for (&s, m) in before.into_iter().chain(self.maps.range(start..end)) {
                let (lo, hi) = (s.max(start), s.saturating_add(m.len).min(end));
                if lo < hi {
                    out.push((lo, hi));
                }
            }
        }
        out
    }

    /// Whether a shared mapping here may be of `file` (one of a file that
    /// cannot be named may be of any).
    pub fn maps_file(&self, file: FileId) -> bool {
        self.mapped.contains_key(&None) || self.mapped.contains_key(&Some(file))
    }

    /// The files this process can store into through a shared mapping as
    /// another process's (`All` when one cannot be named; `None`: none).
    pub fn storable(&self) -> Option<Files> {
        if self.in_parents_memory || self.storable.is_empty() {
            return None;
        }
        if self.storable.contains_key(&None) {
            return Some(Files::All);
        }
        Some(Files::Only(
            self.storable.keys().flatten().copied().collect(),
        ))
    }

    /// The mappings of a CLONE_VM child: its parent's, in the same memory.
    pub fn of_clone_in_same_memory(&self) -> SharedMaps {
        SharedMaps {
            in_parents_memory: true,
            ..self.clone()
        }
    }

    /// The runs of pages of the mappings `which` covers whose contents
    /// changed since last seen, as writes to apply; remembers the new
    /// contents. Reading a mapping costs its length, so mappings of files
    /// nothing changed are left alone (a linker maps many MB of archives).
    pub fn changes(&mut self, mem: &ProcMem, which: &Files) -> Vec<MemWrite> {
        let mut out = Vec::new();
        if !self.mapped.keys().any(|&f| which.covers(f)) {
            return out;
        }
        for (&start, m) in self.maps.iter_mut().filter(|(_, m)| which.covers(m.file)) {
            let data = mem.read_prefix(RemoteAddr(start), m.len as usize);
            let now = page_hashes(&data, m.len);
            let mut run: Option<usize> = None;
            for i in 0..=now.len() {
                let changed = i < now.len() && now[i] != m.hashes[i] && now[i] != UNREADABLE;
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
            m.hashes = now;
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
        let at = |len: u64| Mapping {
            len,
            hashes: vec![1; (len / PAGE) as usize],
            file: None,
            storable: false,
        };
        m.maps.insert(0x1000, at(0x2000));
        m.maps.insert(0x5000, at(0x1000));
        m.forget(0x2000, 0x1000);
        assert_eq!(m.maps.keys().copied().collect::<Vec<_>>(), vec![0x5000]);
        m.forget(0x6000, 0x1000);
        assert!(!m.is_empty());
    }

    #[test]
    fn a_comparison_covers_its_files_and_unknown_ones() {
        let only = Files::Only([(1, 2)].into());
        assert!(only.covers(Some((1, 2))) && only.covers(None));
        assert!(!only.covers(Some((1, 3))));
        let mut merged = only.clone();
        merged.merge(Files::Only([(1, 3)].into()));
        assert!(merged.covers(Some((1, 3))));
        merged.merge(Files::All);
        assert_eq!(merged, Files::All);
    }
}
