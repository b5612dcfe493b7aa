//! The trace header: what was recorded, where and by whom, and the `header`
//! file's byte layout (see SPEC.md, "header").

use crate::codec::{xxh3, LeCursor, HEADER_CONFIG, MAX_HEADER_BODY, MAX_RRGO_VERSION_LEN};
use crate::error::TraceError;
use crate::files::is_valid_stored_name;
use crate::ids::FileId;
use crate::FORMAT_VERSION;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Magic number at the start of the `header` file.
pub const HEADER_MAGIC: [u8; 8] = *b"RRGOTRC\0";

/// Describes a recording. Written once, before any event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Version of the rrgo that recorded (e.g. "0.1.0"). Also stored in the
    /// header file's fixed preamble so any reader can print it.
    pub rrgo_version: String,
    /// When recording started, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The command line, raw bytes (`argv[0]` first).
    pub argv: Vec<Vec<u8>>,
    /// The environment, raw `NAME=value` bytes.
    pub env: Vec<Vec<u8>>,
    /// Working directory at start, raw bytes.
    pub cwd: Vec<u8>,
    /// The copy of the executable.
    pub exe: StoredFile,
    /// Go version the program was built with, if known (e.g. "go1.22.3").
    pub go_version: Option<String>,
    /// AT_RANDOM bytes of the initial exec.
    pub auxv_random: [u8; 16],
    /// The recording machine.
    pub host: HostInfo,
    /// The signal state the program started with (inherited across exec,
    /// so part of its input): replay starts it with the same.
    pub initial_signals: InitialSignals,
    /// Soft resource limits the program started with that shape the syscalls
    /// replay executes, as (Linux resource number, limit; u64::MAX is
    /// unlimited): RLIMIT_STACK places the mmap area, AS, DATA and MEMLOCK
    /// decide whether mmap, brk and mlock succeed. Replay sets them.
    pub initial_rlimits: Vec<(u32, u64)>,
}

/// Signals blocked and ignored when the program started; bit n-1 is signal n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InitialSignals {
    /// The signal mask.
    pub blocked: u64,
    /// Signals whose disposition was SIG_IGN.
    pub ignored: u64,
}

/// The machine a trace was recorded on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostInfo {
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -n`.
    pub hostname: String,
    /// CPU model name from /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub ncpus: u32,
    /// The CPU the tracee was pinned to. CPUID results (the APIC id in
    /// leaf 1, which Go's startup code leaves in a register) depend on it, so
    /// replay pins to the same CPU.
    pub pinned_cpu: u32,
}

/// A file copied into the trace's `files/` directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredFile {
    /// Its id; events refer to it by this.
    pub id: FileId,
    /// The path it was copied from (the first one, if several paths had the
    /// same content), raw bytes.
    pub original_path: Vec<u8>,
    /// Name of the copy inside `files/`: `<xxh3 as 16 hex digits>-<basename>`.
    pub stored_name: String,
    /// ELF build id, when the caller read one.
    pub build_id: Option<Vec<u8>>,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-64 of the content.
    pub xxh3: u64,
}

/// Serialises a header into the bytes of the `header` file.
pub fn encode_header_file(header: &Header) -> Result<Vec<u8>, TraceError> {
    let version = header.rrgo_version.as_bytes();
    if version.len() > MAX_RRGO_VERSION_LEN {
        return Err(TraceError::InvalidInput(format!(
            "rrgo version string is {} bytes, at most {MAX_RRGO_VERSION_LEN} fit in the header",
            version.len()
        )));
    }
    if !is_valid_stored_name(&header.exe.stored_name) {
        return Err(TraceError::InvalidInput(format!(
            "bad stored file name {:?}",
            header.exe.stored_name
        )));
    }
    let body = bincode::serde::encode_to_vec(header, HEADER_CONFIG)
        .map_err(|e| TraceError::InvalidInput(format!("cannot encode header: {e}")))?;
    if body.len() > MAX_HEADER_BODY {
        return Err(TraceError::InvalidInput(format!(
            "header is {} bytes encoded, at most {MAX_HEADER_BODY} are allowed (huge environment?)",
            body.len()
        )));
    }
    let mut out = Vec::with_capacity(26 + version.len() + body.len());
    out.extend_from_slice(&HEADER_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // Frozen preamble: the version string sits here in every format version,
    // so readers of other versions can name the rrgo to use. Lengths fit: checked above.
    out.extend_from_slice(&(version.len() as u16).to_le_bytes());
    out.extend_from_slice(version);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&xxh3(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses the bytes of a `header` file. `file` is used in error messages and
/// `trace_dir` for [`TraceError::NotATrace`].
pub fn decode_header_file(
    bytes: &[u8],
    file: &Path,
    trace_dir: &Path,
) -> Result<Header, TraceError> {
    let mut c = LeCursor::new(bytes);
    if c.array::<8>() != Some(HEADER_MAGIC) {
        return Err(TraceError::NotATrace {
            path: trace_dir.to_path_buf(),
        });
    }
    let found = c
        .u32()
        .ok_or_else(|| TraceError::corrupt(file, 8, "file ends inside the format version"))?;
    let preamble_version = read_rrgo_version(&mut c);
    if found != FORMAT_VERSION {
        return Err(TraceError::VersionMismatch {
            found,
            supported: FORMAT_VERSION,
            recorded_by: match preamble_version {
                Some(v) => printable(v),
                None => "of unknown version".to_string(),
            },
        });
    }
    let preamble_version = preamble_version.ok_or_else(|| {
        TraceError::corrupt(file, 12, "rrgo version field is truncated or too long")
    })?;
    let at = c.pos() as u64;
    let body_len = c
        .u32()
        .ok_or_else(|| TraceError::corrupt(file, at, "file ends inside the body length"))?
        as usize;
    let checksum = c
        .u64()
        .ok_or_else(|| TraceError::corrupt(file, at + 4, "file ends inside the body checksum"))?;
    if body_len > MAX_HEADER_BODY {
        return Err(TraceError::corrupt(
            file,
            at,
            format!("body length {body_len} exceeds the {MAX_HEADER_BODY}-byte limit"),
        ));
    }
    let body_at = c.pos() as u64;
    let rest = bytes.len() - c.pos();
    if rest != body_len {
        return Err(TraceError::corrupt(
            file,
            body_at,
            format!("body should be {body_len} bytes, the file has {rest}"),
        ));
    }
    let body = c.bytes(body_len).unwrap_or_default();
    if xxh3(body) != checksum {
        return Err(TraceError::corrupt(
            file,
            body_at,
            "header checksum mismatch",
        ));
    }
    let (header, used): (Header, usize) = bincode::serde::decode_from_slice(body, HEADER_CONFIG)
        .map_err(|e| TraceError::corrupt(file, body_at, format!("cannot decode header: {e}")))?;
    if used != body_len {
        return Err(TraceError::corrupt(
            file,
            body_at + used as u64,
            format!("{} unexpected bytes after the header", body_len - used),
        ));
    }
    if header.rrgo_version.as_bytes() != preamble_version {
        return Err(TraceError::corrupt(
            file,
            14,
            "rrgo version in preamble and body differ",
        ));
    }
    if !is_valid_stored_name(&header.exe.stored_name) {
        return Err(TraceError::corrupt(
            file,
            body_at,
            format!(
                "executable's stored name {:?} is not a plain file name",
                header.exe.stored_name
            ),
        ));
    }
    Ok(header)
}

/// The preamble's u16 length + bytes, or `None` if cut short or over the
/// limit (a damaged length must not make us print kilobytes of noise).
fn read_rrgo_version<'a>(c: &mut LeCursor<'a>) -> Option<&'a [u8]> {
    let len = c.u16()? as usize;
    if len > MAX_RRGO_VERSION_LEN {
        return None;
    }
    c.bytes(len)
}

/// The version string as it may appear in an error message: control
/// characters are replaced so a damaged file cannot mess up a terminal.
fn printable(v: &[u8]) -> String {
    String::from_utf8_lossy(v)
        .chars()
        .map(|ch| if ch.is_control() { '?' } else { ch })
        .collect()
}
