//! Merges the family tables into one lookup by syscall number.

use std::sync::OnceLock;

use super::{files, memory, net, poll, process, random, signals, sync, time, Spec};

const FAMILIES: &[&[Spec]] = &[
    files::ROWS,
    memory::ROWS,
    net::ROWS,
    poll::ROWS,
    process::ROWS,
    random::ROWS,
    signals::ROWS,
    sync::ROWS,
    time::ROWS,
];

const MAX_NR: usize = 512;

fn table() -> &'static [Option<Spec>] {
    static TABLE: OnceLock<Vec<Option<Spec>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![None; MAX_NR];
        for row in FAMILIES.iter().flat_map(|f| f.iter()) {
            if let Some(slot) = usize::try_from(row.nr).ok().and_then(|i| t.get_mut(i)) {
                *slot = Some(*row);
            }
        }
        t
    })
}

/// The row for `nr`, or `None` for a syscall rrgo has no row for (the
/// engines then emulate it without outputs and warn once).
pub fn lookup(nr: i64) -> Option<&'static Spec> {
    usize::try_from(nr)
        .ok()
        .and_then(|i| table().get(i))
        .and_then(|s| s.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_has_one_row() {
        let mut seen = std::collections::HashSet::new();
        for row in FAMILIES.iter().flat_map(|f| f.iter()) {
            assert!(
                seen.insert(row.nr),
                "syscall {} has two rows",
                crate::syscall_names::name(row.nr)
            );
            assert!((row.nr as usize) < MAX_NR);
        }
    }

    #[test]
    fn the_go_runtime_core_is_covered() {
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_mmap,
            libc::SYS_futex,
            libc::SYS_clone,
            libc::SYS_clock_gettime,
            libc::SYS_epoll_pwait,
            libc::SYS_getrandom,
            libc::SYS_rt_sigaction,
            libc::SYS_sched_getaffinity,
            libc::SYS_tgkill,
            libc::SYS_nanosleep,
            libc::SYS_exit_group,
        ] {
            assert!(
                lookup(nr).is_some(),
                "no row for {}",
                crate::syscall_names::name(nr)
            );
        }
    }
}
