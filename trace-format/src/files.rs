//! Copies of executables and libraries kept in the trace (`files/`), and the
//! `manifest` file that maps [`FileId`]s to those copies.

use crate::codec::{xxh3, LeCursor, HEADER_CONFIG};
use crate::copycache::CopyCache;
use crate::error::TraceError;
use crate::header::StoredFile;
use crate::ids::FileId;
use crate::layout::{FILES_DIR, MANIFEST_FILE};
use crate::FORMAT_VERSION;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Magic number at the start of `manifest`.
pub const MANIFEST_MAGIC: [u8; 8] = *b"RRGOFIL\0";
/// Largest manifest record body; real ones are a few hundred bytes.
pub const MAX_MANIFEST_RECORD: usize = 1 << 20;
/// Longest basename kept in a stored name.
const MAX_BASENAME: usize = 100;

/// Whether `name` can be joined to `files/` without escaping it.
pub fn is_valid_stored_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == 0)
}

/// Stores files into a trace directory, deduplicated by content hash, and
/// records each new one in `manifest`. Obtained from
/// [`crate::TraceWriter::create_with`] (before the header exists) or used
/// through [`crate::TraceWriter::store_file`].
#[derive(Debug)]
pub struct FileStore {
    trace_dir: PathBuf,
    manifest: Option<File>,
    by_hash: HashMap<u64, StoredFile>,
    next_id: u32,
    /// Copies shared with the other traces of the trace root (`copycache`).
    cache: Option<CopyCache>,
}

impl FileStore {
    pub(crate) fn new(trace_dir: &Path) -> FileStore {
        FileStore {
            trace_dir: trace_dir.to_path_buf(),
            manifest: None,
            by_hash: HashMap::new(),
            next_id: 0,
            cache: None,
        }
    }

    /// Shares copies through the cache directory `dir` (the trace root's
    /// `.copies`, on the trace's file system): a file it holds is linked
    /// instead of copied and hashed, and new copies are added to it.
    pub fn share_copies(&mut self, dir: PathBuf) {
        self.cache = Some(CopyCache::new(dir));
    }

    /// Copies `src` into `files/` and returns its description. A file whose
    /// content was already stored is not copied again: the earlier
    /// `StoredFile` (same id, first original path) is returned. `build_id`
    /// is recorded as given (the caller reads ELF notes).
    pub fn store(
        &mut self,
        src: &Path,
        build_id: Option<Vec<u8>>,
    ) -> Result<StoredFile, TraceError> {
        self.store_from(src, src, build_id)
    }

    /// Like [`FileStore::store`], reading the content from `from` — e.g.
    /// `/proc/PID/fd/N`, the very file a program mapped, whatever `src` (the
    /// name recorded) points at by now.
    ///
    /// The copy is the trace's own (a reflink where the file system has
    /// them, else a copy; never a hard link, which a program writing the file
    /// or a `cp` over it later would change), mode 0600 (no setuid bit), and
    /// its hash is that of the copy, so the two always agree.
    pub fn store_from(
        &mut self,
        src: &Path,
        from: &Path,
        build_id: Option<Vec<u8>>,
    ) -> Result<StoredFile, TraceError> {
        let files_dir = self.trace_dir.join(FILES_DIR);
        match crate::private::create_dir(&files_dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(TraceError::io(&files_dir, e))
            }
            _ => {}
        }
        let tmp = files_dir.join(format!(".incoming-{}", self.next_id));
        // The source as it is before the copy: a cache key, if it can be
        // trusted (see `copycache`).
        let key = self
            .cache
            .as_ref()
            .and_then(|c| c.key(&fs::metadata(from).ok()?));
        let linked = match (&self.cache, &key) {
            (Some(cache), Some(key)) => cache.link(key, &tmp),
            _ => None,
        };
        let fresh = linked.is_none();
        let (hash, size) = match linked.map(Ok).unwrap_or_else(|| copy_hashing(from, &tmp)) {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Some(existing) = self.by_hash.get(&hash) {
            let _ = fs::remove_file(&tmp);
            return Ok(existing.clone());
        }
        let stored = StoredFile {
            id: FileId(self.next_id),
            original_path: src.as_os_str().as_bytes().to_vec(),
            stored_name: format!("{hash:016x}-{}", safe_basename(src)),
            build_id,
            size,
            xxh3: hash,
        };
        let dest = files_dir.join(&stored.stored_name);
        fs::rename(&tmp, &dest).map_err(|e| TraceError::io(&dest, e))?;
        if let (true, Some(cache), Some(key)) = (fresh, &self.cache, &key) {
            // Only if the source did not change while it was copied.
            if fs::metadata(from).ok().and_then(|m| cache.key(&m)).as_ref() == Some(key) {
                cache.insert(key, &dest, hash);
            }
        }
        self.append_manifest(&stored)?;
        self.next_id += 1;
        self.by_hash.insert(hash, stored.clone());
        Ok(stored)
    }

    /// Everything stored so far, in id order.
    pub fn stored(&self) -> Vec<StoredFile> {
        let mut v: Vec<StoredFile> = self.by_hash.values().cloned().collect();
        v.sort_by_key(|s| s.id);
        v
    }

    fn append_manifest(&mut self, stored: &StoredFile) -> Result<(), TraceError> {
        let path = self.trace_dir.join(MANIFEST_FILE);
        let body = bincode::serde::encode_to_vec(stored, HEADER_CONFIG)
            .map_err(|e| TraceError::InvalidInput(format!("cannot encode file entry: {e}")))?;
        if body.len() > MAX_MANIFEST_RECORD {
            return Err(TraceError::InvalidInput(format!(
                "file entry for {} is {} bytes, over the {MAX_MANIFEST_RECORD}-byte limit",
                String::from_utf8_lossy(&stored.original_path),
                body.len()
            )));
        }
        let io = |e| TraceError::io(&path, e);
        if self.manifest.is_none() {
            let mut f =
                crate::private::open_file(OpenOptions::new().create_new(true).append(true), &path)
                    .map_err(io)?;
            let mut head = MANIFEST_MAGIC.to_vec();
            head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            f.write_all(&head).map_err(io)?;
            self.manifest = Some(f);
        }
        let mut rec = Vec::with_capacity(12 + body.len());
        rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
        rec.extend_from_slice(&xxh3(&body).to_le_bytes());
        rec.extend_from_slice(&body);
        if let Some(f) = self.manifest.as_mut() {
            // One write per record, so a killed recorder leaves whole entries.
            // Not synced: the contract is surviving a killed recorder (the
            // page cache keeps what was written), not a crash of the machine,
            // after which a lost copy fails its hash check. A sync per file
            // cost 20-45 ms of a 30 ms recording.
            f.write_all(&rec).map_err(io)?;
        }
        Ok(())
    }
}

/// (xxh3, size) of a file.
fn hash_file(path: &Path) -> Result<(u64, u64), TraceError> {
    let mut input = File::open(path).map_err(|e| TraceError::io(path, e))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TraceError::io(path, e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.digest(), size))
}

/// Copies `src` to `dest` (created anew, mode 0600 whatever the umask), returning the copy's
/// (xxh3, size). `io::copy` between files uses copy_file_range, which shares
/// the blocks copy-on-write (a reflink) where the file system can (btrfs,
/// XFS) and copies inside the kernel elsewhere (ext4). The hash is the copy's,
/// read back from the page cache: what replay will read, even if `src`
/// changes meanwhile. Not synced (see `append_manifest`).
fn copy_hashing(src: &Path, dest: &Path) -> Result<(u64, u64), TraceError> {
    let mut input = File::open(src).map_err(|e| TraceError::io(src, e))?;
    let mut out = crate::private::open_file(OpenOptions::new().write(true).create_new(true), dest)
        .map_err(|e| TraceError::io(dest, e))?;
    io::copy(&mut input, &mut out).map_err(|e| TraceError::io(dest, e))?;
    drop(out);
    hash_file(dest)
}

/// The file name of `src` reduced to characters safe in any file system and
/// shell, at most [`MAX_BASENAME`] bytes; only a hint for humans.
fn safe_basename(src: &Path) -> String {
    let raw = src.file_name().map(|n| n.as_bytes()).unwrap_or(b"");
    let s: String = raw
        .iter()
        .take(MAX_BASENAME)
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"._+-".contains(&b) {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "file".to_string()
    } else {
        s
    }
}

/// Parses `manifest`. Returns the valid prefix of entries and, if the file
/// does not end cleanly after it, why (a recording killed mid-append leaves
/// a partial last record; that is not fatal).
pub(crate) fn parse_manifest(
    bytes: &[u8],
    file: &Path,
) -> Result<(Vec<StoredFile>, Option<String>), TraceError> {
    let mut c = LeCursor::new(bytes);
    if c.array::<8>() != Some(MANIFEST_MAGIC) {
        return Err(TraceError::corrupt(file, 0, "bad magic number"));
    }
    match c.u32() {
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(TraceError::corrupt(
                file,
                8,
                format!("format version {v}, expected {FORMAT_VERSION}"),
            ))
        }
        None => {
            return Err(TraceError::corrupt(
                file,
                8,
                "file ends inside the format version",
            ))
        }
    }
    let mut out = Vec::new();
    loop {
        let at = c.pos();
        if at == bytes.len() {
            return Ok((out, None));
        }
        let problem = match parse_record(&mut c, out.len()) {
            Ok(s) => {
                out.push(s);
                continue;
            }
            Err(p) => p,
        };
        let why = format!("entry at byte {at}: {problem}; {} entries read", out.len());
        return Ok((out, Some(why)));
    }
}

fn parse_record(c: &mut LeCursor<'_>, index: usize) -> Result<StoredFile, String> {
    let len = c.u32().ok_or("truncated length")? as usize;
    let sum = c.u64().ok_or("truncated checksum")?;
    if len > MAX_MANIFEST_RECORD {
        return Err(format!("length {len} over the limit"));
    }
    let body = c.bytes(len).ok_or("truncated body")?;
    if xxh3(body) != sum {
        return Err("checksum mismatch".into());
    }
    let (s, used): (StoredFile, usize) = bincode::serde::decode_from_slice(body, HEADER_CONFIG)
        .map_err(|e| format!("cannot decode: {e}"))?;
    if used != len {
        return Err("trailing bytes in entry".into());
    }
    if s.id.0 as usize != index {
        return Err(format!("id {} out of sequence (expected {index})", s.id));
    }
    if !is_valid_stored_name(&s.stored_name) {
        return Err(format!(
            "stored name {:?} is not a plain file name",
            s.stored_name
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copying_and_hashing_agree_with_hashing_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let dest = tmp.path().join("dest");
        let copied = copy_hashing(&src, &dest).unwrap();
        assert_eq!(copied, hash_file(&src).unwrap());
        assert_eq!(copied, (crate::xxh3(&data), data.len() as u64));
        assert_eq!(std::fs::read(&dest).unwrap(), data);
    }

    #[test]
    fn basenames_are_sanitised() {
        assert_eq!(safe_basename(Path::new("/usr/lib/libc.so.6")), "libc.so.6");
        assert_eq!(safe_basename(Path::new("/x/a b$c")), "a_b_c");
        assert_eq!(safe_basename(Path::new("/")), "file");
        assert!(is_valid_stored_name("0123-x"));
        assert!(!is_valid_stored_name(".."));
        assert!(!is_valid_stored_name("a/b"));
        assert!(!is_valid_stored_name(""));
    }
}
