//! Starting the replayed program from the trace's copy of the executable,
//! with the initial stack laid out exactly as when recording.
//!
//! The kernel copies the execve path onto the new stack (AT_EXECFN), so a
//! path of a different length would shift every stack address. Replay
//! therefore execs a copy of the stored one whose relative path has the
//! recorded path's length, from a private temporary directory. That copy is
//! replay's own (the trace's copies are plain 0600 files, never modified).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use crate::tracee::{spawn, Tid};

pub struct Launch {
    pub tid: Tid,
    /// Removed when replay ends.
    pub tmp: TempDir,
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A relative path of exactly `len` bytes (components of at most 255 bytes).
fn path_of_len(len: usize) -> Option<PathBuf> {
    if len == 0 {
        return None;
    }
    let mut p = String::new();
    let mut left = len;
    while left > 0 {
        if !p.is_empty() {
            // A separator plus at least one character.
            if left < 2 {
                return None;
            }
            p.push('/');
            left -= 1;
        }
        let n = left.min(200);
        // Do not leave a remainder of 1, which cannot hold "/x".
        let n = if left - n == 1 { n - 1 } else { n };
        p.push_str(&"x".repeat(n));
        left -= n;
    }
    Some(PathBuf::from(p))
}

pub fn launch(
    exe_copy: &Path,
    recorded_path: &[u8],
    argv: &[Vec<u8>],
    env: &[Vec<u8>],
    cpu: Option<usize>,
    signals: trace_format::InitialSignals,
    rlimits: &[(u32, u64)],
) -> anyhow::Result<Launch> {
    let tmp = TempDir(private_dir()?);
    let rel = path_of_len(recorded_path.len())
        .ok_or_else(|| anyhow!("the recorded program path is too short to reproduce"))?;
    let link = tmp.0.join(&rel);
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let target = exe_copy.canonicalize().with_context(|| {
        format!(
            "the trace's copy of the program is missing: {}",
            exe_copy.display()
        )
    })?;
    // A private executable copy: the trace is never modified (it may be
    // read-only, or on a noexec mount), and its copies carry no mode bits.
    std::fs::copy(&target, &link).with_context(|| format!("cannot copy {}", target.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} executable", link.display()))?;
    }
    let cstr = |b: &[u8]| {
        CString::new(b.to_vec()).map_err(|_| anyhow!("recorded argument contains a NUL byte"))
    };
    let spec = spawn::SpawnSpec {
        path: cstr(rel.as_os_str().as_bytes())?,
        argv: argv
            .iter()
            .map(|a| cstr(a))
            .collect::<anyhow::Result<_>>()?,
        env: env.iter().map(|a| cstr(a)).collect::<anyhow::Result<_>>()?,
        cwd: Some(cstr(tmp.0.as_os_str().as_bytes())?),
        cpu,
        sigmask: signals.blocked,
        seccomp: false,
        ignored: signals.ignored,
        rlimits: rlimits.to_vec(),
    };
    let unreachable = spawn::unreachable_rlimits(rlimits);
    if !unreachable.is_empty() {
        crate::say!(
            "warning: the program was recorded with {}, over this shell's hard limit: replay may diverge",
            unreachable.join(", ")
        );
    }
    let tid = spawn::spawn(&spec)?;
    Ok(Launch { tid, tmp })
}

/// A fresh directory under the temp dir (a killed replay may have left one
/// with a recycled pid's name behind, so names are retried).
fn private_dir() -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..100u32 {
        let dir = std::env::temp_dir().join(format!(
            "rrgo-replay-{}-{nanos:x}-{attempt}",
            std::process::id()
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(
                    anyhow::Error::from(e).context(format!("cannot create {}", dir.display()))
                )
            }
        }
    }
    Err(anyhow!(
        "cannot create a private directory in {}",
        std::env::temp_dir().display()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_have_the_asked_length() {
        for len in 1..2000 {
            let p = super::path_of_len(len).unwrap();
            assert_eq!(p.as_os_str().len(), len, "{len}");
            assert!(p.components().all(|c| c.as_os_str().len() <= 255));
        }
    }
}
