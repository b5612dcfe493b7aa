//! A progress line on stderr for long work (indexing, reading a big trace).
//! Shown when stderr is a terminal (redrawn in place), or as plain lines
//! with `RRGO_PROGRESS=1` (logs, CI; at most one a second, then a last
//! line with the time taken); never with `-q` or `RRGO_PROGRESS=0`.

use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    /// Redrawn in place, only for work that takes a while.
    Terminal,
    /// One line per update: `RRGO_PROGRESS=1` where no terminal redraws them.
    Lines,
}

fn mode() -> Mode {
    if crate::ui::quiet() {
        return Mode::Off;
    }
    match std::env::var("RRGO_PROGRESS").as_deref() {
        Ok("0") => Mode::Off,
        _ if crate::ui::show_progress() => Mode::Terminal,
        Ok("1") => Mode::Lines,
        _ => Mode::Off,
    }
}

pub struct Progress {
    what: &'static str,
    total: u64,
    shown: bool,
    mode: Mode,
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
            mode: mode(),
            last: now,
            start: now,
        }
    }

    pub fn set(&mut self, done: u64) {
        let due = match self.mode {
            Mode::Off => false,
            // At most 10 redraws a second, and only for work that takes a while.
            Mode::Terminal => {
                self.last.elapsed() >= Duration::from_millis(100)
                    && (self.shown || self.start.elapsed() >= Duration::from_millis(500))
            }
            Mode::Lines => !self.shown || self.last.elapsed() >= Duration::from_secs(1),
        };
        if !due {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let pct = (done * 100).checked_div(self.total).unwrap_or(0);
        let line = format!("rrgo: {} {done}/{} ({pct}%)", self.what, self.total);
        let mut err = std::io::stderr().lock();
        let _ = match self.mode {
            Mode::Terminal => write!(err, "\r{line}\x1b[K"),
            _ => writeln!(err, "{line}"),
        };
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if !self.shown {
            return;
        }
        self.shown = false;
        let _ = match self.mode {
            Mode::Terminal => write!(std::io::stderr(), "\r\x1b[K"),
            _ => writeln!(
                std::io::stderr(),
                "rrgo: {}: done in {:.1}s",
                self.what,
                self.start.elapsed().as_secs_f64()
            ),
        };
    }
}

impl Drop for Progress {
    /// Clears a terminal's line; "done" is said only by `finish` (not on an error).
    fn drop(&mut self) {
        if self.mode == Mode::Terminal {
            self.finish();
        }
    }
}
