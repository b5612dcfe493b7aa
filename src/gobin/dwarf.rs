//! The DWARF parts rrgo uses: line tables (pc → file:line) and the layouts
//! of the Go runtime's structs (field offsets change between Go versions,
//! so they always come from here, never from constants).

use std::collections::HashMap;

use anyhow::Context;
use gimli::{AttributeValue, EndianSlice, LittleEndian};
use object::{Object, ObjectSection};

type R<'a> = EndianSlice<'a, LittleEndian>;

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub offset: u64,
    pub type_name: String,
}

#[derive(Debug, Clone, Default)]
pub struct StructLayout {
    pub size: u64,
    pub fields: Vec<Field>,
}

/// Rows sorted by address; a row with `line == 0` ends a sequence.
#[derive(Debug, Default)]
pub struct LineTable {
    rows: Vec<(u64, u32, u32)>,
    files: Vec<String>,
}

impl LineTable {
    pub fn lookup(&self, pc: u64) -> Option<(&str, u64)> {
        let i = self.rows.partition_point(|r| r.0 <= pc).checked_sub(1)?;
        let (_, file, line) = self.rows[i];
        if line == 0 {
            return None;
        }
        Some((self.files.get(file as usize)?.as_str(), line as u64))
    }
}

/// Only these structs are kept: the runtime's, which the goroutine layer reads.
fn wanted(name: &str) -> bool {
    name.starts_with("runtime.") || name.starts_with("internal/runtime/")
}

pub fn load(file: &object::File) -> anyhow::Result<(LineTable, HashMap<String, StructLayout>)> {
    if file.section_by_name(".debug_info").is_none() {
        anyhow::bail!("no .debug_info (built with -ldflags=-w?)");
    }
    let sections = gimli::DwarfSections::load(|id| -> anyhow::Result<std::borrow::Cow<[u8]>> {
        Ok(match file.section_by_name(id.name()) {
            // Go compresses DWARF (SHF_COMPRESSED, zlib); object inflates it.
            Some(s) => s
                .uncompressed_data()
                .with_context(|| format!("cannot decompress {}", id.name()))?,
            None => std::borrow::Cow::Borrowed(&[][..]),
        })
    })?;
    let dwarf = sections.borrow(|s| EndianSlice::new(s, LittleEndian));
    let mut lines = LineTable::default();
    let mut file_ids: HashMap<String, u32> = HashMap::new();
    let mut structs = HashMap::new();
    // Go refers to types across units (DW_FORM_ref_addr): member types are
    // kept as global offsets and named once every struct is known.
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        read_lines(&dwarf, &unit, &mut lines, &mut file_ids)?;
        read_structs(&dwarf, &unit, &mut structs, &mut names)?;
    }
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
    lines.rows.sort_by_key(|r| (r.0, r.2 != 0));
    Ok((lines, structs))
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
    let mut cache: HashMap<u64, u32> = HashMap::new();
    while let Some((header, row)) = rows.next_row()? {
        if row.end_sequence() {
            table.rows.push((row.address(), 0, 0));
            continue;
        }
        let idx = row.file_index();
        let id = match cache.get(&idx) {
            Some(id) => *id,
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
                cache.insert(idx, id);
                id
            }
        };
        let line = row.line().map(|l| l.get()).unwrap_or(0) as u32;
        table.rows.push((row.address(), id, line.max(1)));
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
