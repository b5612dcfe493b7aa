//! What replay execs. The kernel reads the executable, a `#!` script's
//! interpreter and the ELF interpreter (the dynamic loader) itself, by
//! path, so replay cannot feed them from the trace as it feeds syscalls,
//! and the recorded paths may be gone, relative to another cwd, or other
//! files by now. Replay execs private copies of the trace's stored files
//! instead, under relative paths of the recorded lengths (so the initial
//! stack has the recorded layout) in its private directory, which is every
//! replayed process's cwd (chdir is emulated). The copies are made once per
//! file; the trace itself is never modified.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use trace_format::{FileId, TraceReader};

/// The stored files an exec ran (from its `Exec` event).
#[derive(Debug, Clone, Copy)]
pub struct ExecPlan {
    pub exe: FileId,
    pub script: Option<FileId>,
    pub loader: Option<FileId>,
}

/// Private executable copies in replay's directory.
#[derive(Debug)]
pub struct ExecFiles {
    dir: PathBuf,
    /// Stored file → its private executable copy (an ELF's with `PT_INTERP`
    /// naming the copy of its loader).
    copies: HashMap<FileId, PathBuf>,
    /// An executable whose `PT_INTERP` was rewritten → the segment as
    /// recorded, put back in memory after its exec.
    interps: HashMap<FileId, (crate::elf::Interp, Vec<u8>)>,
}

impl ExecFiles {
    pub fn new(dir: &Path) -> ExecFiles {
        ExecFiles {
            dir: dir.to_path_buf(),
            copies: HashMap::new(),
            interps: HashMap::new(),
        }
    }

    /// A relative path of exactly `len` bytes whose exec (from replay's
    /// directory) runs what `plan` says. `tag` (the exec's event time)
    /// keeps names apart; the same exec prepared twice (a checkpoint's
    /// re-run) reuses its names.
    pub fn prepare(
        &mut self,
        reader: &TraceReader,
        plan: &ExecPlan,
        len: usize,
        tag: u64,
    ) -> anyhow::Result<PathBuf> {
        let elf = self.elf_copy(reader, plan.exe, plan.loader)?;
        let target = match plan.script {
            None => elf,
            Some(script) => self.script_copy(reader, script, &elf, tag)?,
        };
        let rel = unique_path(len, 'e', tag)?;
        self.link(&rel, &target)?;
        Ok(rel)
    }

    /// The recorded `PT_INTERP` segment of an executable prepared with a
    /// loader: (where it is mapped before a PIE's bias, its bytes).
    pub fn original_interp(&self, exe: FileId) -> Option<(&crate::elf::Interp, &[u8])> {
        self.interps.get(&exe).map(|(i, b)| (i, b.as_slice()))
    }

    fn link(&self, rel: &Path, target: &Path) -> anyhow::Result<()> {
        let at = self.dir.join(rel);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(target, &at)
            .with_context(|| format!("cannot create {}", at.display()))
    }

    /// A private executable copy of a stored file.
    fn plain_copy(&mut self, reader: &TraceReader, id: FileId) -> anyhow::Result<PathBuf> {
        let stored = reader.stored_file(id)?.clone();
        reader
            .verify_stored_file(&stored)
            .with_context(|| "the trace's copy of an executed file is damaged")?;
        let from = reader.stored_file_path(&stored);
        let to = self.dir.join(format!(".file-{}", id.0));
        if !to.exists() {
            // In the kernel (copy_file_range): no pass through a buffer of
            // ours, which an edited copy (`copy_executable`) needs.
            let tmp = to.with_extension("part");
            std::fs::copy(&from, &tmp)
                .and_then(|_| {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))
                })
                .and_then(|()| std::fs::rename(&tmp, &to))
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        }
        Ok(to)
    }

    /// The executable's copy; with a loader, its `PT_INTERP` names the
    /// loader's copy (relative: the kernel opens it from the cwd).
    fn elf_copy(
        &mut self,
        reader: &TraceReader,
        exe: FileId,
        loader: Option<FileId>,
    ) -> anyhow::Result<PathBuf> {
        if let Some(p) = self.copies.get(&exe) {
            return Ok(p.clone());
        }
        let path = match loader {
            None => self.plain_copy(reader, exe)?,
            Some(loader) => {
                let loader_copy = self.plain_copy(reader, loader)?;
                let name = loader_copy
                    .file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .unwrap_or_default();
                let stored = reader.stored_file(exe)?.clone();
                reader
                    .verify_stored_file(&stored)
                    .with_context(|| "the trace's copy of an executed file is damaged")?;
                let to = self.dir.join(format!(".elf-{}", exe.0));
                let mut original = None;
                copy_executable(&reader.stored_file_path(&stored), &to, |bytes| {
                    let interp = crate::elf::interp_of(bytes)
                        .ok_or_else(|| anyhow!("the stored executable has no PT_INTERP"))?;
                    if name.len() + 1 > interp.size as usize {
                        return Err(anyhow!("PT_INTERP is too short for {name:?}"));
                    }
                    let at = interp.offset as usize;
                    let field = &mut bytes[at..at + interp.size as usize];
                    original = Some((interp.clone(), field.to_vec()));
                    field.fill(0);
                    field[..name.len()].copy_from_slice(&name);
                    Ok(())
                })?;
                if let Some(original) = original {
                    self.interps.insert(exe, original);
                }
                to
            }
        };
        self.copies.insert(exe, path.clone());
        Ok(path)
    }

    /// A copy of a `#!` script whose interpreter is `elf`, named in the
    /// `#!` line by a relative path of the recorded interpreter's length.
    fn script_copy(
        &mut self,
        reader: &TraceReader,
        script: FileId,
        elf: &Path,
        tag: u64,
    ) -> anyhow::Result<PathBuf> {
        let stored = reader.stored_file(script)?.clone();
        reader
            .verify_stored_file(&stored)
            .with_context(|| "the trace's copy of an executed script is damaged")?;
        let mut bytes = std::fs::read(reader.stored_file_path(&stored))?;
        let (start, end) = shebang_interp(&bytes)
            .ok_or_else(|| anyhow!("the stored script has no #! interpreter"))?;
        let interp = unique_path(end - start, 'i', tag)?;
        bytes[start..end].copy_from_slice(interp.as_os_str().as_bytes());
        self.link(&interp, elf)?;
        let to = self.dir.join(format!(".script-{tag}"));
        write_executable(&to, &bytes)?;
        Ok(to)
    }
}

/// The byte range of the interpreter's path in a `#!` line.
fn shebang_interp(bytes: &[u8]) -> Option<(usize, usize)> {
    let line = bytes.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    let len = line[start..]
        .iter()
        .position(|&b| b == b' ' || b == b'\t' || b == 0)
        .unwrap_or(line.len() - start);
    (len > 0).then_some((2 + start, 2 + start + len))
}

fn copy_executable(
    from: &Path,
    to: &Path,
    edit: impl FnOnce(&mut [u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut bytes =
        std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    edit(&mut bytes)?;
    write_executable(to, &bytes)
}

fn write_executable(to: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = to.with_extension("part");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, to).with_context(|| format!("cannot create {}", to.display()))
}

/// A relative path of exactly `len` bytes ending in a name made of `kind`
/// and `tag` (components of at most 151 bytes). A path too short for the
/// whole name keeps its last characters (only execs in flight at once must
/// differ).
pub fn unique_path(len: usize, kind: char, tag: u64) -> anyhow::Result<PathBuf> {
    let id = tag * 2 + u64::from(kind != 'e');
    let mut name = base36(id);
    if len == 0 {
        return Err(anyhow!("an exec of an empty path cannot be replayed"));
    }
    if name.len() > len {
        name = name[name.len() - len..].to_string();
    }
    let mut p = String::new();
    let mut left = len;
    while left > 200 {
        p.push_str(&"x".repeat(150));
        p.push('/');
        left -= 151;
    }
    if left < name.len() {
        return Err(anyhow!(
            "a recorded exec path of {len} bytes is too short to name a replay copy"
        ));
    }
    // '_' is not a base-36 digit: padded names never equal other ids.
    p.push_str(&"_".repeat(left - name.len()));
    p.push_str(&name);
    Ok(PathBuf::from(p))
}

fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// AT_ENTRY from an initial stack image (bytes from rsp up): argc, argv,
/// envp, then the auxv pairs.
pub fn at_entry(stack: &[u8]) -> Option<u64> {
    let word = |i: usize| -> Option<u64> {
        let b = stack.get(i * 8..i * 8 + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    let argc = word(0)? as usize;
    let mut i = 1 + argc + 1;
    while word(i)? != 0 {
        i += 1;
    }
    i += 1;
    loop {
        let (key, value) = (word(i)?, word(i + 1)?);
        match key {
            0 => return None,
            9 => return Some(value),
            _ => i += 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_paths_have_the_asked_length() {
        for len in 1..1000 {
            for tag in [0, 35, 36, 1295] {
                let p = unique_path(len, 'e', tag).unwrap();
                assert_eq!(p.as_os_str().len(), len, "{len}");
                assert!(p.components().all(|c| c.as_os_str().len() <= 255));
            }
        }
        assert_ne!(
            unique_path(7, 'e', 1).unwrap(),
            unique_path(7, 'e', 2).unwrap()
        );
        assert_ne!(
            unique_path(7, 'e', 1).unwrap(),
            unique_path(7, 'i', 1).unwrap()
        );
        assert_eq!(unique_path(1, 'e', 100).unwrap().as_os_str().len(), 1);
        assert!(unique_path(0, 'e', 1).is_err());
    }

    #[test]
    fn the_interpreter_of_a_shebang_line() {
        let s = b"#! /bin/sh -e\necho";
        let (a, b) = shebang_interp(s).unwrap();
        assert_eq!(&s[a..b], b"/bin/sh");
        let s = b"#!/usr/bin/env python3";
        let (a, b) = shebang_interp(s).unwrap();
        assert_eq!(&s[a..b], b"/usr/bin/env");
        assert!(shebang_interp(b"#!\n").is_none());
        assert!(shebang_interp(b"\x7fELF").is_none());
    }
}
