//! The engine: the debugger's policy over a `Timeline` (which owns the
//! replay, its checkpoints and seeking): the user's breakpoints and
//! watchpoints, exception filters, which hits stop a motion, and what a
//! stop shows.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use trace_format::{RecTid, StdStream};

use super::api::*;
use super::breakpoints::{hit_condition_met, Breakpoints};
use super::inspect::StopCache;
use crate::gobin::GoBinary;
use crate::govalue::DebugInfo;
use crate::replay::BreakpointHit;
pub(super) use crate::timeline::Tick;
use crate::timeline::{counts_here, Cancel, CountKey, Counted, Host, Timeline};

pub struct Engine {
    pub(super) dir: PathBuf,
    pub(super) bin: GoBinary,
    pub(super) info: DebugInfo,
    /// The replay: where it stands, checkpoints, seeking, scans.
    pub(super) tl: Timeline,
    pub(super) bps: Breakpoints,
    /// Exception breakpoints: address → kind.
    pub(super) exceptions: Vec<(u64, ExceptionKind)>,
    /// Where the runtime calls deferred functions (steps follow panics).
    pub(super) defers: crate::goruntime::defers::Defers,
    pub(super) stop_panics: bool,
    pub(super) stop_fatal: bool,
    pub(super) selected: Option<Goid>,
    pub(super) last_reason: Option<StopReason>,
    pub(super) output: Vec<OutputChunk>,
    pub(super) cache: StopCache,
    pub(super) watch: super::watch::Watches,
    /// Where a reverse-continue that a pause stopped began.
    pub(super) paused_from: Option<crate::timeline::Pos>,
    /// A reverse stop just after a watched write whose instruction could not
    /// be told: the next reverse-continue from there passes that write.
    pub(super) after_write: Option<crate::timeline::Pos>,
}

impl Host for Engine {
    fn timeline(&mut self) -> &mut Timeline {
        &mut self.tl
    }
}

/// Opens a recording for debugging (the `EngineHandle` factory).
pub fn open_target(
    trace: Option<PathBuf>,
    progress: &dyn Fn(u64, u64),
    interrupt: Arc<AtomicBool>,
) -> anyhow::Result<Box<dyn DebugTarget>> {
    let dir = crate::trace_dir::resolve(trace.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Box::new(Engine::open(&dir, progress, interrupt)?))
}

impl Engine {
    pub fn open(
        dir: &Path,
        progress: &dyn Fn(u64, u64),
        interrupt: Arc<AtomicBool>,
    ) -> anyhow::Result<Engine> {
        let tl = Timeline::open(dir, Cancel::new(interrupt))?;
        let exe = tl
            .session()
            .reader()
            .stored_file_path(&tl.session().reader().header().exe);
        progress(0, 2);
        let bin = GoBinary::load_cached(&exe, Some(&dir.join(crate::trace_dir::DWARF_TABLES)))
            .context("cannot read the recorded program")?;
        if !bin.has_dwarf {
            anyhow::bail!(
                "the recorded program has no DWARF debug information (built with -ldflags=-w or -s): \
                 rebuild it without them and record again to debug it; `rrgo replay -a` and \
                 `rrgo dump` still work on this recording"
            );
        }
        let info = DebugInfo::load(&exe).context("cannot read the recorded program's DWARF")?;
        // A position-independent executable: its addresses as loaded.
        let entry = tl.session().exe_entry();
        let (bin, info) = (bin.loaded_at_entry(entry), info.loaded_at_entry(entry));
        progress(1, 2);
        let mut exceptions = Vec::new();
        for (name, kind) in [
            ("runtime.fatalpanic", ExceptionKind::Panic),
            ("runtime.throw", ExceptionKind::FatalError),
            ("runtime.fatal", ExceptionKind::FatalError),
        ] {
            if let Some(f) = bin.functions_named(name).first() {
                exceptions.push((f.entry, kind));
            }
        }
        let defers = crate::goruntime::defers::Defers::from_binary(&bin);
        let e = Engine {
            dir: dir.to_path_buf(),
            defers,
            bin,
            info,
            tl,
            bps: Breakpoints::default(),
            exceptions,
            stop_panics: true,
            stop_fatal: true,
            selected: None,
            last_reason: None,
            output: Vec::new(),
            cache: StopCache::default(),
            watch: Default::default(),
            paused_from: None,
            after_write: None,
        };
        progress(2, 2);
        Ok(e)
    }

    /// The exception breakpoints the user's filters turn on.
    pub(super) fn enabled_exceptions(&self) -> Vec<(u64, ExceptionKind)> {
        self.exceptions
            .iter()
            .filter(|(_, k)| match k {
                ExceptionKind::Panic => self.stop_panics,
                ExceptionKind::FatalError => self.stop_fatal,
            })
            .copied()
            .collect()
    }

    /// The addresses that must hold breakpoints: the user's, the enabled
    /// exception ones, and `temp` (a motion's own).
    pub(super) fn sync_breakpoints(&mut self, temp: &[u64]) -> anyhow::Result<()> {
        let mut want: Vec<u64> = self.bps.addrs().collect();
        want.extend(self.enabled_exceptions().iter().map(|(a, _)| *a));
        want.extend(self.watch_scope_addrs());
        want.extend_from_slice(temp);
        self.tl.set_breakpoints(&want)
    }

    /// One step of the replay (see `Timeline::tick`); the program's
    /// output goes to the user's.
    /// A breakpoint's or watchpoint's hit is counted here, whichever
    /// motion it happens in.
    pub(super) fn tick(&mut self, instruction: bool) -> EResult<Tick> {
        let t = self.tl.tick(instruction)?;
        for (stream, bytes) in self.tl.take_output() {
            self.output.push(match stream {
                StdStream::Stdout => OutputChunk::Stdout(bytes),
                StdStream::Stderr => OutputChunk::Stderr(bytes),
            });
        }
        if let Tick::Hit(h) | Tick::Watch(h) = &t {
            let keys = self.counted();
            if !keys.is_empty() {
                for k in self.judge(*h, &keys)? {
                    self.tl.counts.hit(&k);
                }
            }
        }
        Ok(t)
    }

    /// The keys of the hit counts the hit conditions need: the
    /// breakpoints' and the watchpoints'.
    pub(super) fn counted(&self) -> Vec<CountKey> {
        let bps = self.bps.list.iter().filter(|b| b.hit_condition.is_some());
        let watches = self.watch.list.iter().filter(|w| w.hit_condition.is_some());
        let mut keys: Vec<CountKey> = Vec::new();
        for k in bps
            .map(|b| b.count_key())
            .chain(watches.map(|w| w.count_key()))
        {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }

    /// The hit counts (of `keys`) a hit counts for: those it is a hit of
    /// (a breakpoint's address; a watchpoint's value, in its frame) whose
    /// condition holds at it. Every count is judged here, whichever way
    /// the replay goes, so a count means the same forwards and backwards.
    pub(super) fn judge(&mut self, h: BreakpointHit, keys: &[CountKey]) -> EResult<Vec<CountKey>> {
        let mut out = Vec::new();
        for k in keys {
            let of_hit = match &k.of {
                Counted::Code(addrs) => h.watch.is_none() && addrs.contains(&h.addr),
                Counted::Data { .. } => self.watch_hit_of(&h, &k.of),
            };
            if of_hit && self.condition_holds(&k.condition, h.tid, false)? {
                out.push(k.clone());
            }
        }
        Ok(out)
    }

    /// Whether `hit_condition` holds for the count of `key` where the
    /// replay stands (counted when the replay got here, in `tick`).
    pub(super) fn hit_condition_here(&self, hit_condition: &str, key: &CountKey) -> EResult<bool> {
        let hits = self.tl.counts.here(key).unwrap_or(0);
        hit_condition_met(hit_condition, hits).map_err(EngineError)
    }

    /// Makes the hit counts the hit conditions need known where the
    /// replay stands (a forward motion adds to them).
    pub(super) fn ensure_counts(&mut self) -> EResult<()> {
        let keys = self.counted();
        if !keys.is_empty() {
            let k2 = keys.clone();
            counts_here(self, &keys, &mut |e: &mut Engine, h| e.judge(h, &k2))?;
        }
        Ok(())
    }

    /// The thread the current stop is in (a breakpoint hit or a step).
    pub(super) fn stop_tid(&self) -> Option<RecTid> {
        self.tl.stop_tid()
    }

    /// What was read at the current stop (cleared when the replay moves).
    pub(super) fn stop_cache(&mut self) -> &mut StopCache {
        self.cache.at(self.tl.moves())
    }
}
