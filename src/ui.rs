//! rrgo's own messages to the user: always on stderr, always prefixed
//! `rrgo:`, silenced by `-q` — stdout belongs to the recorded program.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Progress output only makes sense for a person watching a terminal.
pub fn show_progress() -> bool {
    !quiet() && std::io::stderr().is_terminal()
}

/// Prints `rrgo: <message>` on stderr unless `-q` was given.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::ui::quiet() {
            eprintln!("rrgo: {}", format_args!($($arg)*));
        }
    };
}
