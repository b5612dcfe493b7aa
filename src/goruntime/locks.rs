//! `sync.Mutex` and `sync.RWMutex` as a replay sees them: who locks and
//! unlocks which lock.
//!
//! A mutex's state word changes only through two atomic instructions:
//! `atomic.CompareAndSwapInt32` (`lock cmpxchg`: Lock's fast path, TryLock,
//! lockSlow, unlockSlow) and `atomic.AddInt32` (`lock xadd`: Unlock, and
//! lockSlow's starvation hand-off). Most of them are inlined into the
//! program's own functions, so breakpoints go on those instructions — found
//! in the mutex's code and in every inlined copy of it — not on functions.
//! At a stop, the registers give the word's address and the instruction's
//! effect (only one thread runs in a replay, so the word read at the stop
//! is what the instruction will see): bit 0 (`mutexLocked`) going from 0
//! to 1 is an acquisition, from 1 to 0 a release.
//!
//! A `sync.RWMutex` is a Mutex serializing writers (first, so the RWMutex's
//! address is its address) and a reader count changed by `lock xadd` only:
//! RLock adds 1 (a negative result: a writer is pending, the reader queues
//! and holds once the writer unlocks), RUnlock subtracts 1, Lock subtracts
//! `rwmutexMaxReaders` (the writer is pending, and holds once the readers
//! then holding have left) and Unlock adds it back. Which of them a site is
//! comes from the function (or inlined copy) it is in, checked against the
//! amount added.
//!
//! Go-version knowledge: since Go 1.24 `sync.Mutex` wraps
//! `internal/sync.Mutex`; both have the state word first. The reader
//! count's offset comes from DWARF; `rwmutexMaxReaders` (1 << 30) has not
//! changed since Go 1.0.

use trace_format::{Regs, RemoteAddr};

use crate::gobin::GoBinary;
use crate::tracee::insn::{atomic_rmws, AtomicRmw};
use crate::tracee::mem::MemRead;

/// `mutexLocked`: the state word's bit for "held".
const LOCKED: u32 = 1;

/// `rwmutexMaxReaders`: what a writer subtracts from the reader count.
const MAX_READERS: i32 = 1 << 30;

/// The reader count's offset in `sync.RWMutex` when DWARF does not say
/// (Go 1.24–1.27: after the Mutex and two semaphores).
const READER_COUNT_OFFSET: u64 = 16;

/// Functions whose atomics are a mutex's: `sync.(*Mutex).Lock` and the
/// rest, in `sync` and (Go ≥ 1.24) `internal/sync`.
pub fn is_mutex_code(function: &str) -> bool {
    let Some(method) = function
        .strip_prefix("sync.(*Mutex).")
        .or_else(|| function.strip_prefix("internal/sync.(*Mutex)."))
    else {
        return false;
    };
    matches!(
        method,
        "Lock" | "TryLock" | "lockSlow" | "Unlock" | "unlockSlow"
    )
}

/// Which lock operation a site's code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SiteKind {
    /// `sync.Mutex`'s code (also the writers' Mutex inside a RWMutex).
    Mutex,
    /// `sync.(*RWMutex).RLock`, `RUnlock`, `Lock`, `Unlock`.
    ReadLock,
    ReadUnlock,
    WriteLock,
    WriteUnlock,
    /// `sync/atomic.(*Int32).Add` when not inlined (`-l` builds): which
    /// of the RWMutex's operations it is comes from its caller.
    Int32Add,
}

impl SiteKind {
    fn of_rwmutex(function: &str) -> Option<SiteKind> {
        Some(match function.strip_prefix("sync.(*RWMutex).")? {
            "RLock" => SiteKind::ReadLock,
            "RUnlock" => SiteKind::ReadUnlock,
            "Lock" => SiteKind::WriteLock,
            "Unlock" => SiteKind::WriteUnlock,
            _ => return None,
        })
    }
}

/// What one of the lock atomics does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEffect {
    /// A mutex locked; a RWMutex's writer pending or holding.
    Acquire,
    /// A mutex unlocked; a RWMutex's writer leaving.
    Release,
    /// A reader of a RWMutex entering; `queued`: behind a writer.
    ReadAcquire {
        queued: bool,
    },
    ReadRelease,
    /// Anything else: a failed attempt, a waiter count going up, a
    /// woken flag — the goroutine is busy with this mutex.
    Touch,
}

/// The lock atomics of a program, by address.
pub struct MutexSites {
    sites: Vec<(AtomicRmw, SiteKind)>,
    reader_count: u64,
    /// The RWMutex's out-of-line functions (entry, end, kind), for
    /// telling an out-of-line `(*Int32).Add`'s caller.
    rw_functions: Vec<(u64, u64, SiteKind)>,
}

impl MutexSites {
    /// Every `lock cmpxchg`/`lock xadd` of the program in the locks' code:
    /// their functions and every inlined copy of them. (The line table
    /// does not serve to tell: an inlined Lock's compare-and-swap carries
    /// the caller's line.) A site in both a Mutex's code and a RWMutex's
    /// (the writers' Mutex inlined into RWMutex.Lock) is the Mutex's.
    pub fn find(bin: &GoBinary) -> MutexSites {
        let mut sites = Vec::new();
        let mut add = |kind: SiteKind, wanted: &dyn Fn(&str) -> bool| {
            for (lo, hi) in bin.bodies_of(wanted) {
                if let Some(code) = bin.code(lo, hi) {
                    sites.extend(atomic_rmws(code, lo).into_iter().map(|s| (s, kind)));
                }
            }
        };
        add(SiteKind::Mutex, &is_mutex_code);
        for kind in [
            SiteKind::ReadLock,
            SiteKind::ReadUnlock,
            SiteKind::WriteLock,
            SiteKind::WriteUnlock,
        ] {
            add(kind, &|f| SiteKind::of_rwmutex(f) == Some(kind));
        }
        for f in bin.functions_named("sync/atomic.(*Int32).Add") {
            if let Some(code) = bin.code(f.entry, f.entry + f.size) {
                let adds = atomic_rmws(code, f.entry).into_iter();
                sites.extend(adds.map(|s| (s, SiteKind::Int32Add)));
            }
        }
        let rw_functions = ["RLock", "RUnlock", "Lock", "Unlock"]
            .iter()
            .map(|m| format!("sync.(*RWMutex).{m}"))
            .flat_map(|name| {
                let kind = SiteKind::of_rwmutex(&name);
                bin.functions_named(&name)
                    .into_iter()
                    .filter_map(move |g| Some((g.entry, g.entry + g.size, kind?)))
            })
            .collect();
        sites.sort_by_key(|(s, kind)| (s.pc, *kind));
        sites.dedup_by_key(|(s, _)| s.pc);
        MutexSites {
            sites,
            reader_count: bin
                .field_offset("sync.RWMutex", "readerCount")
                .unwrap_or(READER_COUNT_OFFSET),
            rw_functions,
        }
    }

    /// An out-of-line `(*Int32).Add` (it keeps a frame pointer): the
    /// RWMutex operation that called it, if one did.
    fn caller_kind(&self, regs: &Regs, mem: &dyn MemRead) -> Option<SiteKind> {
        let ret = mem.read_u64(RemoteAddr(regs.rbp.checked_add(8)?)).ok()?;
        self.rw_functions
            .iter()
            .find(|(lo, hi, _)| (*lo..*hi).contains(&ret))
            .map(|(_, _, kind)| *kind)
    }

    pub fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.sites.iter().map(|(s, _)| s.pc)
    }

    /// A thread stopped at the site at `pc`: the lock (a Mutex's state
    /// word, or a RWMutex's address) and what the instruction is about to
    /// do to it. None for a RWMutex's other atomics (the count of readers
    /// a writer waits for).
    pub fn effect(&self, pc: u64, regs: &Regs, mem: &dyn MemRead) -> Option<(u64, LockEffect)> {
        let i = self.sites.binary_search_by_key(&pc, |(s, _)| s.pc).ok()?;
        let (site, mut kind) = self.sites[i].clone();
        if kind == SiteKind::Int32Add {
            kind = self.caller_kind(regs, mem)?;
        }
        let word = site.address(regs)?;
        let old = mem.read_u32(RemoteAddr(word)).ok()?;
        let new = site.result(regs, old)?;
        if kind == SiteKind::Mutex {
            let effect = match (old & LOCKED, new & LOCKED) {
                (0, LOCKED) => LockEffect::Acquire,
                (LOCKED, 0) => LockEffect::Release,
                _ => LockEffect::Touch,
            };
            return Some((word, effect));
        }
        if site.swap {
            return None;
        }
        let added = new.wrapping_sub(old) as i32;
        let rwmutex = word.checked_sub(self.reader_count)?;
        let effect = match (kind, added) {
            (SiteKind::ReadLock, 1) => LockEffect::ReadAcquire {
                queued: (new as i32) < 0,
            },
            (SiteKind::ReadUnlock, -1) => LockEffect::ReadRelease,
            (SiteKind::WriteLock, a) if a == -MAX_READERS => LockEffect::Acquire,
            (SiteKind::WriteUnlock, MAX_READERS) => LockEffect::Release,
            _ => return None,
        };
        Some((rwmutex, effect))
    }
}

/// Frames that are the lock's (or the runtime's) own, not where the
/// program locked it.
pub fn is_lock_machinery(function: &str) -> bool {
    function.starts_with("sync.")
        || function.starts_with("sync/atomic.")
        || function.starts_with("internal/sync.")
        || function.starts_with("runtime.")
}
