//! `rrgo ls`: the traces in the trace root with their owners; traces other
//! users can read are flagged.

use crate::cli::LsArgs;
use crate::error::Result;
use crate::trace_dir;

pub fn run(_args: &LsArgs) -> Result<i32> {
    let root = trace_dir::trace_root()?;
    let traces = trace_dir::list()?;
    if traces.is_empty() {
        crate::say!("no traces in {}", root.display());
        return Ok(0);
    }
    let latest = std::fs::read_link(root.join(trace_dir::LATEST)).ok();
    for trace in traces {
        let name = trace.file_name().unwrap_or_default();
        let is_latest = latest.as_ref().is_some_and(|l| l.file_name() == Some(name));
        let complete = match trace_format::TraceReader::open(&trace) {
            Ok(reader) => match reader.completeness() {
                trace_format::Completeness::Complete => String::new(),
                trace_format::Completeness::Truncated { .. } => "  (incomplete)".into(),
            },
            Err(e) => format!("  (unreadable: {e})"),
        };
        let (owner, exposed) = match trace_dir::Owner::of(&trace) {
            Ok(o) => {
                if let Some(w) = trace_dir::exposure_warning(&trace, &o) {
                    crate::say!("{w}");
                }
                let exposed = if o.exposed() {
                    format!("  OPEN TO OTHER USERS (mode {:04o})", o.mode)
                } else {
                    String::new()
                };
                (format!("  owner {o}"), exposed)
            }
            Err(_) => (String::new(), String::new()),
        };
        println!(
            "{}{}{}{}{}",
            name.to_string_lossy(),
            if is_latest { "  <- latest-trace" } else { "" },
            owner,
            exposed,
            complete
        );
    }
    Ok(0)
}
