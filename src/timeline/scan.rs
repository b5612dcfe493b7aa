//! Backward scans: the moments before a mark where the debugger accepts a
//! hit, collected by replaying forwards from the nearest checkpoint, then
//! from earlier ones until the debugger says the moments found settle its
//! question. The debugger judges each hit (conditions, goroutines) through
//! the `keep` callback, with the replay standing at the hit.

use super::{same_regs, Cancelled, Host, Pos, Tick};
use crate::replay::BreakpointHit;

/// A moment a scan kept, and the hit that made it.
pub type Moment = (Pos, BreakpointHit);

/// The moments before `until` where `keep` accepted a hit of `addrs`
/// (and, with `watches`, of a watchpoint), in order. Replays from the
/// nearest checkpoint, then from earlier ones, until `enough` says the
/// moments found settle the question.
pub fn scan<H: Host, E: From<anyhow::Error>>(
    host: &mut H,
    until: &Pos,
    addrs: &[u64],
    watches: bool,
    keep: &mut dyn FnMut(&mut H, BreakpointHit) -> Result<bool, E>,
    enough: &dyn Fn(&H, &[Moment]) -> bool,
) -> Result<Vec<Moment>, E> {
    let mut found: Vec<Moment> = Vec::new();
    let mut end = until.clone();
    for from in host.timeline().checkpoints.starts_before(until.event) {
        if from > end.event {
            continue;
        }
        let mut part = scan_segment(host, from, &end, addrs, watches, keep)?;
        part.append(&mut found);
        found = part;
        if enough(host, &found) {
            break;
        }
        end = Pos {
            event: from,
            at: None,
        };
    }
    Ok(found)
}

/// One replay from `from` to `until`. A watchpoint's hit at `until`
/// itself counts: the access happened before that moment.
fn scan_segment<H: Host, E: From<anyhow::Error>>(
    host: &mut H,
    from: u64,
    until: &Pos,
    addrs: &[u64],
    watches: bool,
    keep: &mut dyn FnMut(&mut H, BreakpointHit) -> Result<bool, E>,
) -> Result<Vec<Moment>, E> {
    let tl = host.timeline();
    tl.restart_at(from)?;
    tl.apply_watches()?;
    tl.session.set_output(crate::replay::Output::Discard);
    let mut want = addrs.to_vec();
    want.extend(until.at.as_ref().map(|(_, r)| r.rip));
    tl.place_only(&want)?;
    let mut found = Vec::new();
    loop {
        let tl = host.timeline();
        let event = tl.session.next_event().0;
        if event > until.event || (until.at.is_none() && event >= until.event) {
            break;
        }
        match tl.tick(false)? {
            Tick::Hit(h) | Tick::Watch(h) => {
                let regs = tl.session.regs(h.tid)?;
                let at_end = until.at.as_ref().is_some_and(|(tid, r)| {
                    event == until.event && h.tid == *tid && same_regs(&regs, r)
                });
                let wanted = match h.watch {
                    Some(_) => watches,
                    None => !at_end && addrs.contains(&h.addr),
                };
                if wanted && keep(host, h)? {
                    let at = Some((h.tid, regs));
                    found.push((Pos { event, at }, h));
                }
                if at_end {
                    break;
                }
            }
            Tick::Event | Tick::Instruction(_) => {
                if tl.cancel_requested() {
                    return Err(anyhow::Error::new(Cancelled).into());
                }
            }
            Tick::End => break,
        }
    }
    Ok(found)
}
