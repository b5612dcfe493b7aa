//! A progress line on stderr for long work (indexing, reading a big trace),
//! shown only when stderr is a terminal and not `-q`.

use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    total: u64,
    shown: bool,
    enabled: bool,
    last: Instant,
    start: Instant,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Self {
        let now = Instant::now();
        Progress {
            what,
            total,
            shown: false,
            enabled: crate::ui::show_progress(),
            last: now,
            start: now,
        }
    }

    pub fn set(&mut self, done: u64) {
        // Redraw at most 10 times a second, and only for work that takes a while.
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        if !self.shown && self.start.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let pct = (done * 100).checked_div(self.total).unwrap_or(0);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rrrgo: {} {done}/{} ({pct}%)\x1b[K",
            self.what, self.total
        );
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
