//! Reading a Go executable: symbols, DWARF line tables and runtime type
//! layouts (object + gimli). Knows nothing about a live process.

mod cache;
mod dwarf;
mod pclntab;

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use object::{Object, ObjectSection, ObjectSymbol};

pub use dwarf::{StructLayout, IS_STMT};
pub use pclntab::uvarint;

#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub entry: u64,
    pub size: u64,
}

/// A source-level frame: function, file, line.
pub type SourceFrame = (String, String, u64);

pub struct GoBinary {
    functions: Vec<Function>,
    /// The functions' entries, in the same order: `function_at`'s search
    /// touches 8 bytes per step, not a `Function` (the goroutine index
    /// looks up millions of return addresses).
    entries: Vec<u64>,
    symbols: HashMap<String, (u64, u64)>,
    /// Data symbols (globals) by address: (address, size, name).
    data: Vec<(u64, u64, String)>,
    /// The executable, mapped (reading a web server's 9 MB into fresh
    /// memory cost ~8 ms of every load), and its text section: address and
    /// the section's bytes' range in the file (instruction scans).
    file: crate::elf::Mapped,
    text: (u64, std::ops::Range<usize>),
    lines: dwarf::LineTable,
    structs: HashMap<String, StructLayout>,
    inlines: dwarf::InlineTable,
    pub has_dwarf: bool,
    /// The ELF entry point, and whether the executable is position
    /// independent (`-buildmode=pie`): its addresses then move to where it
    /// is loaded (`loaded_at_entry`).
    entry: u64,
    pie: bool,
    /// `source_frames` by pc: the goroutine index walks the same return
    /// addresses hundreds of thousands of times.
    frames_memo: std::sync::Mutex<crate::fasthash::AddrMap<u64, std::sync::Arc<[SourceFrame]>>>,
    /// Where g is from the thread pointer (fs base), in bytes.
    g_tls: i64,
    /// The main module's path (`.go.buildinfo`): its packages are the
    /// program's own code, as package main is.
    main_module: Option<String>,
}

/// DWARF tables still to be kept in their cache file.
pub struct CacheWrite {
    path: std::path::PathBuf,
    bytes: Vec<u8>,
}

impl CacheWrite {
    pub fn write(self) {
        cache::write_bytes(&self.path, &self.bytes);
    }
}

impl GoBinary {
    pub fn load(path: &Path) -> anyhow::Result<GoBinary> {
        Self::load_cached(path, None)
    }

    /// Like `load`, keeping the tables read from DWARF in the file `cache`
    /// (`gobin::cache`): the next load of the same executable reads them
    /// from there.
    pub fn load_cached(path: &Path, cache: Option<&Path>) -> anyhow::Result<GoBinary> {
        let (bin, write) = Self::load_deferring_cache(path, cache)?;
        if let Some(w) = write {
            w.write();
        }
        Ok(bin)
    }

    /// Like `load_cached`, leaving the cache file to be written by the
    /// caller (`CacheWrite::write`), e.g. on another thread while the
    /// binary is already in use: a web server's tables are megabytes.
    pub fn load_deferring_cache(
        path: &Path,
        cache: Option<&Path>,
    ) -> anyhow::Result<(GoBinary, Option<CacheWrite>)> {
        let started = std::time::Instant::now();
        let mapped = crate::elf::Mapped::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file_bytes = mapped.bytes();
        let file = object::File::parse(file_bytes)
            .with_context(|| format!("{} is not an ELF executable", path.display()))?;
        let mut functions = Vec::new();
        let mut symbols = HashMap::new();
        let mut data = Vec::new();
        for s in file.symbols() {
            let Ok(name) = s.name() else { continue };
            if s.kind() == object::SymbolKind::Text && s.address() != 0 {
                functions.push(Function {
                    name: name.trim_end_matches(".abi0").to_string(),
                    entry: s.address(),
                    size: s.size(),
                });
            }
            if s.kind() == object::SymbolKind::Data && s.address() != 0 && s.size() != 0 {
                data.push((s.address(), s.size(), name.to_string()));
            }
            symbols.insert(name.to_string(), (s.address(), s.size()));
        }
        functions.sort_by_key(|f| f.entry);
        data.sort();
        let g_tls = g_tls_offset(data_bytes(&file), &symbols);
        let text = file
            .section_by_name(".text")
            .and_then(|s| {
                let (at, len) = s.file_range()?;
                let at = usize::try_from(at).ok()?;
                Some((s.address(), at..at.checked_add(usize::try_from(len).ok()?)?))
            })
            .filter(|(_, r)| r.end <= file_bytes.len())
            .unwrap_or_default();
        let key = cache.map(|_| cache::Key::of(file_bytes));
        let cached = cache.zip(key).and_then(|(c, k)| cache::read(c, k));
        let from_cache = cached.is_some();
        let loaded = match cached {
            Some(t) => Ok(t),
            None => dwarf::load(&file),
        };
        let mut write = None;
        let (lines, structs, inlines, has_dwarf) = match loaded {
            Ok((l, s, i)) => {
                if let (Some(c), Some(k), false) = (cache, key, from_cache) {
                    write = cache::encode(k, &l, &s, &i).map(|bytes| CacheWrite {
                        path: c.to_path_buf(),
                        bytes,
                    });
                }
                (l, s, i, true)
            }
            Err(e) => {
                tracing::debug!("no usable DWARF: {e:#}");
                // The runtime's own table still names functions and lines.
                let lines = match pclntab::load(&file) {
                    Ok((fns, lines)) => {
                        if functions.is_empty() {
                            functions = fns;
                        }
                        lines
                    }
                    Err(e) => {
                        tracing::debug!("no usable pclntab: {e:#}");
                        dwarf::LineTable::default()
                    }
                };
                (lines, HashMap::new(), dwarf::InlineTable::default(), false)
            }
        };
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            from_cache,
            "loaded {}",
            path.display()
        );
        let main_module = file
            .section_by_name(".go.buildinfo")
            .and_then(|s| s.data().ok())
            .and_then(crate::elf::main_module_from_buildinfo);
        let (entry, pie) = (file.entry(), file.kind() == object::ObjectKind::Dynamic);
        drop(file);
        let bin = GoBinary {
            entries: functions.iter().map(|f| f.entry).collect(),
            functions,
            symbols,
            data,
            text,
            file: mapped,
            lines,
            structs,
            inlines,
            has_dwarf,
            entry,
            pie,
            frames_memo: Default::default(),
            g_tls,
            main_module,
        };
        Ok((bin, write))
    }

    /// The binary as loaded in a process whose entry point (auxv
    /// `AT_ENTRY`) is `entry`: a position-independent executable's
    /// addresses move by where it was loaded, so that every address this
    /// type hands out or takes is the process's. A fixed-address
    /// executable (or an unknown entry) leaves it unchanged.
    pub fn loaded_at_entry(mut self, entry: Option<u64>) -> GoBinary {
        let Some(entry) = entry else { return self };
        let bias = entry.wrapping_sub(self.entry);
        if !self.pie || bias == 0 {
            return self;
        }
        tracing::debug!(
            bias = format_args!("{bias:#x}"),
            "position-independent executable"
        );
        for f in &mut self.functions {
            f.entry = f.entry.wrapping_add(bias);
        }
        for e in &mut self.entries {
            *e = e.wrapping_add(bias);
        }
        for (a, _) in self.symbols.values_mut() {
            *a = a.wrapping_add(bias);
        }
        for d in &mut self.data {
            d.0 = d.0.wrapping_add(bias);
        }
        self.text.0 = self.text.0.wrapping_add(bias);
        self.lines.rebase(bias);
        self.inlines.rebase(bias);
        self.frames_memo = Default::default();
        self.entry = entry;
        self
    }

    /// Address and size of a symbol (e.g. `runtime.allgs`).
    /// Whether `function` (a Go symbol name) is in package main or in a
    /// package of the main module: the program's own code.
    pub fn is_own_code(&self, function: &str) -> bool {
        function.starts_with("main.")
            || self.main_module.as_deref().is_some_and(|m| {
                function
                    .strip_prefix(m)
                    .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('.'))
            })
    }

    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        self.symbols.get(name).copied()
    }

    /// The global variable holding `addr`, and `addr`'s offset in it.
    pub fn data_symbol_at(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.data.partition_point(|d| d.0 <= addr).checked_sub(1)?;
        let (start, size, name) = &self.data[i];
        (addr < start + size).then(|| (name.as_str(), addr - start))
    }

    /// The machine code in `[lo, hi)`, if the text section holds it.
    pub fn code(&self, lo: u64, hi: u64) -> Option<&[u8]> {
        let (base, range) = &self.text;
        let bytes = self.file.bytes().get(range.clone())?;
        let start = usize::try_from(lo.checked_sub(*base)?).ok()?;
        let end = usize::try_from(hi.checked_sub(*base)?).ok()?;
        bytes.get(start..end)
    }

    /// Address ranges of the bodies of every function `wanted` accepts by
    /// name: the functions themselves and each of their inlined copies.
    pub fn bodies_of(&self, wanted: impl Fn(&str) -> bool) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = self
            .functions
            .iter()
            .filter(|f| f.size != 0 && wanted(&f.name))
            .map(|f| (f.entry, f.entry + f.size))
            .collect();
        out.extend(self.inlines.ranges_of(&wanted));
        out.sort();
        out.dedup();
        out
    }

    /// Every function, by entry address.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    pub fn function_at(&self, pc: u64) -> Option<&Function> {
        let i = self.entries.partition_point(|&e| e <= pc).checked_sub(1)?;
        let f = &self.functions[i];
        (f.size == 0 || pc < f.entry + f.size).then_some(f)
    }

    /// The last function starting at or before `pc`, also when `pc` is in
    /// the padding after it (disassembling backwards starts there).
    pub fn function_before(&self, pc: u64) -> Option<&Function> {
        let i = self.entries.partition_point(|&e| e <= pc).checked_sub(1)?;
        Some(&self.functions[i])
    }

    /// Source file and line of the instruction at `pc`.
    pub fn line_at(&self, pc: u64) -> Option<(&str, u64)> {
        self.lines.lookup(pc)
    }

    /// The source-level frames of one machine frame at `lookup_pc`,
    /// innermost first: inlined calls, then the physical function.
    /// Where the runtime keeps g, from the thread pointer: -8 unless the
    /// executable's own TLS block holds more than `runtime.tlsg` (an
    /// externally linked program with C thread-locals).
    pub fn g_tls_offset(&self) -> i64 {
        self.g_tls
    }

    pub fn source_frames(&self, lookup_pc: u64) -> Vec<(String, String, u64)> {
        self.source_frames_shared(lookup_pc).to_vec()
    }

    /// `source_frames` as the memo keeps them: a stack walk that wants
    /// one frame of many copies no strings of the others.
    pub fn source_frames_shared(&self, lookup_pc: u64) -> std::sync::Arc<[SourceFrame]> {
        if let Ok(memo) = self.frames_memo.lock() {
            if let Some(frames) = memo.get(&lookup_pc) {
                return frames.clone();
            }
        }
        let frames: std::sync::Arc<[SourceFrame]> = self.source_frames_uncached(lookup_pc).into();
        if let Ok(mut memo) = self.frames_memo.lock() {
            if memo.len() < 1 << 16 {
                memo.insert(lookup_pc, frames.clone());
            }
        }
        frames
    }

    fn source_frames_uncached(&self, lookup_pc: u64) -> Vec<(String, String, u64)> {
        let Some(f) = self.function_at(lookup_pc) else {
            return Vec::new();
        };
        let (mut file, mut line) = self
            .line_at(lookup_pc)
            .map(|(f, l)| (f.to_string(), l))
            .unwrap_or_default();
        let mut out = Vec::new();
        for inl in self.inlines.at(lookup_pc) {
            out.push((inl.function.to_string(), file, line));
            file = inl.call_file.to_string();
            line = inl.call_line;
        }
        out.push((f.name.clone(), file, line));
        out
    }

    /// Source files of the program, as DWARF names them.
    pub fn source_files(&self) -> &[String] {
        self.lines.files()
    }

    /// Addresses where `file:line` starts a statement: the first one in
    /// each copy of the line's code, which is each function holding it
    /// and, within one, each inlined call of the line's function (a line
    /// split by the compiler is entered at its start).
    pub fn line_addrs(&self, file: &str, line: u64) -> Vec<u64> {
        let mut copies = std::collections::HashSet::new();
        self.lines
            .stmt_addrs(file, line)
            .into_iter()
            .filter(|&a| {
                let function = self.function_at(a).map(|f| f.entry);
                let call = self.inlines.calls_at(a).first().copied();
                copies.insert((function, call))
            })
            .collect()
    }

    /// Which inlined calls contain `pc`, innermost first (ids that tell
    /// apart two calls of one function); empty outside inlined code.
    pub fn inlined_calls(&self, pc: u64) -> Vec<u32> {
        self.inlines.calls_at(pc)
    }

    /// Statement starts of the function containing `pc`: (address, line, flags).
    pub fn function_rows(&self, pc: u64) -> Vec<(u64, u64, u8)> {
        match self.function_at(pc) {
            Some(f) => self.lines.rows_in(f.entry, f.entry + f.size.max(1)),
            None => Vec::new(),
        }
    }

    /// Statement starts of the function containing `pc`, each with the
    /// inlined calls it is in (innermost first).
    pub fn function_stmts(&self, pc: u64) -> Vec<(u64, Vec<u32>)> {
        self.function_rows(pc)
            .into_iter()
            .filter(|r| r.2 & IS_STMT != 0)
            .map(|r| (r.0, self.inlines.calls_at(r.0)))
            .collect()
    }

    /// Where a function breakpoint goes: after the prologue (stack check and
    /// frame setup), so arguments are in place, as Delve does.
    pub fn after_prologue(&self, entry: u64) -> u64 {
        let Some(f) = self.function_at(entry) else {
            return entry;
        };
        let rows = self.lines.rows_in(f.entry, f.entry + f.size.max(1));
        rows.iter()
            .find(|r| r.2 & dwarf::PROLOGUE_END != 0)
            .map(|r| r.0)
            .unwrap_or(entry)
    }

    /// Functions whose name is `name` or ends with `.name` / `/name`.
    pub fn functions_named(&self, name: &str) -> Vec<&Function> {
        let exact: Vec<&Function> = self.functions.iter().filter(|f| f.name == name).collect();
        if !exact.is_empty() {
            return exact;
        }
        self.functions
            .iter()
            .filter(|f| {
                f.name
                    .strip_suffix(name)
                    .is_some_and(|p| p.ends_with('.') || p.ends_with('/'))
            })
            .collect()
    }

    pub fn struct_layout(&self, name: &str) -> Option<&StructLayout> {
        self.structs.get(name)
    }

    /// Offset of a (possibly nested) field, e.g. `("runtime.g", "sched.pc")`.
    pub fn field_offset(&self, ty: &str, path: &str) -> Option<u64> {
        let mut layout = self.structs.get(ty)?;
        let mut offset = 0;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let f = layout.fields.iter().find(|f| f.name == part)?;
            offset += f.offset;
            if parts.peek().is_some() {
                layout = self.structs.get(&f.type_name)?;
            }
        }
        Some(offset)
    }
}

/// The file's bytes as `object` parsed them.
fn data_bytes<'a>(file: &object::File<'a>) -> &'a [u8] {
    match file {
        object::File::Elf64(f) => f.data(),
        _ => &[],
    }
}

/// g's offset from the thread pointer: amd64's TLS is variant II, the
/// executable's block ends at the thread pointer, so `runtime.tlsg`'s
/// offset in the PT_TLS segment less the segment's aligned size (-8 when
/// g is all it holds); no PT_TLS (a static Go program): Go's own -8.
fn g_tls_offset(data: &[u8], symbols: &HashMap<String, (u64, u64)>) -> i64 {
    use object::read::elf::{FileHeader, ProgramHeader};
    let Ok(elf) = object::elf::FileHeader64::<object::Endianness>::parse(data) else {
        return -8;
    };
    let Ok(endian) = elf.endian() else { return -8 };
    let Ok(headers) = elf.program_headers(endian, data) else {
        return -8;
    };
    let Some(tls) = headers
        .iter()
        .find(|h| h.p_type(endian) == object::elf::PT_TLS)
    else {
        return -8;
    };
    let (size, align) = (tls.p_memsz(endian), tls.p_align(endian).max(1));
    let block = size.div_ceil(align) * align;
    let at = symbols.get("runtime.tlsg").map_or(0, |(a, _)| *a);
    at as i64 - block as i64
}

#[cfg(test)]
mod tests {
    /// Without symbols or DWARF, functions come from the pclntab, whose
    /// entries count from runtime.text: after the C linker's own code in a
    /// cgo program (examples/cgo: 0x100 bytes into .text), read from the
    /// module data (its own section since Go 1.27).
    #[test]
    fn a_stripped_cgo_programs_functions_start_where_they_do() {
        // A child of this process: not while an engine test waits for any.
        let _turn = crate::tracee::TRACING_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for version in ["1.27.3", "1.24.11"] {
            let exe = root.join(format!(".build/go{version}/cgo"));
            let tmp = tempfile::tempdir().unwrap();
            let stripped = tmp.path().join("cgo.stripped");
            let st = std::process::Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(&exe)
                .status()
                .expect("strip (binutils) runs");
            assert!(st.success());
            let full = super::GoBinary::load(&exe).unwrap();
            let bare = super::GoBinary::load(&stripped).unwrap();
            assert!(full.has_dwarf && !bare.has_dwarf, "go{version}");
            for name in ["main.main", "runtime.sighandler", "runtime.gopanic"] {
                let entry = |b: &super::GoBinary| b.functions_named(name).first().map(|f| f.entry);
                assert!(entry(&full).is_some(), "go{version}: {name}");
                assert_eq!(entry(&bare), entry(&full), "go{version}: {name}");
            }
        }
    }

    /// Tables read from the cache answer as the DWARF does; a cache that
    /// is corrupt, or another executable's, is ignored (and replaced).
    #[test]
    fn cached_tables_answer_as_the_dwarf_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for version in ["1.27.3", "1.24.11"] {
            let exe = root.join(format!(".build/go{version}/inlined"));
            let other = root.join(format!(".build/go{version}/hello"));
            let tmp = tempfile::tempdir().unwrap();
            let cache = tmp.path().join("dwarf-tables");
            let fresh = super::GoBinary::load(&exe).unwrap();
            let first = super::GoBinary::load_cached(&exe, Some(&cache)).unwrap();
            let written = std::fs::read(&cache).expect("the first load writes the cache");
            let cached = super::GoBinary::load_cached(&exe, Some(&cache)).unwrap();
            let same = |b: &super::GoBinary| {
                let main = b.functions_named("main.main")[0].clone();
                let pcs = main.entry..main.entry + main.size;
                (
                    pcs.clone()
                        .map(|pc| b.source_frames(pc))
                        .collect::<Vec<_>>(),
                    pcs.map(|pc| b.inlined_calls(pc)).collect::<Vec<_>>(),
                    b.field_offset("runtime.g", "goid"),
                    b.source_files().to_vec(),
                )
            };
            let want = same(&fresh);
            assert!(
                want.0.iter().any(|f| f.len() > 1),
                "go{version}: no inlined frame"
            );
            assert_eq!(same(&first), want, "go{version}: first load");
            assert_eq!(same(&cached), want, "go{version}: from the cache");
            // A flipped byte: ignored, the DWARF is read again.
            let mut bad = written.clone();
            let n = bad.len();
            bad[n / 2] ^= 0x40;
            std::fs::write(&cache, &bad).unwrap();
            let again = super::GoBinary::load_cached(&exe, Some(&cache)).unwrap();
            assert_eq!(same(&again), want, "go{version}: corrupt cache");
            let rewritten = std::fs::read(&cache).unwrap();
            assert!(
                rewritten != bad && rewritten.len() == written.len(),
                "rewritten whole"
            );
            // Records cut short under a checksum made to match: ignored.
            let mut cut = written[8..written.len() - 5].to_vec();
            let sum = xxhash_rust::xxh3::xxh3_64(&cut).to_le_bytes();
            cut.splice(0..0, sum);
            std::fs::write(&cache, &cut).unwrap();
            let again = super::GoBinary::load_cached(&exe, Some(&cache)).unwrap();
            assert_eq!(same(&again), want, "go{version}: records cut short");
            let again = std::fs::read(&cache).unwrap();
            assert!(
                again.len() == written.len(),
                "go{version}: not rewritten whole"
            );
            // Another executable's cache is not this one's.
            let hello = super::GoBinary::load_cached(&other, Some(&cache)).unwrap();
            assert_eq!(
                hello.functions_named("main.main").len(),
                1,
                "go{version}: hello loads"
            );
            let at = hello.line_at(hello.functions_named("main.main")[0].entry);
            assert!(
                at.is_some_and(|(f, _)| f.ends_with("hello/main.go")),
                "go{version}: hello's main.main at {at:?}"
            );
            assert!(
                std::fs::read(&cache).unwrap() != rewritten,
                "replaced by hello's"
            );
        }
    }

    /// Without DWARF (-ldflags=-w) the pclntab gives the same lines.
    #[test]
    fn pclntab_lines_match_dwarf_lines() {
        // A child of this process: not while an engine test waits for any.
        let _turn = crate::tracee::TRACING_TESTS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for version in ["1.27.3", "1.24.11"] {
            let with = root.join(format!(".build/go{version}/hello"));
            let tmp = tempfile::tempdir().unwrap();
            let without = tmp.path().join("hello-w");
            let goroot = std::process::Command::new("bash")
                .arg(root.join("scripts/install-go.sh"))
                .args(["--print-goroot", version])
                .output()
                .unwrap();
            let goroot = String::from_utf8_lossy(&goroot.stdout).trim().to_string();
            let st = std::process::Command::new(format!("{goroot}/bin/go"))
                .args(["build", "-buildvcs=false", "-ldflags=-w", "-o"])
                .arg(&without)
                .arg("./hello")
                .current_dir(root.join("examples"))
                .env("GOROOT", &goroot)
                .env("GOTOOLCHAIN", "local")
                .env("GOPROXY", "off")
                .env("GOCACHE", tmp.path().join("cache"))
                .env("CGO_ENABLED", "0")
                .status()
                .unwrap();
            assert!(st.success(), "go build -ldflags=-w failed");
            let a = super::GoBinary::load(&with).unwrap();
            let b = super::GoBinary::load(&without).unwrap();
            assert!(a.has_dwarf && !b.has_dwarf);
            let f = b.functions_named("main.main")[0].clone();
            let (mut same, mut total) = (0, 0);
            for pc in f.entry..f.entry + f.size {
                if let (Some(x), Some(y)) = (a.line_at(pc), b.line_at(pc)) {
                    total += 1;
                    same += (x == y) as u32;
                }
            }
            assert!(
                total > 10 && same == total,
                "go{version}: {same} of {total} pcs agree"
            );
            assert_eq!(
                b.function_at(f.entry + 1).map(|f| f.name.as_str()),
                Some("main.main")
            );
        }
    }

    /// A line of a function inlined at four call sites (in three callers)
    /// resolves to one address in each copy; unoptimized, to the one
    /// out-of-line function.
    #[test]
    fn inlined_line_resolves_in_every_copy() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = root.join("examples/inlined/main.go");
        let text = std::fs::read_to_string(&src).unwrap();
        let line = |m: &str| {
            text.lines()
                .position(|l| l.contains(&format!("// #BP {m}")))
                .unwrap() as u64
                + 1
        };
        let file = src.to_string_lossy();
        for version in ["1.27.3", "1.24.11"] {
            let b =
                super::GoBinary::load(&root.join(format!(".build/go{version}/inlined"))).unwrap();
            let sites: Vec<(String, u64)> = b
                .line_addrs(&file, line("scale-body"))
                .iter()
                .map(|&a| {
                    let frames = b.source_frames(a);
                    assert_eq!(frames[0].0, "main.scale", "go{version}: {frames:?}");
                    (frames[1].0.clone(), frames[1].2)
                })
                .collect();
            let want: Vec<(String, u64)> = [
                ("main.first", "call-first"),
                ("main.second", "call-second"),
                ("main.third", "call-third"),
                ("main.third", "call-third-again"),
            ]
            .iter()
            .map(|(f, m)| (f.to_string(), line(m)))
            .collect();
            assert_eq!(sites, want, "go{version}");

            let d = super::GoBinary::load(&root.join(format!(".build/go{version}/inlined.debug")))
                .unwrap();
            let addrs = d.line_addrs(&file, line("scale-body"));
            assert_eq!(addrs.len(), 1, "go{version} -N -l: {addrs:x?}");
            assert_eq!(d.source_frames(addrs[0])[0].0, "main.scale");
        }
    }

    /// Offsets differ across Go versions (notes: gobuf lost `ret` in 1.25);
    /// DWARF must give each version's own.
    #[test]
    fn runtime_g_fields_come_from_each_binarys_dwarf() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".build");
        for (version, sched_bp, goid) in [("1.27.3", 0x60, 0x98), ("1.24.11", 0x68, 0xa0)] {
            let p = root.join(format!("go{version}/hello"));
            let b = super::GoBinary::load(&p)
                .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", p.display()));
            assert_eq!(
                b.field_offset("runtime.g", "sched.pc"),
                Some(0x40),
                "go{version}"
            );
            assert_eq!(
                b.field_offset("runtime.g", "sched.bp"),
                Some(sched_bp),
                "go{version}"
            );
            assert_eq!(
                b.field_offset("runtime.g", "goid"),
                Some(goid),
                "go{version}"
            );
            assert!(b
                .function_at(b.symbol("main.main").unwrap().0 + 1)
                .is_some_and(|f| f.name == "main.main"));
        }
    }
}
