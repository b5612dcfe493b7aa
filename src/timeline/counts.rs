//! Hit counts defined by position: a breakpoint's or a watchpoint's count
//! at a moment is the number of its hits (those whose condition held, as
//! Delve counts) from the start of the recording up to and including that
//! moment, however the replay got there. The replay is deterministic, so a
//! count is a function of the moment, and is computed where it is cheap:
//!
//! - moving forwards, the debugger adds each hit it judged (`hit`);
//! - at every checkpoint taken then, the counts there are kept as that
//!   checkpoint's *base* (hits before its event);
//! - elsewhere (after a seek, a step back, a paused scan) a count is
//!   computed when first needed: the base at the nearest checkpoint before
//!   (counting the intervals not yet counted, from the last known base,
//!   in one replay), plus the hits from there up to the moment.
//!
//! What a count counts is its `CountKey` (a breakpoint's addresses or a
//! watchpoint's value, and the condition): a changed condition is a new
//! key, counted afresh.

use std::collections::{BTreeMap, HashMap};

use super::scan::scan_segment;
use super::{Host, Pos};
use crate::replay::BreakpointHit;

/// What one hit count counts: hits of `of` whose condition held (no
/// condition: every hit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountKey {
    pub of: Counted,
    pub condition: Option<String>,
}

/// Whose hits a count counts. The timeline only tells breakpoint hits
/// (at `Code`'s addresses) from watch hits (of the ranges applied, see
/// `Timeline::set_watches`); the debugger's judge says which are a key's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Counted {
    /// A breakpoint: hits at any of these addresses (sorted).
    Code(Vec<u64>),
    /// A watchpoint: the accesses that trap on `len` bytes at `addr`
    /// (where the value was when watched), reads too or writes only; a
    /// stack variable's only by its frame (g, CFA, and whether the range
    /// follows the stack when it moves).
    Data {
        addr: u64,
        len: u64,
        reads: bool,
        frame: Option<(u64, u64, bool)>,
    },
}

impl CountKey {
    /// Whether it counts watch hits (a count of it replays with the
    /// watched ranges).
    fn watches(&self) -> bool {
        matches!(self.of, Counted::Data { .. })
    }
}

/// The debugger's judgement of a hit: the keys it counts for (their
/// conditions evaluated at the hit).
pub type Judge<'a, H, E> = &'a mut dyn FnMut(&mut H, BreakpointHit) -> Result<Vec<CountKey>, E>;

#[derive(Default)]
pub struct HitCounts {
    /// Per key: event b → its hits before event b, where known.
    bases: HashMap<CountKey, BTreeMap<u64, u64>>,
    /// The counts at the moment the replay stands at, for the keys known
    /// there (forgotten when the replay starts over).
    here: HashMap<CountKey, u64>,
}

impl HitCounts {
    /// The count of `key` here, if known.
    pub fn here(&self, key: &CountKey) -> Option<u64> {
        self.here.get(key).copied()
    }

    /// A hit counted for `key` here (moving forwards).
    pub fn hit(&mut self, key: &CountKey) {
        if let Some(n) = self.here.get_mut(key) {
            *n += 1;
        }
    }

    /// The counts here are `counts` (a seek to a moment whose counts a
    /// scan found).
    pub fn set_here(&mut self, counts: impl IntoIterator<Item = (CountKey, u64)>) {
        self.here.extend(counts);
    }

    /// The replay starts over: nothing is known where it stands.
    pub(super) fn forget_here(&mut self) {
        self.here.clear();
    }

    /// A checkpoint at `event`: the counts here are its bases.
    pub(super) fn at_checkpoint(&mut self, event: u64) {
        for (k, n) in &self.here {
            self.bases.entry(k.clone()).or_default().insert(event, *n);
        }
    }

    /// The latest known base of `key` at or before `event`: (event, count).
    fn known_base(&self, key: &CountKey, event: u64) -> (u64, u64) {
        self.bases
            .get(key)
            .and_then(|m| m.range(..=event).next_back())
            .map(|(e, n)| (*e, *n))
            .unwrap_or((1, 0))
    }
}

/// The breakpoint addresses a count of `keys` replays with, and whether
/// it sees watch hits too.
fn counted_hits(keys: &[CountKey]) -> (Vec<u64>, bool) {
    let mut v: Vec<u64> = keys
        .iter()
        .flat_map(|k| match &k.of {
            Counted::Code(addrs) => addrs.as_slice(),
            Counted::Data { .. } => &[],
        })
        .copied()
        .collect();
    v.sort_unstable();
    v.dedup();
    (v, keys.iter().any(CountKey::watches))
}

/// The hits of each key before event `at` (a checkpoint's event, or 1).
/// Counts what is not known yet in one replay, from the start before the
/// earliest known base, noting the bases at the checkpoints passed.
pub fn bases_at<H: Host, E: From<anyhow::Error>>(
    host: &mut H,
    keys: &[CountKey],
    at: u64,
    judge: Judge<'_, H, E>,
) -> Result<Vec<u64>, E> {
    let known: Vec<(u64, u64)> = {
        let c = &host.timeline().counts;
        keys.iter().map(|k| c.known_base(k, at)).collect()
    };
    let todo: Vec<usize> = (0..keys.len()).filter(|&i| known[i].0 < at).collect();
    if todo.is_empty() {
        return Ok(known.iter().map(|b| b.1).collect());
    }
    let low = todo.iter().map(|&i| known[i].0).min().unwrap_or(1);
    let todo_keys: Vec<CountKey> = todo.iter().map(|&i| keys[i].clone()).collect();
    let from = host.timeline().checkpoints.starts_before(low)[0];
    let until = Pos::at_event(at);
    let (addrs, watches) = counted_hits(&todo_keys);
    let hits = scan_segment(
        host,
        from,
        &until,
        &addrs,
        watches,
        false,
        &mut |h: &mut H, hit| judge(h, hit).map(|ks| Some(ks).filter(|ks| !ks.is_empty())),
    )?;
    let starts: Vec<u64> = {
        let tl = host.timeline();
        let mut v = tl.checkpoints.starts_before(at);
        v.retain(|e| *e > low);
        v.push(at);
        v
    };
    let mut out: Vec<u64> = known.iter().map(|b| b.1).collect();
    let counts = &mut host.timeline().counts;
    for &i in &todo {
        let (b0, n0) = known[i];
        let key = &keys[i];
        let bases = counts.bases.entry(key.clone()).or_default();
        for &s in starts.iter().filter(|s| **s > b0) {
            let n = hits
                .iter()
                .filter(|(p, _, ks)| p.event >= b0 && p.event < s && ks.contains(key))
                .count() as u64;
            bases.insert(s, n0 + n);
        }
        out[i] = bases.get(&at).copied().unwrap_or(n0);
    }
    Ok(out)
}

/// The counts of `keys` at the moment the replay stands at: known ones as
/// they are, the others computed (the base at the nearest checkpoint
/// before, plus the hits from there up to and including this moment,
/// replayed; the replay then stands here again, with the debugger's
/// breakpoints and watchpoints).
pub fn counts_here<H: Host, E: From<anyhow::Error>>(
    host: &mut H,
    keys: &[CountKey],
    judge: Judge<'_, H, E>,
) -> Result<Vec<u64>, E> {
    let missing: Vec<CountKey> = {
        let c = &host.timeline().counts;
        keys.iter()
            .filter(|k| c.here(k).is_none())
            .cloned()
            .collect()
    };
    if !missing.is_empty() {
        let here = host.timeline().here()?;
        let from = host.timeline().checkpoints.starts_before(here.event)[0];
        let bases = bases_at(host, &missing, from, judge)?;
        let (addrs, watches) = counted_hits(&missing);
        let hits = scan_segment(
            host,
            from,
            &here,
            &addrs,
            watches,
            true,
            &mut |h: &mut H, hit| judge(h, hit).map(|ks| Some(ks).filter(|ks| !ks.is_empty())),
        )?;
        let tl = host.timeline();
        if tl.session.next_event().0 != here.event
            || tl.stop_tid != here.at.as_ref().map(|(t, _)| *t)
        {
            tl.seek(&here)?;
        }
        tl.reapply()?;
        tl.counts.set_here(missing.iter().zip(bases).map(|(k, b)| {
            let n = hits.iter().filter(|(_, _, ks)| ks.contains(k)).count() as u64;
            (k.clone(), b + n)
        }));
    }
    let c = &host.timeline().counts;
    Ok(keys.iter().map(|k| c.here(k).unwrap_or(0)).collect())
}
