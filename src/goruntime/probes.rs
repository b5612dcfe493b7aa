//! What the goroutine index's probes (`tracee::probelog`) capture at the
//! runtime's functions and lock atomics: exactly what the index's readers
//! (`GoReader::read_g`, `on_thread`, `goid_on_thread`,
//! `stack::goroutine_frame_ranked`, `stack::raw_chain`,
//! `MutexSites::effect`, `poll_ready`) read there, with offsets from this binary's
//! DWARF (`GLayout`).

use iced_x86::Register;

use super::GLayout;
use crate::gobin::GoBinary;
use crate::tracee::probelog::{Op, Val};

/// Frames a captured chain holds: the index's walks stop at the first
/// frame of the program's own code, rarely deeper than a dozen.
const CHAIN: u32 = 32;

/// Where a probe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAt {
    /// `runtime.casgstatus(gp, old, new)`'s entry.
    Casgstatus,
    /// `runtime.ready(gp, …)`'s entry.
    Ready,
    /// A lock's atomic instruction (`locks::MutexSites`).
    LockAtomic,
    /// `runtime.netpollready(toRun, pd, mode)`'s entry.
    NetpollReady,
}

/// Whether probes can read this program's goroutines: a Go runtime that
/// keeps g at fs:-8 with the layouts known. (An externally linked
/// program with C thread-locals keeps it elsewhere: fs:-8 would be a C
/// variable, which a trampoline must not follow. A cgo program linked
/// internally keeps it at -8, in its 8-byte TLS block, 0 on threads
/// that never ran Go code.)
pub fn usable(bin: &GoBinary) -> Option<GLayout> {
    if bin.g_tls_offset() != -8 {
        return None;
    }
    GLayout::from_binary(bin).ok()
}

/// The captures of a probe at `at`.
pub fn ops(l: &GLayout, at: ProbeAt) -> Vec<Op> {
    let off = |o: u64| o as i32;
    // A g: the parts its readers read (`GLayout::read_ranges`).
    let parts = l.read_ranges();
    let g = |from: Val| -> Vec<Op> {
        parts
            .iter()
            .map(|&(o, n)| Op::Copy {
                from,
                off: off(o),
                len: n as u32,
            })
            .collect()
    };
    let chain = |bp, sp, g| Op::Chain {
        bp,
        sp,
        g,
        lo: off(l.stack_lo),
        hi: off(l.stack_hi),
        max: CHAIN,
    };
    // The thread: its g (TLS) with that g's M and the M's thread id, and
    // the frames on the thread's stack.
    let mut ops = vec![
        Op::Copy {
            from: Val::FsBase,
            off: -8,
            len: 8,
        },
        Op::Load {
            tmp: 0,
            from: Val::FsBase,
            off: -8,
        },
        Op::Copy {
            from: Val::Tmp(0),
            off: off(l.m),
            len: 8,
        },
        Op::Load {
            tmp: 1,
            from: Val::Tmp(0),
            off: off(l.m),
        },
        Op::Copy {
            from: Val::Tmp(1),
            off: off(l.m_procid),
            len: 8,
        },
        chain(
            Val::Reg(Register::RBP),
            Val::Reg(Register::RSP),
            Val::Tmp(0),
        ),
    ];
    // Who the thread runs (`GoReader::on_thread`): its g, the M's user
    // goroutine, and that goroutine's frames from its saved registers (a
    // thread on g0 continues there).
    let mut on_thread = g(Val::Tmp(0));
    on_thread.extend([
        Op::Copy {
            from: Val::Tmp(1),
            off: off(l.m_curg),
            len: 8,
        },
        Op::Load {
            tmp: 2,
            from: Val::Tmp(1),
            off: off(l.m_curg),
        },
    ]);
    on_thread.extend(g(Val::Tmp(2)));
    on_thread.extend([
        Op::Load {
            tmp: 3,
            from: Val::Tmp(2),
            off: off(l.sched_bp),
        },
        Op::Load {
            tmp: 4,
            from: Val::Tmp(2),
            off: off(l.sched_sp),
        },
        chain(Val::Tmp(3), Val::Tmp(4), Val::Tmp(2)),
    ]);
    let gp = Val::Reg(Register::RAX);
    match at {
        ProbeAt::Casgstatus => {
            // The g changing state, its thread id, and its frames from
            // its saved registers (or from the syscall's).
            ops.extend(g(gp));
            ops.push(Op::Load {
                tmp: 5,
                from: gp,
                off: off(l.m),
            });
            ops.push(Op::Copy {
                from: Val::Tmp(5),
                off: off(l.m_procid),
                len: 8,
            });
            let mut saved = vec![(l.sched_bp, l.sched_sp)];
            if let Some(bp) = l.syscallbp {
                saved.push((bp, l.syscallsp));
            }
            for (bp, sp) in saved {
                ops.push(Op::Load {
                    tmp: 6,
                    from: gp,
                    off: off(bp),
                });
                ops.push(Op::Load {
                    tmp: 7,
                    from: gp,
                    off: off(sp),
                });
                ops.push(chain(Val::Tmp(6), Val::Tmp(7), gp));
            }
        }
        ProbeAt::Ready => {
            ops.extend(on_thread);
            ops.extend(g(gp));
        }
        ProbeAt::NetpollReady => {
            // The pollDesc (RBX, `GoReader::poll_ready`): its fd, and the
            // gs parked on it for reading and writing, whole (pdReady and
            // pdWait are below the null guard: not followed).
            if let Some((fd, rg, wg)) = l.poll_desc {
                let pd = Val::Reg(Register::RBX);
                ops.push(Op::Copy {
                    from: pd,
                    off: off(fd),
                    len: 8,
                });
                for (parked, tmp) in [(rg, 5), (wg, 6)] {
                    ops.push(Op::Copy {
                        from: pd,
                        off: off(parked),
                        len: 8,
                    });
                    ops.push(Op::Load {
                        tmp,
                        from: pd,
                        off: off(parked),
                    });
                    ops.extend(g(Val::Tmp(tmp)));
                }
            }
        }
        ProbeAt::LockAtomic => {
            // The locks' code runs on the goroutine's own stack, never on
            // g0 or the signal stack: the thread's g is the goroutine
            // (`goid_on_thread` reads its goid, no further), its frames the
            // thread's.
            ops.push(Op::Copy {
                from: Val::Tmp(0),
                off: off(l.goid),
                len: 8,
            });
            ops.push(Op::Copy {
                from: Val::OpAddr,
                off: 0,
                len: 4,
            });
        }
    }
    ops
}
