//! The DWARF parts rrgo uses: line tables (pc → file:line) and the layouts
//! of the Go runtime's structs (field offsets change between Go versions,
//! so they always come from here, never from constants).

use std::collections::HashMap;

use anyhow::Context;
use gimli::{AttributeValue, EndianSlice, LittleEndian};
use object::{Object, ObjectSection};
use serde::{Deserialize, Serialize};

type R<'a> = EndianSlice<'a, LittleEndian>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub offset: u64,
    pub type_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StructLayout {
    pub size: u64,
    pub fields: Vec<Field>,
}

/// Row flags: the row starts a statement (a place to stop for a line).
pub const IS_STMT: u8 = 1;
/// The row is where the function's prologue (stack check, frame setup) ends.
pub const PROLOGUE_END: u8 = 2;

/// A line table row: address, file id, line, flags.
pub(super) type Row = (u64, u32, u32, u8);

/// Rows sorted by address; a row with `line == 0` ends a sequence.
#[derive(Debug, Default)]
pub struct LineTable {
    pub(super) rows: packed::Records<Row>,
    pub(super) files: Vec<String>,
}

/// Tables of fixed-size records (line rows, inlined ranges), kept as they
/// were read or as the bytes of the cache file (`gobin::cache`), decoded
/// at each use: decoding a web server's 307,000 line rows at every load
/// cost ~10 ms, a lookup decodes a few dozen.
pub(super) mod packed {
    use std::ops::Range;
    use std::sync::Arc;

    /// A record of `SIZE` bytes, little-endian fields in order.
    pub trait Fixed: Sized + Copy {
        const SIZE: usize;
        /// Writes the record into `b` (`SIZE` bytes).
        fn put(&self, b: &mut [u8]);
        fn get(b: &[u8]) -> Self;
    }

    pub fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    pub fn u64_at(b: &[u8], i: usize) -> u64 {
        let mut w = [0; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    }

    /// Bytes shared by the tables stored in one file.
    pub type Storage = Arc<dyn AsRef<[u8]> + Send + Sync>;

    pub fn bytes_of(s: &Storage) -> &[u8] {
        AsRef::<[u8]>::as_ref(&**s)
    }

    pub enum Records<T> {
        Owned(Vec<T>),
        /// `range` of `storage`: whole records (checked by `stored`).
        Stored(Storage, Range<usize>),
    }

    impl<T> Default for Records<T> {
        fn default() -> Self {
            Records::Owned(Vec::new())
        }
    }

    impl<T> std::fmt::Debug for Records<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            match self {
                Records::Owned(v) => write!(f, "{} records", v.len()),
                Records::Stored(_, r) => write!(f, "stored records at {r:?}"),
            }
        }
    }

    impl<T: Fixed> Records<T> {
        /// The records in `range` of `storage`, if it holds whole ones.
        pub fn stored(storage: &Storage, range: Range<usize>) -> Option<Records<T>> {
            let whole = bytes_of(storage).get(range.clone())?.len() % T::SIZE == 0;
            whole.then(|| Records::Stored(storage.clone(), range))
        }

        pub fn len(&self) -> usize {
            match self {
                Records::Owned(v) => v.len(),
                Records::Stored(_, r) => r.len() / T::SIZE,
            }
        }

        /// Record `i` (< `len`).
        pub fn get(&self, i: usize) -> T {
            match self {
                Records::Owned(v) => v[i],
                Records::Stored(s, r) => {
                    let at = r.start + i * T::SIZE;
                    T::get(&bytes_of(s)[at..at + T::SIZE])
                }
            }
        }

        pub fn iter(&self) -> impl DoubleEndedIterator<Item = T> + '_ {
            (0..self.len()).map(|i| self.get(i))
        }

        /// The first index where `pred` is false (records partitioned by it).
        pub fn partition_point(&self, pred: impl Fn(&T) -> bool) -> usize {
            let (mut lo, mut hi) = (0, self.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(&self.get(mid)) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        }

        /// The records to change (decoded first if stored).
        pub fn owned(&mut self) -> &mut Vec<T> {
            if let Records::Stored(..) = self {
                *self = Records::Owned(self.iter().collect());
            }
            match self {
                Records::Owned(v) => v,
                Records::Stored(..) => unreachable!("decoded above"),
            }
        }

        /// Appends all records to `out` as bytes, as `stored` reads them.
        pub fn put_all(&self, out: &mut Vec<u8>) {
            match self {
                Records::Owned(v) => {
                    let at = out.len();
                    out.resize(at + v.len() * T::SIZE, 0);
                    for (r, b) in v.iter().zip(out[at..].chunks_exact_mut(T::SIZE)) {
                        r.put(b);
                    }
                }
                Records::Stored(s, r) => out.extend_from_slice(&bytes_of(s)[r.clone()]),
            }
        }

        /// The bytes `put_all` appends.
        pub fn byte_len(&self) -> usize {
            self.len() * T::SIZE
        }
    }

    impl Fixed for (u64, u32, u32, u8) {
        const SIZE: usize = 17;
        fn put(&self, b: &mut [u8]) {
            b[..8].copy_from_slice(&self.0.to_le_bytes());
            b[8..12].copy_from_slice(&self.1.to_le_bytes());
            b[12..16].copy_from_slice(&self.2.to_le_bytes());
            b[16] = self.3;
        }
        fn get(b: &[u8]) -> Self {
            (u64_at(b, 0), u32_at(b, 8), u32_at(b, 12), b[16])
        }
    }

    impl Fixed for u64 {
        const SIZE: usize = 8;
        fn put(&self, b: &mut [u8]) {
            b.copy_from_slice(&self.to_le_bytes());
        }
        fn get(b: &[u8]) -> Self {
            u64_at(b, 0)
        }
    }
}

impl LineTable {
    /// Every address moved by `bias` (a position-independent executable
    /// loaded at a base).
    pub fn rebase(&mut self, bias: u64) {
        for r in self.rows.owned() {
            r.0 = r.0.wrapping_add(bias);
        }
    }

    pub fn lookup(&self, pc: u64) -> Option<(&str, u64)> {
        let i = self.rows.partition_point(|r| r.0 <= pc).checked_sub(1)?;
        let (_, file, line, _) = self.rows.get(i);
        if line == 0 {
            return None;
        }
        Some((self.files.get(file as usize)?.as_str(), line as u64))
    }

    /// A table from (address, file, line) rows in address order; line 0
    /// ends a function. Every row gets `flags`.
    pub fn from_rows(rows: Vec<(u64, String, u64)>, flags: u8) -> LineTable {
        let mut t = LineTable::default();
        let mut ids: HashMap<String, u32> = HashMap::new();
        for (addr, file, line) in rows {
            if line == 0 {
                t.rows.owned().push((addr, 0, 0, 0));
                continue;
            }
            let next = t.files.len() as u32;
            let id = *ids.entry(file.clone()).or_insert_with(|| {
                t.files.push(file);
                next
            });
            t.rows.owned().push((addr, id, line as u32, flags));
        }
        t.rows.owned().sort_by_key(|r| (r.0, r.2 != 0));
        t
    }

    /// Every source file named by the line table.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Statement-start addresses of `line` in `file`, ascending.
    pub fn stmt_addrs(&self, file: &str, line: u64) -> Vec<u64> {
        let Some(fid) = self.files.iter().position(|f| f == file) else {
            return Vec::new();
        };
        let mut v: Vec<u64> = self
            .rows
            .iter()
            .filter(|r| r.1 == fid as u32 && r.2 as u64 == line && r.3 & IS_STMT != 0)
            .map(|r| r.0)
            .collect();
        v.dedup();
        v
    }

    /// Statement starts in [lo, hi) with their lines and flags, ascending.
    pub fn rows_in(&self, lo: u64, hi: u64) -> Vec<(u64, u64, u8)> {
        let i = self.rows.partition_point(|r| r.0 < lo);
        (i..self.rows.len())
            .map(|i| self.rows.get(i))
            .take_while(|r| r.0 < hi)
            .filter(|r| r.2 != 0)
            .map(|r| (r.0, r.2 as u64, r.3))
            .collect()
    }
}

/// One address range of an inlined body.
#[derive(Debug, Clone, Copy)]
pub(super) struct InlineRange {
    begin: u64,
    end: u64,
    /// Nesting depth below the subprogram's DIE (deeper is more inner).
    depth: u32,
    /// The inlined function, an index into `names`.
    function: u32,
    /// The call site: an index into `files`, and the line.
    call_file: u32,
    call_line: u32,
    /// The inlined call (its DIE) the range belongs to: one call may have
    /// several ranges, and one function several calls in one caller.
    call: u32,
}

impl packed::Fixed for InlineRange {
    const SIZE: usize = 36;
    fn put(&self, b: &mut [u8]) {
        b[..8].copy_from_slice(&self.begin.to_le_bytes());
        b[8..16].copy_from_slice(&self.end.to_le_bytes());
        let words = [
            self.depth,
            self.function,
            self.call_file,
            self.call_line,
            self.call,
        ];
        for (i, w) in words.iter().enumerate() {
            b[16 + 4 * i..20 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
    }
    fn get(b: &[u8]) -> Self {
        let w = |i: usize| packed::u32_at(b, 16 + 4 * i);
        InlineRange {
            begin: packed::u64_at(b, 0),
            end: packed::u64_at(b, 8),
            depth: w(0),
            function: w(1),
            call_file: w(2),
            call_line: w(3),
            call: w(4),
        }
    }
}

/// Inlined calls: for each address range of an inlined body, the inlined
/// function and the call site it was inlined at.
#[derive(Debug, Default)]
pub struct InlineTable {
    /// Sorted by begin.
    pub(super) ranges: packed::Records<InlineRange>,
    /// For each range, the highest end of it and all before it: a scan
    /// back from an address stops where no earlier range reaches it.
    pub(super) reach: packed::Records<u64>,
    /// Function names by index (resolved from abstract origins after loading).
    pub names: Vec<String>,
    pub files: Vec<String>,
    /// Inlined calls read so far (the next call's id).
    pub(super) calls: u32,
}

/// One level of inlining at an address.
#[derive(Debug, Clone)]
pub struct Inlined<'a> {
    pub function: &'a str,
    pub call_file: &'a str,
    pub call_line: u64,
}

impl InlineTable {
    /// Every address moved by `bias` (see `LineTable::rebase`).
    pub fn rebase(&mut self, bias: u64) {
        for r in self.ranges.owned() {
            r.begin = r.begin.wrapping_add(bias);
            r.end = r.end.wrapping_add(bias);
        }
        for r in self.reach.owned() {
            *r = r.wrapping_add(bias);
        }
    }

    /// The inlined bodies of functions `wanted` accepts, each from its
    /// first range to its last: an inlined call's ranges leave gaps for
    /// instructions the compiler gave the caller's line (Go's atomic
    /// intrinsics inside an inlined `Lock`), which belong to it all the same.
    pub fn ranges_of(&self, wanted: impl Fn(&str) -> bool) -> Vec<(u64, u64)> {
        /// Gaps between ranges of one inlined call are a few instructions.
        const GAP: u64 = 64;
        let hit: Vec<bool> = self.names.iter().map(|n| wanted(n)).collect();
        let mut frags: Vec<_> = self
            .ranges
            .iter()
            .filter(|r| hit.get(r.function as usize).copied().unwrap_or(false))
            .collect();
        // One inlined call: same function, depth and call site.
        frags.sort_by_key(|r| (r.function, r.depth, r.call_file, r.call_line, r.begin));
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut key = None;
        for r in frags {
            let k = (r.function, r.depth, r.call_file, r.call_line);
            match out.last_mut() {
                Some(last) if key == Some(k) && r.begin <= last.1 + GAP => {
                    last.1 = last.1.max(r.end)
                }
                _ => out.push((r.begin, r.end)),
            }
            key = Some(k);
        }
        out
    }

    /// The ranges containing `pc`, innermost first, one per level.
    fn containing(&self, pc: u64) -> Vec<InlineRange> {
        // The ranges starting before pc, nearest first, back to where no
        // earlier one reaches pc.
        let end = self.ranges.partition_point(|r| r.begin <= pc);
        let mut hits: Vec<_> = (0..end)
            .rev()
            .map(|i| (self.ranges.get(i), self.reach.get(i)))
            .take_while(|(_, reach)| pc < *reach)
            .map(|(r, _)| r)
            .filter(|r| pc < r.end)
            .collect();
        hits.sort_by_key(|r| std::cmp::Reverse(r.depth));
        hits.dedup_by_key(|r| r.depth);
        hits
    }

    /// Inlined calls containing `pc`, innermost first.
    pub fn at(&self, pc: u64) -> Vec<Inlined<'_>> {
        self.containing(pc)
            .iter()
            .map(|r| Inlined {
                function: self
                    .names
                    .get(r.function as usize)
                    .map(String::as_str)
                    .unwrap_or("?"),
                call_file: self
                    .files
                    .get(r.call_file as usize)
                    .map(String::as_str)
                    .unwrap_or("?"),
                call_line: r.call_line as u64,
            })
            .collect()
    }

    /// Which inlined calls contain `pc`, innermost first, as ids that tell
    /// two calls of one function apart.
    pub fn calls_at(&self, pc: u64) -> Vec<u32> {
        self.containing(pc).iter().map(|r| r.call).collect()
    }
}

/// Only these structs are kept: the runtime's, which the goroutine layer
/// reads, and pprof's labels (a struct since Go 1.24, a map before).
fn wanted(name: &str) -> bool {
    name.starts_with("runtime.")
        || name.starts_with("internal/runtime/")
        || name == "runtime/pprof.labelMap"
}

pub fn load(
    file: &object::File,
) -> anyhow::Result<(LineTable, HashMap<String, StructLayout>, InlineTable)> {
    if file.section_by_name(".debug_info").is_none() {
        anyhow::bail!("no .debug_info (built with -ldflags=-w?)");
    }
    // The sections inflate in parallel, then the line table is read on one
    // thread while the struct layouts and inlined calls are read on the
    // other: loading is most of a goroutine dump's and the goroutine
    // index's cost on top of the replay (httpserver: ~120 ms serially).
    // Variables' location lists and macros are the debugger's
    // (`govalue`), not read here: not inflating them saves a fifth.
    let mut wanted_sections: Vec<gimli::SectionId> = Vec::new();
    gimli::DwarfSections::load(|id| -> anyhow::Result<()> {
        use gimli::SectionId::*;
        if !matches!(id, DebugLoc | DebugLocLists | DebugMacinfo | DebugMacro) {
            wanted_sections.push(id);
        }
        Ok(())
    })?;
    let inflated: HashMap<gimli::SectionId, std::borrow::Cow<[u8]>> =
        std::thread::scope(|scope| {
            let jobs: Vec<_> = wanted_sections
                .iter()
                .map(|&id| {
                    scope.spawn(move || -> anyhow::Result<_> {
                        Ok((
                            id,
                            match file.section_by_name(id.name()) {
                                // Go compresses DWARF (SHF_COMPRESSED, zlib); object inflates it.
                                Some(s) => s
                                    .uncompressed_data()
                                    .with_context(|| format!("cannot decompress {}", id.name()))?,
                                None => std::borrow::Cow::Borrowed(&[][..]),
                            },
                        ))
                    })
                })
                .collect();
            jobs.into_iter()
                .map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<anyhow::Result<_>>()
        })?;
    let sections = gimli::DwarfSections::load(|id| -> anyhow::Result<&[u8]> {
        Ok(inflated.get(&id).map_or(&[][..], |c| &**c))
    })?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, LittleEndian));
    let dwarf = &dwarf;
    let line_bytes = inflated
        .get(&gimli::SectionId::DebugLine)
        .map_or(0, |c| c.len());
    let (lines, rest) = std::thread::scope(|scope| {
        let lines = scope.spawn(move || -> anyhow::Result<LineTable> {
            let mut lines = LineTable::default();
            // Go's line programs take ~2 bytes a row: no regrowth of a
            // web server's 307,000 rows.
            lines.rows.owned().reserve(line_bytes / 2);
            let mut file_ids: HashMap<String, u32> = HashMap::new();
            let mut units = dwarf.units();
            while let Some(header) = units.next()? {
                let unit = dwarf.unit(header)?;
                read_lines(dwarf, &unit, &mut lines, &mut file_ids)?;
            }
            // Go's linker writes them in address order: usually no sort.
            let rows = lines.rows.owned();
            if !rows.is_sorted_by_key(|r| (r.0, r.2 != 0)) {
                rows.sort_by_key(|r| (r.0, r.2 != 0));
            }
            Ok(lines)
        });
        let rest = (|| -> anyhow::Result<_> {
            let mut structs = HashMap::new();
            // Go refers to types across units (DW_FORM_ref_addr): member types are
            // kept as global offsets and named once every struct is known.
            let mut names: HashMap<usize, String> = HashMap::new();
            let mut inlines = InlineTable::default();
            let mut origins: Vec<usize> = Vec::new();
            let mut fn_names: HashMap<usize, String> = HashMap::new();
            // Go's linker puts every type in units named "runtime": the
            // others are walked for structs only if the g is not there.
            let mut others = Vec::new();
            let mut units = dwarf.units();
            while let Some(header) = units.next()? {
                let unit = dwarf.unit(header)?;
                let name = unit.name.and_then(|n| std::str::from_utf8(n.slice()).ok());
                if name == Some("runtime") {
                    read_structs(dwarf, &unit, &mut structs, &mut names)?;
                } else {
                    others.push(header);
                }
                read_inlines(dwarf, &unit, &mut inlines, &mut origins, &mut fn_names)?;
            }
            if !structs.contains_key("runtime.g") {
                for header in others {
                    read_structs(dwarf, &dwarf.unit(header)?, &mut structs, &mut names)?;
                }
            }
            Ok((structs, names, inlines, origins, fn_names))
        })();
        let lines = lines
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (lines, rest)
    });
    let lines = lines?;
    let (mut structs, names, mut inlines, origins, fn_names) = rest?;
    // Abstract origins may live in other units: name them now.
    let mut name_ids: HashMap<String, u32> = HashMap::new();
    let ranges = inlines.ranges.owned();
    for (i, origin) in origins.iter().enumerate() {
        let name = fn_names.get(origin).cloned().unwrap_or_else(|| "?".into());
        let next = inlines.names.len() as u32;
        let id = *name_ids.entry(name.clone()).or_insert_with(|| {
            inlines.names.push(name);
            next
        });
        ranges[i].function = id;
    }
    ranges.sort_by_key(|r| r.begin);
    inlines.reach = packed::Records::Owned(
        ranges
            .iter()
            .scan(0, |reach, r| {
                *reach = (*reach).max(r.end);
                Some(*reach)
            })
            .collect(),
    );
    for layout in structs.values_mut() {
        for f in &mut layout.fields {
            if let Some(off) = f
                .type_name
                .strip_prefix('@')
                .and_then(|o| o.parse::<usize>().ok())
            {
                f.type_name = names.get(&off).cloned().unwrap_or_default();
            }
        }
    }
    Ok((lines, structs, inlines))
}

fn attr_str(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    v: AttributeValue<R>,
) -> Option<String> {
    dwarf
        .attr_string(unit, v)
        .ok()
        .map(|s| s.to_string_lossy().into_owned())
}

fn read_lines(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    table: &mut LineTable,
    file_ids: &mut HashMap<String, u32>,
) -> anyhow::Result<()> {
    let Some(program) = unit.line_program.clone() else {
        return Ok(());
    };
    let mut rows = program.rows();
    // File index → id, for every row: a vector, not a hash map (a map's
    // hashing was 6% of loading httpserver).
    let mut cache: Vec<Option<u32>> = Vec::new();
    while let Some((header, row)) = rows.next_row()? {
        if row.end_sequence() {
            table.rows.owned().push((row.address(), 0, 0, 0));
            continue;
        }
        let idx = row.file_index();
        let id = match cache.get(idx as usize).copied().flatten() {
            Some(id) => id,
            None => {
                let mut path = String::new();
                if let Some(f) = header.file(idx) {
                    if let Some(dir) = f.directory(header).and_then(|d| attr_str(dwarf, unit, d)) {
                        if !dir.is_empty() {
                            path.push_str(&dir);
                            path.push('/');
                        }
                    }
                    path.push_str(&attr_str(dwarf, unit, f.path_name()).unwrap_or_default());
                }
                let next = table.files.len() as u32;
                let id = *file_ids.entry(path.clone()).or_insert_with(|| {
                    table.files.push(path);
                    next
                });
                if let Ok(i) = usize::try_from(idx) {
                    if i < 1 << 20 {
                        if cache.len() <= i {
                            cache.resize(i + 1, None);
                        }
                        cache[i] = Some(id);
                    }
                }
                id
            }
        };
        let line = row.line().map(|l| l.get()).unwrap_or(0) as u32;
        let flags = if row.is_stmt() { IS_STMT } else { 0 }
            | if row.prologue_end() { PROLOGUE_END } else { 0 };
        table
            .rows
            .owned()
            .push((row.address(), id, line.max(1), flags));
    }
    Ok(())
}

fn read_structs(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    out: &mut HashMap<String, StructLayout>,
    names: &mut HashMap<usize, String>,
) -> anyhow::Result<()> {
    let mut cursor = unit.entries();
    let mut current: Option<(String, isize, StructLayout)> = None;
    while let Some(die) = cursor.next_dfs()? {
        let depth = die.depth();
        if let Some((_, d, _)) = &current {
            if depth <= *d {
                let (name, _, layout) = current.take().unwrap_or_default();
                out.insert(name, layout);
            }
        }
        match die.tag() {
            // Named Go types are typedefs of the struct; members refer to the typedef.
            gimli::DW_TAG_typedef => {
                let name = die
                    .attr_value(gimli::DW_AT_name)
                    .and_then(|v| attr_str(dwarf, unit, v));
                if let (Some(name), Some(global)) =
                    (name, die.offset().to_debug_info_offset(&unit.header))
                {
                    if wanted(&name) {
                        names.insert(global.0, name);
                    }
                }
            }
            gimli::DW_TAG_structure_type => {
                let name = die
                    .attr_value(gimli::DW_AT_name)
                    .and_then(|v| attr_str(dwarf, unit, v));
                if let (Some(name), Some(global)) =
                    (&name, die.offset().to_debug_info_offset(&unit.header))
                {
                    if wanted(name) {
                        names.insert(global.0, name.clone());
                    }
                }
                if let Some(name) = name.filter(|n| wanted(n) && !out.contains_key(n)) {
                    let size = die
                        .attr_value(gimli::DW_AT_byte_size)
                        .and_then(|v| v.udata_value())
                        .unwrap_or(0);
                    current = Some((
                        name,
                        depth,
                        StructLayout {
                            size,
                            fields: Vec::new(),
                        },
                    ));
                }
            }
            gimli::DW_TAG_member => {
                if let Some((_, d, layout)) = &mut current {
                    if depth == *d + 1 {
                        let name = die
                            .attr_value(gimli::DW_AT_name)
                            .and_then(|v| attr_str(dwarf, unit, v))
                            .unwrap_or_default();
                        let offset = die
                            .attr_value(gimli::DW_AT_data_member_location)
                            .and_then(|v| v.udata_value())
                            .unwrap_or(0);
                        let type_name = match die.attr_value(gimli::DW_AT_type) {
                            Some(AttributeValue::UnitRef(off)) => off
                                .to_debug_info_offset(&unit.header)
                                .map(|g| format!("@{}", g.0))
                                .unwrap_or_default(),
                            Some(AttributeValue::DebugInfoRef(off)) => format!("@{}", off.0),
                            _ => String::new(),
                        };
                        layout.fields.push(Field {
                            name,
                            offset,
                            type_name,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if let Some((name, _, layout)) = current {
        out.insert(name, layout);
    }
    Ok(())
}

fn unit_file(dwarf: &gimli::Dwarf<R>, unit: &gimli::Unit<R>, idx: u64) -> String {
    let Some(program) = &unit.line_program else {
        return String::new();
    };
    let header = program.header();
    let Some(f) = header.file(idx) else {
        return String::new();
    };
    let mut path = String::new();
    if let Some(dir) = f.directory(header).and_then(|d| attr_str(dwarf, unit, d)) {
        if !dir.is_empty() {
            path.push_str(&dir);
            path.push('/');
        }
    }
    path.push_str(&attr_str(dwarf, unit, f.path_name()).unwrap_or_default());
    path
}

fn global(unit: &gimli::Unit<R>, v: Option<AttributeValue<R>>) -> Option<usize> {
    match v? {
        AttributeValue::UnitRef(off) => off.to_debug_info_offset(&unit.header).map(|g| g.0),
        AttributeValue::DebugInfoRef(off) => Some(off.0),
        _ => None,
    }
}

fn read_inlines(
    dwarf: &gimli::Dwarf<R>,
    unit: &gimli::Unit<R>,
    table: &mut InlineTable,
    origins: &mut Vec<usize>,
    fn_names: &mut HashMap<usize, String>,
) -> anyhow::Result<()> {
    let mut files: HashMap<u64, u32> = HashMap::new();
    let mut cursor = unit.entries();
    let mut base_depth = None;
    while let Some(die) = cursor.next_dfs()? {
        match die.tag() {
            gimli::DW_TAG_subprogram => {
                base_depth = Some(die.depth());
                if let (Some(name), Some(g)) = (
                    die.attr_value(gimli::DW_AT_name)
                        .and_then(|v| attr_str(dwarf, unit, v)),
                    die.offset().to_debug_info_offset(&unit.header),
                ) {
                    fn_names.insert(g.0, name);
                }
            }
            gimli::DW_TAG_inlined_subroutine => {
                let Some(origin) = global(unit, die.attr_value(gimli::DW_AT_abstract_origin))
                else {
                    continue;
                };
                // gimli hands DW_AT_call_file out as a FileIndex.
                let call_file = match die.attr_value(gimli::DW_AT_call_file) {
                    Some(AttributeValue::FileIndex(i)) => i,
                    Some(v) => v.udata_value().unwrap_or(0),
                    None => 0,
                };
                let call_line = die
                    .attr_value(gimli::DW_AT_call_line)
                    .and_then(|v| v.udata_value())
                    .unwrap_or(0);
                let file_id = *files.entry(call_file).or_insert_with(|| {
                    table.files.push(unit_file(dwarf, unit, call_file));
                    (table.files.len() - 1) as u32
                });
                let depth = (die.depth() - base_depth.unwrap_or(0)).max(0) as u32;
                let call = table.calls;
                table.calls += 1;
                let mut ranges = dwarf.die_ranges(unit, die)?;
                while let Some(r) = ranges.next()? {
                    if r.begin < r.end {
                        table.ranges.owned().push(InlineRange {
                            begin: r.begin,
                            end: r.end,
                            depth,
                            function: 0,
                            call_file: file_id,
                            call_line: call_line as u32,
                            call,
                        });
                        origins.push(origin);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
