//! Facts about executables read with the `object` crate: the GNU build-id
//! and, for Go binaries, the Go version from the `.go.buildinfo` section.

use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol};

fn with_file<T>(path: &Path, f: impl FnOnce(&object::File, &[u8]) -> Option<T>) -> Option<T> {
    let map = Mapped::open(path).ok()?;
    let file = object::File::parse(map.bytes()).ok()?;
    f(&file, map.bytes())
}

/// A file mapped read-only: a Go binary is often tens of MB, and reading it
/// into fresh memory cost more than everything else at record start.
pub(crate) struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    pub(crate) fn open(path: &Path) -> std::io::Result<Mapped> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(path)?;
        let len = f.metadata()?.len() as usize;
        if len == 0 {
            return Err(std::io::Error::other("empty file"));
        }
        // SAFETY: a private read-only mapping of a file we opened; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                f.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapped { ptr, len })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, alive as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

// SAFETY: a read-only mapping, never written through: any thread may read it.
unsafe impl Send for Mapped {}
unsafe impl Sync for Mapped {}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// What the recorder wants to know about an executable, from one read of it
/// (a Go binary is often tens of MB).
#[derive(Debug, Clone, Default)]
pub struct ExeFacts {
    pub build_id: Option<Vec<u8>>,
    pub go_version: Option<String>,
    /// Where Go's `Syscall6` starts (non-PIE executables only).
    pub syscall6: Option<u64>,
    /// Its ELF interpreter (`PT_INTERP`, the dynamic loader), if any.
    pub interp: Option<Interp>,
    /// File offsets of its RDRAND/RDSEED instructions (none looked for in
    /// a static Go binary: Go never emits them).
    pub rand_sites: Vec<u64>,
}

/// Where an executable names its ELF interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interp {
    /// The path, without its NUL.
    pub path: Vec<u8>,
    /// File offset and size of the `PT_INTERP` segment (path plus NUL padding).
    pub offset: u64,
    pub size: u64,
    /// Its virtual address (before a PIE's load bias).
    pub vaddr: u64,
    /// The executable's entry point (before a PIE's load bias).
    pub entry: u64,
}

/// The `PT_INTERP` segment of a 64-bit little-endian ELF file.
pub fn interp_of(bytes: &[u8]) -> Option<Interp> {
    use object::elf::{FileHeader64, PT_INTERP};
    use object::read::elf::{FileHeader, ProgramHeader};
    let header = FileHeader64::<object::LittleEndian>::parse(bytes).ok()?;
    let endian = header.endian().ok()?;
    let ph = header
        .program_headers(endian, bytes)
        .ok()?
        .iter()
        .find(|ph| ph.p_type(endian) == PT_INTERP)?;
    let data = ph.data(endian, bytes).ok()?;
    let path = data.split(|&b| b == 0).next()?.to_vec();
    Some(Interp {
        path,
        offset: ph.p_offset(endian),
        size: ph.p_filesz(endian),
        vaddr: ph.p_vaddr(endian),
        entry: header.e_entry(endian),
    })
}

impl ExeFacts {
    pub fn read(path: &Path) -> ExeFacts {
        with_file(path, |f, bytes| {
            let interp = interp_of(bytes);
            let go_version = f
                .section_by_name(".go.buildinfo")
                .and_then(|s| s.data().ok())
                .and_then(go_version_from_buildinfo);
            let rand_sites = if go_version.is_some() && interp.is_none() {
                Vec::new()
            } else {
                crate::tracee::insn::rand_sites(bytes)
            };
            Some(ExeFacts {
                interp,
                rand_sites,
                build_id: f.build_id().ok().flatten().map(|b| b.to_vec()),
                go_version,
                syscall6: crate::record::syscall6::find(f),
            })
        })
        .unwrap_or_default()
    }
}

/// The strings of a Go binary's `.go.buildinfo` (Go 1.18 or newer):
/// the version, then the module information. Layout (runtime/debug,
/// cmd/go/internal/version): 14-byte magic "\xff Go buildinf:", pointer
/// size, flags; with flag bit 1 set the strings follow at offset 32, each
/// uvarint-length-prefixed.
fn buildinfo_strings(data: &[u8]) -> Option<(&[u8], &[u8])> {
    if data.len() < 33 || &data[..14] != b"\xff Go buildinf:" || data[15] & 2 == 0 {
        return None;
    }
    let mut i = 32;
    let mut next = || {
        let len = usize::try_from(crate::gobin::uvarint(data, &mut i)?).ok()?;
        let s = data.get(i..i.checked_add(len)?)?;
        i += len;
        Some(s)
    };
    let version = next()?;
    Some((version, next().unwrap_or_default()))
}

/// "go1.27.3", from `.go.buildinfo`.
fn go_version_from_buildinfo(data: &[u8]) -> Option<String> {
    String::from_utf8(buildinfo_strings(data)?.0.to_vec()).ok()
}

/// The main module's path ("example.com/app") from `.go.buildinfo`: in the
/// module information, the line starting "mod" (tab-separated). None for a
/// binary built from files outside a module ("command-line-arguments") or
/// without the information.
pub fn main_module_from_buildinfo(data: &[u8]) -> Option<String> {
    // Between two 16-byte binary sentinels.
    let info = String::from_utf8_lossy(buildinfo_strings(data)?.1);
    info.lines()
        .find_map(|l| l.strip_prefix("mod\t"))
        .and_then(|rest| rest.split('\t').next())
        .filter(|m| !m.is_empty() && *m != "command-line-arguments")
        .map(str::to_string)
}

/// A data symbol's address and size (e.g. a Go package variable `main.counter`).
pub fn data_symbol(path: &Path, name: &str) -> Option<(u64, u64)> {
    with_file(path, |f, _| {
        f.symbols()
            .find(|s| s.name() == Ok(name) && s.kind() == object::SymbolKind::Data)
            .map(|s| (s.address(), s.size()))
    })
}

#[cfg(test)]
mod tests {
    use object::{Object, ObjectSection};

    /// The main module's path, as `go version -m` prints it on its "mod" line.
    #[test]
    fn the_main_module_is_read_from_buildinfo() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".build");
        let mut seen = 0;
        for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let Ok(bytes) = std::fs::read(dir.path().join("hello")) else {
                continue;
            };
            let f = object::File::parse(&*bytes).unwrap();
            let info = f.section_by_name(".go.buildinfo").unwrap().data().unwrap();
            assert_eq!(
                super::main_module_from_buildinfo(info).as_deref(),
                Some("rrgo.dev/examples"),
                "{}",
                dir.path().display()
            );
            seen += 1;
        }
        assert!(seen > 0, "no examples built in {}", root.display());
    }
}
