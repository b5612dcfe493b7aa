//! Where traces live: the trace root, naming of new traces and the
//! `latest-trace` link (rr's conventions).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use crate::error::{Failure, Result, RrgoError};

pub const LATEST: &str = "latest-trace";

/// `$RRGO_TRACE_DIR`, else `$XDG_DATA_HOME/rrgo`, else `~/.local/share/rrgo`.
pub fn trace_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RRGO_TRACE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("rrgo"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            RrgoError::new(
                Failure::Operational,
                anyhow!("neither RRGO_TRACE_DIR nor HOME is set: cannot choose a trace directory"),
            )
        })?;
    Ok(PathBuf::from(home).join(".local/share/rrgo"))
}

/// Reserves a fresh `<root>/<name>-<n>` directory (n one past the highest in use).
pub fn new_trace_dir(program: &Path) -> Result<PathBuf> {
    let root = trace_root()?;
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create trace directory {}", root.display()))?;
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".to_string());
    let prefix = format!("{name}-");
    let mut next = 0u64;
    for entry in
        std::fs::read_dir(&root).with_context(|| format!("cannot list {}", root.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        let file_name = entry.file_name();
        if let Some(n) = file_name
            .to_str()
            .and_then(|s| s.strip_prefix(&prefix))
            .and_then(|s| s.parse::<u64>().ok())
        {
            next = next.max(n + 1);
        }
    }
    // create_dir fails if a concurrent recording took the name: try the next one.
    loop {
        let dir = root.join(format!("{prefix}{next}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
            Err(e) => {
                return Err(RrgoError::new(
                    Failure::Operational,
                    anyhow!(e).context(format!("cannot create {}", dir.display())),
                ))
            }
        }
    }
}

/// Points `<root>/latest-trace` at `dir`, replacing the old link atomically.
pub fn set_latest(dir: &Path) -> Result<()> {
    let root = trace_root()?;
    let target = match dir.parent() {
        // A trace inside the root gets a relative link, so the root can move.
        Some(parent) if same_dir(parent, &root) => {
            PathBuf::from(dir.file_name().unwrap_or_default())
        }
        _ => std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
    };
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create trace directory {}", root.display()))?;
    let tmp = root.join(format!(".{LATEST}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    std::fs::rename(&tmp, root.join(LATEST))
        .with_context(|| format!("cannot update {}", root.join(LATEST).display()))?;
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The trace a command should read: an explicit path, a trace name inside the
/// root, or the latest trace.
pub fn resolve(arg: Option<&Path>) -> Result<PathBuf> {
    match arg {
        Some(path) => {
            if path.exists() {
                return Ok(path.to_path_buf());
            }
            // Like rr, a bare name refers to a trace in the root.
            if path.components().count() == 1 {
                let in_root = trace_root()?.join(path);
                if in_root.exists() {
                    return Ok(in_root);
                }
            }
            Err(RrgoError::new(
                Failure::Trace,
                anyhow!("no trace at {}", path.display()),
            ))
        }
        None => {
            let root = trace_root()?;
            let latest = root.join(LATEST);
            if latest.exists() {
                return Ok(latest);
            }
            Err(RrgoError::new(
                Failure::Trace,
                anyhow!(
                    "no trace given and no {} in {} (record one with `rrgo record PROG`)",
                    LATEST,
                    root.display()
                ),
            ))
        }
    }
}

/// Trace directories in the root, oldest first.
pub fn list() -> Result<Vec<PathBuf>> {
    let root = trace_root()?;
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(RrgoError::new(
                Failure::Operational,
                anyhow!(e).context(format!("cannot list {}", root.display())),
            ))
        }
    };
    let mut traces = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_link = entry.file_type().map(|t| t.is_symlink()).unwrap_or(false);
        if is_link || !path.join("header").is_file() {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        traces.push((modified, path));
    }
    traces.sort();
    Ok(traces.into_iter().map(|(_, p)| p).collect())
}
