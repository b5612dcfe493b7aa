//! Where a process's functions are, for telling whether a patch site's
//! inner instructions can be jumped to.
//!
//! Why: a `jmp` over several instructions breaks a branch that targets
//! one of the later ones (a loop whose condition is at its bottom is
//! entered by a jump to that condition). The function around a site is
//! decoded and its direct branch targets checked; a function with an
//! indirect jump (a switch's jump table) allows only one-instruction
//! sites. Bounds come from the mapped files' ELF symbol tables; code
//! without a symbol gets one-instruction sites only.

use object::{Object, ObjectKind, ObjectSegment, ObjectSymbol, SymbolKind};
use trace_format::RemoteAddr;

use super::insn::PatchSite;
use super::maps::read_maps;
use super::mem::ProcMem;

/// Functions larger than this are not decoded (one-instruction sites only).
const MAX_FUNCTION: u64 = 256 << 10;

/// Function bounds (absolute addresses) of a process's mapped files.
#[derive(Debug, Default)]
pub struct CodeMap {
    funcs: Vec<(u64, u64)>,
    /// Code the program reads as data for a while (no patch there then).
    self_read: Vec<crate::goruntime::selfread::SelfRead>,
}

/// What one file's ELF tables say, before its load bias: read once per
/// file (device, inode) by whoever comes first — `CodeMap::prefetch` at the
/// program's exec, or the first preemption's `load`.
#[derive(Debug, Default)]
struct FileFuncs {
    executable: bool,
    /// The lowest segment address (a shared object's bias is relative to it).
    first_segment: u64,
    funcs: Vec<(u64, u64)>,
    self_read: Vec<crate::goruntime::selfread::SelfRead>,
}

type Parsed = std::sync::Arc<std::sync::OnceLock<std::sync::Arc<FileFuncs>>>;

/// Files parsed (or being parsed) in this rrgo, by (device, inode).
static PARSED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<(u64, u64), Parsed>>,
> = std::sync::LazyLock::new(Default::default);

/// The parse of `path` (identified by `meta`), made now or by another
/// thread (waited for).
fn parsed(path: &std::path::Path, meta: &std::fs::Metadata) -> std::sync::Arc<FileFuncs> {
    use std::os::unix::fs::MetadataExt;
    let cell = {
        let mut map = PARSED.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((meta.dev(), meta.ino())).or_default().clone()
    };
    cell.get_or_init(|| std::sync::Arc::new(parse_file(path)))
        .clone()
}

fn parse_file(path: &std::path::Path) -> FileFuncs {
    // Mapped, not read: only the symbol table is touched (reading a 6 MB
    // test binary took 8 ms of its first preemption).
    let Ok(data) = crate::elf::Mapped::open(path) else {
        return FileFuncs::default();
    };
    let Ok(file) = object::File::parse(data.bytes()) else {
        return FileFuncs::default();
    };
    let funcs = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0 && s.address() != 0)
        .map(|s| (s.address(), s.address() + s.size()))
        .collect();
    FileFuncs {
        executable: file.kind() == ObjectKind::Executable,
        first_segment: file.segments().map(|s| s.address()).min().unwrap_or(0),
        funcs,
        self_read: crate::goruntime::selfread::ranges(&file, 0),
    }
}

impl CodeMap {
    /// Parses `path`'s symbols ahead of the first `load` that needs them
    /// (the recorder does it on a thread of its own while the program
    /// starts: 1.5 ms of a test binary's first preemption, while the
    /// program waited).
    pub fn prefetch(path: &std::path::Path) {
        if let Ok(meta) = std::fs::metadata(path) {
            parsed(path, &meta);
        }
    }

    /// Reads the ELF symbols of every file mapped executable in `pid`.
    pub fn load(pid: i32) -> CodeMap {
        let Ok(maps) = read_maps(pid) else {
            return CodeMap::default();
        };
        let mut funcs = Vec::new();
        let mut self_read = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in maps
            .iter()
            .filter(|r| r.perms[2] == b'x' && r.path.starts_with('/'))
        {
            if !seen.insert(r.path.clone()) {
                continue;
            }
            let map_file = format!("/proc/{pid}/map_files/{:x}-{:x}", r.start, r.end);
            let (map_file, path) = (
                std::path::Path::new(&map_file),
                std::path::Path::new(&r.path),
            );
            let Some((file, meta)) = [map_file, path]
                .into_iter()
                .find_map(|p| std::fs::metadata(p).ok().map(|m| (p, m)))
            else {
                continue;
            };
            let parsed = parsed(file, &meta);
            // Load bias: 0 for a fixed-address executable; for a shared
            // object, where its first segment landed.
            let bias = if parsed.executable {
                0
            } else {
                let Some(base) = maps
                    .iter()
                    .filter(|m| m.path == r.path && m.offset == 0)
                    .map(|m| m.start)
                    .min()
                else {
                    continue;
                };
                base.wrapping_sub(parsed.first_segment & !0xfff)
            };
            self_read.extend(parsed.self_read.iter().map(|s| {
                crate::goruntime::selfread::SelfRead {
                    start: s.start.wrapping_add(bias),
                    end: s.end.wrapping_add(bias),
                    init_state: s.init_state.wrapping_add(bias),
                }
            }));
            funcs.extend(
                parsed
                    .funcs
                    .iter()
                    .map(|&(a, b)| (a.wrapping_add(bias), b.wrapping_add(bias))),
            );
        }
        funcs.sort_unstable();
        funcs.dedup();
        CodeMap { funcs, self_read }
    }

    /// Whether the program may still read [addr, addr+len) as data: its
    /// reader's init has not finished (or its state cannot be read).
    pub fn read_as_data(&self, mem: &ProcMem, addr: u64, len: u64) -> bool {
        self.self_read.iter().any(|r| {
            addr < r.end
                && addr + len > r.start
                && mem.read_u32(RemoteAddr(r.init_state)).ok()
                    != Some(crate::goruntime::selfread::INIT_DONE)
        })
    }

    /// The function holding `pc`.
    pub fn function_at(&self, pc: u64) -> Option<(u64, u64)> {
        let i = self.funcs.partition_point(|f| f.0 <= pc).checked_sub(1)?;
        let f = self.funcs[i];
        (pc < f.1).then_some(f)
    }

    /// The patch site at `rip` when no branch of its function lands inside it.
    pub fn site(&self, mem: &ProcMem, rip: u64) -> Option<PatchSite> {
        let code = mem.read_prefix(RemoteAddr(rip), 96);
        let site = super::insn::patch_site(&code, rip)?;
        if site.insns.len() == 1 {
            return Some(site);
        }
        let (start, end) = self.function_at(rip)?;
        if end - start > MAX_FUNCTION {
            return None;
        }
        let body = mem.read_prefix(RemoteAddr(start), (end - start) as usize);
        let (targets, indirect) = super::insn::branch_targets(&body, start);
        if indirect {
            return None;
        }
        let inner: Vec<u64> = site.interior().collect();
        (!targets.iter().any(|t| inner.contains(t))).then_some(site)
    }
}
