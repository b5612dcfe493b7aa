//! Starting the replayed program from the trace's copy of the executable,
//! with the initial stack laid out exactly as when recording.
//!
//! The kernel copies the execve path onto the new stack (AT_EXECFN), so a
//! path of a different length would shift every stack address. Replay
//! therefore execs (from a private temporary directory) a relative path of
//! the recorded path's length, prepared by `exe::ExecFiles`: replay's own
//! copies (the trace's copies are plain 0600 files, never modified).

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

/// Starts the program: `rel` (a relative path of the recorded path's
/// length, prepared by `exe::ExecFiles`) is exec'd from `tmp`.
pub fn launch(
    tmp: TempDir,
    rel: &Path,
    argv: &[Vec<u8>],
    env: &[Vec<u8>],
    cpu: Option<usize>,
    signals: trace_format::InitialSignals,
    rlimits: &[(u32, u64)],
) -> anyhow::Result<Launch> {
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
        // Replay answers the program's calls on them from the trace.
        close_std: 0,
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
pub fn private_dir() -> anyhow::Result<PathBuf> {
    sweep_stale(&std::env::temp_dir());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..100u32 {
        let dir = std::env::temp_dir().join(format!(
            "rrgo-replay-{}-{nanos:x}-{attempt}",
            std::process::id()
        ));
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        // 0700 whatever the umask: it holds copies of the trace's programs.
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("cannot make {} private", dir.display()))?;
                return Ok(dir);
            }
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

/// Removes the private directories of replays that died without cleaning
/// up (SIGKILL, a killed DAP server): `rrgo-replay-PID-…` whose PID no
/// longer exists and which belong to this user. Each holds copies of the
/// trace's programs, so leaving them fills the disk.
fn sweep_stale(tmp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("rrgo-replay-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == uid);
        // SAFETY: signal 0 only checks that the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if ours && gone {
            tracing::debug!(dir = %entry.path().display(), "removing a dead replay's directory");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
