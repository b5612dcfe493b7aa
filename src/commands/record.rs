//! `rrgo record PROG ARGS…`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::cli::RecordArgs;
use crate::error::{Failure, Result, RrgoError};
use crate::record::{self, RecordOptions};
use crate::{exit_status, trace_dir, tracee};

pub fn run(args: &RecordArgs, sigmask: u64) -> Result<i32> {
    let named = PathBuf::from(&args.program[0]);
    let program = resolve_program(&named)?;
    let dir = match &args.output {
        Some(dir) => dir.clone(),
        None => trace_dir::new_trace_dir(&program)?,
    };
    tracee::wait::start_forwarding();
    let opts = RecordOptions {
        program,
        argv: args.program.clone(),
        trace_dir: dir.clone(),
        sigmask,
        redact_env: args.redact_env.clone(),
        copy_cache: trace_dir::copy_cache_for(&dir),
    };
    let outcome = record::record(opts);
    // Even a failed recording leaves a prefix worth pointing at.
    if args.output.is_none() && dir.join("header").exists() {
        trace_dir::set_latest(&dir)?;
    }
    let outcome =
        outcome.map_err(|e| RrgoError::new(Failure::Operational, e.context("recording failed")))?;
    crate::say!(
        "trace saved to {} ({} events, {} preemptions, {:.2}s)",
        dir.display(),
        outcome.summary.events,
        outcome.stats.preemptions,
        outcome.wall.as_secs_f64()
    );
    report_redaction(&outcome);
    tracing::info!(?outcome.stats, "recording finished");
    exit_status::exit_like(&outcome.exit)
}

/// Which `--redact-env` values the trace holds placeholders for, and the
/// patterns that matched nothing (a misspelt name would leave a secret in).
fn report_redaction(outcome: &record::RecordOutcome) {
    if !outcome.redacted.is_empty() {
        crate::say!(
            "the trace holds placeholders instead of the values of {}",
            outcome.redacted.join(", ")
        );
    }
    for p in &outcome.redact_unmatched {
        crate::say!("warning: --redact-env {p} matched no environment variable");
    }
}

/// Finds the program like a shell would: a name without a slash is looked up in PATH.
fn resolve_program(named: &Path) -> Result<PathBuf> {
    let not_found = |what: String| RrgoError::new(Failure::Operational, anyhow!(what));
    if named.as_os_str().as_encoded_bytes().contains(&b'/') {
        if !named.exists() {
            return Err(not_found(format!(
                "cannot record {}: no such file",
                named.display()
            )));
        }
        return Ok(named.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(named))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            not_found(format!(
                "cannot record {}: not found in PATH",
                named.display()
            ))
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
