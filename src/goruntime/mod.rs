//! Goroutines, read from a (replayed) process's memory: the layer above
//! threads. Field offsets come from the binary's DWARF, never constants,
//! since they differ between Go versions.

pub mod defers;
mod layout;
pub mod locks;
pub mod probes;
pub mod selfread;
pub mod stack;
pub mod version;

use anyhow::{anyhow, Context};
use serde::Serialize;
use trace_format::RemoteAddr;

use crate::gobin::GoBinary;
use crate::tracee::mem::MemRead;
pub use layout::{GLayout, NO_DWARF};

/// `_Gscan` is OR-ed into a status while the GC scans the stack.
const G_SCAN: u32 = 0x1000;

#[derive(Debug, Clone, Serialize)]
pub struct Goroutine {
    pub goid: u64,
    /// The g's address in the process.
    pub addr: u64,
    pub status: &'static str,
    /// For waiting goroutines: why (e.g. "chan receive").
    pub wait_reason: Option<String>,
    pub parent_goid: Option<u64>,
    /// Where it was created (the `go` statement) and its entry function.
    pub gopc: u64,
    pub startpc: u64,
    /// The OS thread (recorded tid) running it, if any.
    pub thread: Option<i32>,
    /// Saved registers for a goroutine that is not running.
    #[serde(skip)]
    pub saved: (u64, u64, u64),
    /// Its stack bounds [lo, hi): a running thread whose rsp is outside is on
    /// the system stack (g0), so its own frames continue from `saved`.
    #[serde(skip)]
    pub stack: (u64, u64),
    /// Runtime goroutines (GC workers, finalizers…) Go hides from tracebacks.
    pub system: bool,
    /// pprof labels (`pprof.Do`, `SetGoroutineLabels`), in the order set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<(String, String)>,
}

pub fn status_name(raw: u32) -> &'static str {
    match raw & !G_SCAN {
        0 => "idle",
        1 => "runnable",
        2 => "running",
        3 => "syscall",
        4 => "waiting",
        6 => "dead",
        8 => "copystack",
        9 => "preempted",
        10 => "leaked",
        11 => "dead",
        _ => "unknown",
    }
}

/// A g's goid, status (without `_Gscan`) and wait reason number.
pub type StateKey = (u64, u32, u8);

/// `runtime.allgs` as last read (`GoReader::sync_all_gs`).
#[derive(Debug, Default)]
pub struct AllGs {
    base: u64,
    ptrs: Vec<u64>,
    /// Times the list was read whole again (the array moved or shrank).
    rereads: u64,
}

/// The gs of `runtime.allgs` that a per-event scan reads, in the list's
/// order: every g but those set aside (`set_aside`) until `wake` names
/// them. Kept as positions in the list, so that a scan costs the gs it
/// reads, not a lookup for each of the tens of thousands a program made.
#[derive(Debug, Default)]
pub struct ScanSet {
    /// The list as last synced, and each g's position in it.
    order: Vec<u64>,
    position: std::collections::HashMap<u64, usize>,
    rereads: u64,
    active: std::collections::BTreeSet<usize>,
}

impl ScanSet {
    /// Takes in the gs `all` holds that are new since the last sync.
    pub fn sync(&mut self, all: &AllGs) {
        if all.rereads != self.rereads {
            // Read again whole: the same list unless the runtime did what
            // it never does (shrink or reorder it); then start over.
            self.rereads = all.rereads;
            if !all.ptrs.starts_with(&self.order) {
                *self = ScanSet {
                    rereads: all.rereads,
                    ..Default::default()
                };
            }
        }
        for (i, &g) in all.ptrs.iter().enumerate().skip(self.order.len()) {
            self.order.push(g);
            if g != 0 {
                self.position.insert(g, i);
                self.active.insert(i);
            }
        }
    }

    /// The gs to read, in the list's order.
    pub fn active(&self) -> Vec<u64> {
        self.active.iter().map(|&i| self.order[i]).collect()
    }

    /// `g` is not read until `wake` names it.
    pub fn set_aside(&mut self, g: u64) {
        if let Some(&i) = self.position.get(&g) {
            self.active.remove(&i);
        }
    }

    /// `g` is read again.
    pub fn wake(&mut self, g: u64) {
        if let Some(&i) = self.position.get(&g) {
            self.active.insert(i);
        }
    }

    /// Every g is read again.
    pub fn wake_all(&mut self) {
        self.active = self.position.values().copied().collect();
    }
}

/// Reads goroutines out of one process, with the layout and tables resolved once.
pub struct GoReader<'a> {
    bin: &'a GoBinary,
    l: GLayout,
    /// `runtime.waitReasonStrings`, read when first needed: many readers
    /// (the debugger's per-hit goroutine checks) never need it.
    reasons: std::cell::OnceCell<Vec<String>>,
    /// `GLayout::read_ranges`: what `read_g` reads of a g.
    parts: Vec<(u64, u64)>,
    allgs: u64,
    allglen: u64,
}

impl<'a> GoReader<'a> {
    pub fn new(bin: &'a GoBinary) -> anyhow::Result<GoReader<'a>> {
        let l = GLayout::from_binary(bin)?;
        let parts = l.read_ranges();
        let (allgs, _) = bin
            .symbol("runtime.allgs")
            .ok_or_else(|| anyhow!("no runtime.allgs symbol"))?;
        let (allglen, _) = bin
            .symbol("runtime.allglen")
            .ok_or_else(|| anyhow!("no runtime.allglen symbol"))?;
        Ok(GoReader {
            bin,
            l,
            reasons: std::cell::OnceCell::new(),
            parts,
            allgs,
            allglen,
        })
    }

    /// The address of `g`'s stack top (`g.stack.hi`): the runtime rewrites
    /// it when it copies the goroutine's stack to grow or shrink it, and
    /// the stack's contents keep their offsets from it.
    pub fn stack_top_word(&self, g: u64) -> u64 {
        g + self.l.stack_hi
    }

    /// The g structs' addresses, in `runtime.allgs` order.
    pub fn all_g(&self, mem: &dyn MemRead) -> anyhow::Result<Vec<u64>> {
        // allgadd appends: read the length first, then the pointer (proc.go).
        let n = mem
            .read_u64(RemoteAddr(self.allglen))
            .context("cannot read runtime.allglen")?
            .min(1 << 20);
        let base = mem
            .read_u64(RemoteAddr(self.allgs))
            .context("cannot read runtime.allgs")?;
        let ptrs = mem.read(RemoteAddr(base), (n * 8) as usize)?;
        Ok(ptrs
            .chunks_exact(8)
            .map(|p| u64::from_le_bytes(p.try_into().unwrap_or([0; 8])))
            .filter(|&g| g != 0)
            .collect())
    }

    /// Brings `cache` up to the program's `runtime.allgs`, as `all_g` reads
    /// it: the list only grows (a g is never freed, a dead one is reused),
    /// so only a new tail is read, or all of it after the array moved. The
    /// goroutine index reads the list after every event: programs with
    /// tens of thousands of goroutines read megabytes per event otherwise.
    pub fn sync_all_gs(&self, mem: &dyn MemRead, cache: &mut AllGs) -> anyhow::Result<()> {
        let words = mem.read_many(&[(RemoteAddr(self.allglen), 8), (RemoteAddr(self.allgs), 8)]);
        let word = |i: usize, what: &str| -> anyhow::Result<u64> {
            let b = words[i]
                .as_deref()
                .ok_or_else(|| anyhow!("cannot read runtime.{what}"))?;
            Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        let n = word(0, "allglen")?.min(1 << 20) as usize;
        let base = word(1, "allgs")?;
        if base != cache.base || n < cache.ptrs.len() {
            cache.base = base;
            cache.ptrs.clear();
            cache.rereads += 1;
        }
        let have = cache.ptrs.len();
        if n > have {
            let tail = mem.read(RemoteAddr(base + have as u64 * 8), (n - have) * 8)?;
            cache.ptrs.extend(
                tail.chunks_exact(8)
                    .map(|p| u64::from_le_bytes(p.try_into().unwrap_or([0; 8]))),
            );
        }
        Ok(())
    }

    /// Whether a g whose state is `key` leaves that state only through
    /// `runtime.casgstatus`: idle, runnable, dead and waiting gs do (but a
    /// coroutine's: `coroswitch` hands over with a bare compare-and-swap).
    /// The runtime's other bare status changes all start elsewhere: running
    /// to syscall and back (Go 1.26+'s fast paths), running to preempted
    /// and preempted to waiting (asynchronous preemption), leaked to
    /// waiting (the GC's leak detection). The goroutine index, which sees
    /// every casgstatus, need not read such a g again until one names it.
    pub fn changes_only_by_casgstatus(&self, mem: &dyn MemRead, key: StateKey) -> bool {
        match key.1 {
            0 | 1 | 6 | 11 => true,
            4 => self
                .reasons(mem)
                .get(key.2 as usize)
                .is_some_and(|r| r != "coroutine"),
            _ => false,
        }
    }

    /// All live goroutines, in `runtime.allgs` order.
    pub fn goroutines(&self, mem: &dyn MemRead) -> anyhow::Result<Vec<Goroutine>> {
        let mut out = Vec::new();
        for g in self.all_g(mem)? {
            let g = self.read_g(mem, g)?;
            if g.status != "dead" {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// `g.m.curg`: the user goroutine of the thread whose g (g0, gsignal) is at `g`.
    pub fn curg(&self, mem: &dyn MemRead, g: u64) -> Option<u64> {
        let m = mem
            .read_u64(RemoteAddr(g + self.l.m))
            .ok()
            .filter(|&m| m != 0)?;
        mem.read_u64(RemoteAddr(m + self.l.m_curg))
            .ok()
            .filter(|&c| c != 0)
    }

    /// Reads the runtime's tables this reader keeps (the wait reasons'
    /// names) from `mem` now: later reads may be of a probe's capture,
    /// which holds no tables.
    pub fn preload(&self, mem: &dyn MemRead) {
        self.reasons(mem);
    }

    fn reasons(&self, mem: &dyn MemRead) -> &[String] {
        self.reasons.get_or_init(|| wait_reasons(self.bin, mem))
    }

    /// The user goroutine a thread runs: g from its TLS (fs_base−8); on g0
    /// or the signal stack, the goroutine its M serves (m.curg).
    pub fn on_thread(&self, mem: &dyn MemRead, fs_base: u64) -> Option<Goroutine> {
        let g = mem.read_u64(RemoteAddr(fs_base.checked_sub(8)?)).ok()?;
        if g == 0 {
            return None;
        }
        let gr = self.read_g(mem, g).ok()?;
        if gr.goid != 0 {
            return Some(gr);
        }
        let curg = self.curg(mem, g)?;
        self.read_g(mem, curg).ok().filter(|c| c.goid != 0)
    }

    /// The goroutine the thread whose TLS is at `fs_base` runs, as
    /// `on_thread` finds it — its goid only: what a lock's atomic needs at
    /// most of the visits (the index's hottest site).
    pub fn goid_on_thread(&self, mem: &dyn MemRead, fs_base: u64) -> Option<u64> {
        let g = mem.read_u64(RemoteAddr(fs_base.checked_sub(8)?)).ok()?;
        if g == 0 {
            return None;
        }
        let goid = |g: u64| mem.read_u64(RemoteAddr(g + self.l.goid)).ok();
        match goid(g)? {
            0 => goid(self.curg(mem, g)?).filter(|&id| id != 0),
            id => Some(id),
        }
    }

    /// The thread id (`m.procid`) of the thread whose TLS is at `fs_base`.
    pub fn thread_id(&self, mem: &dyn MemRead, fs_base: u64) -> Option<i32> {
        let g = mem.read_u64(RemoteAddr(fs_base.checked_sub(8)?)).ok()?;
        let m = mem.read_u64(RemoteAddr(g.checked_add(self.l.m)?)).ok()?;
        let id = mem
            .read_u64(RemoteAddr(m.checked_add(self.l.m_procid)?))
            .ok()?;
        (m != 0 && id != 0).then_some(id as i32)
    }

    /// The wait reason recorded in a g, whatever its status (casgstatus is
    /// called with the reason already set, before the status says waiting).
    pub fn wait_reason_of(&self, mem: &dyn MemRead, g: u64) -> Option<String> {
        let b = mem.read(RemoteAddr(g + self.l.waitreason), 1).ok()?;
        self.reasons(mem)
            .get(b[0] as usize)
            .cloned()
            .filter(|s| !s.is_empty())
    }

    /// The deadline (the runtime's nanotime: CLOCK_MONOTONIC) of the
    /// `time.Sleep` the g at `g` sleeps in.
    pub fn sleep_deadline(&self, mem: &dyn MemRead, g: u64) -> Option<u64> {
        let ns = mem.read_u64(RemoteAddr(g + self.l.sleep_when?)).ok()? as i64;
        u64::try_from(ns).ok().filter(|&n| n > 0)
    }

    /// A network poller descriptor (`runtime.pollDesc` at `pd`) becoming
    /// ready for `mode` ('r', 'w' or both, as `netpollready` takes it): its
    /// fd, and the g addresses parked on it that it readies, each with
    /// "read" or "write".
    pub fn poll_ready(
        &self,
        mem: &dyn MemRead,
        pd: u64,
        mode: u32,
    ) -> Vec<(i32, u64, &'static str)> {
        /// `pdReady`, `pdWait`: the other values of rg/wg than a g.
        const NOT_A_G: u64 = 2;
        let Some((fd, rg, wg)) = self.l.poll_desc else {
            return Vec::new();
        };
        let Ok(fd) = mem.read_u64(RemoteAddr(pd + fd)) else {
            return Vec::new();
        };
        let (r, w) = (u32::from(b'r'), u32::from(b'w'));
        [(rg, r, "read"), (wg, w, "write")]
            .into_iter()
            .filter(|(_, m, _)| mode == *m || mode == r + w)
            .filter_map(|(off, _, what)| {
                let g = mem.read_u64(RemoteAddr(pd + off)).ok()?;
                (g > NOT_A_G).then_some((fd as i32, g, what))
            })
            .collect()
    }

    /// The goroutine whose g struct is at `g` (possibly dead).
    pub fn read_g(&self, mem: &dyn MemRead, g: u64) -> anyhow::Result<Goroutine> {
        let raw = mem.read_parts(RemoteAddr(g), self.l.size as usize, &self.parts)?;
        Ok(self.g_from(mem, g, &raw))
    }

    /// The g structs at `gs`, read in one go: their bytes, for `state_key`
    /// and `g_from`.
    pub fn raw_gs(&self, mem: &dyn MemRead, gs: &[u64]) -> Vec<Option<Vec<u8>>> {
        let ranges: Vec<_> = gs
            .iter()
            .map(|&g| (RemoteAddr(g), self.l.size as usize))
            .collect();
        mem.read_many(&ranges)
    }

    /// What a g's state (`Goroutine::status` and `wait_reason`) and goid
    /// are made of, from its bytes: equal keys, equal states.
    pub fn state_key(&self, raw: &[u8]) -> StateKey {
        let l = &self.l;
        let goid = raw
            .get(l.goid as usize..l.goid as usize + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        let status = raw
            .get(l.status as usize..l.status as usize + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            & !G_SCAN;
        let reason = raw.get(l.waitreason as usize).copied().unwrap_or(0);
        (goid, status, reason)
    }

    /// The goroutine whose g struct, at `g`, has the bytes `raw`.
    pub fn g_from(&self, mem: &dyn MemRead, g: u64, raw: &[u8]) -> Goroutine {
        let l = &self.l;
        let u64_at = |off: u64| {
            raw.get(off as usize..off as usize + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .unwrap_or(0)
        };
        let u32_at = |off: u64| {
            raw.get(off as usize..off as usize + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
                .unwrap_or(0)
        };
        let status = status_name(u32_at(l.status));
        let wait_reason = (status == "waiting")
            .then(|| raw.get(l.waitreason as usize).copied())
            .flatten()
            .and_then(|r| self.reasons(mem).get(r as usize).cloned())
            .filter(|s| !s.is_empty());
        let m = u64_at(l.m);
        let thread = if m != 0 && matches!(status, "running" | "syscall") {
            mem.read_u64(RemoteAddr(m + l.m_procid))
                .ok()
                .map(|v| v as i32)
        } else {
            None
        };
        let (pc, sp, bp) = if status == "syscall" && u64_at(l.syscallpc) != 0 {
            (
                u64_at(l.syscallpc),
                u64_at(l.syscallsp),
                // Without it the stack walk stops at the syscall's frame.
                l.syscallbp.map(u64_at).unwrap_or(0),
            )
        } else {
            (u64_at(l.sched_pc), u64_at(l.sched_sp), u64_at(l.sched_bp))
        };
        let startpc = u64_at(l.startpc);
        let system = self
            .bin
            .function_at(startpc)
            .is_some_and(|f| f.name.starts_with("runtime.") && f.name != "runtime.main");
        let labels = l
            .labels
            .map(|off| read_labels(mem, u64_at(off)))
            .unwrap_or_default();
        Goroutine {
            labels,
            goid: u64_at(l.goid),
            addr: g,
            status,
            wait_reason,
            parent_goid: l.parent_goid.map(u64_at),
            gopc: u64_at(l.gopc),
            startpc,
            thread,
            saved: (pc, sp, bp),
            stack: (u64_at(l.stack_lo), u64_at(l.stack_hi)),
            system,
        }
    }
}

/// The labels `g.labels` points to: a `runtime/pprof.labelMap`, which in
/// the releases `version::SUPPORTED` names is a struct holding one slice
/// of {key, value string} pairs.
fn read_labels(mem: &dyn MemRead, ptr: u64) -> Vec<(String, String)> {
    if ptr == 0 {
        return Vec::new();
    }
    let word = |b: &[u8], i: usize| {
        b.get(i * 8..i * 8 + 8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
            .unwrap_or(0)
    };
    let Ok(head) = mem.read(RemoteAddr(ptr), 16) else {
        return Vec::new();
    };
    let (list, len) = (word(&head, 0), word(&head, 1).min(64));
    let Ok(raw) = mem.read(RemoteAddr(list), (len * 32) as usize) else {
        return Vec::new();
    };
    let string = |p: u64, n: u64| {
        String::from_utf8_lossy(&mem.read_prefix(RemoteAddr(p), n.min(256) as usize)).into_owned()
    };
    raw.chunks_exact(32)
        .map(|e| {
            (
                string(word(e, 0), word(e, 1)),
                string(word(e, 2), word(e, 3)),
            )
        })
        .collect()
}

/// All live goroutines, in `runtime.allgs` order.
pub fn goroutines(bin: &GoBinary, mem: &dyn MemRead) -> anyhow::Result<Vec<Goroutine>> {
    GoReader::new(bin)?.goroutines(mem)
}

/// `runtime.waitReasonStrings` read from memory: the numbering changes
/// between Go versions, the table in the binary is always right.
fn wait_reasons(bin: &GoBinary, mem: &dyn MemRead) -> Vec<String> {
    let Some((addr, size)) = bin.symbol("runtime.waitReasonStrings") else {
        return Vec::new();
    };
    let Ok(raw) = mem.read(RemoteAddr(addr), size.min(64 * 1024) as usize) else {
        return Vec::new();
    };
    raw.chunks_exact(16)
        .map(|s| {
            let ptr = u64::from_le_bytes(s[..8].try_into().unwrap_or([0; 8]));
            let len = u64::from_le_bytes(s[8..].try_into().unwrap_or([0; 8])).min(256);
            mem.read(RemoteAddr(ptr), len as usize)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// The bounds `[lo, hi)` of the stack a thread runs on, when it runs Go code
/// on a goroutine's (or its M's g0/gsignal) stack: g from TLS (fs_base−8),
/// `g.stack` is g's first field in every Go release (the runtime's assembly
/// relies on it). The guess is accepted only when rsp lies inside it, so a C
/// thread or a thread in C code gets None. Works without DWARF.
pub fn thread_stack(mem: &dyn MemRead, fs_base: u64, rsp: u64) -> Option<(u64, u64)> {
    let g = mem.read_u64(RemoteAddr(fs_base.checked_sub(8)?)).ok()?;
    if g == 0 || g % 8 != 0 {
        return None;
    }
    let lo = mem.read_u64(RemoteAddr(g)).ok()?;
    let hi = mem.read_u64(RemoteAddr(g + 8)).ok()?;
    (lo <= rsp && rsp < hi && hi - lo <= 1 << 30).then_some((lo, hi))
}

#[cfg(test)]
mod tests {

    /// `go f(x)` starts in a wrapper the compiler writes (`main.main.gowrap1`):
    /// a goroutine is named by the function the wrapper calls, and by its
    /// own package's (`stalls/ledger`) for a method of a package of the
    /// module; the timeline once named rows by whatever function they were
    /// first seen in (a logging helper).
    #[test]
    fn a_goroutine_started_by_go_f_is_named_by_f() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".build");
        for version in ["1.27.3", "1.24.11"] {
            for build in ["stalls", "stalls.debug"] {
                let bin = crate::gobin::GoBinary::load(&root.join(format!("go{version}/{build}")))
                    .unwrap();
                let named: std::collections::BTreeSet<String> = bin
                    .functions()
                    .iter()
                    .filter(|f| f.name.starts_with("main.main.gowrap"))
                    .filter_map(|f| super::stack::start_function(&bin, f.entry))
                    .collect();
                for f in [
                    "main.slowProducer",
                    "main.stuckWorker",
                    "main.reader",
                    "main.writer",
                    "rrgo.dev/examples/stalls/ledger.(*Book).Hold",
                ] {
                    assert!(named.contains(f), "go{version} {build}: {named:?}");
                }
                assert!(
                    named.iter().all(|n| !n.contains(".gowrap")),
                    "go{version} {build}: {named:?}"
                );
            }
        }
    }
    use super::{AllGs, ScanSet};

    /// The scan set keeps allgs' order, skips empty slots, leaves set-aside
    /// gs out until woken, and starts over only when a reread list is not
    /// the one it knew.
    #[test]
    fn the_scan_set_reads_in_allgs_order_what_is_not_set_aside() {
        let mut all = AllGs {
            base: 1,
            ptrs: vec![0x10, 0, 0x30],
            rereads: 0,
        };
        let mut set = ScanSet::default();
        set.sync(&all);
        assert_eq!(set.active(), [0x10, 0x30]);
        set.set_aside(0x10);
        set.set_aside(0x99);
        all.ptrs.push(0x40);
        set.sync(&all);
        assert_eq!(set.active(), [0x30, 0x40]);
        set.wake(0x10);
        assert_eq!(set.active(), [0x10, 0x30, 0x40]);
        set.set_aside(0x30);
        set.set_aside(0x40);
        // The array moved, same list: what was set aside stays aside.
        all.rereads += 1;
        set.sync(&all);
        assert_eq!(set.active(), [0x10]);
        set.wake_all();
        assert_eq!(set.active(), [0x10, 0x30, 0x40]);
        // Read again and different: everything is read.
        set.set_aside(0x10);
        all.ptrs = vec![0x50, 0x10];
        all.rereads += 1;
        set.sync(&all);
        assert_eq!(set.active(), [0x50, 0x10]);
    }
}
