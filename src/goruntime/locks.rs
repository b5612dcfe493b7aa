//! `sync.Mutex` as a replay sees it: who locks and unlocks which mutex.
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
//! Go-version knowledge: since Go 1.24 `sync.Mutex` wraps
//! `internal/sync.Mutex`; both have the state word first.

use trace_format::{Regs, RemoteAddr};

use crate::gobin::GoBinary;
use crate::tracee::insn::{atomic_rmws, AtomicRmw};
use crate::tracee::mem::ProcMem;

/// `mutexLocked`: the state word's bit for "held".
const LOCKED: u32 = 1;

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

/// What one of the mutex's atomics does to its word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEffect {
    Acquire,
    Release,
    /// Anything else: a failed attempt, a waiter count going up, a
    /// woken flag — the goroutine is busy with this mutex.
    Touch,
}

/// The mutex atomics of a program, by address.
pub struct MutexSites {
    sites: Vec<AtomicRmw>,
}

impl MutexSites {
    /// Every `lock cmpxchg`/`lock xadd` of the program in the mutex's
    /// code: its functions and every inlined copy of them. (The line table
    /// does not serve to tell: an inlined Lock's compare-and-swap carries
    /// the caller's line.)
    pub fn find(bin: &GoBinary) -> MutexSites {
        let mut sites = Vec::new();
        for (lo, hi) in bin.bodies_of(is_mutex_code) {
            let Some(code) = bin.code(lo, hi) else {
                continue;
            };
            sites.extend(atomic_rmws(code, lo));
        }
        sites.sort_by_key(|s| s.pc);
        sites.dedup_by_key(|s| s.pc);
        MutexSites { sites }
    }

    pub fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.sites.iter().map(|s| s.pc)
    }

    /// A thread stopped at the site at `pc`: the mutex (its state word's
    /// address) and what the instruction is about to do to it.
    pub fn effect(&self, pc: u64, regs: &Regs, mem: &ProcMem) -> Option<(u64, LockEffect)> {
        let i = self.sites.binary_search_by_key(&pc, |s| s.pc).ok()?;
        let site = &self.sites[i];
        let word = site.address(regs)?;
        let old = mem.read_u32(RemoteAddr(word)).ok()?;
        let new = site.result(regs, old)?;
        let effect = match (old & LOCKED, new & LOCKED) {
            (0, LOCKED) => LockEffect::Acquire,
            (LOCKED, 0) => LockEffect::Release,
            _ => LockEffect::Touch,
        };
        Some((word, effect))
    }
}

/// Frames that are the mutex's (or the runtime's) own, not where the
/// program locked it.
pub fn is_lock_machinery(function: &str) -> bool {
    function.starts_with("sync.")
        || function.starts_with("internal/sync.")
        || function.starts_with("runtime.")
}
