//! One module per subcommand; each exposes `run(args) -> Result<i32>`
//! returning the process exit code.

pub mod dump;
pub mod goindex;
pub mod goroutines;
pub mod history;
pub mod info;
pub mod ls;
pub mod record;
pub mod replay;
pub mod signals;
