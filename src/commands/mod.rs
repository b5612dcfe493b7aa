//! One module per subcommand; each exposes `run(args) -> Result<i32>`
//! returning the process exit code.

pub mod dump;
pub mod goindex;
pub mod goroutines;
pub mod history;
pub mod info;
mod interned;
pub mod ls;
pub mod record;
pub mod replay;
pub mod signals;
pub mod timeline;

/// `--json` output of the history commands.
pub fn print_json(v: &serde_json::Value) -> crate::error::Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| crate::error::RrgoError::new(crate::error::Failure::Operational, e))?;
    println!("{text}");
    Ok(())
}
