//! Where traces live: the trace root, naming of new traces and the
//! `latest-trace` link (rr's conventions).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use crate::error::{Failure, Result, RrgoError};

pub const LATEST: &str = "latest-trace";
/// The recorded executable's DWARF tables, cached by the first query that
/// loads them (`gobin::cache`).
pub const DWARF_TABLES: &str = "dwarf-tables";

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

/// The copy cache (`trace_format::copycache`) for a new trace at `dir`:
/// `<root>/.copies` when `dir` is in the trace root (by default, or `-o`
/// there), so its hard links stay on one file system and leave no
/// directory in places rrgo does not own. `RRGO_COPY_CACHE=0`: none.
pub fn copy_cache_for(dir: &Path) -> Option<PathBuf> {
    if std::env::var_os("RRGO_COPY_CACHE").is_some_and(|v| v == "0") {
        return None;
    }
    let root = trace_root().ok()?.canonicalize().ok()?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty())?;
    (parent.canonicalize().ok()? == root).then(|| root.join(COPIES))
}

/// The copy cache's directory in the trace root (hidden from `rrgo ls`).
pub const COPIES: &str = ".copies";

/// Creates the trace root if it is missing: 0700 (traces hold secrets; a
/// root that exists is left as it is, each trace in it is 0700 anyway).
fn ensure_root(root: &Path) -> Result<()> {
    if root.is_dir() {
        return Ok(());
    }
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create trace directory {}", parent.display()))?;
    }
    match trace_format::private::create_dir(root) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(RrgoError::new(
            Failure::Operational,
            anyhow!(e).context(format!("cannot create trace directory {}", root.display())),
        )),
        _ => Ok(()),
    }
}

/// Reserves a fresh `<root>/<name>-<n>` directory (n one past the highest
/// in use), mode 0700 whatever the umask.
pub fn new_trace_dir(program: &Path) -> Result<PathBuf> {
    let root = trace_root()?;
    ensure_root(&root)?;
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
        match trace_format::private::create_dir(&dir) {
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
    ensure_root(&root)?;
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

/// Replaces `path`, a file inside a trace (a cache such as `goindex`), with
/// `bytes` through a temporary file renamed into place: mode 0600 whatever
/// the umask, like every file of a trace.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Per process: two rrgo processes writing the same file do not mix bytes.
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = trace_format::private::open_file(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        &tmp,
    )?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Whose a trace is, from its directory's metadata.
#[derive(Debug, Clone)]
pub struct Owner {
    pub uid: u32,
    /// The user name, if the uid has one here.
    pub name: Option<String>,
    /// Permission bits of the directory.
    pub mode: u32,
}

impl Owner {
    pub fn of(dir: &Path) -> std::io::Result<Owner> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir)?;
        let uid = meta.uid();
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        Ok(Owner {
            uid,
            name,
            mode: meta.mode() & 0o7777,
        })
    }

    /// Group or others may enter or read the directory (an older rrgo made
    /// traces 0755; a trace holds the environment and every byte read).
    pub fn exposed(&self) -> bool {
        self.mode & 0o077 != 0
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// The warning for a trace others can read (None when it is private).
pub fn exposure_warning(dir: &Path, owner: &Owner) -> Option<String> {
    owner.exposed().then(|| {
        format!(
            "warning: trace {} is open to other users (mode {:04o}); a trace holds the program's \
             environment and everything it read: `chmod -R go= {}` makes it private",
            dir.display(),
            owner.mode,
            dir.display()
        )
    })
}
