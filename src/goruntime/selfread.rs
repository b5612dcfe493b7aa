//! Code a Go program reads as data: where the replay's search stub must not
//! patch (a `jmp` in those bytes changes what the program computes).
//!
//! Go's FIPS 140 module checks its own integrity: with `GODEBUG=fips140=on`
//! the init of `crypto/internal/fips140/check` hashes the module's text,
//! rodata and data (between the linker's `go:textfipsstart` … `go:textfipsend`
//! symbols and their data counterparts) and panics on a mismatch. It runs
//! once; after its package's init task is done the text is only executed.
//! (Found by `crypto/tls`'s tests, whose child processes run FIPS mode: a
//! preemption point in the module's arithmetic made the replayed check fail.)

use object::{Object, ObjectSymbol};

/// The `initTask.state` value of a package whose init has run (runtime/proc.go,
/// Go 1.21 and later: 0 not yet, 1 in progress, 2 done).
pub const INIT_DONE: u32 = 2;

/// Code the program hashes until the init task at `done_when` is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfRead {
    /// The code range [start, end) (absolute addresses).
    pub start: u64,
    pub end: u64,
    /// Address of the reading package's `initTask.state` (a u32).
    pub init_state: u64,
}

/// The self-read code ranges of `file`, loaded at `bias`.
pub fn ranges(file: &object::File<'_>, bias: u64) -> Vec<SelfRead> {
    let mut start = None;
    let mut end = None;
    let mut init_state = None;
    for s in file.symbols() {
        match s.name() {
            Ok("go:textfipsstart") => start = Some(s.address()),
            Ok("go:textfipsend") => end = Some(s.address()),
            Ok("crypto/internal/fips140/check..inittask") => init_state = Some(s.address()),
            _ => {}
        }
    }
    match (start, end, init_state) {
        (Some(start), Some(end), Some(state)) if start < end => vec![SelfRead {
            start: start.wrapping_add(bias),
            end: end.wrapping_add(bias),
            init_state: state.wrapping_add(bias),
        }],
        _ => Vec::new(),
    }
}
