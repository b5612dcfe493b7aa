//! Backward scans: the moments before a mark where the debugger accepts a
//! hit, collected by replaying forwards from the nearest checkpoint, then
//! from earlier ones until the debugger says the moments found settle its
//! question. The debugger judges each hit (conditions, goroutines) through
//! the `keep` callback, with the replay standing at the hit. A pause
//! stops a scan between two ticks (`Timeline::tick`).

use super::{same_regs, Host, Pos, Tick};
use crate::replay::BreakpointHit;

/// A moment a scan kept, the hit that made it, and what the debugger
/// noted about it.
pub type Moment<T> = (Pos, BreakpointHit, T);

/// The debugger's verdict on a hit: None skips it.
pub type Keep<'a, H, T, E> = &'a mut dyn FnMut(&mut H, BreakpointHit) -> Result<Option<T>, E>;

/// Whether the moments found since a segment start settle the question.
pub type Enough<'a, H, T, E> = &'a mut dyn FnMut(&mut H, u64, &[Moment<T>]) -> Result<bool, E>;

/// The moments before `until` where `keep` accepted a hit of `addrs`
/// (and, with `watches`, of a watchpoint), in order. Replays from the
/// nearest checkpoint, then from earlier ones, until `enough` says the
/// moments found since the segment start it is given settle the
/// question. Returns them and the earliest segment start.
pub fn scan<H: Host, T, E: From<anyhow::Error>>(
    host: &mut H,
    until: &Pos,
    addrs: &[u64],
    watches: bool,
    keep: Keep<'_, H, T, E>,
    enough: Enough<'_, H, T, E>,
) -> Result<(Vec<Moment<T>>, u64), E> {
    let mut found: Vec<Moment<T>> = Vec::new();
    let mut end = until.clone();
    let mut first = until.event;
    for from in host.timeline().checkpoints.starts_before(until.event) {
        if from > end.event {
            continue;
        }
        let mut part = scan_segment(host, from, &end, addrs, watches, false, keep)?;
        part.append(&mut found);
        found = part;
        first = from;
        if enough(host, from, &found)? {
            break;
        }
        end = Pos::at_event(from);
    }
    Ok((found, first))
}

/// One replay from `from` to `until`. A watchpoint's hit at `until`
/// itself counts: the access happened before that moment; a breakpoint's
/// only `with_end` (counting hits up to and including a moment).
pub(super) fn scan_segment<H: Host, T, E: From<anyhow::Error>>(
    host: &mut H,
    from: u64,
    until: &Pos,
    addrs: &[u64],
    watches: bool,
    with_end: bool,
    keep: Keep<'_, H, T, E>,
) -> Result<Vec<Moment<T>>, E> {
    let tl = host.timeline();
    tl.restart_at(from)?;
    tl.apply_watches()?;
    tl.session.set_output(crate::replay::Output::Discard);
    let mut want = addrs.to_vec();
    want.extend(until.route.iter().map(|p| p.regs.rip));
    tl.place_only(&want)?;
    let mut found = Vec::new();
    // The passes of `until`'s route reached so far (see `mark`).
    let mut passed = 0;
    loop {
        let tl = host.timeline();
        let event = tl.session.next_event().0;
        if event > until.event || (until.at.is_none() && event >= until.event) {
            break;
        }
        match tl.tick(false)? {
            Tick::Hit(h) | Tick::Watch(h) => {
                let regs = tl.session.regs(h.tid)?;
                // Where the replay stands, as a route from the event.
                let here = tl.here_at(h.tid, regs);
                let on_route = event == until.event
                    && until.route.get(passed).is_some_and(|p| {
                        here.route.last().is_some_and(|q| q.nth == p.nth)
                            && h.tid == p.tid
                            && same_regs(&regs, &p.regs)
                    });
                if on_route {
                    tl.close_pass()?;
                    passed += 1;
                }
                let at_end = on_route && passed == until.route.len();
                let at_addr = (with_end || !at_end) && addrs.contains(&h.addr);
                let mut hits = Vec::with_capacity(2);
                match h.watch {
                    Some(_) => {
                        if watches {
                            hits.push(h);
                        }
                        // A watched write that left the thread at a wanted
                        // address (back-to-back stores: the first one's trap
                        // stops before the second): the thread is there as
                        // a breakpoint would have stopped it, and resuming
                        // steps over the breakpoint without a hit. Asked for
                        // the second store's instruction, a scan found an
                        // older run of it instead.
                        if !watches && at_addr {
                            hits.push(BreakpointHit { watch: None, ..h });
                        }
                    }
                    None if at_addr => hits.push(h),
                    None => {}
                }
                for h in hits {
                    if let Some(t) = keep(host, h)? {
                        found.push((here.clone(), h, t));
                    }
                }
                if at_end {
                    break;
                }
            }
            Tick::Event | Tick::Instruction(_) => {}
            Tick::End => break,
        }
    }
    Ok(found)
}
