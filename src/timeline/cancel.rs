//! The cancel token: a front end's pause request, polled by the motions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The message a motion ends with when the user pauses it (the replay
/// then stands where the motion got to).
pub const INTERRUPTED: &str = "interrupted by a pause request";

/// Set by the front end (`EngineHandle::interrupt`), taken by the motion
/// that sees it.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new(flag: Arc<AtomicBool>) -> Cancel {
        Cancel(flag)
    }

    /// Whether a pause was asked for since the last look (and forgets it).
    pub fn requested(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// The error of a motion stopped by the cancel token.
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(INTERRUPTED)
    }
}

impl std::error::Error for Cancelled {}

/// Whether an error message is the cancel token's.
pub fn is_cancelled(message: &str) -> bool {
    message == INTERRUPTED || message.ends_with(&format!(": {INTERRUPTED}"))
}
